//! A crash rig: a fleet of real sshd hosts, the real `slipway` deploying to
//! it, and the checks a deploy killed with SIGKILL at any point must pass
//! once the server is started again on the same data:
//!
//! - every host's `current` points at a complete release (or, before the
//!   first deploy that switched, at nothing);
//! - the job is `interrupted` within 30 s of the restart;
//! - a host left holding the dead job's deploy lock is named on the job's
//!   page, and the lock can be broken from there;
//! - the audit chain verifies;
//! - nothing stored before the kill is lost (job events, audit rows).
//!
//! Used by `tests/crash_points.rs` (a handful of points, in the test
//! command) and `benches/crash.rs` (all 25, on 20 hosts).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use engine::auth::Actor;
use engine::backends::BackendConfig;
use engine::domain::Role;
use engine::store::builds::Registered;
use engine::testing::sshd::{Fleet, DEPLOY_PATH};
use engine::BuildRequest;
use reqwest::StatusCode;
use serde_json::json;

use crate::common::{cli, open_db, Auth, TestServer};

pub const APP: &str = "crash";
pub const ENV: &str = "fleet";
/// The specified bound: a dead runner's job is interrupted within 30 s.
pub const INTERRUPT_DEADLINE: Duration = Duration::from_secs(30);
const VERSIONS: [&str; 2] = ["1.0.0", "2.0.0"];

pub struct CrashRig {
    pub fleet: Fleet,
    server: Option<TestServer>,
    token: Auth,
    admin: Auth,
    builds: [i64; 2],
    rounds: usize,
    /// Whether some deploy has switched a host yet (before, `current` may
    /// be missing).
    ever_switched: bool,
    /// Whether a kill is followed by breaking the locks the dead job left
    /// (or they wait for a job that resumes it).
    pub break_locks: bool,
}

/// What resuming an interrupted job did. (The crash bench does not resume.)
#[derive(Debug)]
#[allow(dead_code)]
pub struct Resumed {
    /// The hosts the interrupted job had staged its release on (sorted).
    pub staged_before: Vec<String>,
    /// What the checks after the resumed job found wrong.
    pub problems: Vec<String>,
}

/// What one kill did, and what the checks after the restart found wrong.
#[derive(Debug)]
pub struct Outcome {
    /// The deploy that was killed.
    pub job: i64,
    /// The kill was asked for once the job had stored this many events.
    pub after_events: i64,
    /// How many it had stored when the server died.
    pub events_at_kill: i64,
    /// Where the hosts were: `phase:step` (state) → how many hosts.
    pub hosts_at_kill: BTreeMap<String, usize>,
    /// From the restart until the job read `interrupted` (or `None`: it
    /// had finished before the kill landed).
    pub interrupted_after: Option<Duration>,
    /// Hosts still holding the dead job's deploy lock after the restart.
    pub locked_hosts: usize,
    pub problems: Vec<String>,
}

impl CrashRig {
    /// `hosts` sshd hosts, a Slipway with an ssh environment on them whose
    /// hooks take a little time (so kills land in every phase), and two
    /// builds to alternate.
    pub async fn start(hosts: usize) -> Self {
        let fleet = Fleet::start(hosts);
        let server = TestServer::start().await;
        let token = server.bearer_token("crash");
        let admin = server.login().await;
        let artifacts = server.data_dir().join("artifacts");
        std::fs::create_dir_all(&artifacts).expect("artifacts dir");
        let engine = server.open_engine().await;
        let user = engine
            .store()
            .create_user("crash-admin", "crash-admin", "Crash Admin", Role::Admin)
            .await
            .expect("a user for the set-up");
        let actor = Actor::from(&user);
        engine
            .create_application(&actor, APP, None)
            .await
            .expect("the application");
        let mut builds = [0; 2];
        for (slot, version) in builds.iter_mut().zip(VERSIONS) {
            let tarball = artifacts.join(format!("crash-{version}.tar.gz"));
            engine::demo::write_demo_tarball(&tarball, version).expect("a tarball");
            let registered = engine
                .register_build(
                    &actor,
                    BuildRequest {
                        application: APP.into(),
                        commit_sha: engine::demo::fake_commit_sha(&format!("crash {version}")),
                        branch: "main".into(),
                        message: format!("version {version}"),
                        author: "crash".into(),
                        artifact: tarball.display().to_string(),
                        committed_at: None,
                        commits: Vec::new(),
                    },
                )
                .await
                .expect("a build");
            let (Registered::Created(build) | Registered::Existing(build)) = registered;
            *slot = build.id;
        }
        let mut ssh = fleet.config();
        ssh.parallelism = 5;
        ssh.keep_releases = 3;
        ssh.before_switch = Some("sleep 0.2".into());
        ssh.after_switch = Some("sleep 0.2".into());
        engine
            .create_environment(&actor, APP, ENV, BackendConfig::Ssh(ssh), false)
            .await
            .expect("the ssh environment");
        drop(engine);
        Self {
            fleet,
            server: Some(server),
            token,
            admin,
            builds,
            rounds: 0,
            ever_switched: false,
            break_locks: true,
        }
    }

