//! Deploys, rollbacks, cancels, resumes and abandons: the jobs a team
//! member asks for, and finishing or letting go of one that was interrupted.

use crate::auth::{Actor, Permission};
use crate::domain::{Deployment, Job};
use crate::error::{Error, InvalidInput, Result};

use super::requests::MayWait;
use super::{DeployAsk, Engine};

/// The job a deploy that may not wait started ([`MayWait::Never`] never
/// makes a request; one would be a refusal here, not a job).
fn started(deployment: Deployment) -> Result<Job> {
    match deployment {
        Deployment::Started(job) => Ok(job),
        Deployment::Waiting(request) => Err(Error::Conflict(format!(
            "request #{} waits instead of starting",
            request.id
        ))),
    }
}

impl Engine {
    pub async fn deploy(&self, actor: &Actor, app: &str, env: &str, build_id: i64) -> Result<Job> {
        self.deploy_through_freeze(actor, app, env, build_id, None)
            .await
    }

    /// [`Engine::deploy`]; with `freeze_override`, an admin's reason to go
    /// through a freeze window in force (audited as a break-glass). Starts
    /// now or is refused: where it would wait (approvals, a running job),
    /// ask through [`Engine::request_deploy`].
    pub async fn deploy_through_freeze(
        &self,
        actor: &Actor,
        app: &str,
        env: &str,
        build_id: i64,
        freeze_override: Option<&str>,
    ) -> Result<Job> {
        let ask = DeployAsk {
            build_id,
            at: None,
            freeze_override: freeze_override.map(str::to_owned),
        };
        started(
            self.request_deploy_or(actor, app, env, &ask, MayWait::Never)
                .await?,
        )
    }

    pub async fn rollback(
        &self,
        actor: &Actor,
        app: &str,
        env: &str,
        release_id: i64,
    ) -> Result<Job> {
        self.rollback_through_freeze(actor, app, env, release_id, None)
            .await
    }

    /// [`Engine::rollback`], through a freeze window that refuses rollbacks
    /// when an admin gives `freeze_override`. Starts now or is refused.
    pub async fn rollback_through_freeze(
        &self,
        actor: &Actor,
        app: &str,
        env: &str,
        release_id: i64,
        freeze_override: Option<&str>,
    ) -> Result<Job> {
        started(
            self.request_rollback_or(actor, app, env, release_id, freeze_override, MayWait::Never)
                .await?,
        )
    }

    pub async fn cancel_job(&self, actor: &Actor, job_id: i64) -> Result<Job> {
        actor.require(Permission::CancelJob)?;
        let job = self.store.job(job_id).await?;
        let env = self.store.environment_by_id(job.environment_id).await?;
        self.require_on(actor, Permission::CancelJob, &env, "cancel")
            .await?;
        let (job, events) = self.store.request_cancel(&actor.login, job_id).await?;
        events.into_iter().for_each(|event| self.hub.publish(event));
        // Raised before this returns: the job passes no other step first.
        self.runners
            .cancels
            .fire(job_id, &crate::runtime::cancel::asked_by(&actor.login));
        Ok(job)
    }

    /// Acknowledges an interrupted job and lets it go, saying why (after
    /// checking its hosts, or deciding a rollback or a new deploy will do).
    /// Whoever may cancel jobs on its environment may abandon them.
    pub async fn abandon_job(&self, actor: &Actor, job_id: i64, reason: &str) -> Result<Job> {
        actor.require(Permission::CancelJob)?;
        let reason = abandon_reason(reason)?;
        let job = self.store.job(job_id).await?;
        let env = self.store.environment_by_id(job.environment_id).await?;
        self.require_on(actor, Permission::CancelJob, &env, "abandon")
            .await?;
        self.store.abandon_job(&actor.login, job_id, reason).await
    }

    /// Finishes an interrupted deploy or rollback: a new job, asked for by
    /// `actor`, runs the same release again and takes over the deploy
    /// locks the dead job left (see [`crate::domain::resume_refusal`] for
    /// when that is safe). Whoever may deploy there may resume; a freeze
    /// or lock refuses it like any deploy.
    pub async fn resume_job(&self, actor: &Actor, job_id: i64) -> Result<Job> {
        actor.require(Permission::Deploy)?;
        let job = self.store.job(job_id).await?;
        let env = self.store.environment_by_id(job.environment_id).await?;
        self.require_on(actor, Permission::Deploy, &env, "resume")
            .await?;
        let resumed = self.store.resume_job(&actor.login, job_id).await?;
        self.runners.wake.notify_one();
        Ok(resumed)
    }
}

/// The longest reason to abandon a job.
const MAX_ABANDON_REASON: usize = 500;

fn abandon_reason(raw: &str) -> Result<&str, InvalidInput> {
    let reason = raw.trim();
    if reason.is_empty() {
        return Err(InvalidInput::new(
            "reason",
            "say why the job is abandoned (what was checked, what happens next)",
        ));
    }
    if reason.chars().count() > MAX_ABANDON_REASON {
        return Err(InvalidInput::new(
            "reason",
            format!("at most {MAX_ABANDON_REASON} characters"),
        ));
    }
    Ok(reason)
}
