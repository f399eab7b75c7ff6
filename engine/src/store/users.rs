//! Users, one-time login links and API tokens. Secrets are stored as hashes only.

use crate::store::{on_pool, on_tx, Done};
use chrono::{DateTime, Utc};

use super::tx::audit;
use super::Store;
use crate::audit::{actions, AuditRecord};
use crate::auth::{Actor, Scopes};
use crate::domain::{ApiToken, Role, TokenReach, User};
use crate::error::{Error, Result};
use crate::time;

/// An API token to store: its secret only as a hash.
#[derive(Clone, Copy, Debug)]
pub struct NewToken<'a> {
    pub name: &'a str,
    pub token_hash: &'a str,
    pub scopes: &'a Scopes,
    pub reach: &'a TokenReach,
    pub expires_at: Option<DateTime<Utc>>,
}

impl Store {
    pub async fn count_users(&self) -> Result<i64> {
        Ok(
            on_pool!(self, pool => sqlx::query_scalar("SELECT COUNT(*) FROM users")
            .fetch_one(pool)
            .await)?,
        )
    }

    pub async fn any_user_has_logged_in(&self) -> Result<bool> {
        let n: i64 = on_pool!(self, pool => sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE last_login_at IS NOT NULL")
                .fetch_one(pool)
                .await)?;
        Ok(n > 0)
    }

    pub async fn user_by_login(&self, login: &str) -> Result<Option<User>> {
        Ok(
            on_pool!(self, pool => sqlx::query_as("SELECT * FROM users WHERE login = $1")
            .bind(login)
            .fetch_optional(pool)
            .await)?,
        )
    }

    pub async fn user_by_id(&self, id: i64) -> Result<Option<User>> {
        Ok(
            on_pool!(self, pool => sqlx::query_as("SELECT * FROM users WHERE id = $1")
            .bind(id)
            .fetch_optional(pool)
            .await)?,
        )
    }

    pub async fn create_user(
        &self,
        actor: &str,
        login: &str,
        display_name: &str,
        role: Role,
    ) -> Result<User> {
        if crate::audit::RESERVED_LOGINS.contains(&login) {
            return Err(crate::error::InvalidInput::new(
                "login",
                format!("{login:?} is Slipway's own name in the audit log; choose another login"),
            )
            .into());
        }
        let mut tx = self.write().await?;
        let created = on_tx!(tx => sqlx::query_as::<_, User>(
            "INSERT INTO users (login, display_name, role, created_at) VALUES ($1, $2, $3, $4) RETURNING *",
        )
        .bind(login)
        .bind(display_name)
        .bind(role)
        .bind(time::now())
        .fetch_one(&mut *tx)
        .await);
        let user = match created {
            Ok(user) => user,
            Err(e) if super::is_unique_violation(&e) => {
                return Err(Error::Conflict(format!(
                    "a user named {login:?} already exists"
                )))
            }
            Err(e) => return Err(e.into()),
        };
        audit::append(
            &mut tx,
            &AuditRecord::new(actor, actions::USER_CREATED, format!("user/{login}"))
                .details(serde_json::json!({ "role": role.as_str() })),
        )
        .await?;
        tx.commit().await?;
        Ok(user)
    }

