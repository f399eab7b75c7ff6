//! The job runner: claims queued jobs under a lease, runs them on their
//! backend, keeps the lease alive, and marks jobs of dead runners `interrupted`.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{watch, Notify};
use tokio::task::JoinSet;
use tracing::{info_span, Instrument};

use super::running::{AbortOnDrop, RunningJobs};
use crate::backends::{
    self, docker, BackendConfig, DeployLock, JobContext, ReleaseSpec, RunFailure,
};
use crate::domain::{Build, Environment, Job, JobKind, Release};
use crate::error::Result;
use crate::runtime::artifacts::ArtifactPolicy;
use crate::runtime::cancel::{self as cancelling, CancelRegistry, CancelTrigger};
use crate::runtime::shares::ArtifactShares;
use crate::runtime::{CancelSignal, EventEmitter, EventHub, SecretMasker};
use crate::shell;
use crate::store::jobs::JobOutcome;
use crate::store::qa::DestroyReason;
use crate::store::Store;
use crate::time;

/// How long start-up waits for docker environments to be reconciled.
const RECONCILE_TIMEOUT: Duration = Duration::from_secs(60);
/// How often recording a job's end is tried before the lease is let go.
const FINISH_ATTEMPTS: u64 = 5;

#[derive(Clone, Debug)]
pub struct RunnerSettings {
    /// How long a lease lasts without renewal. A job whose runner died is
    /// marked interrupted at most this long (plus one sweep) after.
    pub lease_ttl: Duration,
    pub renew_every: Duration,
    /// How often to look for work and expired leases without being woken.
    pub sweep_every: Duration,
}

impl Default for RunnerSettings {
    fn default() -> Self {
        Self {
            lease_ttl: Duration::from_secs(15),
            renew_every: Duration::from_secs(3),
            sweep_every: Duration::from_secs(2),
        }
    }
}

/// How the engine reaches the runners it made: a wake when work is queued,
/// and the cancel triggers of the jobs they run.
#[derive(Clone, Debug, Default)]
pub struct RunnerLinks {
    pub wake: Arc<Notify>,
    pub cancels: CancelRegistry,
}

#[derive(Clone)]
pub struct JobRunner {
    store: Store,
    hub: EventHub,
    artifacts: ArtifactPolicy,
    shares: ArtifactShares,
    /// Where backends keep state on this machine (docker: proxy files).
    state_dir: Arc<std::path::Path>,
    settings: RunnerSettings,
    owner: Arc<str>,
    links: RunnerLinks,
    /// Jobs this runner is executing now.
    running: RunningJobs,
    /// Held while this runner leads the periodic work (see `leads`).
    leadership: Arc<tokio::sync::Mutex<Option<crate::store::Leadership>>>,
}

impl JobRunner {
    pub fn new(
        store: Store,
        hub: EventHub,
        artifacts: ArtifactPolicy,
        shares: ArtifactShares,
        state_dir: &std::path::Path,
        settings: RunnerSettings,
        links: RunnerLinks,
    ) -> Self {
        let owner = format!(
            "{}-{}-{:08x}",
            hostname(),
            std::process::id(),
            rand::random::<u32>()
        );
        Self {
            store,
            hub,
            artifacts,
            shares,
            state_dir: state_dir.into(),
            settings,
            owner: owner.into(),
            links,
            running: RunningJobs::default(),
            leadership: Arc::default(),
        }
    }

