//! Jobs: the queue, leases, per-host state, and how a job ends.

use crate::store::{on_pool, on_tx, Done};
use chrono::Duration;

use super::tx::jobs::{cancel_queued, environment_path, queue_job, set_final_state};
use super::tx::{audit, events};
use super::{tx, Store};
use crate::audit::{actions, AuditRecord, SYSTEM_ACTOR};
use crate::domain::notify::{summary_of, NotifyEvent};
use crate::domain::{
    Build, Environment, EventLevel, Job, JobEvent, JobHost, JobKind, JobState, Release,
};
use crate::error::{Error, Result};
use crate::time;

/// How a running job ended.
#[derive(Clone, Debug)]
pub enum JobOutcome {
    Succeeded,
    Failed(String),
    /// Stopped before it finished: on request, or because this runner lost
    /// its lease (the reason says which).
    Cancelled(String),
}

impl JobOutcome {
    fn state(&self) -> JobState {
        match self {
            JobOutcome::Succeeded => JobState::Succeeded,
            JobOutcome::Failed(_) => JobState::Failed,
            JobOutcome::Cancelled(_) => JobState::Cancelled,
        }
    }
}

impl Store {
    /// Queues a deploy of `build`, or a rollback to `rollback_to`, on `env`.
    /// Refused while the environment is locked, frozen (unless an admin's
    /// `freeze_override` reason goes through it) or another job is active.
    pub async fn enqueue_job(
        &self,
        actor: &str,
        env: &Environment,
        build: &Build,
        rollback_to: Option<&Release>,
        freeze_override: Option<&str>,
    ) -> Result<Job> {
        let mut tx = self.write().await?;
        let job = queue_job(
            &mut tx,
            actor,
            env,
            build,
            rollback_to.into(),
            freeze_override,
            None,
        )
        .await?;
        tx.commit().await?;
        Ok(job)
    }

    /// Takes the oldest queued job, if any, and leases it to `owner` for
    /// `lease`. On PostgreSQL the lease is stamped by the database's clock
    /// (replicas' clocks may differ) and a job locked by another replica's
    /// claim is skipped, never handed out twice.
    pub async fn claim_next_job(&self, owner: &str, lease: Duration) -> Result<Option<Job>> {
        let mut tx = self.write().await?;
        let job: Option<Job> = on_tx!(tx,
            sqlite => sqlx::query_as(
                "UPDATE jobs SET state = 'running', lease_owner = $1, lease_expires_at = $2, started_at = $3
                 WHERE id = (SELECT id FROM jobs WHERE state = 'queued' ORDER BY id LIMIT 1)
                 RETURNING *",
            )
            .bind(owner)
            .bind(time::now() + lease)
            .bind(time::now())
            .fetch_optional(&mut *tx)
            .await,
            postgres => sqlx::query_as(
                "UPDATE jobs SET state = 'running', lease_owner = $1,
                        lease_expires_at = clock_timestamp() + $2 * INTERVAL '1 millisecond',
                        started_at = date_trunc('milliseconds', clock_timestamp())
                 WHERE id = (SELECT id FROM jobs WHERE state = 'queued' ORDER BY id LIMIT 1
                             FOR UPDATE SKIP LOCKED)
                 RETURNING *",
            )
            .bind(owner)
            .bind(lease.num_milliseconds())
            .fetch_optional(&mut *tx)
            .await
        )?;
        if let Some(job) = job
            .as_ref()
            .filter(|j| matches!(j.kind, JobKind::Deploy | JobKind::Rollback))
        {
            let path = environment_path(&mut tx, job.environment_id).await?;
            let details = serde_json::json!({ "build_id": job.build_id });
            let notice = crate::domain::notify::Notice {
                event: NotifyEvent::Started,
                environment: path.clone(),
                actor: job.requested_by.clone(),
                summary: summary_of(NotifyEvent::Started, &job.requested_by, &details),
                job_id: Some(job.id),
                request_id: None,
                build_id: Some(job.build_id),
                commit_sha: None,
                link: None,
                at: time::now(),
            };
            tx::notifications::enqueue_for_environment(&mut tx, &path, notice).await?;
        }
        tx.commit().await?;
        Ok(job)
    }

