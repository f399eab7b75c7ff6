//! Deploy requests: a deploy or rollback that waits — for approvals where
//! the environment's rules ask for them, for the time it was asked for, or
//! behind a running job on an environment that queues deploys — and starts
//! as a job by itself (the runner starts it), as the one who asked.

use chrono::{DateTime, Duration, Utc};

use crate::auth::{Actor, Permission};
use crate::domain::{ApprovalRecord, Build, DeployRequest, Deployment, Environment, Release};
use crate::error::{Error, InvalidInput, Result};
use crate::store::approvals::Decision;
use crate::store::requests::NewRequest;
use crate::time;

use super::freezes::override_reason;
use super::Engine;

/// How far ahead a deploy may be scheduled.
const MAX_DAYS_AHEAD: i64 = 90;
const MAX_COMMENT: usize = 2_000;

/// A request with its approvals and rejections, and whether the one
/// looking may still answer it.
#[derive(Clone, Debug)]
pub struct RequestView {
    pub request: DeployRequest,
    pub approvals: Vec<ApprovalRecord>,
    pub may_answer: bool,
    /// Awaiting approval and the one looking may approve things, but not
    /// this: why (they asked for it, answered it, or no rule names them).
    pub why_not: Option<String>,
}

/// A deploy as asked for on a page, the API or by a branch rule.
#[derive(Clone, Debug, Default)]
pub struct DeployAsk {
    pub build_id: i64,
    /// Start it then, not now (a scheduled deploy); a time already past
    /// starts it now.
    pub at: Option<DateTime<Utc>>,
    /// An admin's reason to go through a freeze window.
    pub freeze_override: Option<String>,
}

/// Whether a deploy that cannot start now may wait as a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum MayWait {
    /// For approvals and its time; behind a running job as the environment
    /// says (`queue_deploys`).
    AsConfigured,
    /// Also behind a running job, always (auto-deploys: no matching build
    /// is dropped).
    Always,
    /// Never: it starts now or is refused ([`Engine::deploy`]).
    Never,
}

impl Engine {
    /// Deploys a build now, or keeps the request until it can start: when
    /// asked for a later time, or when it meets a running job where the
    /// environment queues deploys (a newer request replaces the one that
    /// waited).
    pub async fn request_deploy(
        &self,
        actor: &Actor,
        app: &str,
        env: &str,
        ask: &DeployAsk,
    ) -> Result<Deployment> {
        self.request_deploy_or(actor, app, env, ask, MayWait::AsConfigured)
            .await
    }

    pub(super) async fn request_deploy_or(
        &self,
        actor: &Actor,
        app: &str,
        env: &str,
        ask: &DeployAsk,
        may_wait: MayWait,
    ) -> Result<Deployment> {
        let (env, build, freeze_override) = self
            .prepare_deploy(
                actor,
                app,
                env,
                ask.build_id,
                ask.freeze_override.as_deref(),
            )
            .await?;
        let target = Target {
            env: &env,
            build: &build,
            rollback_to: None,
        };
        self.start_or_wait(actor, &target, ask.at, freeze_override, may_wait)
            .await
    }

    /// [`Engine::rollback_through_freeze`], waiting behind a running job
    /// where the environment queues deploys.
    pub async fn request_rollback(
        &self,
        actor: &Actor,
        app: &str,
        env: &str,
        release_id: i64,
        freeze_override: Option<&str>,
    ) -> Result<Deployment> {
        self.request_rollback_or(
            actor,
            app,
            env,
            release_id,
            freeze_override,
            MayWait::AsConfigured,
        )
        .await
    }

