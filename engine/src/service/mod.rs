//! The operations Slipway offers, each checked against the actor's role,
//! validated, and recorded. The UI, the API and the CLI call these.

use std::path::PathBuf;
use std::sync::Arc;

use serde::Deserialize;

use crate::auth::{Actor, Permission};
use crate::backends::dnf::repository::PackageRepository;
use crate::domain::{
    AppName, Application, Build, EnvName, Environment, Job, JobEvent, JobHost, Release,
};
use crate::error::Result;
use crate::jobs::{JobRunner, RunnerSettings};
use crate::runtime::artifacts::ArtifactPolicy;
use crate::runtime::shares::ArtifactShares;
use crate::runtime::EventHub;
use crate::store::Store;

#[derive(Clone, Debug)]
pub struct EngineSettings {
    pub database_url: String,
    pub artifact_roots: Vec<PathBuf>,
    /// Where the hosted rpm repositories live (`<data dir>/repo`).
    pub package_root: PathBuf,
    /// Where backends keep state on this machine (docker: each environment's proxy).
    pub state_dir: PathBuf,
    /// The key secret variables are sealed with (kept outside the database).
    pub secret_key: crate::secrets::SecretKey,
}

#[derive(Clone)]
pub struct Engine {
    store: Store,
    hub: EventHub,
    artifacts: ArtifactPolicy,
    packages: Arc<PackageRepository>,
    shares: ArtifactShares,
    state_dir: PathBuf,
    /// Bare mirrors of the applications' repositories.
    mirrors: crate::git::Mirrors,
    /// A wake for the runners when work is queued, and the cancel
    /// triggers of the jobs this process runs.
    runners: crate::jobs::RunnerLinks,
}

/// A build registration as it arrives (JSON or form), before parsing.
#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BuildRequest {
    pub application: String,
    pub commit_sha: String,
    pub branch: String,
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub author: String,
    pub artifact: String,
    /// When the commit was made (RFC 3339), for lead time; optional.
    #[serde(default)]
    pub committed_at: Option<chrono::DateTime<chrono::Utc>>,
    /// The commits this build brings (oldest first, as a push lists them),
    /// for when Slipway's mirror of the repository lacks them; optional.
    #[serde(default)]
    pub commits: Vec<CommitRequest>,
}

/// One commit as CI describes it with a build.
#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CommitRequest {
    pub sha: String,
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub author: String,
    #[serde(default)]
    pub committed_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Its parents; when left out, the commit listed before it.
    #[serde(default)]
    pub parents: Option<Vec<String>>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct EnvVarRequest {
    pub name: String,
    pub value: String,
    #[serde(default)]
    pub secret: bool,
}

/// A QA environment to create, as it arrives from the form or the API.
#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QaRequest {
    /// The docker environment whose settings the QA environment copies.
    pub based_on: String,
    /// Its name; derived from the build's branch when empty.
    #[serde(default)]
    pub name: Option<String>,
    pub build_id: i64,
    /// Hours until it is destroyed automatically (1-720).
    pub ttl_hours: u32,
}

/// One environment with what is live on it and its latest job.
#[derive(Clone, Debug)]
pub struct EnvironmentOverview {
    pub environment: Environment,
    pub live: Option<Release>,
    pub last_job: Option<Job>,
    /// The freeze window in force over it, and the next one.
    pub freeze: FreezeStatus,
    /// The deploy request pending there (awaiting approval or waiting), if any.
    pub pending: Option<crate::domain::DeployRequest>,
}

/// A job with everything its page shows.
#[derive(Clone, Debug)]
pub struct JobView {
    pub job: Job,
    pub environment: Environment,
    pub build: Build,
    pub release: Option<Release>,
    pub hosts: Vec<JobHost>,
    /// The first [`JOB_VIEW_EVENTS`] events.
    pub events: Vec<JobEvent>,
    /// There are more events than `events` holds: read them from the event
    /// stream after the last one (the job page does).
    pub more_events: bool,
    /// For an interrupted job: the newest job queued on its environment
    /// after it (which took over from it), if any.
    pub later_job: Option<i64>,
}

/// An environment page's changing parts (see [`Engine::environment_activity`]).
#[derive(Clone, Debug)]
pub struct EnvironmentActivity {
    /// The newest audit row about the environment when this was read.
    pub activity: i64,
    pub live: Option<Release>,
    pub recent_jobs: Vec<Job>,
}

/// How many of a job's events its view loads at once.
pub const JOB_VIEW_EVENTS: i64 = 10_000;

const MAX_TEXT: usize = 10_000;

