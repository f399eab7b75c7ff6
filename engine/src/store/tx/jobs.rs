//! Queueing, ending and cancelling jobs inside a caller's transaction.

use crate::store::{on_tx, Done, Tx};
use chrono::{DateTime, Utc};

use super::freezes::{check_not_frozen, FreezeCheck};
use super::promotion::promotion_refusal;
use super::{audit, events};
use crate::audit::{actions, AuditRecord};
use crate::domain::{Build, Environment, EventLevel, Job, JobEvent, JobKind, JobState, Release};
use crate::error::{Error, Result};
use crate::time;

/// `lock_reason, locked_by, locked_at` of an environment row.
pub(crate) type LockColumns = (Option<String>, Option<String>, Option<DateTime<Utc>>);

pub(crate) fn release_key_for(job_id: i64, at: DateTime<Utc>) -> String {
    format!("{}-{job_id}", at.format("%Y%m%d%H%M%S"))
}

/// Which release a deploy or rollback is queued to make live.
#[derive(Clone, Copy, Debug)]
pub(crate) enum ReleaseOf<'a> {
    /// A deploy's new release, under a key of its own.
    New,
    /// A rollback to a release that was live on the environment before.
    RollbackTo(&'a Release),
    /// A deploy that finishes the release an interrupted deploy began,
    /// under that release's key: its hosts keep what was staged already.
    Unfinished(&'a Release),
}

impl<'a> ReleaseOf<'a> {
    fn kind(self) -> JobKind {
        match self {
            Self::RollbackTo(_) => JobKind::Rollback,
            Self::New | Self::Unfinished(_) => JobKind::Deploy,
        }
    }

    fn rollback_to(self) -> Option<&'a Release> {
        match self {
            Self::RollbackTo(target) => Some(target),
            Self::New | Self::Unfinished(_) => None,
        }
    }

    fn key(self, job_id: i64, at: DateTime<Utc>) -> String {
        match self {
            Self::New => release_key_for(job_id, at),
            Self::RollbackTo(release) | Self::Unfinished(release) => release.release_key.clone(),
        }
    }
}

impl<'a> From<Option<&'a Release>> for ReleaseOf<'a> {
    /// A rollback to `rollback_to`, or a new release.
    fn from(rollback_to: Option<&'a Release>) -> Self {
        rollback_to.map_or(Self::New, Self::RollbackTo)
    }
}

/// Queues a deploy of `build`, or a rollback, on `env` (`release` says which),
/// with its audit row: refused while the environment is locked, frozen
/// (unless an admin's `freeze_override` reason goes through it) or another
/// job is active. `request`: the deploy request it starts, if any.
pub(crate) async fn queue_job(
    tx: &mut Tx,
    actor: &str,
    env: &Environment,
    build: &Build,
    release: ReleaseOf<'_>,
    freeze_override: Option<&str>,
    request: Option<i64>,
) -> Result<Job> {
    let kind = release.kind();
    let rollback_to = release.rollback_to();
    check_unlocked(&mut *tx, env).await?;
    let path = env.path();
    let freeze = FreezeCheck {
        actor,
        environment: &path,
        application_id: env.application_id,
        environment_id: Some(env.id),
        kind,
        override_reason: freeze_override,
    };
    check_not_frozen(&mut *tx, &freeze).await?;
    match rollback_to {
        Some(target) => check_rollback(&mut *tx, env, target.id).await?,
        // A rollback returns to what was live here; a deploy follows the
        // promotion rule.
        None => {
            if let Some(refusal) = promotion_refusal(&mut *tx, env, build.id).await? {
                return Err(Error::Conflict(refusal));
            }
        }
    }
    let (job, release_key) = insert_job(&mut *tx, actor, env, build, kind, release).await?;
    keep_snapshot(&mut *tx, &job, env).await?;
    let action = match kind {
        JobKind::Rollback => actions::ROLLBACK_REQUESTED,
        _ => actions::DEPLOY_REQUESTED,
    };
    let mut details = serde_json::json!({
        "build_id": build.id,
        "commit_sha": build.commit_sha,
        "release": release_key,
        "rollback_to_release": rollback_to.map(|r| r.id),
    });
    if let Some(request) = request {
        details["request"] = request.into();
    }
    audit::append(
        &mut *tx,
        &AuditRecord::new(actor, action, format!("job/{}", job.id))
            .environment(path)
            .details(details),
    )
    .await?;
    Ok(job)
}

/// What a deploy or rollback is queued with, read in the caller's
/// transaction: the environment, the build, and the release a rollback
/// returns to.
pub(crate) struct JobInputs {
    pub env: Environment,
    pub build: Build,
    pub rollback_to: Option<Release>,
}