    pub(super) async fn request_rollback_or(
        &self,
        actor: &Actor,
        app: &str,
        env: &str,
        release_id: i64,
        freeze_override: Option<&str>,
        may_wait: MayWait,
    ) -> Result<Deployment> {
        let (env, build, target, freeze_override) = self
            .prepare_rollback(actor, app, env, release_id, freeze_override)
            .await?;
        let target = Target {
            env: &env,
            build: &build,
            rollback_to: Some(&target),
        };
        self.start_or_wait(actor, &target, None, freeze_override, may_wait)
            .await
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

    /// Withdraws a request that has not started (those who may deploy there).
    pub async fn cancel_request(&self, actor: &Actor, id: i64) -> Result<DeployRequest> {
        actor.require(Permission::CancelJob)?;
        let request = self.store.deploy_request(id).await?;
        let env = self.store.environment_by_id(request.environment_id).await?;
        self.require_on(actor, Permission::CancelJob, &env, "cancel a request")
            .await?;
        self.store.cancel_request(&actor.login, id).await
    }

    /// The request a job was started from, if any.
    pub async fn request_of_job(
        &self,
        actor: &Actor,
        job_id: i64,
    ) -> Result<Option<DeployRequest>> {
        actor.require(Permission::Read)?;
        self.store.request_of_job(job_id).await
    }

    pub async fn deploy_request(&self, actor: &Actor, id: i64) -> Result<DeployRequest> {
        actor.require(Permission::Read)?;
        self.store.deploy_request(id).await
    }

    /// Every request that is pending (awaiting approval or waiting),
    /// oldest first, each with its approvals so far.
    pub async fn pending_requests(&self, actor: &Actor) -> Result<Vec<RequestView>> {
        actor.require(Permission::Read)?;
        let requests = self.store.pending_requests().await?;
        self.with_approvals(actor, requests).await
    }

    /// Approves (or, `approve` false, rejects) a request awaiting approval,
    /// with a comment. The last approval its rules need lets it start by
    /// itself, as the one who asked for it.
    pub async fn decide_request(
        &self,
        actor: &Actor,
        id: i64,
        approve: bool,
        comment: &str,
    ) -> Result<DeployRequest> {
        actor.require(Permission::Approve)?;
        let comment = comment.trim();
        if comment.chars().count() > MAX_COMMENT {
            return Err(
                InvalidInput::new("comment", format!("at most {MAX_COMMENT} characters")).into(),
            );
        }
        if !approve && comment.is_empty() {
            return Err(InvalidInput::new("comment", "say why it is rejected").into());
        }
        let pending = self.store.deploy_request(id).await?;
        let env = self.store.environment_by_id(pending.environment_id).await?;
        actor.require_reach(&env)?;
        let approver = actor.approver();
        let request = self
            .store
            .decide_request(&Decision {
                request_id: id,
                approver: &approver,
                approve,
                comment,
            })
            .await?;
        self.runners.wake.notify_one();
        Ok(request)
    }

    /// Requests with their approvals, and whether `actor` may answer each.
    async fn with_approvals(
        &self,
        actor: &Actor,
        requests: Vec<DeployRequest>,
    ) -> Result<Vec<RequestView>> {
        let ids: Vec<i64> = requests.iter().map(|r| r.id).collect();
        let approvals = self.store.approvals_of(&ids).await?;
        let mut views = Vec::with_capacity(requests.len());
        for request in requests {
            let answers: Vec<ApprovalRecord> = approvals
                .iter()
                .filter(|a| a.request_id == request.id)
                .cloned()
                .collect();
            let answerable = self.answerable(actor, &request, &answers).await?;
            views.push(RequestView {
                request,
                approvals: answers,
                may_answer: answerable == Some(Ok(())),
                why_not: answerable.and_then(Result::err),
            });
        }
        Ok(views)
    }

    /// Whether `actor` may still approve or reject `request`, or why not
    /// (the engine decides again when they do); `None` where it does not
    /// arise (not awaiting approval, or they approve nothing).
    async fn answerable(
        &self,
        actor: &Actor,
        request: &DeployRequest,
        answers: &[ApprovalRecord],
    ) -> Result<Option<std::result::Result<(), String>>> {
        if request.state != crate::domain::RequestState::AwaitingApproval
            || actor.require(Permission::Approve).is_err()
        {
            return Ok(None);
        }
        if actor.login == request.requested_by {
            return Ok(Some(Err(
                "you asked for it: someone else must approve it".to_owned()
            )));
        }
        if answers.iter().any(|a| a.approver == actor.login) {
            return Ok(Some(Err("you answered it".to_owned())));
        }
        let env = self.store.environment_by_id(request.environment_id).await?;
        if !env.approvals.names(&actor.approver()) {
            return Ok(Some(Err("no approval rule names you".to_owned())));
        }
        Ok(Some(Ok(())))
    }

    /// An environment's latest requests, newest first, with their approvals.
    pub async fn environment_requests(
        &self,
        actor: &Actor,
        env: &Environment,
        limit: i64,
    ) -> Result<Vec<RequestView>> {
        actor.require(Permission::Read)?;
        let requests = self.store.environment_requests(env.id, limit).await?;
        self.with_approvals(actor, requests).await
    }

    async fn start_or_wait(
        &self,
        actor: &Actor,
        target: &Target<'_>,
        at: Option<DateTime<Utc>>,
        freeze_override: Option<String>,
        may_wait: MayWait,
    ) -> Result<Deployment> {
        if may_wait == MayWait::Never && (target.env.approvals.is_required() || at.is_some()) {
            return Err(Error::Conflict(format!(
                "{} takes deploys and rollbacks that wait (for approvals or a time) only as requests: ask for one",
                target.env.path()
            )));
        }
        if target.env.approvals.is_required() {
            // Approvals first; then it waits its turn like any request.
            let scheduled = later(at)?;
            return self
                .wait(actor, target, scheduled, freeze_override, String::new())
                .await;
        }
        if let Some(at) = later(at)? {
            let note = format!("scheduled for {}", time::to_rfc3339(at));
            return self
                .wait(actor, target, Some(at), freeze_override, note)
                .await;
        }
        let queued = self
            .store
            .enqueue_job(
                &actor.login,
                target.env,
                target.build,
                target.rollback_to,
                freeze_override.as_deref(),
            )
            .await;
        match queued {
            Ok(job) => {
                self.runners.wake.notify_one();
                Ok(Deployment::Started(job))
            }
            Err(Error::Busy { job_id, .. })
                if may_wait == MayWait::Always
                    || (may_wait == MayWait::AsConfigured && target.env.queue_deploys) =>
            {
                let note = format!("waits for job #{job_id}");
                self.wait(actor, target, None, freeze_override, note).await
            }
            Err(e) => Err(e),
        }
    }

    async fn wait(
        &self,
        actor: &Actor,
        target: &Target<'_>,
        not_before: Option<DateTime<Utc>>,
        freeze_override: Option<String>,
        note: String,
    ) -> Result<Deployment> {
        let request = self
            .store
            .enqueue_request(&NewRequest {
                actor: &actor.login,
                env: target.env,
                build: target.build,
                rollback_to: target.rollback_to,
                not_before,
                freeze_override: freeze_override.as_deref(),
                note,
            })
            .await?;
        // The job it waited for may have ended meanwhile.
        self.runners.wake.notify_one();
        Ok(Deployment::Waiting(request))
    }
}

/// What a deploy or rollback would release where.
struct Target<'a> {
    env: &'a Environment,
    build: &'a Build,
    rollback_to: Option<&'a Release>,
}