    /// Runs until `shutdown` turns true, then waits for the jobs it started.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let mut running = JoinSet::new();
        tracing::info!(owner = %self.owner, "job runner started");
        // Traffic switches and live containers come back after a restart,
        // before any job may touch them — by the replica that leads, once.
        // Meanwhile the jobs of a dead runner are still interrupted on
        // time (reconciling may take long).
        if self.leads().await {
            let reconcile =
                tokio::time::timeout(RECONCILE_TIMEOUT, self.clone().reconcile_docker());
            tokio::pin!(reconcile);
            loop {
                self.sweep_expired().await;
                tokio::select! {
                    reconciled = &mut reconcile => {
                        if reconciled.is_err() {
                            tracing::warn!("reconciling docker environments took too long; going on");
                        }
                        break;
                    }
                    _ = tokio::time::sleep(self.settings.sweep_every) => {}
                    _ = shutdown.changed() => return,
                }
            }
        }
        loop {
            // Once across replicas: by the one that leads.
            if self.leads().await {
                self.sweep_expired().await;
                self.destroy_expired_qa_environments().await;
                self.start_due_requests().await;
            }
            loop {
                match self
                    .store
                    .claim_next_job(&self.owner, self.lease_ttl())
                    .await
                {
                    Ok(Some(job)) => {
                        let runner = self.clone();
                        running.spawn(async move { runner.run_job(job).await });
                    }
                    Ok(None) => break,
                    Err(e) => {
                        tracing::error!(error = %e, "could not claim a job");
                        break;
                    }
                }
            }
            while running.try_join_next().is_some() {}
            tokio::select! {
                _ = self.links.wake.notified() => {}
                _ = tokio::time::sleep(self.settings.sweep_every) => {}
                _ = shutdown.changed() => break,
            }
        }
        tracing::info!(
            jobs = running.len(),
            "job runner stopping; waiting for running jobs"
        );
        while running.join_next().await.is_some() {}
    }

    /// Deploy requests whose time has come on environments now free
    /// become queued jobs (claimed just after).
    async fn start_due_requests(&self) {
        if let Err(e) = self.store.settle_awaiting_requests().await {
            tracing::error!(error = %e, "could not settle requests awaiting approval");
        }
        match self.store.start_due_requests().await {
            Ok(started) => started.iter().for_each(|job| {
                tracing::info!(
                    job_id = job.id,
                    env_id = job.environment_id,
                    "a deploy request started"
                )
            }),
            Err(e) => tracing::error!(error = %e, "could not start waiting deploy requests"),
        }
    }

    /// Whether this runner leads the periodic work: it keeps leading while
    /// its lock holds, and takes the lead when no replica holds it (the
    /// leader stopped or died).
    async fn leads(&self) -> bool {
        let mut leadership = self.leadership.lock().await;
        if let Some(held) = leadership.as_mut() {
            if held.holds().await {
                return true;
            }
            tracing::warn!("lost the lead of the periodic work (its connection closed)");
            *leadership = None;
        }
        match self.store.pool().try_lead().await {
            Ok(Some(led)) => {
                tracing::info!(owner = %self.owner, "leading the periodic work");
                *leadership = Some(led);
                true
            }
            Ok(None) => false,
            Err(e) => {
                tracing::error!(error = %e, "could not ask for the lead of the periodic work");
                false
            }
        }
    }

    fn lease_ttl(&self) -> chrono::Duration {
        chrono::Duration::from_std(self.settings.lease_ttl).unwrap_or(chrono::Duration::seconds(15))
    }

    async fn sweep_expired(&self) {
        let alive = self.running.ids();
        match self.store.interrupt_expired_jobs(&alive).await {
            Ok(interrupted) => {
                for (job_id, closing) in interrupted {
                    tracing::warn!(job_id, "job interrupted: its runner's lease expired");
                    closing
                        .into_iter()
                        .for_each(|event| self.hub.publish(event));
                }
            }
            Err(e) => tracing::error!(error = %e, "could not sweep expired job leases"),
        }
    }

    /// Brings every docker environment's live container and proxy back
    /// (see [`docker::reconcile`]); logs what it did.
    pub async fn reconcile_docker(self) {
        let envs = match self.store.environments().await {
            Ok(envs) => envs,
            Err(e) => {
                return tracing::error!(error = %e, "could not list environments to reconcile")
            }
        };
        for env in envs {
            let BackendConfig::Docker(config) = &env.config else {
                continue;
            };
            let live = match self.store.live_release(env.id).await {
                Ok(Some(live)) => live,
                Ok(None) => continue,
                Err(e) => {
                    tracing::warn!(env = %env.path(), error = %e, "could not read the live release");
                    continue;
                }
            };
            let identity = docker::EnvIdentity::new(&env.application, &env.name);
            match docker::reconcile(config, &identity, &live.release_key, &self.state_dir).await {
                Ok(docker::Reconciled::InPlace) => {}
                Ok(docker::Reconciled::Repaired(what)) => {
                    tracing::info!(env = %env.path(), "reconciled: {what}")
                }
                Err(why) => tracing::warn!(env = %env.path(), "could not reconcile: {why}"),
            }
        }
    }

    /// Queues a destroy job (audited as `environment.expired`) for every QA
    /// environment past its time.
    async fn destroy_expired_qa_environments(&self) {
        let expired = match self.store.expired_qa_environments(time::now()).await {
            Ok(expired) => expired,
            Err(e) => {
                tracing::error!(error = %e, "could not look for expired QA environments");
                return;
            }
        };
        for env in expired {
            match self
                .store
                .enqueue_destroy(crate::audit::SYSTEM_ACTOR, &env, DestroyReason::Expired)
                .await
            {
                Ok(job) => {
                    tracing::info!(env = %env.path(), job_id = job.id, "QA environment expired; destroying it")
                }
                Err(e) => {
                    tracing::warn!(env = %env.path(), error = %e, "could not queue the destroy of an expired QA environment")
                }
            }
        }
    }

    async fn run_job(self, job: Job) {
        let span = info_span!(
            "job",
            job_id = job.id,
            kind = job.kind.as_str(),
            env_id = job.environment_id
        );
        async move {
            let _running = self.running.enter(job.id);
            let (trigger, cancel) = CancelSignal::new();
            let trigger = Arc::new(trigger);
            let _cancellable = self.links.cancels.register(job.id, trigger.clone());
            // Stops renewing the lease however this future ends, even if it is dropped.
            let keeper = AbortOnDrop(tokio::spawn(
                self.clone().keep_lease(job.id, trigger).in_current_span(),
            ));
            let (outcome, masker) = match self.execute(&job, cancel).await {
                Ok(pair) => pair,
                Err(e) => {
                    tracing::error!(error = %e, "job could not run");
                    let failure = JobOutcome::Failed(format!("internal error: {e}"));
                    (failure, SecretMasker::default())
                }
            };
            let outcome = match outcome {
                JobOutcome::Failed(why) => JobOutcome::Failed(masker.mask(&why)),
                other => other,
            };
            let summary = match &outcome {
                JobOutcome::Succeeded => "job succeeded".to_owned(),
                JobOutcome::Failed(why) => format!("job failed: {why}"),
                JobOutcome::Cancelled(reason) => format!("job cancelled: {reason}"),
            };
            self.record_end(&job, &outcome, &summary).await;
            drop(keeper);
            // A request may have waited for this job to end.
            self.links.wake.notify_one();
        }
        .instrument(span)
        .await
    }

    /// Records how `job` ended. What happened is recorded, not guessed: a
    /// failed write (a busy database, a brief i/o error) is tried again
    /// while the lease is still renewed. Only if it never lands does the
    /// lease lapse and the job become interrupted.
    async fn record_end(&self, job: &Job, outcome: &JobOutcome, summary: &str) {
        for attempt in 1..=FINISH_ATTEMPTS {
            let error = match self
                .store
                .finish_job(job, &self.owner, outcome, summary)
                .await
            {
                Ok((finished, closing)) => {
                    tracing::info!(state = finished.state.as_str(), "job finished");
                    closing
                        .into_iter()
                        .for_each(|event| self.hub.publish(event));
                    return;
                }
                Err(crate::error::Error::Conflict(why)) => {
                    tracing::error!(%why, "the job's end cannot be recorded: its lease is gone");
                    return;
                }
                Err(e) => e,
            };
            if attempt == FINISH_ATTEMPTS {
                tracing::error!(error = %error, "could not record the end of the job");
            } else {
                tracing::warn!(error = %error, attempt, "could not record the end of the job; trying again");
                tokio::time::sleep(Duration::from_millis(500 * attempt)).await;
            }
        }
    }

    /// Renews the lease; raises the cancel signal when a user asks or the lease is lost.
    async fn keep_lease(self, job_id: i64, trigger: Arc<CancelTrigger>) {
        // Measured on the monotonic clock: however the wall clock jumps, a
        // runner that cannot renew for a whole lease stops its job, since
        // another runner may take it for dead.
        let mut renewed = std::time::Instant::now();
        loop {
            tokio::time::sleep(self.settings.renew_every).await;
            match self
                .store
                .renew_lease(job_id, &self.owner, self.lease_ttl())
                .await
            {
                Ok(true) => renewed = std::time::Instant::now(),
                Ok(false) => {
                    trigger.fire("this runner lost the job's lease");
                    return;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "could not renew the job lease");
                    if renewed.elapsed() >= self.settings.lease_ttl {
                        trigger.fire("this runner could not renew the job's lease");
                    }
                }
            }
            if let Ok(Some(by)) = self.store.cancel_requested_by(job_id).await {
                trigger.fire(cancelling::asked_by(&by));
            }
        }
    }

    /// Runs the job on its backend. Returns how it ended and the masker for
    /// the secrets it saw.
    async fn execute(&self, job: &Job, cancel: CancelSignal) -> Result<(JobOutcome, SecretMasker)> {
        let env = self.store.environment_by_id(job.environment_id).await?;
        if job.kind == JobKind::Destroy {
            return self.destroy(job, &env, cancel).await;
        }
        let build = self.store.build(job.build_id).await?;
        let release = match job.release_id {
            Some(id) => self.store.release(id).await?,
            None => {
                return Ok((
                    JobOutcome::Failed("job has no release".into()),
                    SecretMasker::default(),
                ))
            }
        };
        let live = self.store.live_release(env.id).await?;
        let vars = self.store.env_vars(&env).await?;
        let masker = SecretMasker::new(vars.iter().filter(|v| v.secret).map(|v| v.value.clone()));
        let emitter =
            EventEmitter::new(job.id, self.store.clone(), self.hub.clone(), masker.clone()).await?;
        emitter
            .info(
                None,
                &format!(
                    "{} of build #{} ({} on {}) to {} as release {}, requested by {}",
                    job.kind.as_str(),
                    build.id,
                    short_sha(&build.commit_sha),
                    build.branch,
                    env.path(),
                    release.release_key,
                    job.requested_by
                ),
            )
            .await?;
        let spec = ReleaseSpec {
            release_key: &release.release_key,
            build_id: build.id,
            artifact: &build.artifact,
            reuses_release: job.kind == JobKind::Rollback || job.resumes_job_id.is_some(),
            previous_key: live.as_ref().map(|r| r.release_key.as_str()),
            protect: live.iter().map(|r| r.release_key.clone()).collect(),
            vars: release_vars(job, &env, &build, &release, live.as_ref(), &vars),
            env_file: vars
                .iter()
                .map(|v| format!("{}={}\n", v.name, shell::quote(&v.value)))
                .collect(),
            vars_digest: docker::plan::vars_digest(
                vars.iter().map(|v| (v.name.as_str(), v.value.as_str())),
            ),
            lock: self.deploy_lock(job, &emitter).await?,
        };
        let result = backends::release(
            &env.config,
            &self.context(job, &env, &emitter, cancel),
            &spec,
        )
        .await;
        Ok((outcome_of(result), masker))
    }

    /// The note `job` leaves on a host's deploy lock; a job that resumes an
    /// interrupted one takes over the lock that job's dead runner left.
    async fn deploy_lock(&self, job: &Job, emitter: &EventEmitter) -> Result<DeployLock> {
        let takes_over = match job.resumes_job_id {
            Some(interrupted_id) => {
                let interrupted = self.store.job(interrupted_id).await?;
                let owner = self.store.lease_owner(interrupted_id).await?;
                emitter
                    .info(
                        None,
                        &format!(
                            "resumes interrupted job #{interrupted_id}: finishes its release from where it stopped (what is staged stays) and takes over the deploy locks it left"
                        ),
                    )
                    .await?;
                owner
                    .map(|owner| lock_note_start(interrupted_id, &interrupted.requested_by, &owner))
            }
            None => None,
        };
        Ok(DeployLock {
            holder: format!(
                "{}{}",
                lock_note_start(job.id, &job.requested_by, &self.owner),
                time::to_rfc3339(time::now())
            ),
            takes_over,
        })
    }

    /// What every backend is given for `job`.
    fn context<'a>(
        &'a self,
        job: &Job,
        env: &'a Environment,
        emitter: &'a EventEmitter,
        cancel: CancelSignal,
    ) -> JobContext<'a> {
        JobContext {
            job_id: job.id,
            application: &env.application,
            environment: &env.name,
            emitter,
            cancel,
            artifacts: &self.artifacts,
            shares: &self.shares,
            state_dir: &self.state_dir,
        }
    }
}

