//! Deploy requests: deploys and rollbacks that wait — for approvals,
//! behind a running job, or for the time they were asked for — and how
//! each becomes a job.

use crate::store::{on_pool, on_tx, Done};
use chrono::{DateTime, Duration, Utc};

use super::tx::environments::settings_digest;
use super::tx::jobs::{job_inputs, queue_job, JobInputs};
use super::tx::requests::{
    approvals_void, end_request, request_in, SELECT_REQUEST, VOIDED_BY_CHANGE,
};
use super::tx::{audit, events};
use super::{is_unique_violation, Store};
use crate::audit::{actions, AuditRecord};
use crate::domain::{
    Build, DeployRequest, Environment, EventLevel, Job, JobKind, Release, RequestState,
};
use crate::error::{Error, Result};
use crate::time;

/// A deploy or rollback to keep until it can start.
pub struct NewRequest<'a> {
    pub actor: &'a str,
    pub env: &'a Environment,
    pub build: &'a Build,
    pub rollback_to: Option<&'a Release>,
    /// Not started before this (a scheduled deploy).
    pub not_before: Option<DateTime<Utc>>,
    /// An admin's reason to start it through a freeze window.
    pub freeze_override: Option<&'a str>,
    /// Why it waits, as its page says (when it needs no approvals).
    pub note: String,
}

/// What became of a request the runner tried to start.
enum Attempt {
    Started(Box<Job>),
    /// Still waits (the note says for what), or ended.
    NotStarted,
}

impl Store {
    /// Keeps a request until it can start: awaiting approval where the
    /// environment's rules ask for it (for its settings as they are now),
    /// else waiting. One is pending per environment: the one that was
    /// ends `superseded`, saying by what. All audited in one transaction.
    pub async fn enqueue_request(&self, new: &NewRequest<'_>) -> Result<DeployRequest> {
        let kind = match new.rollback_to {
            Some(_) => JobKind::Rollback,
            None => JobKind::Deploy,
        };
        let path = new.env.path();
        let now = time::now();
        let policy = &new.env.approvals;
        let mut tx = self.write().await?;
        let (state, digest, expires_at, note) = if policy.is_required() {
            let missing = policy.missing(&[]).join("; ");
            (
                RequestState::AwaitingApproval,
                Some(settings_digest(&mut tx, new.env.id).await?),
                Some(now + Duration::hours(i64::from(policy.expire_hours))),
                format!("awaiting approval: {missing}"),
            )
        } else {
            (RequestState::Waiting, None, None, new.note.clone())
        };
        // The one pending makes room first.
        let superseded: Vec<(i64, String)> = on_tx!(tx => sqlx::query_as(
            "UPDATE deploy_requests SET state = 'superseded', ended_at = $1
             WHERE environment_id = $2 AND state IN ('awaiting_approval', 'waiting')
             RETURNING id, requested_by",
        )
        .bind(now)
        .bind(new.env.id)
        .fetch_all(&mut *tx)
        .await)?;
        let inserted = on_tx!(tx => sqlx::query_scalar::<_, i64>(
            "INSERT INTO deploy_requests (environment_id, build_id, kind, rollback_to, requested_by,
                state, not_before, freeze_override, note, settings_digest, expires_at, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id",
        )
        .bind(new.env.id)
        .bind(new.build.id)
        .bind(kind)
        .bind(new.rollback_to.map(|r| r.id))
        .bind(new.actor)
        .bind(state)
        .bind(new.not_before)
        .bind(new.freeze_override)
        .bind(&note)
        .bind(&digest)
        .bind(expires_at)
        .bind(now)
        .fetch_one(&mut *tx)
        .await);
        let id = match inserted {
            Ok(id) => id,
            // Only while another writer raced this one past the supersede.
            Err(e) if is_unique_violation(&e) => {
                return Err(Error::Conflict(format!(
                    "{path}: another request was made at the same moment; try again"
                )))
            }
            Err(e) => return Err(e.into()),
        };
        let by = format!(
            "superseded by request #{id} ({} of build #{} by {})",
            kind.as_str(),
            new.build.id,
            new.actor
        );
        for (old, requested_by) in &superseded {
            on_tx!(tx => sqlx::query("UPDATE deploy_requests SET note = $1 WHERE id = $2")
                .bind(&by)
                .bind(old)
                .execute(&mut *tx)
                .await.map(Done::from))?;
            audit::append(
                &mut tx,
                &AuditRecord::new(
                    new.actor,
                    actions::REQUEST_SUPERSEDED,
                    format!("request/{old}"),
                )
                .environment(&path)
                .details(serde_json::json!({ "by_request": id, "requested_by": requested_by })),
            )
            .await?;
        }
        audit::append(
            &mut tx,
            &AuditRecord::new(new.actor, actions::REQUEST_QUEUED, format!("request/{id}"))
                .environment(&path)
                .details(serde_json::json!({
                    "kind": kind,
                    "build_id": new.build.id,
                    "commit_sha": new.build.commit_sha,
                    "rollback_to_release": new.rollback_to.map(|r| r.id),
                    "not_before": new.not_before.map(time::to_rfc3339),
                    "state": state,
                    "why": note,
                    "superseded": superseded.iter().map(|(old, _)| *old).collect::<Vec<_>>(),
                })),
        )
        .await?;
        let request = request_in(&mut tx, id).await?;
        tx.commit().await?;
        Ok(request)
    }