    /// Extends a lease by `lease` from now (the database's now, on
    /// PostgreSQL); `false` when the job is no longer ours to run.
    pub async fn renew_lease(&self, job_id: i64, owner: &str, lease: Duration) -> Result<bool> {
        let changed = on_pool!(self,
            sqlite pool => sqlx::query(
                "UPDATE jobs SET lease_expires_at = $1
                 WHERE id = $2 AND lease_owner = $3 AND state = 'running'",
            )
                .bind(time::now() + lease)
                .bind(job_id)
                .bind(owner)
                .execute(pool)
                .await
                .map(Done::from),
            postgres pool => sqlx::query(
                "UPDATE jobs SET lease_expires_at = clock_timestamp() + $1 * INTERVAL '1 millisecond'
                 WHERE id = $2 AND lease_owner = $3 AND state = 'running'",
            )
            .bind(lease.num_milliseconds())
            .bind(job_id)
            .bind(owner)
            .execute(pool)
            .await
            .map(Done::from)
        )?
        .rows_affected();
        Ok(changed == 1)
    }

    /// Who asked the job to stop, once someone has (`None`: nobody).
    pub async fn cancel_requested_by(&self, job_id: i64) -> Result<Option<String>> {
        let row: Option<(bool, Option<String>)> = on_pool!(self, pool => sqlx::query_as("SELECT cancel_requested, cancel_requested_by FROM jobs WHERE id = $1")
                .bind(job_id)
                .fetch_optional(pool)
                .await)?;
        Ok(match row {
            Some((true, by)) => Some(by.unwrap_or_else(|| "someone".to_owned())),
            _ => None,
        })
    }

    /// Cancels a queued job at once, or asks a running one to stop at its
    /// next step. A queued job gets its closing events (`end` included) in
    /// the same transaction, to publish: a stream following it then ends.
    pub async fn request_cancel(&self, actor: &str, job_id: i64) -> Result<(Job, Vec<JobEvent>)> {
        let mut tx = self.write().await?;
        let job = tx::jobs::job(&mut tx, job_id).await?;
        let env_path = environment_path(&mut tx, job.environment_id).await?;
        let job = match job.state {
            JobState::Queued => {
                let cancelled = cancel_queued(
                    &mut tx,
                    &job,
                    actor,
                    &env_path,
                    &format!("cancelled by {actor} before it started"),
                    serde_json::json!({ "while": "queued" }),
                )
                .await?;
                tx.commit().await?;
                return Ok(cancelled);
            }
            JobState::Running if !job.cancel_requested => {
                let job: Job = on_tx!(tx => sqlx::query_as(
                    "UPDATE jobs SET cancel_requested = TRUE, cancel_requested_by = $1
                     WHERE id = $2 RETURNING *",
                )
                .bind(actor)
                .bind(job_id)
                .fetch_one(&mut *tx)
                .await)?;
                audit::append(
                    &mut tx,
                    &AuditRecord::new(
                        actor,
                        actions::JOB_CANCEL_REQUESTED,
                        format!("job/{job_id}"),
                    )
                    .environment(&env_path),
                )
                .await?;
                tx::events::announce_cancel(&mut tx, job_id, actor).await?;
                job
            }
            JobState::Running => {
                return Err(Error::Conflict(format!(
                    "job #{job_id} is already being cancelled"
                )))
            }
            finished => {
                return Err(Error::Conflict(format!(
                    "job #{job_id} has already finished ({})",
                    finished.as_str()
                )))
            }
        };
        tx.commit().await?;
        Ok((job, Vec::new()))
    }

