//! Release history: what was live on an environment, when, and who put it there.

use super::tx::releases::SELECT_RELEASE;
use super::{tx, Store};
use crate::domain::Release;
use crate::error::Result;

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
        tx::releases::live_release(self.pool(), env_id).await
    }

    pub async fn release(&self, id: i64) -> Result<Release> {
        tx::releases::release(self.pool(), id).await
    }
}
