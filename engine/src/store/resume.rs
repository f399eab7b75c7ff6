//! Resuming an interrupted job: a new job finishes its release.

use super::tx::jobs::{
    environment_path, job_inputs, queue_job, queued_snapshot, JobInputs, ReleaseOf,
};
use super::tx::{audit, environments};
use super::{tx, Store};
use crate::audit::{actions, AuditRecord};
use crate::domain::{resume_refusal, Job, ResumeContext};
use crate::error::{Error, Result};
use crate::store::{on_pool, on_tx, Done};

impl Store {
    /// Queues a job that finishes interrupted job `job_id`: the same build
    /// (or the same rollback target) on the same environment, by `actor`.
    /// Refused unless [`resume_refusal`] allows it, as the queueing
    /// transaction sees the environment; then also refused like any deploy
    /// while the environment is locked or frozen. Both jobs name each other,
    /// with a `job.resumed` audit row, in one transaction.
    pub async fn resume_job(&self, actor: &str, job_id: i64) -> Result<Job> {
        let mut tx = self.write().await?;
        let interrupted = tx::jobs::job(&mut tx, job_id).await?;
        let later_job: Option<i64> = on_tx!(tx => sqlx::query_scalar("SELECT MAX(id) FROM jobs WHERE environment_id = $1 AND id > $2")
                .bind(interrupted.environment_id)
                .bind(job_id)
                .fetch_one(&mut *tx)
                .await)?;
        let queued_with = queued_snapshot(&mut tx, job_id).await?;
        let now = environments::settings_snapshot(&mut tx, interrupted.environment_id).await?;
        let context = ResumeContext {
            later_job,
            // A job from before snapshots were kept cannot say.
            same_settings: queued_with.as_ref() == Some(&now),
        };
        if let Some(refusal) = resume_refusal(&interrupted, context) {
            return Err(Error::Conflict(refusal.to_string()));
        }
        let JobInputs {
            env,
            build,
            rollback_to,
        } = job_inputs(
            &mut tx,
            interrupted.environment_id,
            interrupted.build_id,
            interrupted.rollback_of,
        )
        .await?;
        // A deploy finishes the release it began, under its key, so hosts
        // where it was staged (or switched to) already are not staged anew.
        let began = match (&rollback_to, interrupted.release_id) {
            (None, Some(release_id)) => Some(tx::releases::release(&mut tx, release_id).await?),
            _ => None,
        };
        let release = match (&rollback_to, &began) {
            (Some(target), _) => ReleaseOf::RollbackTo(target),
            (None, Some(began)) => ReleaseOf::Unfinished(began),
            (None, None) => ReleaseOf::New,
        };
        let resumed = queue_job(&mut tx, actor, &env, &build, release, None, None).await?;
        let resumed: Job = on_tx!(tx => sqlx::query_as("UPDATE jobs SET resumes_job_id = $1 WHERE id = $2 RETURNING *")
                .bind(job_id)
                .bind(resumed.id)
                .fetch_one(&mut *tx)
                .await)?;
        on_tx!(tx => sqlx::query("UPDATE jobs SET resumed_by_job_id = $1 WHERE id = $2")
            .bind(resumed.id)
            .bind(job_id)
            .execute(&mut *tx)
            .await.map(Done::from))?;
        let env_path = environment_path(&mut tx, env.id).await?;
        audit::append(
            &mut tx,
            &AuditRecord::new(actor, actions::JOB_RESUMED, format!("job/{job_id}"))
                .environment(&env_path)
                .details(serde_json::json!({
                    "resumed_by_job": resumed.id,
                    "kind": interrupted.kind.as_str(),
                    "build_id": build.id,
                })),
        )
        .await?;
        tx.commit().await?;
        Ok(resumed)
    }

    /// The runner that held job `job_id`'s lease last, if it ever ran.
    pub async fn lease_owner(&self, job_id: i64) -> Result<Option<String>> {
        Ok(
            on_pool!(self, pool => sqlx::query_scalar::<_, Option<String>>("SELECT lease_owner FROM jobs WHERE id = $1")
                .bind(job_id)
                .fetch_optional(pool)
                .await)?
                .flatten(),
        )
    }
}