    fn server(&self) -> &TestServer {
        self.server.as_ref().expect("a running server")
    }

    async fn deploy(&mut self) -> Result<i64, String> {
        let build = self.builds[self.rounds % 2];
        self.rounds += 1;
        let reply = self
            .server()
            .post_json(
                &format!("/api/apps/{APP}/envs/{ENV}/deploy"),
                &self.token,
                &json!({ "build_id": build }),
            )
            .await;
        if reply.status != StatusCode::ACCEPTED {
            return Err(format!("deploy answered {}: {}", reply.status, reply.text));
        }
        reply.json()["id"]
            .as_i64()
            .ok_or_else(|| format!("no job id in {}", reply.text))
    }

    /// A whole deploy, undisturbed: how many events it stores (to place
    /// kill points), after checking it succeeded on every host.
    pub async fn calibrate(&mut self) -> i64 {
        let job = self.deploy().await.expect("the calibration deploy");
        let view = self.server().wait_job_finished(&self.token, job).await;
        assert_eq!(view["job"]["state"], json!("succeeded"), "{view}");
        self.ever_switched = true;
        let db = self.server().db().await;
        let events: i64 = engine::on_test_pool!(&db, pool => sqlx::query_scalar("SELECT COUNT(*) FROM job_events WHERE job_id = $1")
            .bind(job)
            .fetch_one(pool)
            .await)
            .expect("count events");
        db.close().await;
        events
    }

