//! Release history: what was live on an environment, when, and who put it there.

use super::tx::releases::select_release;
use super::{tx, Store};
use crate::domain::Release;
use crate::error::Result;
use crate::store::on_pool;

impl Store {
    /// Newest first; `before_id` is the keyset cursor.
    pub async fn releases(
        &self,
        env_id: i64,
        before_id: Option<i64>,
        limit: i64,
    ) -> Result<Vec<Release>> {
        let select = select_release(self.pool().dialect());
        Ok(on_pool!(self, pool => sqlx::query_as(&format!(
            "{select} WHERE r.environment_id = $1 AND r.id < $2 ORDER BY r.id DESC LIMIT $3"
        ))
        .bind(env_id)
        .bind(before_id.unwrap_or(i64::MAX))
        .bind(limit)
        .fetch_all(pool)
        .await)?)
    }

    pub async fn live_release(&self, env_id: i64) -> Result<Option<Release>> {
        tx::releases::live_release(&mut self.read().await?, env_id).await
    }

    pub async fn release(&self, id: i64) -> Result<Release> {
        tx::releases::release(&mut self.read().await?, id).await
    }
}