pub(crate) async fn job_inputs(
    tx: &mut Tx,
    env_id: i64,
    build_id: i64,
    rollback_to: Option<i64>,
) -> Result<JobInputs> {
    let env = super::environments::environment_in(&mut *tx, env_id).await?;
    let build: Build = on_tx!(tx => sqlx::query_as("SELECT * FROM builds WHERE id = $1")
        .bind(build_id)
        .fetch_optional(&mut *tx)
        .await)?
    .ok_or_else(|| Error::not_found(format!("build #{build_id}")))?;
    let rollback_to = match rollback_to {
        Some(release_id) => Some(super::releases::release(&mut *tx, release_id).await?),
        None => None,
    };
    Ok(JobInputs {
        env,
        build,
        rollback_to,
    })
}

/// The settings snapshot job `job_id` was queued with, if it kept one
/// (jobs from before snapshots did not).
pub(crate) async fn queued_snapshot(
    conn: &mut Tx,
    job_id: i64,
) -> Result<Option<crate::domain::snapshot::SettingsSnapshot>> {
    let json: Option<Option<String>> = on_tx!(conn => sqlx::query_scalar("SELECT CAST(settings_snapshot AS TEXT) FROM jobs WHERE id = $1")
            .bind(job_id)
            .fetch_optional(&mut *conn)
            .await)?;
    Ok(json
        .flatten()
        .and_then(|json| serde_json::from_str(&json).ok()))
}

/// Keeps the environment's settings and variables as the job was queued
/// with them, to say later what else its release changed.
async fn keep_snapshot(tx: &mut Tx, job: &Job, env: &Environment) -> Result<()> {
    let snapshot = super::environments::settings_snapshot(&mut *tx, env.id).await?;
    on_tx!(tx => sqlx::query("UPDATE jobs SET settings_snapshot = $1 WHERE id = $2")
        .bind(sqlx::types::Json(&snapshot))
        .bind(job.id)
        .execute(&mut *tx)
        .await.map(Done::from))?;
    Ok(())
}

/// Refuses a rollback that would change nothing
/// ([`crate::domain::rollback_refusal`]), deciding on the release history
/// as the queueing transaction sees it: a job that ended meanwhile counts.
pub(crate) async fn check_rollback(tx: &mut Tx, env: &Environment, target_id: i64) -> Result<()> {
    let target = super::releases::release(&mut *tx, target_id).await?;
    if target.environment_id != env.id {
        return Err(crate::error::InvalidInput::new(
            "release_id",
            format!("release #{target_id} is not from {}", env.path()),
        )
        .into());
    }
    let live = super::releases::live_release(&mut *tx, env.id).await?;
    let latest: Option<Job> = on_tx!(tx => sqlx::query_as("SELECT * FROM jobs WHERE environment_id = $1 ORDER BY id DESC LIMIT 1")
            .bind(env.id)
            .fetch_optional(&mut *tx)
            .await)?;
    let unsettled = crate::domain::unsettled(latest.as_ref());
    match crate::domain::rollback_refusal(&target, live.as_ref(), unsettled) {
        Some(refusal) => Err(Error::Conflict(format!("{}: {refusal}", env.path()))),
        None => Ok(()),
    }
}

/// Refuses while the environment is locked (or gone).
pub(crate) async fn check_unlocked(tx: &mut Tx, env: &Environment) -> Result<()> {
    let lock: Option<LockColumns> = on_tx!(tx => sqlx::query_as(
        "SELECT lock_reason, locked_by, locked_at FROM environments WHERE id = $1 AND destroyed_at IS NULL",
    )
    .bind(env.id)
    .fetch_optional(&mut *tx)
    .await)?;
    match lock {
        None => Err(Error::not_found(format!("environment {}", env.path()))),
        Some((Some(reason), Some(locked_by), Some(since))) => Err(Error::Locked {
            reason,
            locked_by,
            since,
        }),
        Some(_) => Ok(()),
    }
}