    /// Stores a new one-time login link (by hash), revoking that user's unused ones.
    pub async fn create_login_link(
        &self,
        actor: &str,
        user: &User,
        token_hash: &str,
        expires_at: DateTime<Utc>,
    ) -> Result<()> {
        let mut tx = self.write().await?;
        on_tx!(tx => sqlx::query("DELETE FROM login_links WHERE user_id = $1 AND used_at IS NULL")
            .bind(user.id)
            .execute(&mut *tx)
            .await.map(Done::from))?;
        on_tx!(tx => sqlx::query("INSERT INTO login_links (token_hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)")
            .bind(token_hash)
            .bind(user.id)
            .bind(time::now())
            .bind(expires_at)
            .execute(&mut *tx)
            .await.map(Done::from))?;
        audit::append(
            &mut tx,
            &AuditRecord::new(
                actor,
                actions::LOGIN_LINK_CREATED,
                format!("user/{}", user.login),
            )
            .details(serde_json::json!({ "expires_at": time::to_rfc3339(expires_at) })),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Whether a login link can still be spent (unused, not expired),
    /// without spending it.
    pub async fn login_link_usable(&self, token_hash: &str) -> Result<bool> {
        let found: Option<String> = on_pool!(self, pool => sqlx::query_scalar(
            "SELECT token_hash FROM login_links
             WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2",
        )
        .bind(token_hash)
        .bind(time::now())
        .fetch_optional(pool)
        .await)?;
        Ok(found.is_some())
    }

    /// Spends a login link: valid once, before it expires. Records the login.
    pub async fn redeem_login_link(&self, token_hash: &str, via: &str) -> Result<User> {
        let mut tx = self.write().await?;
        let now = time::now();
        let user_id: Option<i64> = on_tx!(tx => sqlx::query_scalar(
            "UPDATE login_links SET used_at = $1 WHERE token_hash = $2 AND used_at IS NULL AND expires_at > $3
             RETURNING user_id",
        )
        .bind(now)
        .bind(token_hash)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await)?;
        let Some(user_id) = user_id else {
            return Err(Error::Unauthenticated);
        };
        let user: User = on_tx!(tx => sqlx::query_as("UPDATE users SET last_login_at = $1 WHERE id = $2 RETURNING *")
                .bind(now)
                .bind(user_id)
                .fetch_one(&mut *tx)
                .await)?;
        audit::append(
            &mut tx,
            &AuditRecord::new(&user.login, actions::LOGIN, format!("user/{}", user.login))
                .details(serde_json::json!({ "via": via })),
        )
        .await?;
        tx.commit().await?;
        Ok(user)
    }

    pub async fn users(&self) -> Result<Vec<User>> {
        Ok(
            on_pool!(self, pool => sqlx::query_as("SELECT * FROM users ORDER BY login")
            .fetch_all(pool)
            .await)?,
        )
    }

    /// Changes a user's role; audited with the old and new role.
    pub async fn set_role(&self, actor: &str, login: &str, role: Role) -> Result<User> {
        let mut tx = self.write().await?;
        let before: Option<User> = on_tx!(tx => sqlx::query_as("SELECT * FROM users WHERE login = $1")
            .bind(login)
            .fetch_optional(&mut *tx)
            .await)?;
        let before = before.ok_or_else(|| Error::NotFound(format!("user {login:?}")))?;
        if before.role == role {
            return Ok(before);
        }
        // Counted in the same write, so two admins demoting each other at
        // once cannot leave none.
        if before.role == Role::Admin {
            let admins: i64 = on_tx!(tx => sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE role = $1")
                .bind(Role::Admin)
                .fetch_one(&mut *tx)
                .await)?;
            if admins <= 1 {
                return Err(Error::Conflict(format!(
                    "{login} is the last admin; make someone else admin first"
                )));
            }
        }
        let user: User = on_tx!(tx => sqlx::query_as("UPDATE users SET role = $1 WHERE id = $2 RETURNING *")
            .bind(role)
            .bind(before.id)
            .fetch_one(&mut *tx)
            .await)?;
        audit::append(
            &mut tx,
            &AuditRecord::new(actor, actions::USER_ROLE_CHANGED, format!("user/{login}"))
                .details(serde_json::json!({ "from": before.role.as_str(), "to": role.as_str() })),
        )
        .await?;
        tx.commit().await?;
        Ok(user)
    }

    /// "Log out everywhere": every session of this user started before now stops working.
    pub async fn revoke_sessions(&self, actor: &str, user: &User) -> Result<()> {
        let mut tx = self.write().await?;
        on_tx!(tx => sqlx::query("UPDATE users SET sessions_valid_after = $1 WHERE id = $2")
            .bind(time::now())
            .bind(user.id)
            .execute(&mut *tx)
            .await.map(Done::from))?;
        audit::append(
            &mut tx,
            &AuditRecord::new(
                actor,
                actions::SESSIONS_REVOKED,
                format!("user/{}", user.login),
            ),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Signs in with an identity provider's account: finds the user it is
    /// linked to, or creates one (with `new_user.role`) and links it. Records
    /// the login in the same transaction.
    pub async fn sign_in_with_identity(&self, identity: &ExternalIdentity) -> Result<User> {
        let mut tx = self.write().await?;
        let now = time::now();
        let linked: Option<i64> = on_tx!(tx => sqlx::query_scalar("SELECT user_id FROM identities WHERE provider = $1 AND subject = $2")
                .bind(&identity.provider)
                .bind(&identity.subject)
                .fetch_optional(&mut *tx)
                .await)?;
        let groups = sqlx::types::Json(
            identity
                .groups
                .iter()
                .map(|g| crate::auth::qualified_group(&identity.provider, g))
                .collect::<Vec<_>>(),
        );
        let user: User = match linked {
            Some(user_id) => {
                on_tx!(tx => sqlx::query("UPDATE identities SET last_login_at = $1, email = $2 WHERE provider = $3 AND subject = $4")
                    .bind(now)
                    .bind(&identity.email)
                    .bind(&identity.provider)
                    .bind(&identity.subject)
                    .execute(&mut *tx)
                    .await.map(Done::from))?;
                on_tx!(tx => sqlx::query_as(
                    "UPDATE users SET last_login_at = $1, groups = $2 WHERE id = $3 RETURNING *",
                )
                .bind(now)
                .bind(&groups)
                .bind(user_id)
                .fetch_one(&mut *tx)
                .await)?
            }
            None => {
                let login =
                    free_login(&mut tx, &identity.preferred_login, &identity.provider).await?;
                let user: User = on_tx!(tx => sqlx::query_as(
                    "INSERT INTO users (login, display_name, role, created_at, last_login_at, groups)
                     VALUES ($1, $2, $3, $4, $5, $6) RETURNING *",
                )
                .bind(&login)
                .bind(&identity.display_name)
                .bind(identity.role)
                .bind(now)
                .bind(now)
                .bind(&groups)
                .fetch_one(&mut *tx)
                .await)?;
                on_tx!(tx => sqlx::query(
                    "INSERT INTO identities (provider, subject, user_id, email, created_at, last_login_at)
                     VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(&identity.provider)
                .bind(&identity.subject)
                .bind(user.id)
                .bind(&identity.email)
                .bind(now)
                .bind(now)
                .execute(&mut *tx)
                .await.map(Done::from))?;
                audit::append(
                    &mut tx,
                    &AuditRecord::new(&login, actions::USER_CREATED, format!("user/{login}"))
                        .details(serde_json::json!({
                            "role": identity.role.as_str(),
                            "provider": identity.provider,
                        })),
                )
                .await?;
                user
            }
        };
        audit::append(
            &mut tx,
            &AuditRecord::new(&user.login, actions::LOGIN, format!("user/{}", user.login)).details(
                serde_json::json!({ "via": identity.provider, "groups": identity.groups }),
            ),
        )
        .await?;
        tx.commit().await?;
        Ok(user)
    }

    /// Stores a new API token (by hash) for `user`. Returns its id.
    pub async fn create_api_token(
        &self,
        actor: &str,
        user: &User,
        token: &NewToken<'_>,
    ) -> Result<i64> {
        let NewToken {
            name,
            token_hash,
            scopes,
            reach,
            expires_at,
        } = *token;
        let mut tx = self.write().await?;
        // A name tells a person's tokens apart: two in use with one name
        // could not be told apart when one must be revoked.
        let same_name: Option<i64> = on_tx!(tx => sqlx::query_scalar(
            "SELECT id FROM api_tokens WHERE user_id = $1 AND name = $2 AND revoked_at IS NULL
             AND (expires_at IS NULL OR expires_at > $3)",
        )
        .bind(user.id)
        .bind(name)
        .bind(time::now())
        .fetch_optional(&mut *tx)
        .await)?;
        if let Some(existing) = same_name {
            return Err(Error::Conflict(format!(
                "{} already has a token named {name:?} in use (#{existing}): revoke it first, or pick another name",
                user.login
            )));
        }
        let id: i64 = on_tx!(tx => sqlx::query_scalar(
            "INSERT INTO api_tokens (name, token_hash, user_id, created_at, expires_at, scopes, reach)
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
        )
        .bind(name)
        .bind(token_hash)
        .bind(user.id)
        .bind(time::now())
        .bind(expires_at)
        .bind(scopes.to_db())
        .bind(reach.to_db())
        .fetch_one(&mut *tx)
        .await)?;
        audit::append(
            &mut tx,
            &AuditRecord::new(actor, actions::API_TOKEN_CREATED, format!("api_token/{id}"))
                .details(serde_json::json!({
                    "name": name,
                    "user": user.login,
                    "scopes": scopes.to_db(),
                    "limited_to": reach.to_string(),
                    "expires_at": expires_at.map(time::to_rfc3339),
                })),
        )
        .await?;
        tx.commit().await?;
        Ok(id)
    }

    /// Tokens, newest first: all of them, or one user's.
    pub async fn api_tokens(&self, user_id: Option<i64>) -> Result<Vec<ApiToken>> {
        Ok(on_pool!(self, pool => sqlx::query_as(
            "SELECT id, name, user_id, scopes, reach, created_at, expires_at, revoked_at, last_used_at
             FROM api_tokens WHERE $1 IS NULL OR user_id = $1 ORDER BY id DESC",
        )
        .bind(user_id)
        .fetch_all(pool)
        .await)?)
    }

    /// Revokes a token (its owner's own, or any for admins); audited.
    pub async fn revoke_api_token(&self, actor: &Actor, token_id: i64) -> Result<()> {
        let mut tx = self.write().await?;
        let owner: Option<i64> = on_tx!(tx => sqlx::query_scalar("SELECT user_id FROM api_tokens WHERE id = $1")
            .bind(token_id)
            .fetch_optional(&mut *tx)
            .await)?;
        match owner {
            None => return Err(Error::NotFound(format!("token #{token_id}"))),
            Some(owner) if owner != actor.user_id && actor.role != Role::Admin => {
                return Err(Error::Forbidden(
                    "only admins may revoke other people's tokens".into(),
                ))
            }
            Some(_) => {}
        }
        on_tx!(tx => sqlx::query("UPDATE api_tokens SET revoked_at = COALESCE(revoked_at, $1) WHERE id = $2")
            .bind(time::now())
            .bind(token_id)
            .execute(&mut *tx)
            .await.map(Done::from))?;
        audit::append(
            &mut tx,
            &AuditRecord::new(
                &actor.login,
                actions::API_TOKEN_REVOKED,
                format!("api_token/{token_id}"),
            ),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The user and token behind a live (not revoked, not expired) token.
    /// Its last-used time is kept to the minute: most requests only read.
    pub async fn api_token_by_hash(&self, token_hash: &str) -> Result<Option<(User, ApiToken)>> {
        let now = time::now();
        let token: Option<ApiToken> = on_pool!(self, pool => sqlx::query_as(
            "SELECT id, name, user_id, scopes, reach, created_at, expires_at, revoked_at, last_used_at
             FROM api_tokens
             WHERE token_hash = $1 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $2)",
        )
        .bind(token_hash)
        .bind(now)
        .fetch_optional(pool)
        .await)?;
        let Some(mut token) = token else {
            return Ok(None);
        };
        let stale = token
            .last_used_at
            .is_none_or(|used| now - used >= chrono::Duration::minutes(1));
        if stale {
            on_pool!(self, pool => sqlx::query("UPDATE api_tokens SET last_used_at = $1 WHERE id = $2")
                .bind(now)
                .bind(token.id)
                .execute(pool)
                .await.map(Done::from))?;
            token.last_used_at = Some(now);
        }
        Ok(self
            .user_by_id(token.user_id)
            .await?
            .map(|user| (user, token)))
    }
}

/// An account at an identity provider, as a sign-in presents it.
#[derive(Clone, Debug)]
pub struct ExternalIdentity {
    /// The provider's id in Slipway's configuration.
    pub provider: String,
    /// The provider's stable id for the account (`sub`, GitHub's numeric id).
    pub subject: String,
    /// A login to give a new user (made unique if taken).
    pub preferred_login: String,
    pub display_name: String,
    pub email: Option<String>,
    pub groups: Vec<String>,
    /// The role a new user gets.
    pub role: Role,
}

/// `preferred`, or `preferred-<provider>`, or with a number: the first not taken.
async fn free_login(tx: &mut super::Tx, preferred: &str, provider: &str) -> Result<String> {
    let candidates = std::iter::once(preferred.to_owned())
        .chain(std::iter::once(format!("{preferred}-{provider}")))
        .chain((2..100).map(|n| format!("{preferred}-{provider}-{n}")));
    // A provider's `slipway` is `slipway-<provider>` here.
    let candidates = candidates.filter(|c| !crate::audit::RESERVED_LOGINS.contains(&c.as_str()));
    for candidate in candidates {
        let taken: i64 = on_tx!(tx => sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE login = $1")
            .bind(&candidate)
            .fetch_one(&mut *tx)
            .await)?;
        if taken == 0 {
            return Ok(candidate);
        }
    }
    Err(Error::Conflict(format!("no free login near {preferred:?}")))
}
