//! What the pages and the API read: applications, environments, builds,
//! releases and jobs, each for any actor who may read.

use crate::auth::{Actor, DeployPolicy, Permission};
use crate::domain::{Application, Build, EnvVar, Environment, Job, JobEvent, JobState, Release};
use crate::error::Result;
use crate::runtime::JobWatch;

use super::{Engine, EnvironmentActivity, EnvironmentOverview, JobView, JOB_VIEW_EVENTS};

impl Engine {
    /// What an environment's page shows besides its settings, read in an
    /// order that never shows more than `activity` promises: the newest
    /// audit row first, then the live release and the recent jobs.
    pub async fn environment_activity(
        &self,
        actor: &Actor,
        env: &Environment,
        recent_jobs: i64,
    ) -> Result<EnvironmentActivity> {
        actor.require(Permission::Read)?;
        let activity = self.store.latest_audit_seq(Some(&env.path())).await?;
        let live = self.store.live_release(env.id).await?;
        let recent_jobs = self
            .store
            .jobs_for_environment(env.id, recent_jobs.clamp(1, 100))
            .await?;
        Ok(EnvironmentActivity {
            activity,
            live,
            recent_jobs,
        })
    }

    /// A job, for whoever may read.
    pub async fn job(&self, actor: &Actor, job_id: i64) -> Result<Job> {
        actor.require(Permission::Read)?;
        self.store.job(job_id).await
    }

    /// A job's events after `after`, oldest first (at most `limit`).
    pub async fn job_events_after(
        &self,
        actor: &Actor,
        job_id: i64,
        after: i64,
        limit: i64,
    ) -> Result<Vec<JobEvent>> {
        actor.require(Permission::Read)?;
        self.store.job_events_after(job_id, after, limit).await
    }

    /// Follows the job's events after `after`: the stored ones, then the
    /// live ones (see `runtime::feed`).
    pub fn watch_job(&self, actor: &Actor, job_id: i64, after: i64) -> Result<JobWatch> {
        actor.require(Permission::Read)?;
        Ok(JobWatch::new(self.store.clone(), &self.hub, job_id, after))
    }

    /// A job's last event, if it has any.
    pub async fn last_job_event(&self, actor: &Actor, job_id: i64) -> Result<Option<JobEvent>> {
        actor.require(Permission::Read)?;
        self.store.last_job_event(job_id).await
    }

    /// The application named `name` (any actor who may read).
    pub async fn application(&self, actor: &Actor, name: &str) -> Result<Application> {
        actor.require(Permission::Read)?;
        self.find_application(name).await
    }

    pub async fn applications(&self, actor: &Actor) -> Result<Vec<Application>> {
        actor.require(Permission::Read)?;
        self.store.applications().await
    }

    pub async fn overview(
        &self,
        actor: &Actor,
    ) -> Result<Vec<(Application, Vec<EnvironmentOverview>)>> {
        actor.require(Permission::Read)?;
        let apps = self.store.applications().await?;
        let envs = self.store.environments().await?;
        let mut pending = self.store.pending_requests().await?;
        let mut out = Vec::with_capacity(apps.len());
        let now = crate::time::now();
        for app in apps {
            let windows = self.store.freeze_windows(app.id).await?;
            let mut rows = Vec::new();
            for env in envs.iter().filter(|e| e.application_id == app.id) {
                let over: Vec<_> = windows
                    .iter()
                    .filter(|window| window.covers(&env.name))
                    .cloned()
                    .collect();
                let live = self.store.live_release(env.id).await?;
                let last_job = self
                    .store
                    .jobs_for_environment(env.id, 1)
                    .await?
                    .into_iter()
                    .next();
                rows.push(EnvironmentOverview {
                    environment: env.clone(),
                    live,
                    last_job,
                    freeze: super::FreezeStatus::of(&over, now),
                    pending: pending
                        .iter()
                        .position(|r| r.environment_id == env.id)
                        .map(|at| pending.swap_remove(at)),
                });
            }
            out.push((app, rows));
        }
        Ok(out)
    }

    pub async fn environment(&self, actor: &Actor, app: &str, env: &str) -> Result<Environment> {
        actor.require(Permission::Read)?;
        self.find_environment(app, env).await
    }