    /// Deploys, kills the server once the job has stored `after_events`
    /// events, starts it again and checks everything.
    pub async fn kill_at(&mut self, after_events: i64) -> Outcome {
        let mut outcome = Outcome {
            job: 0,
            after_events,
            events_at_kill: 0,
            hosts_at_kill: BTreeMap::new(),
            interrupted_after: None,
            locked_hosts: 0,
            problems: Vec::new(),
        };
        let job = match self.deploy().await {
            Ok(job) => job,
            Err(e) => {
                outcome.problems.push(e);
                return outcome;
            }
        };
        outcome.job = job;

        // Watch the job's events from beside the server; kill at the point.
        let db = self.server().db().await;
        let deadline = Instant::now() + crate::common::JOB_DEADLINE;
        let (seen_events, seen_audit) = loop {
            let events: i64 =
                engine::on_test_pool!(&db, pool => sqlx::query_scalar("SELECT COUNT(*) FROM job_events WHERE job_id = $1")
                    .bind(job)
                    .fetch_one(pool)
                    .await)
                    .expect("count events");
            let finished: bool = engine::on_test_pool!(&db, pool => sqlx::query_scalar(
                "SELECT state NOT IN ('queued', 'running') FROM jobs WHERE id = $1",
            )
            .bind(job)
            .fetch_one(pool)
            .await)
            .expect("job state");
            if events >= after_events || finished || Instant::now() > deadline {
                let head: (i64, String) =
                    engine::on_test_pool!(&db, pool => sqlx::query_as("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1")
                        .fetch_one(pool)
                        .await)
                        .expect("audit head");
                break (events, head);
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        };
        db.close().await;
        let data = self.server.take().expect("a running server").kill();

        let db = open_db(data.path()).await;
        outcome.events_at_kill =
            engine::on_test_pool!(&db, pool => sqlx::query_scalar("SELECT COUNT(*) FROM job_events WHERE job_id = $1")
                .bind(job)
                .fetch_one(pool)
                .await)
                .expect("count events");
        let state_at_kill: String = engine::on_test_pool!(&db, pool => sqlx::query_scalar("SELECT state FROM jobs WHERE id = $1")
            .bind(job)
            .fetch_one(pool)
            .await)
            .expect("job state");
        let hosts: Vec<(String, String, String)> =
            engine::on_test_pool!(&db, pool => sqlx::query_as("SELECT phase, step, state FROM job_hosts WHERE job_id = $1")
                .bind(job)
                .fetch_all(pool)
                .await)
                .expect("job hosts");
        for (phase, step, state) in hosts {
            let step = step.split(':').next().unwrap_or_default().to_owned();
            *outcome
                .hosts_at_kill
                .entry(format!("{phase}:{step} ({state})"))
                .or_default() += 1;
        }
        db.close().await;
        if outcome.events_at_kill < seen_events {
            outcome.problems.push(format!(
                "{seen_events} events were stored before the kill, {} after",
                outcome.events_at_kill
            ));
        }

        let restarted = Instant::now();
        self.server = Some(TestServer::start_in(data).await);
        let view = loop {
            let view = self.server().job(&self.token, job).await;
            let state = view["job"]["state"].as_str().unwrap_or_default().to_owned();
            if !matches!(state.as_str(), "queued" | "running") {
                break view;
            }
            if restarted.elapsed() > INTERRUPT_DEADLINE + Duration::from_secs(30) {
                break view;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        match view["job"]["state"].as_str() {
            Some("interrupted") => {
                let took = restarted.elapsed();
                if took > INTERRUPT_DEADLINE {
                    outcome.problems.push(format!(
                        "interrupted {:.1} s after the restart",
                        took.as_secs_f64()
                    ));
                }
                outcome.interrupted_after = Some(took);
            }
            // It ended before the kill landed: as it was, not interrupted.
            Some(state) if state == state_at_kill && !matches!(state, "queued" | "running") => {}
            other => outcome
                .problems
                .push(format!("after the restart the job is {other:?}")),
        }
        self.check_hosts(&mut outcome);
        self.check_locks(job, &mut outcome).await;
        self.check_kept(seen_audit, &mut outcome).await;
        if self.fleet.hosts.iter().any(|h| h.current().is_some()) {
            self.ever_switched = true;
        }
        outcome
    }

    /// Every host's `current` points at a complete release.
    fn check_hosts(&self, outcome: &mut Outcome) {
        for host in &self.fleet.hosts {
            let Some(target) = host.current() else {
                if self.ever_switched {
                    outcome
                        .problems
                        .push(format!("{}: current is gone", host.name()));
                }
                continue;
            };
            let release = host.path(&target.to_string_lossy());
            let version = std::fs::read_to_string(release.join("VERSION")).unwrap_or_default();
            let page = std::fs::read_to_string(release.join("index.html")).unwrap_or_default();
            let version = version.trim();
            if !VERSIONS.contains(&version) || !page.contains(&format!("version {version}")) {
                outcome.problems.push(format!(
                    "{}: current points at an incomplete release {} (VERSION {version:?})",
                    host.name(),
                    target.display()
                ));
            }
        }
    }

    /// A host still locked by the dead job is named on its page; breaking
    /// the locks from there frees the fleet for the next deploy.
    async fn check_locks(&self, job: i64, outcome: &mut Outcome) {
        outcome.locked_hosts = self
            .fleet
            .hosts
            .iter()
            .filter(|h| h.path(&format!("{DEPLOY_PATH}/.slipway-lock")).exists())
            .count();
        if outcome.locked_hosts == 0 {
            return;
        }
        let page = self
            .server()
            .get(&format!("/jobs/{job}"), &self.admin)
            .await;
        if !page.text.contains("deploy lock may remain") {
            outcome.problems.push(format!(
                "{} hosts are locked, and the job page does not say so",
                outcome.locked_hosts
            ));
        }
        if !self.break_locks {
            return;
        }
        let broken = self
            .server()
            .call_fn(
                "break_remote_locks",
                &self.admin,
                &[("app", APP), ("env", ENV)],
            )
            .await;
        if broken.status != StatusCode::OK {
            outcome.problems.push(format!(
                "breaking the locks answered {}: {}",
                broken.status, broken.text
            ));
        }
    }

    /// The audit row seen last before the kill is still there, unchanged,
    /// and the whole chain verifies.
    async fn check_kept(&self, (seq, hash): (i64, String), outcome: &mut Outcome) {
        let db = self.server().db().await;
        let kept: Option<String> = engine::on_test_pool!(&db, pool => sqlx::query_scalar("SELECT hash FROM audit_log WHERE seq = $1")
            .bind(seq)
            .fetch_optional(pool)
            .await)
            .expect("audit row");
        db.close().await;
        if kept.as_deref() != Some(hash.as_str()) {
            outcome.problems.push(format!(
                "audit row {seq} changed or went missing after the kill"
            ));
        }
        let verify = cli(self.server().data_dir(), &["audit", "verify"]);
        if !verify.status.success() {
            outcome.problems.push(format!(
                "audit verify: {}",
                String::from_utf8_lossy(&verify.stdout).trim()
            ));
        }
    }

    /// Resumes interrupted job `job`: the job that finishes it releases
    /// under the same release key, reuses it on exactly the hosts where the
    /// dead job had staged it, succeeds on every host (taking over the locks
    /// the dead one left), leaves no lock behind, is named on the
    /// interrupted job, and a second resume is refused. (The crash bench
    /// does not resume.)
    #[allow(dead_code)]
    pub async fn resume(&mut self, job: i64) -> Resumed {
        let key = self.release_key_of(job).await;
        let mut staged_before: Vec<String> = self
            .fleet
            .hosts
            .iter()
            .filter(|h| h.release_names().contains(&key))
            .map(|h| h.name())
            .collect();
        staged_before.sort();
        let problems = self.resume_checked(job, &key, &staged_before).await;
        Resumed {
            staged_before,
            problems,
        }
    }

    /// The release key of `job`'s release.
    async fn release_key_of(&self, job: i64) -> String {
        let db = self.server().db().await;
        let key = engine::on_test_pool!(&db, pool => sqlx::query_scalar(
            "SELECT r.release_key FROM jobs j JOIN releases r ON r.id = j.release_id WHERE j.id = $1",
        )
        .bind(job)
        .fetch_one(pool)
        .await)
        .expect("the job's release");
        db.close().await;
        key
    }

    /// The hosts whose log in `job` says the release was still staged.
    async fn hosts_reusing(&self, job: i64) -> Vec<String> {
        let db = self.server().db().await;
        let hosts: Vec<String> = engine::on_test_pool!(&db, pool => sqlx::query_scalar(
            "SELECT host FROM job_events WHERE job_id = $1 AND text = 'release is still staged; reusing it' ORDER BY host",
        )
        .bind(job)
        .fetch_all(pool)
        .await)
        .expect("the job's events");
        db.close().await;
        hosts
    }

    async fn resume_checked(
        &mut self,
        job: i64,
        key: &str,
        staged_before: &[String],
    ) -> Vec<String> {
        let path = format!("/api/jobs/{job}/resume");
        let reply = self
            .server()
            .post_json(&path, &self.token, &json!({}))
            .await;
        if reply.status != StatusCode::ACCEPTED {
            return vec![format!("resume answered {}: {}", reply.status, reply.text)];
        }
        let Some(resumed) = reply.json()["id"].as_i64() else {
            return vec![format!("no job id in {}", reply.text)];
        };
        let view = self.server().wait_job_finished(&self.token, resumed).await;
        let mut problems = Vec::new();
        if view["job"]["state"] != json!("succeeded") || view["job"]["resumes_job_id"] != json!(job)
        {
            problems.push(format!("the resumed job: {view}"));
        }
        // It finishes the release the interrupted job began: same key, so
        // whatever was staged is used where it is.
        let resumed_key = self.release_key_of(resumed).await;
        if resumed_key != key {
            problems.push(format!(
                "the resumed job released {resumed_key}, not the interrupted job's {key}"
            ));
        }
        let mut staged: Vec<String> = self
            .fleet
            .hosts
            .iter()
            .filter(|h| h.release_names().iter().any(|n| n == key))
            .map(|h| h.name())
            .collect();
        staged.sort();
        let reusing = self.hosts_reusing(resumed).await;
        // The interrupted job's build: the one deployed last.
        let version = VERSIONS[(self.rounds - 1) % 2];
        let live = format!("{DEPLOY_PATH}/releases/{key}");
        for host in &self.fleet.hosts {
            if host.current_version().as_deref().map(str::trim) != Some(version) {
                problems.push(format!("{} does not serve {version}", host.name()));
            }
            if host.current().as_deref() != Some(std::path::Path::new(&live)) {
                problems.push(format!(
                    "{}: current is {:?}, not {live}",
                    host.name(),
                    host.current()
                ));
            }
            if host.path(&format!("{DEPLOY_PATH}/.slipway-lock")).exists() {
                problems.push(format!("{} is still locked", host.name()));
            }
        }
        let interrupted = self.server().job(&self.token, job).await;
        if interrupted["job"]["resumed_by_job_id"] != json!(resumed) {
            problems.push(format!(
                "the interrupted job does not name its resume: {interrupted}"
            ));
        }
        let again = self
            .server()
            .post_json(&path, &self.token, &json!({}))
            .await;
        if again.status != StatusCode::CONFLICT || !again.text.contains("resumed already") {
            problems.push(format!(
                "a second resume answered {}: {}",
                again.status, again.text
            ));
        }
        if staged.len() != self.fleet.hosts.len() {
            problems.push(format!("{key} is staged on {staged:?} only"));
        }
        if reusing != staged_before {
            problems.push(format!(
                "staged before the resume: {staged_before:?}; reused by it: {reusing:?}"
            ));
        }
        problems
    }

    /// After every kill, one more deploy goes through on every host.
    pub async fn deploy_once_more(&mut self) -> Vec<String> {
        let job = match self.deploy().await {
            Ok(job) => job,
            Err(e) => return vec![e],
        };
        let view = self.server().wait_job_finished(&self.token, job).await;
        let mut problems = Vec::new();
        if view["job"]["state"] != json!("succeeded") {
            problems.push(format!("the deploy after the kills: {view}"));
        }
        let version = VERSIONS[(self.rounds - 1) % 2];
        for host in &self.fleet.hosts {
            if host.current_version().as_deref().map(str::trim) != Some(version) {
                problems.push(format!("{} does not serve {version}", host.name()));
            }
        }
        problems
    }
}

impl Outcome {
    /// One line for a report.
    pub fn line(&self) -> String {
        let hosts: Vec<String> = self
            .hosts_at_kill
            .iter()
            .map(|(at, n)| format!("{n}× {at}"))
            .collect();
        format!(
            "kill after {:>3} events (died at {:>3}): interrupted {} · locked hosts {} · hosts: {} · {}",
            self.after_events,
            self.events_at_kill,
            self.interrupted_after
                .map(|d| format!("after {:.1} s", d.as_secs_f64()))
                .unwrap_or_else(|| "— (had finished)".into()),
            self.locked_hosts,
            hosts.join(", "),
            if self.problems.is_empty() {
                "OK".to_owned()
            } else {
                format!("PROBLEMS: {}", self.problems.join("; "))
            }
        )
    }
}
