//! What a newly registered build sets off by itself, and what a deleted
//! branch takes with it: deploys to environments that follow the build's
//! branch (auto-deploy), and a QA environment of its own — a branch
//! preview — for branches an environment previews.
//!
//! Each runs as the one who registered the build, so a CI token needs the
//! `deploy` scope (and a protected environment its named deployers). What
//! cannot happen (busy, locked, not allowed) is recorded in the audit log
//! rather than raised: the build is registered either way.

use tracing::{info_span, Instrument};

use super::{Engine, QaRequest};
use crate::audit::{actions, AuditRecord};
use crate::auth::Actor;
use crate::domain::{
    AppName, Application, BranchName, BranchPattern, Build, EnvName, Environment, EnvironmentKind,
    Job,
};
use crate::error::{Error, Result};
use crate::store::qa::DestroyReason;

/// How long a branch preview lives after its latest build, unless its
/// branch is deleted first.
pub const PREVIEW_TTL_HOURS: u32 = 72;

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
        for env in of_app.iter().filter(|e| follows(&e.auto_deploy)) {
            let span = info_span!("auto_deploy", env = %env.path(), build = build.id);
            let queued = self
                .deploy(actor, &app.name, &env.name, build.id)
                .instrument(span)
                .await
                .map(Some);
            self.record_rule(actor, actions::AUTO_DEPLOY_SKIPPED, env, build, queued)
                .await;
        }
        let bases = of_app
            .iter()
            .filter(|e| e.kind == EnvironmentKind::Permanent && follows(&e.previews));
        for base in bases {
            let span = info_span!("branch_preview", base = %base.path(), build = build.id);
            let queued = self
                .preview(actor, app, base, build, &of_app)
                .instrument(span)
                .await;
            self.record_rule(actor, actions::BRANCH_PREVIEW_SKIPPED, base, build, queued)
                .await;
        }
    }

    /// The branch's preview of `base`: created with this build, following
    /// the branch from then on (its auto-deploy is the branch's own name).
    /// When it exists, this build went there by that rule; the preview gets
    /// another [`PREVIEW_TTL_HOURS`]. `None`: nothing new was queued.
    async fn preview(
        &self,
        actor: &Actor,
        app: &Application,
        base: &Environment,
        build: &Build,
        of_app: &[&Environment],
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
            Some(existing) if existing.kind == EnvironmentKind::Qa => {
                let follows = existing
                    .auto_deploy
                    .as_ref()
                    .is_some_and(|p| p.matches(&build.branch));
                // A QA environment made by hand with the branch's name
                // gets the build here; a preview already got it.
                let job = if follows {
                    None
                } else {
                    Some(
                        self.deploy(actor, &app.name, &existing.name, build.id)
                            .await?,
                    )
                };
                let until =
                    crate::time::now() + chrono::Duration::hours(i64::from(PREVIEW_TTL_HOURS));
                self.store
                    .extend_expiry(&actor.login, existing, until)
                    .await?;
                Ok(job)
            }
            Some(existing) => Err(Error::Conflict(format!(
                "{} is a permanent environment, so it is not the branch's preview",
                existing.path()
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
    /// that said so, and is the audit actor): destroys the QA environment
    /// named for it, if there is one. The webhook's signature is the
    /// credential, checked by the caller.
    pub async fn branch_deleted(
        &self,
        source: &str,
        app: &str,
        branch: &str,
    ) -> Result<Option<Job>> {
        let app = AppName::parse(app)?;
        self.store.application(&app).await?; // an unknown application is a 404
        let name = EnvName::for_branch(&BranchName::parse(branch)?);
        let env = match self.store.environment(&app, &name).await {
            Ok(env) if env.kind == EnvironmentKind::Qa => env,
            Ok(_) | Err(Error::NotFound(_)) => return Ok(None),
            Err(e) => return Err(e),
        };
        let span = info_span!("branch_deleted", env = %env.path(), source);
        let job = self
            .store
            .enqueue_destroy(source, &env, DestroyReason::BranchDeleted)
            .instrument(span)
            .await?;
        self.wake_runner.notify_one();
        Ok(Some(job))
    }
}