mod accounts;
pub use accounts::TokenRequest;
mod applications;
mod audit;
mod branch_rules;
mod builds;
mod changes;
mod deploys;
mod environments;
mod fleet;
mod freezes;
mod insight;
mod notifications;
mod packages;
mod qa;
mod reading;
mod requests;

pub use branch_rules::{BranchDeleted, PREVIEW_TTL_HOURS};
pub use changes::ReleaseChanges;
pub use freezes::{FreezeKind, FreezeRequest, FreezeStatus};
pub use notifications::NotificationTargetRequest;
pub use packages::PackageUpload;
pub use requests::{DeployAsk, RequestView};

impl Engine {
    pub async fn open(settings: &EngineSettings) -> Result<Self> {
        let store = Store::open(&settings.database_url, settings.secret_key.clone()).await?;
        let artifacts = ArtifactPolicy::new(settings.artifact_roots.iter().cloned())?;
        let packages = Arc::new(PackageRepository::new(&settings.package_root)?);
        Ok(Self {
            store,
            hub: EventHub::default(),
            artifacts,
            packages,
            shares: ArtifactShares::default(),
            state_dir: settings.state_dir.clone(),
            mirrors: crate::git::Mirrors::new(settings.state_dir.join("mirrors")),
            runners: crate::jobs::RunnerLinks::default(),
        })
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn events(&self) -> &EventHub {
        &self.hub
    }

    pub fn artifacts(&self) -> &ArtifactPolicy {
        &self.artifacts
    }

    /// Archives lent to hosts that fetch their release (served at `/artifacts/<token>`).
    pub fn artifact_shares(&self) -> &ArtifactShares {
        &self.shares
    }

    /// What makes replicas on one PostgreSQL database one Slipway: other
    /// replicas' job events reach this one's watchers, their cancels its
    /// runner. Returns at once on SQLite.
    pub fn event_relay(&self, settings: crate::jobs::RelaySettings) -> crate::jobs::EventRelay {
        crate::jobs::EventRelay::new(
            self.store.clone(),
            self.hub.clone(),
            self.runners.clone(),
            settings,
        )
    }

    pub fn job_runner(&self, settings: RunnerSettings) -> JobRunner {
        JobRunner::new(
            self.store.clone(),
            self.hub.clone(),
            self.artifacts.clone(),
            self.shares.clone(),
            &self.state_dir,
            settings,
            self.runners.clone(),
        )
    }

    async fn find_application(&self, name: &str) -> Result<Application> {
        self.store.application(&AppName::parse(name)?).await
    }

    /// Looks an environment up for an operation that has checked its own permission.
    async fn find_environment(&self, app: &str, env: &str) -> Result<Environment> {
        let (app, env) = parse_env_path(app, env)?;
        self.store.environment(&app, &env).await
    }

    /// The environment `app/env`, once the actor may do `permission` there:
    /// the role allows it and, where the environment is protected, the
    /// actor is one of its deployers (a refusal is audited as `what`).
    async fn authorize_on(
        &self,
        actor: &Actor,
        permission: Permission,
        app: &str,
        env: &str,
        what: &str,
    ) -> Result<Environment> {
        actor.require(permission)?;
        let env = self.find_environment(app, env).await?;
        self.require_on(actor, permission, &env, what).await?;
        Ok(env)
    }

    /// Refuses (and audits the refusal) an API token limited elsewhere, and,
    /// when `env` is protected, an actor who is neither an admin nor one of
    /// its named deployers ([`Actor::require_on`]).
    async fn require_on(
        &self,
        actor: &Actor,
        permission: Permission,
        env: &Environment,
        what: &str,
    ) -> Result<()> {
        let denied = match actor.require_reach(env) {
            Err(denied) => denied,
            Ok(()) if !env.protected => return Ok(()),
            Ok(()) => {
                let deployers = self.store.environment_deployers(env.id).await?;
                match actor.require_on(permission, env, &deployers) {
                    Ok(()) => return Ok(()),
                    Err(denied) => denied,
                }
            }
        };
        self.store
            .audit_only(
                &crate::audit::AuditRecord::new(
                    &actor.login,
                    crate::audit::actions::ACCESS_DENIED,
                    format!("env/{}", env.path()),
                )
                .environment(env.path())
                .details(serde_json::json!({ "action": what, "reason": denied.public_message() })),
            )
            .await?;
        Err(denied)
    }
}

fn parse_env_path(app: &str, env: &str) -> Result<(AppName, EnvName)> {
    Ok((AppName::parse(app)?, EnvName::parse(env)?))
}
