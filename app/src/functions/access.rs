//! Sign-in providers, users and roles, API tokens.

use leptos::prelude::*;

use crate::error::AppError;

use crate::model::{CreatedToken, LoginProvider, TokenRow, UserRow};

/// The identity providers the login page offers.
#[server(prefix = "/fn", endpoint = "login_providers")]
pub async fn login_providers() -> Result<Vec<LoginProvider>, AppError> {
    Ok(use_context::<crate::model::LoginProviders>()
        .map(|p| p.0)
        .unwrap_or_default())
}

#[server(prefix = "/fn", endpoint = "get_users")]
pub async fn get_users() -> Result<Vec<UserRow>, AppError> {
    use super::context::{actor, engine};
    let (engine, actor) = (engine()?, actor().await?);
    let users = engine.users(&actor).await?;
    Ok(users
        .into_iter()
        .map(|u| UserRow {
            login: u.login,
            display_name: u.display_name,
            role: u.role.as_str().to_owned(),
            groups: u.groups.0,
            last_login_at: u.last_login_at.map(super::convert::when),
        })
        .collect())
}

#[server(prefix = "/fn", endpoint = "set_role")]
pub async fn set_role(login: String, role: String) -> Result<(), AppError> {
    use super::context::{actor, engine};
    let (engine, actor) = (engine()?, actor().await?);
    let role = engine::domain::Role::parse(&role).ok_or_else(|| {
        AppError::invalid(format!("role: {role:?} is not viewer, deployer or admin"))
    })?;
    engine.set_role(&actor, &login, role).await?;
    Ok(())
}

#[server(prefix = "/fn", endpoint = "get_tokens")]
pub async fn get_tokens() -> Result<Vec<TokenRow>, AppError> {
    use super::context::{actor, engine};
    use super::convert::when;
    let (engine, actor) = (engine()?, actor().await?);
    let tokens = engine.api_tokens_with_owners(&actor).await?;
    let now = engine::time::now();
    Ok(tokens
        .into_iter()
        .map(|(t, owner)| TokenRow {
            id: t.id,
            owner,
            status: if t.revoked_at.is_some() {
                "revoked"
            } else if t.expires_at.is_some_and(|e| e <= now) {
                "expired"
            } else {
                "active"
            }
            .to_owned(),
            name: t.name,
            scopes: t.scopes,
            limited_to: engine::domain::TokenReach::stored(t.reach.as_deref()).to_string(),
            created_at: when(t.created_at),
            expires_at: t.expires_at.map(when),
            last_used_at: t.last_used_at.map(when),
        })
        .collect())
}

/// Makes a token for the signed-in user; the secret is returned this once.
#[server(prefix = "/fn", endpoint = "create_token")]
pub async fn create_token(
    name: String,
    scope_read: Option<String>,
    scope_builds_write: Option<String>,
    scope_deploy: Option<String>,
    valid_for_days: String,
    limited_to: Option<String>,
) -> Result<CreatedToken, AppError> {
    use super::context::{actor, engine};
    let (engine, actor) = (engine()?, actor().await?);
    let valid_for_days = match valid_for_days.trim() {
        "" | "never" => None,
        days => Some(days.parse::<u32>().map_err(|_| {
            AppError::invalid("valid_for_days: a whole number of days, or empty for no expiry")
        })?),
    };
    // One checkbox per scope: a ticked box sends its scope's name.
    let scopes: Vec<String> = [scope_read, scope_builds_write, scope_deploy]
        .into_iter()
        .flatten()
        .collect();
    let request = engine::TokenRequest {
        name,
        scopes,
        valid_for_days,
        limited_to: limited_to.unwrap_or_default(),
    };
    let (id, secret) = engine.create_api_token(&actor, &request).await?;
    Ok(CreatedToken { id, secret })
}

#[server(prefix = "/fn", endpoint = "revoke_token")]
pub async fn revoke_token(id: String) -> Result<(), AppError> {
    use super::context::{actor, engine, number};
    let id = number("id", &id)?;
    let (engine, actor) = (engine()?, actor().await?);
    Ok(engine.revoke_api_token(&actor, id).await?)
}
