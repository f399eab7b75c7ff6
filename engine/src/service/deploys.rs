//! Deploys, rollbacks and cancels: the jobs a team member asks for.

use crate::auth::{Actor, Permission};
use crate::domain::Job;
use crate::error::Result;

use super::Engine;

impl Engine {
    pub async fn deploy(&self, actor: &Actor, app: &str, env: &str, build_id: i64) -> Result<Job> {
        let env = self
            .authorize_on(actor, Permission::Deploy, app, env, "deploy")
            .await?;
        let build = self.build_of(&env, build_id).await?;
        let job = self
            .store
            .enqueue_job(&actor.login, &env, &build, None)
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
        let env = self
            .authorize_on(actor, Permission::Deploy, app, env, "rollback")
            .await?;
        let target = self.store.release(release_id).await?;
        // Whether it is this environment's and would change anything is
        // decided as it is queued.
        let build = self.store.build(target.build_id).await?;
        let job = self
            .store
            .enqueue_job(&actor.login, &env, &build, Some(&target))
            .await?;
        self.runners.wake.notify_one();
        Ok(job)
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