impl JobRunner {
    /// Removes what the environment's backend created; the store marks the
    /// environment destroyed when the job succeeds.
    async fn destroy(
        &self,
        job: &Job,
        env: &Environment,
        cancel: CancelSignal,
    ) -> Result<(JobOutcome, SecretMasker)> {
        let masker = SecretMasker::default();
        let emitter =
            EventEmitter::new(job.id, self.store.clone(), self.hub.clone(), masker.clone()).await?;
        emitter
            .info(
                None,
                &format!("destroy {} requested by {}", env.path(), job.requested_by),
            )
            .await?;
        let result =
            backends::destroy(&env.config, &self.context(job, env, &emitter, cancel)).await;
        Ok((outcome_of(result), masker))
    }
}

/// The job's outcome from its backend's result.
fn outcome_of(result: std::result::Result<(), RunFailure>) -> JobOutcome {
    match result {
        Ok(()) => JobOutcome::Succeeded,
        Err(RunFailure::Cancelled(reason)) => JobOutcome::Cancelled(reason),
        Err(RunFailure::Failed(why)) => JobOutcome::Failed(why),
    }
}

/// What a release's hooks and containers are told: the environment's own
/// variables, then who and what this release is (`SLIPWAY_*`).
fn release_vars(
    job: &Job,
    env: &Environment,
    build: &Build,
    release: &Release,
    live: Option<&Release>,
    vars: &[crate::domain::EnvVar],
) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = vars
        .iter()
        .map(|v| (v.name.clone(), v.value.clone()))
        .collect();
    let mut set = |k: &str, v: String| out.push((k.to_owned(), v));
    set("SLIPWAY_APPLICATION", env.application.clone());
    set("SLIPWAY_ENVIRONMENT", env.name.clone());
    set("SLIPWAY_JOB_ID", job.id.to_string());
    set("SLIPWAY_JOB_KIND", job.kind.as_str().to_owned());
    set("SLIPWAY_BUILD_ID", build.id.to_string());
    set("SLIPWAY_COMMIT_SHA", build.commit_sha.clone());
    set("SLIPWAY_BRANCH", build.branch.clone());
    set("SLIPWAY_RELEASE_ID", release.release_key.clone());
    if let Some(live) = live {
        set("SLIPWAY_PREVIOUS_RELEASE_ID", live.release_key.clone());
    }
    out
}

pub fn short_sha(sha: &str) -> &str {
    sha.get(..8).unwrap_or(sha)
}

fn hostname() -> String {
    std::fs::read_to_string("/etc/hostname")
        .map(|s| s.trim().to_owned())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "slipway".to_owned())
}

/// How the note on a deploy lock that job `job_id`, asked for by
/// `requested_by` and run by runner `owner`, begins (the time follows).
fn lock_note_start(job_id: i64, requested_by: &str, owner: &str) -> String {
    format!("job {job_id} by {requested_by} from slipway {owner} since ")
}
