//! The facts DORA metrics are counted from: an environment's releases that
//! went live (with their builds' commit times) and its failed jobs.

use chrono::{DateTime, Duration, Utc};

use super::Store;
use crate::domain::insight::{History, LiveRelease};
use crate::domain::timeline::{Outcome, TimelineRelease};
use crate::error::Result;

impl Store {
    /// Environment `env_id`'s history since `since`, oldest first.
    ///
    /// Times come back as milliseconds after `since` (integers): decoding
    /// a quarter's 25,000 timestamps as text costs more than the query.
    pub async fn release_history(&self, env_id: i64, since: DateTime<Utc>) -> Result<History> {
        let at = |ms: i64| since + Duration::milliseconds(ms);
        let releases: Vec<(i64, Option<i64>, bool)> = sqlx::query_as(
            "SELECT CAST(ROUND((julianday(r.released_at) - julianday(?1)) * 86400000.0) AS INTEGER),
                    CAST(ROUND((julianday(b.committed_at) - julianday(?1)) * 86400000.0) AS INTEGER),
                    r.kind = 'rollback'
             FROM releases r
             JOIN builds b ON b.id = r.build_id
             WHERE r.environment_id = ?2 AND r.released_at IS NOT NULL AND r.released_at >= ?1
             ORDER BY r.released_at",
        )
        .bind(since)
        .bind(env_id)
        .fetch_all(self.pool())
        .await?;
        let failures: Vec<i64> = sqlx::query_scalar(
            "SELECT CAST(ROUND((julianday(finished_at) - julianday(?1)) * 86400000.0) AS INTEGER)
             FROM jobs
             WHERE environment_id = ?2 AND kind IN ('deploy', 'rollback')
               AND state IN ('failed', 'interrupted') AND finished_at >= ?1
             ORDER BY finished_at",
        )
        .bind(since)
        .bind(env_id)
        .fetch_all(self.pool())
        .await?;
        Ok(History {
            releases: releases
                .into_iter()
                .map(|(released_ms, committed_ms, rollback)| LiveRelease {
                    released_at: at(released_ms),
                    committed_at: committed_ms.map(at),
                    rollback,
                })
                .collect(),
            failures: failures.into_iter().map(at).collect(),
        })
    }

    /// Every release made between `from` and `to` (of application
    /// `application_id`, or of all), with its outcome, in no set order.
    /// Read from one covering index in time order; the job is read only
    /// for a failed release (a job switches its release live only on
    /// success, so `failed` is exactly "did not succeed"), to tell an
    /// interruption from a failure.
    pub async fn timeline_releases(
        &self,
        application_id: Option<i64>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<TimelineRelease>> {
        // All integers: decoding 25,000 timestamps costs more than the query.
        type Row = (i64, i64, i64, i64, bool, i64);
        let names: std::collections::HashMap<i64, String> = sqlx::query_as(
            "SELECT e.id, a.name || '/' || e.name FROM environments e JOIN applications a ON a.id = e.application_id",
        )
        .fetch_all(self.pool())
        .await?
        .into_iter()
        .collect();
        // Ranks follow `Outcome`'s order (see `Outcome::from_rank`).
        let mut rows: Vec<Row> = sqlx::query_as(
            "SELECT r.environment_id, r.id,
                    CAST(ROUND((julianday(r.created_at) - julianday(?1)) * 86400000.0) AS INTEGER),
                    r.job_id, r.kind = 'rollback',
                    CASE r.state
                         WHEN 'failed' THEN (SELECT CASE j.state WHEN 'interrupted' THEN 4 ELSE 5 END
                                             FROM jobs j WHERE j.id = r.job_id)
                         WHEN 'live' THEN 2
                         WHEN 'pending' THEN 1
                         ELSE 0
                    END
             FROM releases r INDEXED BY releases_by_created_at
             WHERE r.created_at >= ?1 AND r.created_at <= ?2
               AND (?3 IS NULL OR r.environment_id IN (SELECT id FROM environments WHERE application_id = ?3))",
        )
        .bind(from)
        .bind(to)
        .bind(application_id)
        .fetch_all(self.pool())
        .await?;
        // A superseded release that a rollback replaced was rolled back:
        // look at each one's successor on its environment.
        rows.sort_unstable_by_key(|&(env, id, ..)| (env, id));
        let rolled_back: Vec<bool> = rows
            .windows(2)
            .map(|pair| pair[0].0 == pair[1].0 && pair[1].4)
            .chain(std::iter::once(false))
            .collect();
        Ok(rows
            .into_iter()
            .zip(rolled_back)
            .map(
                |((env, _, offset_ms, job_id, _, rank), rolled_back)| TimelineRelease {
                    environment: names.get(&env).cloned().unwrap_or_default(),
                    at: from + chrono::Duration::milliseconds(offset_ms),
                    outcome: if rank == 0 && rolled_back {
                        Outcome::RolledBack
                    } else {
                        Outcome::from_rank(rank)
                    },
                    job_id,
                },
            )
            .collect())
    }
}