/// Queues a job (refused while another is active on the environment) and,
/// for every kind but `destroy`, the pending release it will make live
/// (returned with its key).
pub(crate) async fn insert_job(
    tx: &mut Tx,
    actor: &str,
    env: &Environment,
    build: &Build,
    kind: JobKind,
    release: ReleaseOf<'_>,
) -> Result<(Job, Option<String>)> {
    let rollback_to = release.rollback_to();
    let now = time::now();
    // Writers hold the write lock, so the active job read here is still the
    // active one at the insert; the unique index stays as the last word.
    let active: Option<(i64, String, DateTime<Utc>)> = on_tx!(tx => sqlx::query_as(
        "SELECT id, requested_by, created_at FROM jobs
         WHERE environment_id = $1 AND state IN ('queued', 'running')",
    )
    .bind(env.id)
    .fetch_optional(&mut *tx)
    .await)?;
    if let Some((job_id, requested_by, since)) = active {
        return Err(Error::Busy {
            job_id,
            requested_by,
            since,
        });
    }
    let job = on_tx!(tx => sqlx::query_as::<_, Job>(
        "INSERT INTO jobs (kind, environment_id, build_id, rollback_of, requested_by, state, created_at)
         VALUES ($1, $2, $3, $4, $5, 'queued', $6) RETURNING *",
    )
    .bind(kind)
    .bind(env.id)
    .bind(build.id)
    .bind(rollback_to.map(|r| r.id))
    .bind(actor)
    .bind(now)
    .fetch_one(&mut *tx)
    .await)?;
    if kind == JobKind::Destroy {
        return Ok((job, None));
    }
    let release_key = release.key(job.id, now);
    // A release records how a build went live: by a deploy (also the
    // first one of a new environment) or a rollback.
    let release_kind = match kind {
        JobKind::Rollback => JobKind::Rollback,
        _ => JobKind::Deploy,
    };
    let release_id: i64 = on_tx!(tx => sqlx::query_scalar(
        "INSERT INTO releases (environment_id, build_id, job_id, release_key, kind, state, released_by, created_at)
         VALUES ($1, $2, $3, $4, $5, 'pending', $6, $7) RETURNING id",
    )
    .bind(env.id)
    .bind(build.id)
    .bind(job.id)
    .bind(&release_key)
    .bind(release_kind)
    .bind(actor)
    .bind(now)
    .fetch_one(&mut *tx)
    .await)?;
    let job = on_tx!(tx => sqlx::query_as("UPDATE jobs SET release_id = $1 WHERE id = $2 RETURNING *")
        .bind(release_id)
        .bind(job.id)
        .fetch_one(&mut *tx)
        .await)?;
    Ok((job, Some(release_key)))
}

/// Cancels a job that has not started, inside the caller's transaction:
/// its final state, an audit row with `details`, and its closing events
/// (`why`, then `end`) to publish once committed.
pub(crate) async fn cancel_queued(
    tx: &mut Tx,
    job: &Job,
    actor: &str,
    env_path: &str,
    why: &str,
    details: serde_json::Value,
) -> Result<(Job, Vec<JobEvent>)> {
    let cancelled = set_final_state(tx, job, JobState::Cancelled, None).await?;
    audit::append(
        tx,
        &AuditRecord::new(actor, actions::JOB_CANCELLED, format!("job/{}", job.id))
            .environment(env_path)
            .details(details),
    )
    .await?;
    let events = events::append_in_tx(
        tx,
        job.id,
        &[
            (EventLevel::Error, why.to_owned()),
            (EventLevel::End, JobState::Cancelled.as_str().to_owned()),
        ],
    )
    .await?;
    Ok((cancelled, events))
}

pub(crate) async fn set_final_state(
    tx: &mut Tx,
    job: &Job,
    state: JobState,
    error: Option<&str>,
) -> Result<Job> {
    let job: Job = on_tx!(tx => sqlx::query_as(
        "UPDATE jobs SET state = $1, error = $2, finished_at = $3, lease_expires_at = NULL WHERE id = $4 RETURNING *",
    )
    .bind(state)
    .bind(error)
    .bind(time::now())
    .bind(job.id)
    .fetch_one(&mut *tx)
    .await)?;
    if state != JobState::Succeeded {
        if let Some(release_id) = job.release_id {
            on_tx!(tx => sqlx::query("UPDATE releases SET state = 'failed' WHERE id = $1 AND state = 'pending'")
                .bind(release_id)
                .execute(&mut *tx)
                .await.map(Done::from))?;
        }
    }
    Ok(job)
}

/// Job `job_id` as the transaction sees it, or "not found".
pub(crate) async fn job(tx: &mut Tx, job_id: i64) -> Result<Job> {
    on_tx!(tx => sqlx::query_as("SELECT * FROM jobs WHERE id = $1")
        .bind(job_id)
        .fetch_optional(&mut *tx)
        .await)?
    .ok_or_else(|| Error::not_found(format!("job #{job_id}")))
}

pub(crate) async fn environment_path(tx: &mut Tx, env_id: i64) -> Result<String> {
    Ok(on_tx!(tx => sqlx::query_scalar(
        "SELECT a.name || '/' || e.name FROM environments e JOIN applications a ON a.id = e.application_id
         WHERE e.id = $1",
    )
    .bind(env_id)
    .fetch_one(&mut *tx)
    .await)?)
}
