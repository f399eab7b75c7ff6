//! Users, roles, API tokens and sessions.

use crate::auth::{Actor, Permission, Scopes};
use crate::domain::{ApiToken, Role, TokenReach, User};
use crate::error::{Error, InvalidInput, Result};
use crate::store::users::NewToken;

use super::Engine;

/// An API token to make, as the Tokens page, the API or the CLI asks.
#[derive(Clone, Debug, Default)]
pub struct TokenRequest {
    pub name: String,
    /// `read`, `builds:write`, `deploy`.
    pub scopes: Vec<String>,
    /// 1-3650; `None`: it does not expire.
    pub valid_for_days: Option<u32>,
    /// Where it may act: `shop, billing/staging`; empty: wherever its owner may.
    pub limited_to: String,
}

impl Engine {
    pub async fn users(&self, actor: &Actor) -> Result<Vec<User>> {
        actor.require(Permission::ManageUsers)?;
        self.store.users().await
    }

    /// Changes a user's role. The last admin cannot step down.
    pub async fn set_role(&self, actor: &Actor, login: &str, role: Role) -> Result<User> {
        actor.require(Permission::ManageUsers)?;
        self.store.set_role(&actor.login, login, role).await
    }

    /// Makes an API token for the actor. Returns its id and the secret, which
    /// is shown once and stored only as a hash.
    pub async fn create_api_token(
        &self,
        actor: &Actor,
        request: &TokenRequest,
    ) -> Result<(i64, String)> {
        actor.require(Permission::ManageOwnAccount)?;
        let name = request.name.trim();
        if name.is_empty() || name.len() > 100 || name.chars().any(char::is_control) {
            return Err(InvalidInput::new("name", "name the token (1-100 characters)").into());
        }
        let scopes = Scopes::parse(&request.scopes)?;
        let reach = TokenReach::parse(&request.limited_to)?;
        let expires_at = match request.valid_for_days {
            None => None,
            Some(days @ 1..=3650) => Some(crate::time::now() + chrono::Duration::days(days.into())),
            Some(_) => {
                return Err(InvalidInput::new("valid_for_days", "a token lasts 1-3650 days").into())
            }
        };
        let user = self
            .store
            .user_by_id(actor.user_id)
            .await?
            .ok_or(Error::Unauthenticated)?;
        let secret = crate::auth::new_secret_token();
        let id = self
            .store
            .create_api_token(
                &actor.login,
                &user,
                &NewToken {
                    name,
                    token_hash: &crate::auth::token_hash(&secret),
                    scopes: &scopes,
                    reach: &reach,
                    expires_at,
                },
            )
            .await?;
        Ok((id, secret))
    }

    /// The actor's tokens; an admin sees everyone's.
    pub async fn api_tokens(&self, actor: &Actor) -> Result<Vec<ApiToken>> {
        actor.require(Permission::ManageOwnAccount)?;
        let owner = (actor.role != Role::Admin).then_some(actor.user_id);
        self.store.api_tokens(owner).await
    }

    /// [`Engine::api_tokens`], each with its owner's login.
    pub async fn api_tokens_with_owners(&self, actor: &Actor) -> Result<Vec<(ApiToken, String)>> {
        let tokens = self.api_tokens(actor).await?;
        let users = self.store.users().await?;
        Ok(tokens
            .into_iter()
            .map(|token| {
                let owner = users
                    .iter()
                    .find(|u| u.id == token.user_id)
                    .map(|u| u.login.clone())
                    .unwrap_or_default();
                (token, owner)
            })
            .collect())
    }

    pub async fn revoke_api_token(&self, actor: &Actor, token_id: i64) -> Result<()> {
        actor.require(Permission::ManageOwnAccount)?;
        self.store.revoke_api_token(actor, token_id).await
    }

    /// "Log out everywhere" for oneself, or for anyone when an admin asks.
    pub async fn revoke_sessions(&self, actor: &Actor, login: &str) -> Result<()> {
        if login != actor.login {
            actor.require(Permission::ManageUsers)?;
        } else {
            actor.require(Permission::ManageOwnAccount)?;
        }
        let user = self
            .store
            .user_by_login(login)
            .await?
            .ok_or_else(|| Error::NotFound(format!("user {login:?}")))?;
        self.store.revoke_sessions(&actor.login, &user).await
    }
}
