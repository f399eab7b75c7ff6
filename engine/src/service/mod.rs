//! The operations Slipway offers, each checked against the actor's role,
//! validated, and recorded. The UI, the API and the CLI call these.

use std::path::PathBuf;
use std::sync::Arc;

use serde::Deserialize;

use crate::artifact::ArtifactPolicy;
use crate::audit::{verify_chain, ChainBreak, ChainHead, GENESIS_HASH};
use crate::auth::{Actor, DeployPolicy, Permission, Scopes};
use crate::backends::dnf::repository::PackageRepository;
use crate::backends::BackendConfig;
use crate::domain::{
    ApiToken, AppName, Application, BranchName, Build, CommitSha, EnvName, EnvVar, Environment,
    EnvironmentKind, Job, JobEvent, JobHost, Release, Role, User,
};
use crate::error::{Error, InvalidInput, Result};
use crate::jobs::{EventHub, JobRunner, RunnerSettings};
use crate::shares::ArtifactShares;
use crate::store::builds::{NewBuild, Registered};
use crate::store::environments::EnvironmentSpec;
use crate::store::Store;

#[derive(Clone, Debug)]
pub struct EngineSettings {
    pub database_url: String,
    pub artifact_roots: Vec<PathBuf>,
    /// Where the hosted rpm repositories live (`<data dir>/repo`).
    pub package_root: PathBuf,
    /// Where backends keep state on this machine (docker: each environment's proxy).
    pub state_dir: PathBuf,
}

#[derive(Clone)]
pub struct Engine {
    store: Store,
    hub: EventHub,
    artifacts: ArtifactPolicy,
    packages: Arc<PackageRepository>,
    shares: ArtifactShares,
    state_dir: PathBuf,
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
}

#[derive(Clone, Debug, Deserialize)]
pub struct EnvVarRequest {
    pub name: String,
    pub value: String,
    #[serde(default)]
    pub secret: bool,
}

/// A QA environment to create, as it arrives from the form or the API.
#[derive(Clone, Debug, Deserialize)]
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
}

/// How many of a job's events its view loads at once.
pub const JOB_VIEW_EVENTS: i64 = 10_000;

const MAX_TEXT: usize = 10_000;

mod branch_rules;
mod packages;
pub use branch_rules::{BranchDeleted, PREVIEW_TTL_HOURS};
pub use packages::PackageUpload;