    /// Acknowledges interrupted job `job_id` and lets it go: who, when and
    /// why are kept on the job, with its audit row, in one transaction.
    /// Only an interrupted job can be abandoned, and only once.
    pub async fn abandon_job(&self, actor: &str, job_id: i64, reason: &str) -> Result<Job> {
        let mut tx = self.write().await?;
        let job = tx::jobs::job(&mut tx, job_id).await?;
        if job.state != JobState::Interrupted {
            return Err(Error::Conflict(format!(
                "job #{job_id} is {}: only an interrupted job can be abandoned",
                job.state.as_str()
            )));
        }
        if let Some(by) = &job.abandoned_by {
            return Err(Error::Conflict(format!(
                "job #{job_id} was abandoned already, by {by}"
            )));
        }
        if let Some(by) = job.resumed_by_job_id {
            return Err(Error::Conflict(format!(
                "job #{job_id} was resumed already, by job #{by}"
            )));
        }
        let env_path = environment_path(&mut tx, job.environment_id).await?;
        let job: Job = on_tx!(tx => sqlx::query_as(
            "UPDATE jobs SET abandoned_by = $1, abandoned_at = $2, abandon_reason = $3
             WHERE id = $4 RETURNING *",
        )
        .bind(actor)
        .bind(time::now())
        .bind(reason)
        .bind(job_id)
        .fetch_one(&mut *tx)
        .await)?;
        audit::append(
            &mut tx,
            &AuditRecord::new(actor, actions::JOB_ABANDONED, format!("job/{job_id}"))
                .environment(&env_path)
                .details(serde_json::json!({ "reason": reason })),
        )
        .await?;
        tx.commit().await?;
        Ok(job)
    }

    /// Records how a job we hold the lease for ended, with its release and audit row.
    /// The closing events (`summary`, then `end` with the final state) are
    /// stored in the same transaction, so a finished job always has its end.
    pub async fn finish_job(
        &self,
        job: &Job,
        owner: &str,
        outcome: &JobOutcome,
        summary: &str,
    ) -> Result<(Job, Vec<JobEvent>)> {
        let mut tx = self.write().await?;
        let held: Option<i64> = on_tx!(tx => sqlx::query_scalar(
            "SELECT id FROM jobs WHERE id = $1 AND state = 'running' AND lease_owner = $2",
        )
        .bind(job.id)
        .bind(owner)
        .fetch_optional(&mut *tx)
        .await)?;
        if held.is_none() {
            return Err(Error::Conflict(format!(
                "job #{} is no longer held by this runner",
                job.id
            )));
        }
        let error = match outcome {
            JobOutcome::Failed(e) => Some(e.as_str()),
            _ => None,
        };
        let finished = set_final_state(&mut tx, job, outcome.state(), error).await?;
        // A host the backend left mid-step did not finish it: say so, never "running".
        on_tx!(tx => sqlx::query(
            "UPDATE job_hosts SET state = 'stopped', updated_at = $1 WHERE job_id = $2 AND state = 'running'",
        )
        .bind(time::now())
        .bind(job.id)
        .execute(&mut *tx)
        .await.map(Done::from))?;
        if matches!(outcome, JobOutcome::Succeeded) {
            if let Some(release_id) = job.release_id {
                let now = time::now();
                on_tx!(tx => sqlx::query("UPDATE releases SET state = 'superseded' WHERE environment_id = $1 AND state = 'live'")
                    .bind(job.environment_id)
                    .execute(&mut *tx)
                    .await.map(Done::from))?;
                on_tx!(tx => sqlx::query("UPDATE releases SET state = 'live', released_at = $1 WHERE id = $2")
                    .bind(now)
                    .bind(release_id)
                    .execute(&mut *tx)
                    .await.map(Done::from))?;
            }
        }
        let env_path = environment_path(&mut tx, job.environment_id).await?;
        if job.kind == JobKind::Destroy && matches!(outcome, JobOutcome::Succeeded) {
            tx::qa::mark_destroyed(&mut tx, job.environment_id, &env_path, job).await?;
        }
        let action = match outcome {
            JobOutcome::Succeeded => actions::JOB_SUCCEEDED,
            JobOutcome::Failed(_) => actions::JOB_FAILED,
            JobOutcome::Cancelled(_) => actions::JOB_CANCELLED,
        };
        let mut details = serde_json::json!({
            "kind": job.kind.as_str(),
            "build_id": job.build_id,
            "requested_by": job.requested_by,
            "error": error,
        });
        if let JobOutcome::Cancelled(reason) = outcome {
            details["reason"] = reason.as_str().into();
        }
        audit::append(
            &mut tx,
            &AuditRecord::new(SYSTEM_ACTOR, action, format!("job/{}", job.id))
                .environment(&env_path)
                .details(details),
        )
        .await?;
        let summary_level = if matches!(outcome, JobOutcome::Succeeded) {
            EventLevel::Info
        } else {
            EventLevel::Error
        };
        let events = events::append_in_tx(
            &mut tx,
            job.id,
            &[
                (summary_level, summary.to_owned()),
                (EventLevel::End, finished.state.as_str().to_owned()),
            ],
        )
        .await?;
        tx.commit().await?;
        Ok((finished, events))
    }

