//! Sign-ins in progress at an identity provider: created when the browser is
//! sent there, spent once when it comes back.

use crate::store::{on_pool, on_tx, Done};
use chrono::{DateTime, Utc};

use super::Store;
use crate::error::{Error, Result};
use crate::time;

/// What the server remembers between sending a browser to the provider and its return.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct LoginFlow {
    pub provider: String,
    pub state: String,
    pub pkce_verifier: String,
    pub nonce: String,
    pub expires_at: DateTime<Utc>,
    /// Where to send the browser once signed in: a path on this site.
    pub return_to: Option<String>,
}

/// Sign-ins in progress at once, at most: starting one is open to anyone,
/// so a flood of starts must not grow the table without end.
pub const MAX_LIVE_LOGIN_FLOWS: i64 = 10_000;

impl Store {
    pub async fn create_login_flow(&self, handle_hash: &str, flow: &LoginFlow) -> Result<()> {
        let mut tx = self.write().await?;
        // Old, unfinished sign-ins are dropped on the way.
        on_tx!(tx => sqlx::query("DELETE FROM login_flows WHERE expires_at <= $1")
            .bind(time::now())
            .execute(&mut *tx)
            .await.map(Done::from))?;
        let live: i64 = on_tx!(tx => sqlx::query_scalar("SELECT COUNT(*) FROM login_flows")
            .fetch_one(&mut *tx)
            .await)?;
        if live >= MAX_LIVE_LOGIN_FLOWS {
            return Err(Error::Conflict(
                "too many sign-ins are in progress; try again in a few minutes".to_owned(),
            ));
        }
        on_tx!(tx => sqlx::query(
            "INSERT INTO login_flows (handle_hash, provider, state, pkce_verifier, nonce, created_at, expires_at, return_to)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(handle_hash)
        .bind(&flow.provider)
        .bind(&flow.state)
        .bind(&flow.pkce_verifier)
        .bind(&flow.nonce)
        .bind(time::now())
        .bind(flow.expires_at)
        .bind(&flow.return_to)
        .execute(&mut *tx)
        .await.map(Done::from))?;
        tx.commit().await?;
        Ok(())
    }

    /// Takes the flow for this handle out of the store (once), if it has not expired.
    pub async fn take_login_flow(&self, handle_hash: &str) -> Result<Option<LoginFlow>> {
        let flow: Option<LoginFlow> = on_pool!(self, pool => sqlx::query_as(
            "DELETE FROM login_flows WHERE handle_hash = $1
             RETURNING provider, state, pkce_verifier, nonce, expires_at, return_to",
        )
        .bind(handle_hash)
        .fetch_optional(pool)
        .await)?;
        Ok(flow.filter(|f| f.expires_at > time::now()))
    }
}