    /// Variables with secret values replaced: what may leave the server.
    pub async fn env_vars_masked(&self, actor: &Actor, env: &Environment) -> Result<Vec<EnvVar>> {
        actor.require(Permission::Read)?;
        let mut vars = self.store.env_vars_sealed(env.id).await?;
        for var in vars.iter_mut().filter(|v| v.secret) {
            var.value = crate::runtime::MASK.to_owned();
        }
        Ok(vars)
    }

    pub async fn releases(
        &self,
        actor: &Actor,
        env: &Environment,
        before: Option<i64>,
        limit: i64,
    ) -> Result<Vec<Release>> {
        actor.require(Permission::Read)?;
        self.store
            .releases(env.id, before, limit.clamp(1, 200))
            .await
    }

    pub async fn builds(
        &self,
        actor: &Actor,
        app: &str,
        before: Option<i64>,
        limit: i64,
    ) -> Result<(Application, Vec<Build>)> {
        actor.require(Permission::Read)?;
        let app = self.find_application(app).await?;
        let builds = self
            .store
            .builds(app.id, before, limit.clamp(1, 500))
            .await?;
        Ok((app, builds))
    }

    /// The newest `limit` builds `env`'s backend can deploy (a docker
    /// environment's picker lists images, not archives), newest first.
    pub async fn deployable_builds(
        &self,
        actor: &Actor,
        env: &Environment,
        limit: usize,
    ) -> Result<Vec<Build>> {
        actor.require(Permission::Read)?;
        let mut builds = self.store.builds(env.application_id, None, 500).await?;
        builds.retain(|b| env.config.deploys(&b.artifact));
        if let Some(promotable) = self.store.promotable_builds(env).await? {
            builds.retain(|b| promotable.contains(&b.id));
        }
        builds.truncate(limit);
        Ok(builds)
    }

    /// The release live on `env`, if any: for an interrupted job, the one
    /// its hosts go back to.
    pub async fn live_release(&self, actor: &Actor, env: &Environment) -> Result<Option<Release>> {
        actor.require(Permission::Read)?;
        self.store.live_release(env.id).await
    }

    pub async fn job_view(&self, actor: &Actor, job_id: i64) -> Result<JobView> {
        actor.require(Permission::Read)?;
        let job = self.store.job(job_id).await?;
        let environment = self.store.environment_by_id(job.environment_id).await?;
        let build = self.store.build(job.build_id).await?;
        let release = match job.release_id {
            Some(id) => Some(self.store.release(id).await?),
            None => None,
        };
        let hosts = self.store.job_hosts(job_id).await?;
        let mut events = self
            .store
            .job_events_after(job_id, 0, JOB_VIEW_EVENTS + 1)
            .await?;
        let more_events = events.len() as i64 > JOB_VIEW_EVENTS;
        events.truncate(JOB_VIEW_EVENTS as usize);
        let later_job = match job.state {
            JobState::Interrupted => self
                .store
                .jobs_for_environment(job.environment_id, 1)
                .await?
                .first()
                .map(|newest| newest.id)
                .filter(|&newest| newest > job.id),
            _ => None,
        };
        Ok(JobView {
            job,
            environment,
            build,
            release,
            hosts,
            events,
            more_events,
            later_job,
        })
    }

    /// "What will run" if `build_id` is deployed to the environment now:
    /// the backend's plan, secret values masked.
    pub async fn deploy_plan(
        &self,
        actor: &Actor,
        app: &str,
        env: &str,
        build_id: i64,
    ) -> Result<Vec<crate::backends::preview::PlanLine>> {
        actor.require(Permission::Read)?;
        let env = self.find_environment(app, env).await?;
        let build = self.build_of(&env, build_id).await?;
        let vars: Vec<(String, String)> = self
            .env_vars_masked(actor, &env)
            .await?
            .into_iter()
            .map(|v| (v.name, v.value))
            .collect();
        Ok(crate::backends::preview::deploy_plan(
            &env.path(),
            &env.config,
            &build.artifact,
            &vars,
        ))
    }

    /// Who may deploy to the environment, and what deploys there by itself.
    pub async fn deploy_policy(&self, actor: &Actor, env: &Environment) -> Result<DeployPolicy> {
        actor.require(Permission::Read)?;
        Ok(DeployPolicy {
            protected: env.protected,
            deployers: self.store.environment_deployers(env.id).await?,
            auto_deploy: env.auto_deploy.clone(),
            previews: env.previews.clone(),
            queue_deploys: env.queue_deploys,
            approvals: env.approvals.clone(),
            promotes_from: env.promotes_from.clone(),
        })
    }
}
