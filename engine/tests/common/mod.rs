//! Shared set-up for the engine's integration tests: a real SQLite file in a
//! temporary directory, real tarballs, the real local backend and a real
//! job runner.
#![allow(dead_code)] // each test binary uses a different part of this module

use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use engine::audit::actions;
use engine::auth::Actor;
use engine::backends::local::LocalConfig;
use engine::backends::BackendConfig;
use engine::demo::{fake_commit_sha, write_demo_tarball};
use engine::domain::{AuditEntry, Build, Environment, Job, JobEvent, JobState, Release, Role};
use engine::jobs::RunnerSettings;
use engine::store::audit::AuditFilter;
use engine::store::builds::Registered;
use engine::{BuildRequest, Engine, EngineSettings};
use tempfile::TempDir;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub const APP: &str = "shop";
pub const ENV: &str = "production";

/// Overall safety net for anything we wait for. Never a timing assertion.
pub const DEADLINE: Duration = Duration::from_secs(60);

pub fn runner_settings() -> RunnerSettings {
    RunnerSettings {
        lease_ttl: Duration::from_secs(2),
        renew_every: Duration::from_millis(500),
        sweep_every: Duration::from_millis(200),
    }
}

/// One engine on its own database and directories, plus (optionally) a runner.
pub struct TestEngine {
    pub engine: Engine,
    pub actor: Actor,
    pub settings: EngineSettings,
    runner: Option<(watch::Sender<bool>, JoinHandle<()>)>,
    // Last, so the directory outlives everything that uses it.
    dir: TempDir,
}