impl Engine {
    pub async fn open(settings: &EngineSettings) -> Result<Self> {
        let store = Store::open(&settings.database_url).await?;
        let artifacts = ArtifactPolicy::new(settings.artifact_roots.iter().cloned())?;
        let packages = Arc::new(PackageRepository::new(&settings.package_root)?);
        Ok(Self {
            store,
            hub: EventHub::default(),
            artifacts,
            packages,
            shares: ArtifactShares::default(),
            state_dir: settings.state_dir.clone(),
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

    // ---- reading ----

    /// The application named `name` (any actor who may read).
    pub async fn application(&self, actor: &Actor, name: &str) -> Result<Application> {
        actor.require(Permission::Read)?;
        self.find_application(name).await
    }

    async fn find_application(&self, name: &str) -> Result<Application> {
        self.store.application(&AppName::parse(name)?).await
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
        let mut out = Vec::with_capacity(apps.len());
        for app in apps {
            let mut rows = Vec::new();
            for env in envs.iter().filter(|e| e.application_id == app.id) {
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

    /// Looks an environment up for an operation that has checked its own permission.
    async fn find_environment(&self, app: &str, env: &str) -> Result<Environment> {
        let (app, env) = parse_env_path(app, env)?;
        self.store.environment(&app, &env).await
    }

    /// Variables with secret values replaced: what may leave the server.
    pub async fn env_vars_masked(&self, actor: &Actor, env: &Environment) -> Result<Vec<EnvVar>> {
        actor.require(Permission::Read)?;
        let mut vars = self.store.env_vars(env.id).await?;
        for var in vars.iter_mut().filter(|v| v.secret) {
            var.value = crate::jobs::MASK.to_owned();
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
        limit: i64,
    ) -> Result<(Application, Vec<Build>)> {
        actor.require(Permission::Read)?;
        let app = self.find_application(app).await?;
        let builds = self.store.builds(app.id, limit.clamp(1, 500)).await?;
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
        let mut builds = self.store.builds(env.application_id, 500).await?;
        builds.retain(|b| env.config.deploys(&b.artifact));
        builds.truncate(limit);
        Ok(builds)
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
        Ok(JobView {
            job,
            environment,
            build,
            release,
            hosts,
            events,
            more_events,
        })
    }

    // ---- changing ----

    pub async fn create_application(
        &self,
        actor: &Actor,
        name: &str,
        repository_url: Option<&str>,
    ) -> Result<Application> {
        actor.require(Permission::ManageApplications)?;
        let name = AppName::parse(name)?;
        let repository_url = repository_url.map(str::trim).filter(|s| !s.is_empty());
        if let Some(url) = repository_url {
            if url.len() > 500 || url.chars().any(char::is_control) {
                return Err(
                    InvalidInput::new("repository_url", "the repository URL is not valid").into(),
                );
            }
        }
        self.store
            .create_application(&actor.login, &name, repository_url)
            .await
    }

    pub async fn create_environment(
        &self,
        actor: &Actor,
        app: &str,
        name: &str,
        config: BackendConfig,
        protection: impl Into<DeployPolicy>,
    ) -> Result<Environment> {
        actor.require(Permission::ManageEnvironments)?;
        let app = self.find_application(app).await?;
        let name = EnvName::parse(name)?;
        config.validate()?;
        let protection = protection.into();
        check_previews(&config, EnvironmentKind::Permanent, &protection)?;
        self.check_no_shared_target(&config, None).await?;
        self.store
            .create_environment(
                &actor.login,
                &app,
                &EnvironmentSpec {
                    name,
                    config,
                    protection,
                },
            )
            .await
    }

    pub async fn update_environment(
        &self,
        actor: &Actor,
        app: &str,
        env: &str,
        config: BackendConfig,
        protection: impl Into<DeployPolicy>,
    ) -> Result<Environment> {
        actor.require(Permission::ManageEnvironments)?;
        config.validate()?;
        let env = self.find_environment(app, env).await?;
        let protection = protection.into();
        check_previews(&config, env.kind, &protection)?;
        self.check_no_shared_target(&config, Some(env.id)).await?;
        self.store
            .update_environment(&actor.login, &env, &config, &protection)
            .await
    }

    pub async fn delete_environment(&self, actor: &Actor, app: &str, env: &str) -> Result<()> {
        actor.require(Permission::ManageEnvironments)?;
        let env = self.find_environment(app, env).await?;
        self.store.delete_environment(&actor.login, &env).await
    }

    pub async fn lock(&self, actor: &Actor, app: &str, env: &str, reason: &str) -> Result<()> {
        actor.require(Permission::Lock)?;
        let reason = reason.trim();
        if reason.is_empty() || reason.len() > 500 {
            return Err(InvalidInput::new(
                "reason",
                "say why the environment is locked (1-500 characters)",
            )
            .into());
        }
        let env = self.find_environment(app, env).await?;
        self.require_on(actor, Permission::Lock, &env, "lock")
            .await?;
        let events = self
            .store
            .lock_environment(&actor.login, &env, reason)
            .await?;
        events.into_iter().for_each(|event| self.hub.publish(event));
        Ok(())
    }

    pub async fn unlock(&self, actor: &Actor, app: &str, env: &str) -> Result<()> {
        actor.require(Permission::Lock)?;
        let env = self.find_environment(app, env).await?;
        self.require_on(actor, Permission::Lock, &env, "unlock")
            .await?;
        self.store.unlock_environment(&actor.login, &env).await
    }

    pub async fn set_env_var(
        &self,
        actor: &Actor,
        app: &str,
        env: &str,
        var: EnvVarRequest,
    ) -> Result<()> {
        actor.require(Permission::ManageEnvironments)?;
        let name = crate::domain::VarName::parse(&var.name)?.to_string();
        if var.value.len() > 64 * 1024 || var.value.contains('\0') {
            return Err(InvalidInput::new("value", "a value is at most 64 KiB of text").into());
        }
        // A shorter secret could not be masked in logs without masking
        // ordinary text too: refuse it rather than show it.
        if var.secret && var.value.len() < crate::jobs::MIN_SECRET_LEN {
            return Err(InvalidInput::new(
                "value",
                format!(
                    "a secret is at least {} characters: shorter ones cannot be masked in logs",
                    crate::jobs::MIN_SECRET_LEN
                ),
            )
            .into());
        }
        let env = self.find_environment(app, env).await?;
        self.store
            .set_env_var(
                &actor.login,
                &env,
                &EnvVar {
                    name,
                    value: var.value,
                    secret: var.secret,
                },
            )
            .await
    }

    pub async fn delete_env_var(
        &self,
        actor: &Actor,
        app: &str,
        env: &str,
        name: &str,
    ) -> Result<()> {
        actor.require(Permission::ManageEnvironments)?;
        let env = self.find_environment(app, env).await?;
        self.store.delete_env_var(&actor.login, &env, name).await
    }

    pub async fn register_build(&self, actor: &Actor, request: BuildRequest) -> Result<Registered> {
        actor.require(Permission::RegisterBuild)?;
        let (app, new) = self.checked_build(request)?;
        let app = self.store.application(&app).await?;
        let registered = self.store.register_build(&actor.login, &app, &new).await?;
        if let Registered::Created(build) = &registered {
            self.follow_branch_rules(actor, &app, build).await;
        }
        Ok(registered)
    }

    /// A build request's fields, checked: what registering it would record.
    fn checked_build(&self, request: BuildRequest) -> Result<(AppName, NewBuild)> {
        let app = AppName::parse(&request.application)?;
        let commit_sha = CommitSha::parse(&request.commit_sha)?;
        let branch = BranchName::parse(&request.branch)?;
        if request.message.len() > MAX_TEXT {
            return Err(InvalidInput::new(
                "message",
                "the message is longer than 10000 characters",
            )
            .into());
        }
        let author = request.author.trim();
        if author.len() > 200 || author.chars().any(char::is_control) {
            return Err(InvalidInput::new(
                "author",
                "the author is at most 200 characters of plain text",
            )
            .into());
        }
        // Refuse what no backend could ever fetch, before it is recorded:
        // a package version (dnf), an image reference (docker), or a path or
        // URL of an archive (release directories).
        let artifact = request.artifact.trim();
        if crate::artifact::ArtifactKind::of(artifact) != crate::artifact::ArtifactKind::Package {
            crate::artifact::check_build_artifact(&self.artifacts, artifact).map_err(|e| {
                if artifact.starts_with('/') || artifact.contains("://") {
                    e
                } else {
                    InvalidInput::new(
                        "artifact",
                        format!(
                            "{}; nor is it a package version name-version-release (dnf)",
                            e.message
                        ),
                    )
                }
            })?;
        }
        let new = NewBuild {
            commit_sha,
            branch,
            message: request.message,
            author: author.to_owned(),
            artifact: artifact.to_owned(),
        };
        Ok((app, new))
    }

    pub async fn deploy(&self, actor: &Actor, app: &str, env: &str, build_id: i64) -> Result<Job> {
        actor.require(Permission::Deploy)?;
        let env = self.find_environment(app, env).await?;
        self.require_on(actor, Permission::Deploy, &env, "deploy")
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
        actor.require(Permission::Deploy)?;
        let env = self.find_environment(app, env).await?;
        self.require_on(actor, Permission::Deploy, &env, "rollback")
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

    /// Creates a QA environment from a docker environment's settings, with
    /// its own published port, and queues the job that starts `build` there.
    pub async fn create_qa_environment(
        &self,
        actor: &Actor,
        app: &str,
        request: QaRequest,
    ) -> Result<(Environment, Job)> {
        self.create_qa(actor, app, request, None).await
    }

    /// [`Engine::create_qa_environment`], for a QA environment that deploys
    /// builds of `follows` by itself (a branch preview).
    async fn create_qa(
        &self,
        actor: &Actor,
        app: &str,
        request: QaRequest,
        follows: Option<crate::domain::BranchPattern>,
    ) -> Result<(Environment, Job)> {
        actor.require(Permission::Deploy)?;
        let base = self.find_environment(app, &request.based_on).await?;
        // A copy of a protected environment's settings is for its deployers.
        self.require_on(
            actor,
            Permission::Deploy,
            &base,
            "copy into a QA environment",
        )
        .await?;
        let BackendConfig::Docker(base_config) = &base.config else {
            return Err(InvalidInput::new(
                "based_on",
                format!(
                    "{} is not a docker environment: QA environments copy a docker environment",
                    base.path()
                ),
            )
            .into());
        };
        let build = self.build_of(&base, request.build_id).await?;
        let name = match request
            .name
            .as_deref()
            .map(str::trim)
            .filter(|n| !n.is_empty())
        {
            Some(name) => EnvName::parse(name)?,
            None => EnvName::for_branch(&BranchName::parse(&build.branch)?),
        };
        if !(1..=720).contains(&request.ttl_hours) {
            return Err(
                InvalidInput::new("ttl_hours", "a QA environment lives 1-720 hours").into(),
            );
        }
        let mut config = base_config.clone();
        config.network = None;
        config.keep_containers = 1;
        let taken: Vec<u16> = self
            .published_ports(&config.publish_address, None)
            .await?
            .into_iter()
            .map(|(port, _)| port)
            .collect();
        config.publish_port = crate::backends::docker::free_port(&config, &taken)?;
        config.validate()?;
        let app = self.find_application(app).await?;
        let new = crate::store::qa::NewQaEnvironment {
            name,
            config: BackendConfig::Docker(config),
            expires_at: crate::time::now() + chrono::Duration::hours(i64::from(request.ttl_hours)),
            based_on: base.path(),
            based_on_id: base.id,
            auto_deploy: follows,
        };
        let created = self
            .store
            .create_qa_environment(&actor.login, &app, &new, &build)
            .await?;
        self.runners.wake.notify_one();
        Ok(created)
    }

    /// The ports docker environments (but `except`) publish on `address`,
    /// with the environment that owns each.
    async fn published_ports(
        &self,
        address: &str,
        except: Option<i64>,
    ) -> Result<Vec<(u16, String)>> {
        Ok(self
            .store
            .environments()
            .await?
            .into_iter()
            .filter(|e| Some(e.id) != except)
            .filter_map(|e| match &e.config {
                BackendConfig::Docker(c) if c.publish_address.trim() == address.trim() => {
                    Some((c.publish_port, e.path()))
                }
                _ => None,
            })
            .collect())
    }

    /// No two environments release into one place: one directory, one
    /// host's deploy path, one published address and port
    /// ([`crate::backends::overlap`]).
    async fn check_no_shared_target(
        &self,
        config: &BackendConfig,
        except: Option<i64>,
    ) -> Result<()> {
        for other in self.store.environments().await? {
            if Some(other.id) == except {
                continue;
            }
            if let Some(clash) =
                crate::backends::overlap::conflict(config, &other.config, &other.path())
            {
                return Err(clash.into());
            }
        }
        Ok(())
    }

    /// Queues the job that removes a QA environment and everything it runs.
    pub async fn destroy_environment(&self, actor: &Actor, app: &str, env: &str) -> Result<Job> {
        actor.require(Permission::Deploy)?;
        let env = self.find_environment(app, env).await?;
        self.require_on(actor, Permission::Deploy, &env, "destroy")
            .await?;
        let job = self
            .store
            .enqueue_destroy(
                &actor.login,
                &env,
                crate::store::qa::DestroyReason::Requested,
            )
            .await?;
        self.runners.wake.notify_one();
        Ok(job)
    }

    /// The public keys the listed hosts (one `host[:port]` per line) offer,
    /// for an admin to compare and pin. Reads only; pins nothing.
    pub async fn scan_host_keys(
        &self,
        actor: &Actor,
        hosts: &str,
        default_port: u16,
    ) -> Result<Vec<crate::backends::ssh::keyscan::ScannedHost>> {
        const MAX_SCANNED: usize = 100;
        actor.require(Permission::ManageEnvironments)?;
        let addrs = crate::backends::ssh::hosts::parse_listing(hosts, default_port)?;
        if addrs.len() > MAX_SCANNED {
            return Err(InvalidInput::new(
                "hosts",
                format!("scan at most {MAX_SCANNED} hosts at once"),
            )
            .into());
        }
        Ok(crate::backends::ssh::keyscan::scan(&addrs).await)
    }

    /// Removes the deploy lock on every host of an SSH environment (stale
    /// locks of a job that died, or of a hand deploy). Admin-only, refused
    /// while Slipway itself runs a job there, and audited with who held them.
    pub async fn break_remote_locks(
        &self,
        actor: &Actor,
        app: &str,
        env: &str,
    ) -> Result<Vec<crate::backends::ssh::locks::LockReport>> {
        actor.require(Permission::ManageEnvironments)?;
        let env = self.find_environment(app, env).await?;
        let BackendConfig::Ssh(config) = &env.config else {
            return Err(InvalidInput::new(
                "backend",
                "only ssh environments have remote deploy locks",
            )
            .into());
        };
        if let Some(job) = self
            .store
            .jobs_for_environment(env.id, 1)
            .await?
            .into_iter()
            .find(|j| !j.state.is_finished())
        {
            return Err(Error::Busy {
                job_id: job.id,
                requested_by: job.requested_by,
                since: job.created_at,
            });
        }
        // Run to the end on its own task: a request dropped half-way (the
        // browser closed) must not break locks without recording it.
        let store = self.store.clone();
        let (config, actor_login) = (config.clone(), actor.login.clone());
        let reports = tokio::spawn(async move {
            let reports = crate::backends::ssh::locks::break_locks(&config)
                .await
                .map_err(|e| Error::Conflict(format!("could not reach the hosts: {e}")))?;
            let details: Vec<serde_json::Value> = reports
                .iter()
                .map(|r| serde_json::json!({ "host": r.host, "held_by": r.held_by, "error": r.error }))
                .collect();
            store
                .audit_only(
                    &crate::audit::AuditRecord::new(
                        &actor_login,
                        crate::audit::actions::REMOTE_LOCKS_BROKEN,
                        format!("env/{}", env.path()),
                    )
                    .environment(env.path())
                    .details(serde_json::json!({ "hosts": details })),
                )
                .await?;
            Ok::<_, Error>(reports)
        })
        .await
        .map_err(std::io::Error::other)??;
        Ok(reports)
    }

    /// The build, if it belongs to the environment's application.
    async fn build_of(&self, env: &Environment, build_id: i64) -> Result<Build> {
        let build = self.store.build(build_id).await?;
        if build.application_id != env.application_id {
            return Err(InvalidInput::new(
                "build_id",
                format!("build #{build_id} belongs to another application"),
            )
            .into());
        }
        if !env.config.deploys(&build.artifact) {
            return Err(InvalidInput::new(
                "build_id",
                format!(
                    "build #{build_id} is {} ({}); {} is a {} environment and deploys {}",
                    crate::artifact::ArtifactKind::of(&build.artifact).described(),
                    crate::artifact::shown(&build.artifact),
                    env.path(),
                    env.config.backend_name(),
                    env.config.artifact_kind().described(),
                ),
            )
            .into());
        }
        Ok(build)
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

    /// Refuses (and audits the refusal) when `env` is protected and the actor
    /// is neither an admin nor one of its named deployers.
    /// [`Actor::require_on`], with the refusal audited.
    async fn require_on(
        &self,
        actor: &Actor,
        permission: Permission,
        env: &Environment,
        what: &str,
    ) -> Result<()> {
        if !env.protected {
            return Ok(());
        }
        let deployers = self.store.environment_deployers(env.id).await?;
        let Err(denied) = actor.require_on(permission, env, &deployers) else {
            return Ok(());
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

    /// Who may deploy to the environment, and what deploys there by itself.
    pub async fn deploy_policy(&self, actor: &Actor, env: &Environment) -> Result<DeployPolicy> {
        actor.require(Permission::Read)?;
        Ok(DeployPolicy {
            protected: env.protected,
            deployers: self.store.environment_deployers(env.id).await?,
            auto_deploy: env.auto_deploy.clone(),
            previews: env.previews.clone(),
        })
    }

    // ---- users, tokens, sessions ----

    pub async fn users(&self, actor: &Actor) -> Result<Vec<User>> {
        actor.require(Permission::ManageUsers)?;
        self.store.users().await
    }

    /// Changes a user's role. The last admin cannot step down.
    pub async fn set_role(&self, actor: &Actor, login: &str, role: Role) -> Result<User> {
        actor.require(Permission::ManageUsers)?;
        self.store.set_role(&actor.login, login, role).await
    }

    /// Makes an API token for the actor. Returns its id and the secret, which
    /// is shown once and stored only as a hash.
    pub async fn create_api_token(
        &self,
        actor: &Actor,
        name: &str,
        scopes: &[String],
        valid_for_days: Option<u32>,
    ) -> Result<(i64, String)> {
        actor.require(Permission::ManageOwnAccount)?;
        let name = name.trim();
        if name.is_empty() || name.len() > 100 || name.chars().any(char::is_control) {
            return Err(InvalidInput::new("name", "name the token (1-100 characters)").into());
        }
        let scopes = Scopes::parse(scopes)?;
        let expires_at = match valid_for_days {
            None => None,
            Some(days @ 1..=3650) => Some(crate::time::now() + chrono::Duration::days(days.into())),
            Some(_) => {
                return Err(InvalidInput::new("valid_for_days", "a token lasts 1-3650 days").into())
            }
        };
        let user = self
            .store
            .user_by_id(actor.user_id)
            .await?
            .ok_or(Error::Unauthenticated)?;
        let secret = crate::auth::new_secret_token();
        let id = self
            .store
            .create_api_token(
                &actor.login,
                &user,
                name,
                &crate::auth::token_hash(&secret),
                &scopes,
                expires_at,
            )
            .await?;
        Ok((id, secret))
    }

    /// The actor's tokens; an admin sees everyone's.
    pub async fn api_tokens(&self, actor: &Actor) -> Result<Vec<ApiToken>> {
        actor.require(Permission::ManageOwnAccount)?;
        let owner = (actor.role != Role::Admin).then_some(actor.user_id);
        self.store.api_tokens(owner).await
    }

    pub async fn revoke_api_token(&self, actor: &Actor, token_id: i64) -> Result<()> {
        actor.require(Permission::ManageOwnAccount)?;
        self.store.revoke_api_token(actor, token_id).await
    }

    /// "Log out everywhere" for oneself, or for anyone when an admin asks.
    pub async fn revoke_sessions(&self, actor: &Actor, login: &str) -> Result<()> {
        if login != actor.login {
            actor.require(Permission::ManageUsers)?;
        } else {
            actor.require(Permission::ManageOwnAccount)?;
        }
        let user = self
            .store
            .user_by_login(login)
            .await?
            .ok_or_else(|| Error::NotFound(format!("user {login:?}")))?;
        self.store.revoke_sessions(&actor.login, &user).await
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
            .fire(job_id, &crate::jobs::cancel::asked_by(&actor.login));
        Ok(job)
    }

    /// Walks the whole audit chain: its head, or the first bad row.
    pub async fn verify_audit(&self) -> Result<std::result::Result<ChainHead, ChainBreak>> {
        let mut prev = (GENESIS_HASH.to_owned(), 0);
        loop {
            let rows = self.store.audit_rows_after(prev.1, 1000).await?;
            if rows.is_empty() {
                return Ok(Ok(ChainHead {
                    rows: prev.1,
                    hash: prev.0,
                }));
            }
            match verify_chain(rows.iter(), prev) {
                Ok(next) => prev = next,
                Err(broken) => return Ok(Err(broken)),
            }
        }
    }
}

fn parse_env_path(app: &str, env: &str) -> Result<(AppName, EnvName)> {
    Ok((AppName::parse(app)?, EnvName::parse(env)?))
}

/// Branch previews copy a docker environment (its own published port is
/// all they change); a preview is not copied again.
fn check_previews(
    config: &BackendConfig,
    kind: EnvironmentKind,
    policy: &DeployPolicy,
) -> std::result::Result<(), InvalidInput> {
    if policy.previews.is_none() {
        return Ok(());
    }
    if kind == EnvironmentKind::Qa {
        return Err(InvalidInput::new(
            "previews",
            "a QA environment cannot have branch previews of its own",
        ));
    }
    match config {
        BackendConfig::Docker(_) => Ok(()),
        _ => Err(InvalidInput::new(
            "previews",
            "branch previews are QA environments, which copy a docker environment: set them on one",
        )),
    }
}
