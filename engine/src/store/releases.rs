//! Release history: what was live on an environment, when, and who put it there.

use super::Store;
use crate::domain::Release;
use crate::error::{Error, Result};

const SELECT_RELEASE: &str =
    "SELECT r.*, b.commit_sha, b.branch, b.message AS build_message, j.state AS job_state
     FROM releases r JOIN builds b ON b.id = r.build_id JOIN jobs j ON j.id = r.job_id";

impl Store {
    /// Newest first; `before_id` is the keyset cursor.
    pub async fn releases(
        &self,
        env_id: i64,
        before_id: Option<i64>,
        limit: i64,
    ) -> Result<Vec<Release>> {
        Ok(sqlx::query_as(&format!(
            "{SELECT_RELEASE} WHERE r.environment_id = ? AND r.id < ? ORDER BY r.id DESC LIMIT ?"
        ))
        .bind(env_id)
        .bind(before_id.unwrap_or(i64::MAX))
        .bind(limit)
        .fetch_all(self.pool())
        .await?)
    }

    pub async fn live_release(&self, env_id: i64) -> Result<Option<Release>> {
        live_release(self.pool(), env_id).await
    }

    pub async fn release(&self, id: i64) -> Result<Release> {
        release(self.pool(), id).await
    }
}

/// The release live on the environment, read through `db` (the pool, or a
/// transaction that must see it as it decides).
pub(crate) async fn live_release<'e>(
    db: impl sqlx::SqliteExecutor<'e>,
    env_id: i64,
) -> Result<Option<Release>> {
    Ok(sqlx::query_as(&format!(
        "{SELECT_RELEASE} WHERE r.environment_id = ? AND r.state = 'live'"
    ))
    .bind(env_id)
    .fetch_optional(db)
    .await?)
}

pub(crate) async fn release<'e>(db: impl sqlx::SqliteExecutor<'e>, id: i64) -> Result<Release> {
    sqlx::query_as(&format!("{SELECT_RELEASE} WHERE r.id = ?"))
        .bind(id)
        .fetch_optional(db)
        .await?
        .ok_or_else(|| Error::not_found(format!("release #{id}")))
}