    /// Running jobs whose lease ran out (their runner died) become `interrupted`.
    /// They are never retried: a person decides what happens next. `alive`
    /// names jobs the caller is running right now: their lease may look
    /// lapsed (the clock jumped, a renewal failed) but their runner is not dead.
    /// Returns each interrupted job with its closing events, stored with it.
    pub async fn interrupt_expired_jobs(&self, alive: &[i64]) -> Result<Vec<(i64, Vec<JobEvent>)>> {
        let now = self.clock().await?;
        let expired: Vec<Job> = on_pool!(self, pool => sqlx::query_as(
            "SELECT * FROM jobs WHERE state = 'running' AND lease_expires_at < $1",
        )
        .bind(now)
        .fetch_all(pool)
        .await)?;
        let mut interrupted = Vec::new();
        for job in expired.into_iter().filter(|j| !alive.contains(&j.id)) {
            let mut tx = self.write().await?;
            // Re-check inside the write lock: the runner may have renewed or finished it.
            let still_expired: Option<i64> = on_tx!(tx => sqlx::query_scalar(
                "SELECT id FROM jobs WHERE id = $1 AND state = 'running' AND lease_expires_at < $2",
            )
            .bind(job.id)
            .bind(now)
            .fetch_optional(&mut *tx)
            .await)?;
            if still_expired.is_none() {
                continue;
            }
            let reason = "the server running this job stopped (its lease expired); not retried";
            set_final_state(&mut tx, &job, JobState::Interrupted, Some(reason)).await?;
            on_tx!(tx => sqlx::query(
                "UPDATE job_hosts SET state = 'interrupted', updated_at = $1 WHERE job_id = $2 AND state = 'running'",
            )
            .bind(now)
            .bind(job.id)
            .execute(&mut *tx)
            .await.map(Done::from))?;
            let env_path = environment_path(&mut tx, job.environment_id).await?;
            audit::append(
                &mut tx,
                &AuditRecord::new(
                    SYSTEM_ACTOR,
                    actions::JOB_INTERRUPTED,
                    format!("job/{}", job.id),
                )
                .environment(&env_path)
                .details(serde_json::json!({
                    "kind": job.kind.as_str(),
                    "requested_by": job.requested_by,
                })),
            )
            .await?;
            let events = events::append_in_tx(
                &mut tx,
                job.id,
                &[
                    (EventLevel::Error, format!("interrupted: {reason}")),
                    (EventLevel::End, JobState::Interrupted.as_str().to_owned()),
                ],
            )
            .await?;
            tx.commit().await?;
            interrupted.push((job.id, events));
        }
        Ok(interrupted)
    }

    pub async fn job(&self, id: i64) -> Result<Job> {
        on_pool!(self, pool => sqlx::query_as("SELECT * FROM jobs WHERE id = $1")
            .bind(id)
            .fetch_optional(pool)
            .await)?
        .ok_or_else(|| Error::not_found(format!("job #{id}")))
    }

    pub async fn jobs_for_environment(&self, env_id: i64, limit: i64) -> Result<Vec<Job>> {
        Ok(
            on_pool!(self, pool => sqlx::query_as("SELECT * FROM jobs WHERE environment_id = $1 ORDER BY id DESC LIMIT $2")
                .bind(env_id)
                .bind(limit)
                .fetch_all(pool)
                .await)?,
        )
    }

    pub async fn job_hosts(&self, job_id: i64) -> Result<Vec<JobHost>> {
        Ok(
            on_pool!(self, pool => sqlx::query_as("SELECT host, phase, step, steps_done, steps_total, state, error, started_at, updated_at
                            FROM job_hosts WHERE job_id = $1 ORDER BY host")
                .bind(job_id)
                .fetch_all(pool)
                .await)?,
        )
    }
}
