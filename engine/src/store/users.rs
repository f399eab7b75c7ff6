//! Users, one-time login links and API tokens. Secrets are stored as hashes only.

use chrono::{DateTime, Utc};

use super::{audit, Store};
use crate::audit::{actions, AuditRecord};
use crate::domain::{Role, User};
use crate::error::{Error, Result};
use crate::time;

impl Store {
    pub async fn count_users(&self) -> Result<i64> {
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM users")
            .fetch_one(self.pool())
            .await?)
    }

    pub async fn any_user_has_logged_in(&self) -> Result<bool> {
        let n: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE last_login_at IS NOT NULL")
                .fetch_one(self.pool())
                .await?;
        Ok(n > 0)
    }

    pub async fn user_by_login(&self, login: &str) -> Result<Option<User>> {
        Ok(sqlx::query_as("SELECT * FROM users WHERE login = ?")
            .bind(login)
            .fetch_optional(self.pool())
            .await?)
    }

    pub async fn user_by_id(&self, id: i64) -> Result<Option<User>> {
        Ok(sqlx::query_as("SELECT * FROM users WHERE id = ?")
            .bind(id)
            .fetch_optional(self.pool())
            .await?)
    }

    pub async fn create_user(
        &self,
        actor: &str,
        login: &str,
        display_name: &str,
        role: Role,
    ) -> Result<User> {
        let mut tx = self.write().await?;
        let created = sqlx::query_as::<_, User>(
            "INSERT INTO users (login, display_name, role, created_at) VALUES (?, ?, ?, ?) RETURNING *",
        )
        .bind(login)
        .bind(display_name)
        .bind(role)
        .bind(time::now())
        .fetch_one(&mut *tx)
        .await;
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
        sqlx::query("DELETE FROM login_links WHERE user_id = ? AND used_at IS NULL")
            .bind(user.id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("INSERT INTO login_links (token_hash, user_id, created_at, expires_at) VALUES (?, ?, ?, ?)")
            .bind(token_hash)
            .bind(user.id)
            .bind(time::now())
            .bind(expires_at)
            .execute(&mut *tx)
            .await?;
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

    /// Spends a login link: valid once, before it expires. Records the login.
    pub async fn redeem_login_link(&self, token_hash: &str, via: &str) -> Result<User> {
        let mut tx = self.write().await?;
        let now = time::now();
        let user_id: Option<i64> = sqlx::query_scalar(
            "UPDATE login_links SET used_at = ? WHERE token_hash = ? AND used_at IS NULL AND expires_at > ?
             RETURNING user_id",
        )
        .bind(now)
        .bind(token_hash)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(user_id) = user_id else {
            return Err(Error::Unauthenticated);
        };
        let user: User =
            sqlx::query_as("UPDATE users SET last_login_at = ? WHERE id = ? RETURNING *")
                .bind(now)
                .bind(user_id)
                .fetch_one(&mut *tx)
                .await?;
        audit::append(
            &mut tx,
            &AuditRecord::new(&user.login, actions::LOGIN, format!("user/{}", user.login))
                .details(serde_json::json!({ "via": via })),
        )
        .await?;
        tx.commit().await?;
        Ok(user)
    }

    pub async fn create_api_token(
        &self,
        actor: &str,
        user: &User,
        name: &str,
        token_hash: &str,
        expires_at: Option<DateTime<Utc>>,
    ) -> Result<i64> {
        let mut tx = self.write().await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO api_tokens (name, token_hash, user_id, created_at, expires_at) VALUES (?, ?, ?, ?, ?)
             RETURNING id",
        )
        .bind(name)
        .bind(token_hash)
        .bind(user.id)
        .bind(time::now())
        .bind(expires_at)
        .fetch_one(&mut *tx)
        .await?;
        audit::append(
            &mut tx,
            &AuditRecord::new(actor, actions::API_TOKEN_CREATED, format!("api_token/{id}"))
                .details(serde_json::json!({ "name": name, "user": user.login })),
        )
        .await?;
        tx.commit().await?;
        Ok(id)
    }

    /// The user behind a live (not revoked, not expired) token; marks it used.
    pub async fn user_for_api_token(&self, token_hash: &str) -> Result<Option<User>> {
        let now = time::now();
        let user_id: Option<i64> = sqlx::query_scalar(
            "UPDATE api_tokens SET last_used_at = ?
             WHERE token_hash = ? AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ?)
             RETURNING user_id",
        )
        .bind(now)
        .bind(token_hash)
        .bind(now)
        .fetch_optional(self.pool())
        .await?;
        match user_id {
            Some(id) => self.user_by_id(id).await,
            None => Ok(None),
        }
    }
}
