//! Deploys, rollbacks and cancels: the jobs a team member asks for.

use crate::auth::{Actor, Permission};
use crate::domain::{Build, Environment, Job, Release};
use crate::error::Result;

use super::freezes::override_reason;
use super::Engine;

impl Engine {
    pub async fn deploy(&self, actor: &Actor, app: &str, env: &str, build_id: i64) -> Result<Job> {
        self.deploy_through_freeze(actor, app, env, build_id, None)
            .await
    }

    /// [`Engine::deploy`]; with `freeze_override`, an admin's reason to go
    /// through a freeze window in force (audited as a break-glass).
    pub async fn deploy_through_freeze(
        &self,
        actor: &Actor,
        app: &str,
        env: &str,
        build_id: i64,
        freeze_override: Option<&str>,
    ) -> Result<Job> {
        let (env, build, freeze_override) = self
            .prepare_deploy(actor, app, env, build_id, freeze_override)
            .await?;
        let job = self
            .store
            .enqueue_job(&actor.login, &env, &build, None, freeze_override.as_deref())
            .await?;
        self.runners.wake.notify_one();
        Ok(job)
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
    /// when an admin gives `freeze_override`.
    pub async fn rollback_through_freeze(
        &self,
        actor: &Actor,
        app: &str,
        env: &str,
        release_id: i64,
        freeze_override: Option<&str>,
    ) -> Result<Job> {
        let (env, build, target, freeze_override) = self
            .prepare_rollback(actor, app, env, release_id, freeze_override)
            .await?;
        let job = self
            .store
            .enqueue_job(
                &actor.login,
                &env,
                &build,
                Some(&target),
                freeze_override.as_deref(),
            )
            .await?;
        self.runners.wake.notify_one();
        Ok(job)
    }

    /// The environment and build of a deploy the actor may make, with the
    /// freeze override reason checked.
    pub(super) async fn prepare_deploy(
        &self,
        actor: &Actor,
        app: &str,
        env: &str,
        build_id: i64,
        freeze_override: Option<&str>,
    ) -> Result<(Environment, Build, Option<String>)> {
        let env = self
            .authorize_on(actor, Permission::Deploy, app, env, "deploy")
            .await?;
        let freeze_override = override_reason(actor, freeze_override)?;
        let build = self.build_of(&env, build_id).await?;
        Ok((env, build, freeze_override))
    }

    /// The environment, build and release of a rollback the actor may ask
    /// for. Whether it is this environment's and would change anything is
    /// decided as it is queued.
    pub(super) async fn prepare_rollback(
        &self,
        actor: &Actor,
        app: &str,
        env: &str,
        release_id: i64,
        freeze_override: Option<&str>,
    ) -> Result<(Environment, Build, Release, Option<String>)> {
        let env = self
            .authorize_on(actor, Permission::Deploy, app, env, "rollback")
            .await?;
        let freeze_override = override_reason(actor, freeze_override)?;
        let target = self.store.release(release_id).await?;
        let build = self.store.build(target.build_id).await?;
        Ok((env, build, target, freeze_override))
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
}