impl TestEngine {
    pub async fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let settings = EngineSettings {
            database_url: engine::testing::database::fresh_url(dir.path()).await,
            artifact_roots: vec![dir.path().join("artifacts")],
            package_root: dir.path().join("repo"),
            state_dir: dir.path().join("state"),
            secret_key: engine::secrets::SecretKey::generate(),
        };
        let engine = Engine::open(&settings).await.expect("open engine");
        let user = engine
            .store()
            .create_user("test", "admin", "Admin", Role::Admin)
            .await
            .expect("create user");
        Self {
            engine,
            actor: Actor::from(&user),
            settings,
            runner: None,
            dir,
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn db_path(&self) -> PathBuf {
        self.path().join("slipway.db")
    }

    pub fn artifacts_dir(&self) -> PathBuf {
        self.path().join("artifacts")
    }

    /// The deploy target of the test environment (holds `releases/` and `current`).
    pub fn target_dir(&self) -> PathBuf {
        self.path().join("target")
    }

    pub fn releases_dir(&self) -> PathBuf {
        self.target_dir().join("releases")
    }

    pub fn release_dir(&self, key: &str) -> PathBuf {
        self.releases_dir().join(key)
    }

    /// Where `current` points, or `None` when there is no `current` link.
    pub fn current(&self) -> Option<PathBuf> {
        std::fs::read_link(self.target_dir().join("current")).ok()
    }

    /// The `index.html` served through `current`.
    pub fn current_index(&self) -> String {
        std::fs::read_to_string(self.target_dir().join("current/index.html"))
            .expect("current/index.html")
    }

    /// Names of the entries in `releases/`, sorted (hidden ones included).
    pub fn release_dir_names(&self) -> Vec<String> {
        let mut names: Vec<String> = match std::fs::read_dir(self.releases_dir()) {
            Ok(entries) => entries
                .map(|e| e.unwrap().file_name().into_string().unwrap())
                .collect(),
            Err(_) => Vec::new(),
        };
        names.sort();
        names
    }

    pub fn config(&self) -> LocalConfig {
        LocalConfig::new(self.target_dir())
    }

    // ---- runner ----

    pub fn start_runner(&mut self) {
        assert!(self.runner.is_none(), "runner already started");
        let (tx, rx) = watch::channel(false);
        let handle = tokio::spawn(self.engine.job_runner(runner_settings()).run(rx));
        self.runner = Some((tx, handle));
    }

    // ---- set-up through the engine's public operations ----

    pub async fn create_app(&self) {
        self.engine
            .create_application(&self.actor, APP, None)
            .await
            .expect("create app");
    }

    pub async fn create_env(&self, config: LocalConfig) -> Environment {
        self.engine
            .create_environment(&self.actor, APP, ENV, BackendConfig::Local(config), false)
            .await
            .expect("create environment")
    }

    /// The application and its `production` environment.
    pub async fn setup(&self, config: LocalConfig) -> Environment {
        self.create_app().await;
        self.create_env(config).await
    }

    pub async fn update_config(&self, config: LocalConfig) -> Environment {
        self.engine
            .update_environment(&self.actor, APP, ENV, BackendConfig::Local(config), false)
            .await
            .expect("update environment")
    }

    pub fn tarball_path(&self, version: &str) -> PathBuf {
        self.artifacts_dir().join(format!("shop-{version}.tar.gz"))
    }

    pub fn build_request(&self, version: &str) -> BuildRequest {
        BuildRequest {
            application: APP.to_owned(),
            commit_sha: fake_commit_sha(version),
            branch: "main".to_owned(),
            message: format!("version {version}"),
            author: "Test <test@example.invalid>".to_owned(),
            artifact: self.tarball_path(version).display().to_string(),
            committed_at: None,
            commits: Vec::new(),
        }
    }

    /// Writes a demo tarball for `version` and registers it as a new build.
    pub async fn register_version(&self, version: &str) -> Build {
        self.register_version_on(&self.actor, version, "main").await
    }

    /// Writes a demo tarball for `version` and registers it, as `actor`, as
    /// a new build of `branch`.
    pub async fn register_version_on(&self, actor: &Actor, version: &str, branch: &str) -> Build {
        write_demo_tarball(&self.tarball_path(version), version).expect("write tarball");
        self.register_written(actor, version, branch).await
    }

    /// Packs `dir` as `version`'s tarball and registers it as a new build.
    pub async fn register_directory_as(&self, version: &str, dir: &Path) -> Build {
        let status = std::process::Command::new("tar")
            .arg("-czf")
            .arg(self.tarball_path(version))
            .arg("-C")
            .arg(dir)
            .arg(".")
            .status()
            .expect("run tar");
        assert!(status.success(), "tar failed");
        self.register_written(&self.actor, version, "main").await
    }

    /// Writes `version`'s tarball and registers it as the build of commit
    /// `sha`, with the commit list CI would send (may be empty).
    pub async fn register_commit(
        &self,
        version: &str,
        sha: &str,
        commits: Vec<engine::CommitRequest>,
    ) -> Build {
        write_demo_tarball(&self.tarball_path(version), version).expect("write tarball");
        let mut request = self.build_request(version);
        request.commit_sha = sha.to_owned();
        request.commits = commits;
        match self
            .engine
            .register_build(&self.actor, request)
            .await
            .expect("register build")
        {
            Registered::Created(build) => build,
            Registered::Existing(build) => panic!("build {} already existed", build.id),
        }
    }

    /// Registers the tarball already written for `version`.
    async fn register_written(&self, actor: &Actor, version: &str, branch: &str) -> Build {
        let mut request = self.build_request(version);
        request.branch = branch.to_owned();
        match self
            .engine
            .register_build(actor, request)
            .await
            .expect("register build")
        {
            Registered::Created(build) => build,
            Registered::Existing(build) => panic!("build {} already existed", build.id),
        }
    }

    /// Registers `version` as a build whose artifact is a URL: its tarball,
    /// lent under a token and served at `base_url` (a share server), signed
    /// with [`URL_SIGNATURE`]. The URL works while the returned share lives.
    pub async fn register_version_at_url(
        &self,
        version: &str,
        base_url: &str,
    ) -> (Build, engine::runtime::shares::Share) {
        write_demo_tarball(&self.tarball_path(version), version).expect("write tarball");
        let share = self
            .engine
            .artifact_shares()
            .lend(self.tarball_path(version));
        let mut request = self.build_request(version);
        // Signed like a store's presigned URL: the signature must never be shown.
        request.artifact = format!(
            "{}?X-Signature={URL_SIGNATURE}",
            engine::runtime::shares::share_url(base_url, share.token())
        );
        match self.engine.register_build(&self.actor, request).await {
            Ok(Registered::Created(build)) => (build, share),
            other => panic!("registering {version} at a URL: {other:?}"),
        }
    }

    pub async fn deploy(&self, build: &Build) -> Job {
        self.engine
            .deploy(&self.actor, APP, ENV, build.id)
            .await
            .expect("deploy")
    }

    /// Deploys and waits for the job to finish.
    pub async fn deploy_and_wait(&self, build: &Build) -> Job {
        let job = self.deploy(build).await;
        self.wait_finished(job.id).await
    }

    /// Deploys, waits, and fails the test unless the job succeeded.
    pub async fn deploy_ok(&self, build: &Build) -> Job {
        let job = self.deploy_and_wait(build).await;
        assert_eq!(job.state, JobState::Succeeded, "{:?}", job.error);
        job
    }

    /// The release the job `job_id` made in the test environment.
    pub async fn release_of_job(&self, job_id: i64) -> Release {
        self.release_of_job_in(ENV, job_id).await
    }

    /// The release job `job_id` made on environment `env`.
    pub async fn release_of_job_in(&self, env: &str, job_id: i64) -> Release {
        let env = self
            .engine
            .environment(&self.actor, APP, env)
            .await
            .expect("environment");
        let releases = self
            .engine
            .releases(&self.actor, &env, None, 100)
            .await
            .expect("releases");
        releases
            .into_iter()
            .find(|r| r.job_id == job_id)
            .unwrap_or_else(|| panic!("no release of job #{job_id}"))
    }

    /// Rolls the test environment back to `release_id` and waits for the job.
    pub async fn roll_back_and_wait(&self, release_id: i64) -> Job {
        self.roll_back_and_wait_in(ENV, release_id).await
    }

    /// Rolls environment `env` back to `release_id` and waits for the job.
    pub async fn roll_back_and_wait_in(&self, env: &str, release_id: i64) -> Job {
        let job = self
            .engine
            .rollback(&self.actor, APP, env, release_id)
            .await
            .expect("rollback");
        self.wait_finished(job.id).await
    }

    /// Sets a plain (not secret) variable on the test environment.
    pub async fn set_plain_var(&self, name: &str, value: &str) {
        self.set_var(name, value, false).await;
    }

    /// Sets a variable, secret or not, on the test environment.
    pub async fn set_var(&self, name: &str, value: &str, secret: bool) {
        self.engine
            .set_env_var(
                &self.actor,
                APP,
                ENV,
                engine::EnvVarRequest {
                    name: name.into(),
                    value: value.into(),
                    secret,
                },
            )
            .await
            .expect("set the variable");
    }

    // ---- observing ----

    /// Polls `check` until it returns `Some`, failing after [`DEADLINE`].
    pub async fn poll<T, F, Fut>(&self, what: &str, mut check: F) -> T
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Option<T>>,
    {
        let started = Instant::now();
        loop {
            if let Some(value) = check().await {
                return value;
            }
            assert!(started.elapsed() < DEADLINE, "gave up waiting for {what}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn job(&self, id: i64) -> Job {
        self.engine.store().job(id).await.expect("job")
    }

    pub async fn wait_finished(&self, id: i64) -> Job {
        self.poll(&format!("job #{id} to finish"), || async move {
            let job = self.job(id).await;
            job.state.is_finished().then_some(job)
        })
        .await
    }

    pub async fn events(&self, job_id: i64) -> Vec<JobEvent> {
        self.engine
            .store()
            .job_events_after(job_id, 0, 100_000)
            .await
            .expect("events")
    }

    /// Waits until some event of the job contains `needle`.
    pub async fn wait_for_event(&self, job_id: i64, needle: &str) {
        self.poll(
            &format!("an event of job #{job_id} containing {needle:?}"),
            || async move {
                self.events(job_id)
                    .await
                    .iter()
                    .any(|e| e.text.contains(needle))
                    .then_some(())
            },
        )
        .await
    }

    pub async fn last_audit_seq(&self) -> i64 {
        let rows = self
            .engine
            .store()
            .audit_page(&AuditFilter::default(), 1)
            .await
            .expect("audit page");
        rows.first().map_or(0, |r| r.seq)
    }

    /// Audit rows with `seq > after`, oldest first.
    pub async fn audit_after(&self, after: i64) -> Vec<AuditEntry> {
        let pool = self.engine.store().pool();
        let columns = engine::store::audit::entry_columns(pool.dialect());
        let select = format!("SELECT {columns} FROM audit_log WHERE seq > $1 ORDER BY seq");
        engine::on_test_pool!(pool, pool => sqlx::query_as(&select)
            .bind(after)
            .fetch_all(pool)
            .await)
        .expect("audit rows")
    }

    pub async fn audit_actions_after(&self, after: i64) -> Vec<String> {
        self.audit_after(after)
            .await
            .into_iter()
            .map(|r| r.action)
            .collect()
    }

    /// Rows in `table` (a fixed name from the test, never input).
    pub async fn count(&self, table: &str) -> i64 {
        engine::on_test_pool!(self.engine.store().pool(), pool => sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table}"))
            .fetch_one(pool)
            .await)
            .expect("count")
    }
}

impl Drop for TestEngine {
    fn drop(&mut self) {
        if let Some((shutdown, handle)) = self.runner.take() {
            let _ = shutdown.send(true);
            handle.abort();
        }
    }
}

/// The audit actions a finished job adds after its request.
pub fn outcome_action(job: &Job) -> &'static str {
    match job.state {
        JobState::Succeeded => actions::JOB_SUCCEEDED,
        JobState::Failed => actions::JOB_FAILED,
        JobState::Cancelled => actions::JOB_CANCELLED,
        JobState::Interrupted => actions::JOB_INTERRUPTED,
        other => panic!("job #{} has not finished ({})", job.id, other.as_str()),
    }
}

pub fn sha(version: &str) -> String {
    fake_commit_sha(version)
}

impl TestEngine {
    /// The application and an SSH `production` environment.
    pub async fn setup_ssh(&self, config: engine::backends::ssh::SshConfig) -> Environment {
        self.create_app().await;
        self.engine
            .create_environment(&self.actor, APP, ENV, BackendConfig::Ssh(config), false)
            .await
            .expect("create ssh environment")
    }

