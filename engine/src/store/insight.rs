//! The facts DORA metrics are counted from: an environment's releases that
//! went live (with their builds' commit times) and its failed jobs.

use chrono::{DateTime, Utc};

use super::Store;
use crate::domain::insight::{History, LiveRelease};
use crate::domain::JobKind;
use crate::error::Result;

impl Store {
    /// Environment `env_id`'s history since `since`, oldest first.
    pub async fn release_history(&self, env_id: i64, since: DateTime<Utc>) -> Result<History> {
        let releases: Vec<(DateTime<Utc>, Option<DateTime<Utc>>, JobKind)> = sqlx::query_as(
            "SELECT r.released_at, b.committed_at, r.kind FROM releases r
             JOIN builds b ON b.id = r.build_id
             WHERE r.environment_id = ? AND r.released_at IS NOT NULL AND r.released_at >= ?
             ORDER BY r.released_at",
        )
        .bind(env_id)
        .bind(since)
        .fetch_all(self.pool())
        .await?;
        let failures: Vec<DateTime<Utc>> = sqlx::query_scalar(
            "SELECT finished_at FROM jobs
             WHERE environment_id = ? AND kind IN ('deploy', 'rollback')
               AND state IN ('failed', 'interrupted') AND finished_at >= ?
             ORDER BY finished_at",
        )
        .bind(env_id)
        .bind(since)
        .fetch_all(self.pool())
        .await?;
        Ok(History {
            releases: releases
                .into_iter()
                .map(|(released_at, committed_at, kind)| LiveRelease {
                    released_at,
                    committed_at,
                    rollback: kind == JobKind::Rollback,
                })
                .collect(),
            failures,
        })
    }
}
