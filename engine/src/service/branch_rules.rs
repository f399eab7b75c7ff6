//! What a newly registered build sets off by itself, and what a deleted
//! branch takes with it: deploys to environments that follow the build's
//! branch (auto-deploy), and a QA environment of its own — a branch
//! preview — for branches an environment previews.
//!
//! A preview is `qa-<branch>`, a copy of the docker environment whose
//! pattern matched, whose auto-deploy is exactly its branch: that is how it
//! follows the branch, and how a deleted branch finds it (and nothing
//! else that happens to have a similar name).
//!
//! Each runs as the one who registered the build, so a CI token needs the
//! `deploy` scope (and a protected environment its named deployers). What
//! cannot happen (busy, locked, not allowed) is recorded in the audit log
//! rather than raised: the build is registered either way.

use std::collections::HashSet;

use tracing::{info_span, Instrument};

use super::requests::MayWait;
use super::{DeployAsk, Engine, QaRequest};
use crate::audit::{actions, AuditRecord};
use crate::auth::Actor;
use crate::domain::{
    AppName, Application, BranchName, BranchPattern, Build, Deployment, EnvName, Environment,
    EnvironmentKind, Job, JobKind,
};
use crate::error::{Error, Result};
use crate::store::qa::{DestroyReason, ExpiryChange};

/// How long a branch preview lives after its latest build, unless its
/// branch is deleted first.
pub const PREVIEW_TTL_HOURS: u32 = 72;

/// What a deleted branch did.
#[derive(Debug)]
pub enum BranchDeleted {
    /// No preview follows that branch.
    NoPreview,
    /// Its preview's destroy job: queued now, or already under way.
    Destroying(Box<Job>),
    /// Another job runs on its preview (`app/env`), which now expires:
    /// it is destroyed as soon as that job ends.
    AfterJob { environment: String, job_id: i64 },
}

/// Whether `env` is the preview that follows `branch`.
fn is_preview_of(env: &Environment, branch: &BranchName) -> bool {
    env.kind == EnvironmentKind::Qa
        && env
            .auto_deploy
            .as_ref()
            .is_some_and(|p| p.as_str() == branch.as_str())
}

impl Engine {
    /// Deploys `build` wherever its branch says it should go.
    pub(super) async fn follow_branch_rules(
        &self,
        actor: &Actor,
        app: &Application,
        build: &Build,
    ) {
        let environments = match self.store.environments().await {
            Ok(all) => all,
            Err(e) => {
                tracing::error!(error = %e, "branch rules: cannot list environments");
                return;
            }
        };
        let of_app: Vec<&Environment> = environments
            .iter()
            .filter(|e| e.application_id == app.id)
            .collect();
        let follows = |pattern: &Option<BranchPattern>| {
            pattern.as_ref().is_some_and(|p| p.matches(&build.branch))
        };
        // Environments this build is now on its way to.
        let mut deploying: HashSet<i64> = HashSet::new();
        for env in of_app.iter().filter(|e| follows(&e.auto_deploy)) {
            let span = info_span!("auto_deploy", env = %env.path(), build = build.id);
            // Behind a running job it waits: no matching build is dropped.
            let ask = DeployAsk {
                build_id: build.id,
                ..DeployAsk::default()
            };
            let queued = self
                .request_deploy_or(actor, &app.name, &env.name, &ask, MayWait::Always)
                .instrument(span)
                .await;
            if queued.is_ok() {
                deploying.insert(env.id);
            }
            let job = queued.map(|deployment| match deployment {
                Deployment::Started(job) => Some(job),
                Deployment::Waiting(request) => {
                    tracing::info!(env = %env.path(), request = request.id, "auto-deploy waits for the running job");
                    None
                }
            });
            self.record_rule(actor, actions::AUTO_DEPLOY_SKIPPED, env, build, job)
                .await;
        }
        // Two environments previewing the same branch share its one
        // preview: the first (by name) makes it.
        let base = of_app
            .iter()
            .find(|e| e.kind == EnvironmentKind::Permanent && follows(&e.previews));
        if let Some(base) = base {
            let span = info_span!("branch_preview", base = %base.path(), build = build.id);
            let queued = self
                .preview(actor, app, base, build, &of_app, &deploying)
                .instrument(span)
                .await;
            self.record_rule(actor, actions::BRANCH_PREVIEW_SKIPPED, base, build, queued)
                .await;
        }
    }

