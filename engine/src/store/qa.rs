//! QA environments: created with their first release in one step, destroyed
//! by a job (on request or when they expire), each step audited in the same
//! transaction as the change it records.

use crate::store::{on_pool, on_tx, Done};
use chrono::{DateTime, Utc};

use super::tx::audit;
use super::tx::environments::{
    insert_environment, EnvironmentRow, NewEnvironmentRow, SELECT_ENVIRONMENT,
};
use super::tx::freezes::{check_not_frozen, FreezeCheck};
use super::tx::jobs::{check_unlocked, insert_job, ReleaseOf};
use super::Store;
use crate::audit::{actions, AuditRecord, SYSTEM_ACTOR};
use crate::domain::BackendConfig;
use crate::domain::{Application, Build, EnvName, Environment, EnvironmentKind, Job, JobKind};
use crate::error::{Error, Result};
use crate::time;

/// How long after an automatic destroy failed it is tried again.
const EXPIRED_DESTROY_RETRY: chrono::Duration = chrono::Duration::hours(1);

/// A QA environment to create, already validated.
#[derive(Clone, Debug)]
pub struct NewQaEnvironment {
    pub name: EnvName,
    pub config: BackendConfig,
    pub expires_at: DateTime<Utc>,
    /// `app/env` it was derived from, and that environment's id: its
    /// variables that are not secret come along.
    pub based_on: String,
    pub based_on_id: i64,
    /// A branch preview follows its branch: later builds deploy by themselves.
    pub auto_deploy: Option<crate::domain::BranchPattern>,
}

/// Which way [`Store::change_expiry`] moves an expiry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExpiryChange {
    /// Later only: a branch preview given another build lives on.
    Extend,
    /// Earlier only: the sweeper destroys it once no job runs there.
    Expire,
}

/// Why an environment is being destroyed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DestroyReason {
    Requested,
    Expired,
    /// A webhook said the branch it previews was deleted.
    BranchDeleted,
}

impl Store {
    /// Inserts the environment and queues the job that creates it (and
    /// releases `build` on it), with both audit rows, in one transaction.
    pub async fn create_qa_environment(
        &self,
        actor: &str,
        app: &Application,
        new: &NewQaEnvironment,
        build: &Build,
    ) -> Result<(Environment, Job)> {
        let mut tx = self.write().await?;
        let path = format!("{}/{}", app.name, new.name);
        let freeze = FreezeCheck {
            actor,
            environment: &path,
            application_id: app.id,
            environment_id: None,
            kind: JobKind::Create,
            override_reason: None,
        };
        check_not_frozen(&mut tx, &freeze).await?;
        let id = insert_environment(
            &mut tx,
            app,
            &NewEnvironmentRow {
                name: &new.name,
                kind: EnvironmentKind::Qa,
                config: &new.config,
                protected: false,
                expires_at: Some(new.expires_at),
            },
        )
        .await?;
        on_tx!(tx => sqlx::query("UPDATE environments SET auto_deploy = $1 WHERE id = $2")
            .bind(new.auto_deploy.as_ref().map(|p| p.as_str()))
            .bind(id)
            .execute(&mut *tx)
            .await.map(Done::from))?;
        // Secrets stay where they were set: whoever may deploy to a QA
        // environment need not be someone the original's secrets are for.
        let copied: Vec<String> = on_tx!(tx => sqlx::query_scalar(
            "INSERT INTO env_vars (environment_id, name, value, secret)
             SELECT $1, name, value, FALSE FROM env_vars WHERE environment_id = $2 AND NOT secret
             RETURNING name",
        )
        .bind(id)
        .bind(new.based_on_id)
        .fetch_all(&mut *tx)
        .await)?;
        let row: EnvironmentRow = on_tx!(tx => sqlx::query_as(&format!("{SELECT_ENVIRONMENT} WHERE e.id = $1"))
            .bind(id)
            .fetch_one(&mut *tx)
            .await)?;
        let env = Environment::from(row);
        audit::append(
            &mut tx,
            &AuditRecord::new(
                actor,
                actions::ENVIRONMENT_CREATED,
                format!("env/{}", env.path()),
            )
            .environment(env.path())
            .details(serde_json::json!({
                "kind": "qa",
                "based_on": new.based_on,
                "copied_variables": copied,
                "auto_deploy": new.auto_deploy,
                "expires_at": crate::time::to_rfc3339(new.expires_at),
                "config": new.config,
            })),
        )
        .await?;
        let (job, release_key) =
            insert_job(&mut tx, actor, &env, build, JobKind::Create, ReleaseOf::New).await?;
        audit::append(
            &mut tx,
            &AuditRecord::new(
                actor,
                actions::QA_CREATE_REQUESTED,
                format!("job/{}", job.id),
            )
            .environment(env.path())
            .details(serde_json::json!({
                "build_id": build.id,
                "commit_sha": build.commit_sha,
                "branch": build.branch,
                "release": release_key,
            })),
        )
        .await?;
        tx.commit().await?;
        Ok((env, job))
    }