/// `at`, when it is still to come (and not too far ahead).
fn later(at: Option<DateTime<Utc>>) -> Result<Option<DateTime<Utc>>, InvalidInput> {
    let now = time::now();
    match at {
        Some(at) if at > now + Duration::days(MAX_DAYS_AHEAD) => Err(InvalidInput::new(
            "at",
            format!("schedule a deploy at most {MAX_DAYS_AHEAD} days ahead"),
        )),
        Some(at) if at > now => Ok(Some(at)),
        _ => Ok(None),
    }
}

impl Engine {
    /// Deploys what is live on `from` to `to`, an environment that takes
    /// builds from it (promotion) — subject to `to`'s approvals, queue and
    /// freezes like any deploy.
    pub async fn promote(
        &self,
        actor: &Actor,
        app: &str,
        from: &str,
        to: &str,
    ) -> Result<Deployment> {
        let source = self.find_environment(app, from).await?;
        let target = self.find_environment(app, to).await?;
        if target.promotes_from.as_ref().map(|name| name.as_str()) != Some(source.name.as_str()) {
            return Err(InvalidInput::new(
                "to",
                format!(
                    "{} does not take builds from {}",
                    target.path(),
                    source.path()
                ),
            )
            .into());
        }
        let live = self.store.live_release(source.id).await?.ok_or_else(|| {
            Error::Conflict(format!("nothing is live on {} to promote", source.path()))
        })?;
        let ask = DeployAsk {
            build_id: live.build_id,
            ..DeployAsk::default()
        };
        self.request_deploy(actor, app, to, &ask).await
    }

    /// The environments that take builds from `env` (promotion), by name.
    pub async fn promotes_to(&self, actor: &Actor, env: &Environment) -> Result<Vec<String>> {
        actor.require(Permission::Read)?;
        let mut downstream: Vec<String> = self
            .store
            .environments()
            .await?
            .into_iter()
            .filter(|e| {
                e.application_id == env.application_id
                    && e.promotes_from
                        .as_ref()
                        .is_some_and(|from| from.as_str() == env.name)
            })
            .map(|e| e.name)
            .collect();
        downstream.sort();
        Ok(downstream)
    }
}