    pub async fn deploy_request(&self, id: i64) -> Result<DeployRequest> {
        let mut conn = self.read().await?;
        request_in(&mut conn, id).await
    }

    /// Every request that is pending (awaiting approval or waiting), oldest first.
    pub async fn pending_requests(&self) -> Result<Vec<DeployRequest>> {
        Ok(on_pool!(self, pool => sqlx::query_as(&format!(
            "{SELECT_REQUEST} WHERE r.state IN ('awaiting_approval', 'waiting') ORDER BY r.id"
        ))
        .fetch_all(pool)
        .await)?)
    }

    /// An environment's latest requests, newest first.
    pub async fn environment_requests(
        &self,
        env_id: i64,
        limit: i64,
    ) -> Result<Vec<DeployRequest>> {
        Ok(on_pool!(self, pool => sqlx::query_as(&format!(
            "{SELECT_REQUEST} WHERE r.environment_id = $1 ORDER BY r.id DESC LIMIT $2"
        ))
        .bind(env_id)
        .bind(limit)
        .fetch_all(pool)
        .await)?)
    }

    /// The request a job was started from, if any.
    pub async fn request_of_job(&self, job_id: i64) -> Result<Option<DeployRequest>> {
        Ok(
            on_pool!(self, pool => sqlx::query_as(&format!("{SELECT_REQUEST} WHERE r.job_id = $1"))
                .bind(job_id)
                .fetch_optional(pool)
                .await)?,
        )
    }

    /// Withdraws a request that has not started.
    pub async fn cancel_request(&self, actor: &str, id: i64) -> Result<DeployRequest> {
        let mut tx = self.write().await?;
        let request = request_in(&mut tx, id).await?;
        if !request.is_pending() {
            return Err(Error::Conflict(format!(
                "request #{id} is {} already",
                request.state.as_str()
            )));
        }
        let note = format!("cancelled by {actor}");
        end_request(
            &mut tx,
            &request,
            RequestState::Cancelled,
            &note,
            actions::REQUEST_CANCELLED,
            Some(actor),
        )
        .await?;
        let request = request_in(&mut tx, id).await?;
        tx.commit().await?;
        Ok(request)
    }