    pub async fn update_ssh(&self, config: engine::backends::ssh::SshConfig) -> Environment {
        self.engine
            .update_environment(&self.actor, APP, ENV, BackendConfig::Ssh(config), false)
            .await
            .expect("update environment")
    }
}

impl TestEngine {
    /// The application and a docker environment named `env`.
    pub async fn setup_docker(
        &self,
        env: &str,
        config: engine::backends::docker::DockerConfig,
    ) -> Environment {
        self.create_app().await;
        self.engine
            .create_environment(&self.actor, APP, env, BackendConfig::Docker(config), false)
            .await
            .expect("create docker environment")
    }

    /// Registers a build whose artifact is an image reference.
    pub async fn register_image(&self, version: &str, image: &str, branch: &str) -> Build {
        let request = BuildRequest {
            application: APP.to_owned(),
            commit_sha: fake_commit_sha(version),
            branch: branch.to_owned(),
            message: format!("version {version}"),
            author: "Test <test@example.invalid>".to_owned(),
            artifact: image.to_owned(),
            committed_at: None,
            commits: Vec::new(),
        };
        match self
            .engine
            .register_build(&self.actor, request)
            .await
            .expect("register build")
        {
            Registered::Created(build) => build,
            Registered::Existing(build) => panic!("build {} already existed", build.id),
        }
    }

    pub async fn deploy_to(&self, env: &str, build: &Build) -> Job {
        let job = self
            .engine
            .deploy(&self.actor, APP, env, build.id)
            .await
            .expect("deploy");
        self.wait_finished(job.id).await
    }

    pub fn state_dir(&self) -> PathBuf {
        self.settings.state_dir.clone()
    }
}

/// The query secret of [`TestEngine::register_version_at_url`]'s URLs.
pub const URL_SIGNATURE: &str = "sig-not-for-anyones-eyes";

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("local addr")
        .port()
}
