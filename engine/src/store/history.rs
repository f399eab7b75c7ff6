//! Importing a release history that happened elsewhere (another tool's
//! records, the demo's sample weeks, a benchmark's load): finished jobs
//! and their releases, written as they would have been, in one
//! transaction with one audit row that says so.

use crate::store::{on_tx, Done};
use chrono::{DateTime, Utc};

use super::tx::audit;
use super::Store;
use crate::audit::{actions, AuditRecord};
use crate::domain::{Environment, JobKind};
use crate::error::{Error, Result};

/// One past deploy or rollback.
#[derive(Clone, Debug)]
pub struct PastRelease {
    pub build_id: i64,
    pub kind: JobKind,
    pub succeeded: bool,
    pub by: String,
    /// When it started; it took `seconds`.
    pub at: DateTime<Utc>,
    pub seconds: i64,
}

impl Store {
    /// Writes `history` (oldest first) into `env`, which must have no
    /// jobs yet: each a finished job and its release, the last success
    /// live, the successes before it superseded, the failures failed.
    /// Returns how many were written.
    pub async fn import_history(
        &self,
        actor: &str,
        env: &Environment,
        history: &[PastRelease],
    ) -> Result<usize> {
        let mut tx = self.write().await?;
        let jobs: i64 = on_tx!(tx => sqlx::query_scalar("SELECT COUNT(*) FROM jobs WHERE environment_id = $1")
            .bind(env.id)
            .fetch_one(&mut *tx)
            .await)?;
        if jobs > 0 {
            return Err(Error::Conflict(format!(
                "{} has a history already: import only into a new environment",
                env.path()
            )));
        }
        let mut live: Option<i64> = None;
        for past in history {
            let finished = past.at + chrono::Duration::seconds(past.seconds.max(1));
            let state = if past.succeeded {
                "succeeded"
            } else {
                "failed"
            };
            let job_id: i64 = on_tx!(tx => sqlx::query_scalar(
                "INSERT INTO jobs (kind, environment_id, build_id, requested_by, state, error, created_at, started_at, finished_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
            )
            .bind(past.kind)
            .bind(env.id)
            .bind(past.build_id)
            .bind(&past.by)
            .bind(state)
            .bind((!past.succeeded).then_some("failed (imported history)"))
            .bind(past.at)
            .bind(past.at)
            .bind(finished)
            .fetch_one(&mut *tx)
            .await)?;
            let release_state = if past.succeeded { "live" } else { "failed" };
            // One live release per environment: the one before steps down first.
            if let Some(before) = live.filter(|_| past.succeeded) {
                on_tx!(tx => sqlx::query("UPDATE releases SET state = 'superseded' WHERE id = $1")
                    .bind(before)
                    .execute(&mut *tx)
                    .await.map(Done::from))?;
            }
            let release_id: i64 = on_tx!(tx => sqlx::query_scalar(
                "INSERT INTO releases (environment_id, build_id, job_id, release_key, kind, state, released_by, released_at, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
            )
            .bind(env.id)
            .bind(past.build_id)
            .bind(job_id)
            .bind(super::tx::jobs::release_key_for(job_id, past.at))
            .bind(past.kind)
            .bind(release_state)
            .bind(&past.by)
            .bind(past.succeeded.then_some(finished))
            .bind(past.at)
            .fetch_one(&mut *tx)
            .await)?;
            on_tx!(tx => sqlx::query("UPDATE jobs SET release_id = $1 WHERE id = $2")
                .bind(release_id)
                .bind(job_id)
                .execute(&mut *tx)
                .await.map(Done::from))?;
            if past.succeeded {
                live = Some(release_id);
            }
        }
        audit::append(
            &mut tx,
            &AuditRecord::new(
                actor,
                actions::HISTORY_IMPORTED,
                format!("env/{}", env.path()),
            )
            .environment(env.path())
            .details(serde_json::json!({
                "releases": history.len(),
                "from": history.first().map(|p| crate::time::to_rfc3339(p.at)),
                "to": history.last().map(|p| crate::time::to_rfc3339(p.at)),
            })),
        )
        .await?;
        tx.commit().await?;
        Ok(history.len())
    }
}