    /// Starts, as jobs, the waiting requests that are due on environments
    /// no job is active on. A request that meets a lock or a freeze keeps
    /// waiting and says so; one whose approvals are void (the settings
    /// changed) or that can never start (a rollback that would change
    /// nothing now) ends, saying why.
    pub async fn start_due_requests(&self) -> Result<Vec<Job>> {
        let due: Vec<i64> = on_pool!(self, pool => sqlx::query_scalar(
            "SELECT r.id FROM deploy_requests r
             WHERE r.state = 'waiting' AND (r.not_before IS NULL OR r.not_before <= $1)
               AND NOT EXISTS (SELECT 1 FROM jobs j
                               WHERE j.environment_id = r.environment_id AND j.state IN ('queued', 'running'))
             ORDER BY r.id",
        )
        .bind(time::now())
        .fetch_all(pool)
        .await)?;
        let mut started = Vec::new();
        for id in due {
            if let Attempt::Started(job) = self.try_start(id).await? {
                started.push(*job);
            }
        }
        Ok(started)
    }

    async fn try_start(&self, id: i64) -> Result<Attempt> {
        let mut tx = self.write().await?;
        let request = request_in(&mut tx, id).await?;
        if request.state != RequestState::Waiting {
            return Ok(Attempt::NotStarted);
        }
        if approvals_void(&mut tx, &request).await? {
            end_request(
                &mut tx,
                &request,
                RequestState::Voided,
                VOIDED_BY_CHANGE,
                actions::REQUEST_VOIDED,
                None,
            )
            .await?;
            tx.commit().await?;
            return Ok(Attempt::NotStarted);
        }
        let JobInputs {
            env,
            build,
            rollback_to,
        } = job_inputs(
            &mut tx,
            request.environment_id,
            request.build_id,
            request.rollback_to,
        )
        .await?;
        let queued = queue_job(
            &mut tx,
            &request.requested_by,
            &env,
            &build,
            rollback_to.as_ref().into(),
            request.freeze_override.as_deref(),
            Some(id),
        )
        .await;
        let job = match queued {
            Ok(job) => job,
            Err(refused) => {
                // Nothing of the attempt is kept but what it says.
                drop(tx);
                return self.record_refusal(&request, refused).await;
            }
        };
        on_tx!(tx => sqlx::query(
            "UPDATE deploy_requests SET state = 'started', job_id = $1, ended_at = $2 WHERE id = $3",
        )
        .bind(job.id)
        .bind(time::now())
        .bind(id)
        .execute(&mut *tx)
        .await.map(Done::from))?;
        let how = match (&request.note, request.not_before) {
            (Some(note), _) if note.starts_with("approved") => note.clone(),
            (_, Some(at)) => format!("scheduled for {}", time::to_rfc3339(at)),
            _ => "waited for the environment".to_owned(),
        };
        events::append_in_tx(
            &mut tx,
            job.id,
            &[(
                EventLevel::Info,
                format!(
                    "started from request #{id} by {} ({how})",
                    request.requested_by
                ),
            )],
        )
        .await?;
        tx.commit().await?;
        Ok(Attempt::Started(Box::new(job)))
    }

    /// A request that could not start now: it keeps waiting where the
    /// obstacle passes (a job, a lock, a freeze), saying which; otherwise
    /// it ends `failed`, audited.
    async fn record_refusal(&self, request: &DeployRequest, refused: Error) -> Result<Attempt> {
        let waits = match &refused {
            Error::Busy { job_id, .. } => Some(format!("waits for job #{job_id}")),
            Error::Locked { .. } => Some(format!("waits: {refused}")),
            Error::Frozen { window, ends, .. } => {
                Some(format!("waits: frozen by \"{window}\" until {ends}"))
            }
            Error::Database(_) | Error::Io(_) | Error::Migration(_) => return Err(refused),
            _ => None,
        };
        let mut tx = self.write().await?;
        match waits {
            Some(note) => {
                on_tx!(tx => sqlx::query(
                    "UPDATE deploy_requests SET note = $1 WHERE id = $2 AND state = 'waiting'",
                )
                .bind(note)
                .bind(request.id)
                .execute(&mut *tx)
                .await.map(Done::from))?;
            }
            None => {
                let why = refused.public_message();
                end_request(
                    &mut tx,
                    request,
                    RequestState::Failed,
                    &why,
                    actions::REQUEST_FAILED,
                    None,
                )
                .await?;
            }
        }
        tx.commit().await?;
        Ok(Attempt::NotStarted)
    }
}