    /// The branch's preview of `base`: created with this build when there is
    /// none. When there is one, the auto-deploy loop sent it this build (if
    /// it could), and only then does the preview live another
    /// [`PREVIEW_TTL_HOURS`]. `None`: no new job here.
    async fn preview(
        &self,
        actor: &Actor,
        app: &Application,
        base: &Environment,
        build: &Build,
        of_app: &[&Environment],
        deploying: &HashSet<i64>,
    ) -> Result<Option<Job>> {
        let branch = BranchName::parse(&build.branch)?;
        let name = EnvName::for_branch(&branch);
        match of_app.iter().find(|e| e.name == name.as_str()) {
            None => {
                let request = QaRequest {
                    based_on: base.name.clone(),
                    name: Some(name.as_str().to_owned()),
                    build_id: build.id,
                    ttl_hours: PREVIEW_TTL_HOURS,
                };
                let follows = BranchPattern::parse(branch.as_str()).ok();
                let (_, job) = self.create_qa(actor, &app.name, request, follows).await?;
                Ok(Some(job))
            }
            Some(preview) if is_preview_of(preview, &branch) => {
                if deploying.contains(&preview.id) {
                    let until = crate::time::now()
                        + chrono::Duration::hours(i64::from(PREVIEW_TTL_HOURS));
                    self.store
                        .change_expiry(&actor.login, preview, until, ExpiryChange::Extend)
                        .await?;
                }
                Ok(None)
            }
            Some(other) => Err(Error::Conflict(format!(
                "{} exists and does not follow {branch} (made by hand, or the preview of a branch with a similar name): {branch} gets no preview",
                other.path()
            ))),
        }
    }

    /// Logs a queued job, or audits why a rule did not queue one.
    async fn record_rule(
        &self,
        actor: &Actor,
        skipped: &'static str,
        env: &Environment,
        build: &Build,
        queued: Result<Option<Job>>,
    ) {
        match queued {
            Ok(Some(job)) => {
                tracing::info!(env = %env.path(), job = job.id, "branch rule queued a job")
            }
            Ok(None) => {}
            Err(e) => {
                let record = AuditRecord::new(&actor.login, skipped, format!("env/{}", env.path()))
                    .environment(env.path())
                    .details(serde_json::json!({
                        "build_id": build.id,
                        "branch": build.branch,
                        "reason": e.public_message(),
                    }));
                if let Err(e) = self.store.audit_only(&record).await {
                    tracing::error!(error = %e, "branch rules: cannot record a skip");
                }
            }
        }
    }

    /// A branch of `app` was deleted upstream (`source` names the webhook
    /// that said so, and is the audit actor): destroys the branch's preview,
    /// if it has one — at once, or once the job running there ends. A
    /// locked preview is kept (409). The webhook's signature is the
    /// credential, checked by the caller.
    pub async fn branch_deleted(
        &self,
        source: &str,
        app: &str,
        branch: &str,
    ) -> Result<BranchDeleted> {
        let app = AppName::parse(app)?;
        self.store.application(&app).await?; // an unknown application is a 404
        let branch = BranchName::parse(branch)?;
        let env = match self
            .store
            .environment(&app, &EnvName::for_branch(&branch))
            .await
        {
            Ok(env) if is_preview_of(&env, &branch) => env,
            Ok(_) | Err(Error::NotFound(_)) => return Ok(BranchDeleted::NoPreview),
            Err(e) => return Err(e),
        };
        let span = info_span!("branch_deleted", env = %env.path(), source);
        async {
            match self
                .store
                .enqueue_destroy(source, &env, DestroyReason::BranchDeleted)
                .await
            {
                Ok(job) => {
                    self.runners.wake.notify_one();
                    Ok(BranchDeleted::Destroying(Box::new(job)))
                }
                Err(Error::Busy { job_id, .. }) => {
                    let running = self.store.job(job_id).await?;
                    if running.kind == JobKind::Destroy {
                        return Ok(BranchDeleted::Destroying(Box::new(running)));
                    }
                    self.store
                        .change_expiry(source, &env, crate::time::now(), ExpiryChange::Expire)
                        .await?;
                    Ok(BranchDeleted::AfterJob {
                        environment: env.path(),
                        job_id,
                    })
                }
                Err(e) => Err(e),
            }
        }
        .instrument(span)
        .await
    }
}