    /// Queues the job that destroys a QA environment, audited with why.
    pub async fn enqueue_destroy(
        &self,
        actor: &str,
        env: &Environment,
        reason: DestroyReason,
    ) -> Result<Job> {
        if env.kind != EnvironmentKind::Qa {
            return Err(Error::Conflict(format!(
                "{} is a permanent environment; only QA environments are destroyed",
                env.path()
            )));
        }
        let mut tx = self.write().await?;
        // Someone who locked it wants it kept; only its time running out
        // overrides that.
        if reason != DestroyReason::Expired {
            check_unlocked(&mut tx, env).await?;
        }
        // A job names a build: the last one this environment ran.
        let build: Option<Build> = on_tx!(tx => sqlx::query_as(
            "SELECT b.* FROM builds b JOIN jobs j ON j.build_id = b.id
             WHERE j.environment_id = $1 ORDER BY j.id DESC LIMIT 1",
        )
        .bind(env.id)
        .fetch_optional(&mut *tx)
        .await)?;
        let build = build.ok_or_else(|| {
            Error::Conflict(format!(
                "{} has never run a job: delete it instead",
                env.path()
            ))
        })?;
        let (job, _) = insert_job(
            &mut tx,
            actor,
            env,
            &build,
            JobKind::Destroy,
            ReleaseOf::New,
        )
        .await?;
        let action = match reason {
            DestroyReason::Requested | DestroyReason::BranchDeleted => {
                actions::ENVIRONMENT_DESTROY_REQUESTED
            }
            DestroyReason::Expired => actions::ENVIRONMENT_EXPIRED,
        };
        let mut details = serde_json::json!({
            "expires_at": env.expires_at.map(crate::time::to_rfc3339),
        });
        if reason == DestroyReason::BranchDeleted {
            details["reason"] = "branch deleted".into();
        }
        audit::append(
            &mut tx,
            &AuditRecord::new(actor, action, format!("job/{}", job.id))
                .environment(env.path())
                .details(details),
        )
        .await?;
        tx.commit().await?;
        Ok(job)
    }

    /// Moves a QA environment's expiry to `until` — later for
    /// [`ExpiryChange::Extend`], earlier for [`ExpiryChange::Expire`] —
    /// audited with why; `false` when there was nothing to move.
    pub async fn change_expiry(
        &self,
        actor: &str,
        env: &Environment,
        until: DateTime<Utc>,
        change: ExpiryChange,
    ) -> Result<bool> {
        let (direction, why) = match change {
            ExpiryChange::Extend => ("<", "a new build of its branch"),
            ExpiryChange::Expire => (">", "its branch was deleted while a job ran there"),
        };
        let mut tx = self.write().await?;
        let moved = on_tx!(tx => sqlx::query(&format!(
            "UPDATE environments SET expires_at = $1, updated_at = $2
             WHERE id = $3 AND kind = 'qa' AND destroyed_at IS NULL AND expires_at {direction} $4"
        ))
        .bind(until)
        .bind(time::now())
        .bind(env.id)
        .bind(until)
        .execute(&mut *tx)
        .await.map(Done::from))?
        .rows_affected()
            == 1;
        if moved {
            audit::append(
                &mut tx,
                &AuditRecord::new(
                    actor,
                    actions::ENVIRONMENT_EXPIRY_CHANGED,
                    format!("env/{}", env.path()),
                )
                .environment(env.path())
                .details(serde_json::json!({
                    "before": env.expires_at.map(crate::time::to_rfc3339),
                    "after": crate::time::to_rfc3339(until),
                    "why": why,
                })),
            )
            .await?;
        }
        tx.commit().await?;
        Ok(moved)
    }

    /// QA environments past their time, with no job running on them and no
    /// automatic destroy that ended unsuccessfully in the last
    /// [`EXPIRED_DESTROY_RETRY`]: a destroy that keeps failing (the engine
    /// down, say) is retried hourly, not on every sweep.
    pub async fn expired_qa_environments(&self, now: DateTime<Utc>) -> Result<Vec<Environment>> {
        let rows: Vec<EnvironmentRow> = on_pool!(self, pool => sqlx::query_as(&format!(
            "{SELECT_ENVIRONMENT} WHERE e.kind = 'qa' AND e.destroyed_at IS NULL AND e.expires_at < $1
             AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.environment_id = e.id AND j.state IN ('queued', 'running'))
             AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.environment_id = e.id AND j.kind = 'destroy'
                             AND j.requested_by = $2 AND j.state <> 'succeeded' AND j.finished_at > $3)
             ORDER BY e.id"
        ))
        .bind(now)
        .bind(SYSTEM_ACTOR)
        .bind(now - EXPIRED_DESTROY_RETRY)
        .fetch_all(pool)
        .await)?;
        Ok(rows.into_iter().map(Environment::from).collect())
    }
}
