//! The job queue and runner: hook environment, one job per environment,
//! locks, cancellation and interrupted runners.

mod common;

use common::{runner_settings, TestEngine, APP, ENV};
use engine::audit::actions;
use engine::domain::{JobState, ReleaseState};
use engine::runtime::MASK;
use engine::{Engine, EngineSettings, EnvVarRequest, Error};
use tokio::sync::watch;

const PLAIN: &str = "plain-value-42";
const SECRET: &str = "hunter2 it's s3cr3t";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hooks_coloured_output_reaches_the_log_as_plain_text() {
    let mut t = TestEngine::new().await;
    let mut config = t.config();
    // Colours around the secret too: it is still masked.
    config.before_switch = Some(
        r#"printf '\033[1;32mmigrated\033[0m 3 tables\n'; printf '\033[31m%s\033[0m\n' "$MY_SECRET""#.into(),
    );
    t.setup(config).await;
    t.set_var("MY_SECRET", SECRET, true).await;
    t.start_runner();
    let v1 = t.register_version("1.0.0").await;
    let job = t.deploy_and_wait(&v1).await;
    assert_eq!(job.state, JobState::Succeeded, "{:?}", job.error);
    let out: Vec<String> = t
        .events(job.id)
        .await
        .into_iter()
        .filter(|e| e.level == "out")
        .map(|e| e.text)
        .collect();
    assert!(out.contains(&"migrated 3 tables".to_owned()), "{out:?}");
    assert!(out.contains(&MASK.to_owned()), "{out:?}");
    assert!(out.iter().all(|l| !l.contains('\u{1b}')), "{out:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hooks_get_env_vars_and_secrets_never_reach_the_log() {
    let mut t = TestEngine::new().await;
    let mut config = t.config();
    config.before_switch = Some(r#"echo "$MY_VAR $MY_SECRET $SLIPWAY_RELEASE_ID""#.into());
    t.setup(config).await;
    t.set_var("MY_VAR", PLAIN, false).await;
    t.set_var("MY_SECRET", SECRET, true).await;
    t.start_runner();
    let v1 = t.register_version("1.0.0").await;

    let job = t.deploy_and_wait(&v1).await;
    assert_eq!(job.state, JobState::Succeeded, "{:?}", job.error);
    let key = t
        .engine
        .store()
        .release(job.release_id.unwrap())
        .await
        .unwrap()
        .release_key;

    let events = t.events(job.id).await;
    let expected = format!("{PLAIN} {MASK} {key}");
    assert!(
        events
            .iter()
            .any(|e| e.level == "out" && e.text == expected),
        "no output line {expected:?} in {:#?}",
        events.iter().map(|e| &e.text).collect::<Vec<_>>()
    );
    for event in &events {
        assert!(
            !event.text.contains(SECRET),
            "secret in event #{}: {}",
            event.seq,
            event.text
        );
        assert!(
            !event.text.contains("s3cr3t"),
            "part of the secret in event #{}: {}",
            event.seq,
            event.text
        );
    }
    // Nor in the audit log, nor in what may leave the server.
    for row in t.audit_after(0).await {
        assert!(
            !row.details.contains("s3cr3t"),
            "secret in audit row {}: {}",
            row.seq,
            row.details
        );
    }
    let env = t.engine.environment(&t.actor, APP, ENV).await.unwrap();
    let masked = t.engine.env_vars_masked(&t.actor, &env).await.unwrap();
    assert!(masked
        .iter()
        .any(|v| v.name == "MY_SECRET" && v.value == MASK));
    assert!(masked
        .iter()
        .any(|v| v.name == "MY_VAR" && v.value == PLAIN));

    // The release's .env has both, shell-quoted, readable only by its owner.
    let env_file = t.release_dir(&key).join(".env");
    let contents = std::fs::read_to_string(&env_file).unwrap();
    assert!(
        contents.lines().any(|l| l == "MY_VAR='plain-value-42'"),
        "{contents}"
    );
    assert!(
        contents
            .lines()
            .any(|l| l == r"MY_SECRET='hunter2 it'\''s s3cr3t'"),
        "{contents}"
    );
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&env_file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    // A shell reading it gets the values back exactly.
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(r#". ./.env && printf '%s|%s' "$MY_VAR" "$MY_SECRET""#)
        .current_dir(t.release_dir(&key))
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        format!("{PLAIN}|{SECRET}")
    );
}

/// Private keys and certificates are secrets of several lines; a hook that
/// prints one must not put any of its lines in the log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]

async fn multi_line_secrets_are_masked() {
    const KEY_BODY: &str = "QUJDREVGR0hJSktMTU5PUFFSU1RVVldY";
    let mut t = TestEngine::new().await;
    let mut config = t.config();
    config.before_switch = Some(r#"echo "$DEPLOY_KEY""#.into());
    t.setup(config).await;
    let value = format!("-----BEGIN TEST KEY-----\n{KEY_BODY}\n-----END TEST KEY-----");
    let var = EnvVarRequest {
        name: "DEPLOY_KEY".into(),
        value,
        secret: true,
    };
    t.engine.set_env_var(&t.actor, APP, ENV, var).await.unwrap();
    t.start_runner();
    let v1 = t.register_version("1.0.0").await;

    let job = t.deploy_and_wait(&v1).await;
    assert_eq!(job.state, JobState::Succeeded, "{:?}", job.error);
    for event in t.events(job.id).await {
        assert!(
            !event.text.contains(KEY_BODY),
            "secret in event #{}: {}",
            event.seq,
            event.text
        );
    }
}

/// Whether `pid` is a live process (a zombie counts as dead).
fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(") ")
            .is_some_and(|(_, rest)| !rest.starts_with('Z')),
        Err(_) => false,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]

async fn cancelling_stops_the_hooks_child_processes() {
    let mut t = TestEngine::new().await;
    let mut config = t.config();
    // The step's announcement shows the command: the hook prints a word its
    // text does not hold ("child-ready" only once printf ran).
    config.before_switch =
        Some("sleep 300 & echo $! > child.pid; printf 'child%s\\n' -ready; wait".into());
    t.setup(config).await;
    t.start_runner();
    let v1 = t.register_version("1.0.0").await;
    let job = t.deploy(&v1).await;
    t.wait_for_event(job.id, "child-ready").await;
    let key = t
        .engine
        .store()
        .release(job.release_id.unwrap())
        .await
        .unwrap()
        .release_key;
    let pid: u32 = std::fs::read_to_string(t.release_dir(&key).join("child.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(alive(pid));

    t.engine.cancel_job(&t.actor, job.id).await.unwrap();
    let job = t.wait_finished(job.id).await;
    assert_eq!(job.state, JobState::Cancelled);

    let started = std::time::Instant::now();
    while alive(pid) && started.elapsed() < common::DEADLINE {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    if alive(pid) {
        // Clean up the process this test started before failing.
        let _ = std::process::Command::new("kill")
            .arg("-KILL")
            .arg(pid.to_string())
            .status();
        panic!("the hook's child process {pid} outlived the cancelled job");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_deploys_at_once_one_wins_the_other_is_busy() {
    let t = TestEngine::new().await;
    t.setup(t.config()).await;
    let v1 = t.register_version("1.0.0").await;
    let v2 = t.register_version("2.0.0").await;

    let (a, b) = tokio::join!(
        t.engine.deploy(&t.actor, APP, ENV, v1.id),
        t.engine.deploy(&t.actor, APP, ENV, v2.id)
    );
    let (job, busy) = match (a, b) {
        (Ok(job), Err(e)) | (Err(e), Ok(job)) => (job, e),
        (a, b) => panic!("expected exactly one deploy to be accepted: {a:?} / {b:?}"),
    };
    match &busy {
        Error::Busy {
            job_id,
            requested_by,
            ..
        } => {
            assert_eq!(*job_id, job.id);
            assert_eq!(requested_by, "admin");
        }
        other => panic!("expected Busy, got {other:?}"),
    }
    let message = busy.to_string();
    assert!(
        message.starts_with(&format!("environment busy: job #{} ", job.id)),
        "{message}"
    );
    assert_eq!(busy.http_status(), 409);
    assert_eq!(t.count("jobs").await, 1);
    assert_eq!(t.count("releases").await, 1);
    assert_eq!(t.job(job.id).await.state, JobState::Queued);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_locked_environment_refuses_deploys() {
    let t = TestEngine::new().await;
    t.setup(t.config()).await;
    let v1 = t.register_version("1.0.0").await;
    t.engine
        .lock(&t.actor, APP, ENV, "release freeze")
        .await
        .expect("lock");

    let result = t.engine.deploy(&t.actor, APP, ENV, v1.id).await;
    match &result {
        Err(Error::Locked {
            reason, locked_by, ..
        }) => {
            assert_eq!(reason, "release freeze");
            assert_eq!(locked_by, "admin");
        }
        other => panic!("expected Locked, got {other:?}"),
    }
    assert_eq!(t.count("jobs").await, 0);
    assert_eq!(t.count("releases").await, 0);

    t.engine.unlock(&t.actor, APP, ENV).await.expect("unlock");
    let job = t.deploy(&v1).await;
    assert_eq!(job.state, JobState::Queued);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_a_running_job_stops_it_before_the_switch() {
    let mut t = TestEngine::new().await;
    t.setup(t.config()).await;
    t.start_runner();
    let v1 = t.register_version("1.0.0").await;
    let first = t.deploy_and_wait(&v1).await;
    assert_eq!(first.state, JobState::Succeeded, "{:?}", first.error);
    let before = t.current();
    assert!(before.is_some());

    let mut config = t.config();
    config.before_switch = Some("echo waiting; exec sleep 30".into());
    t.update_config(config).await;
    let v2 = t.register_version("2.0.0").await;
    let job = t.deploy(&v2).await;
    t.wait_for_event(job.id, "waiting").await;

    let requested = t.engine.cancel_job(&t.actor, job.id).await.expect("cancel");
    assert!(requested.cancel_requested);
    assert_eq!(requested.state, JobState::Running);
    // Asking twice is refused, not recorded twice.
    assert!(matches!(
        t.engine.cancel_job(&t.actor, job.id).await,
        Err(Error::Conflict(_))
    ));

    let job = t.wait_finished(job.id).await;
    assert_eq!(job.state, JobState::Cancelled, "{:?}", job.error);
    assert_eq!(t.current(), before);
    assert!(t.current_index().contains("version 1.0.0"));
    let release = t
        .engine
        .store()
        .release(job.release_id.unwrap())
        .await
        .unwrap();
    assert_eq!(release.state, ReleaseState::Failed);
    let hosts = t.engine.store().job_hosts(job.id).await.unwrap();
    assert_eq!(hosts[0].state, "cancelled");
    let events = t.events(job.id).await;
    assert_eq!(
        events.last().map(|e| (e.level.as_str(), e.text.as_str())),
        Some(("end", "cancelled"))
    );
    // The job says why it stopped and who asked, in its log and audit row.
    let why = format!("{} asked to cancel it", t.actor.login);
    assert!(
        events
            .iter()
            .any(|e| e.text == format!("job cancelled: {why}")),
        "{events:?}"
    );
    let audit = t.audit_after(0).await;
    assert_eq!(
        audit
            .iter()
            .filter(|r| r.action == actions::JOB_CANCEL_REQUESTED)
            .count(),
        1
    );
    let cancelled = audit.last().expect("audit rows");
    assert_eq!(cancelled.action, actions::JOB_CANCELLED);
    assert!(
        cancelled.details.contains(&format!(r#""reason":"{why}""#)),
        "{}",
        cancelled.details
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_a_queued_job_cancels_it_at_once() {
    let mut t = TestEngine::new().await;
    t.setup(t.config()).await;
    let v1 = t.register_version("1.0.0").await;
    let job = t.deploy(&v1).await;

    let cancelled = t.engine.cancel_job(&t.actor, job.id).await.expect("cancel");
    assert_eq!(cancelled.state, JobState::Cancelled);
    assert!(cancelled.finished_at.is_some());
    assert_eq!(t.job(job.id).await.state, JobState::Cancelled);
    let release = t
        .engine
        .store()
        .release(job.release_id.unwrap())
        .await
        .unwrap();
    assert_eq!(release.state, ReleaseState::Failed);
    assert!(matches!(
        t.engine.cancel_job(&t.actor, job.id).await,
        Err(Error::Conflict(_))
    ));

    // The environment is free again, and a runner never picks the cancelled job up.
    t.start_runner();
    let next = t.deploy_and_wait(&v1).await;
    assert_eq!(next.state, JobState::Succeeded, "{:?}", next.error);
    assert_eq!(t.job(job.id).await.state, JobState::Cancelled);
    // Its log ends, so a stream following it closes.
    let events = t.events(job.id).await;
    let last = events.last().expect("closing events");
    assert_eq!(
        (last.level.as_str(), last.text.as_str()),
        ("end", "cancelled")
    );
    assert!(t.current_index().contains("version 1.0.0"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn locking_cancels_a_deploy_that_has_not_started() {
    let mut t = TestEngine::new().await;
    t.setup(t.config()).await;
    let v1 = t.register_version("1.0.0").await;
    // No runner yet: the deploy waits in the queue.
    let job = t.deploy(&v1).await;
    assert_eq!(job.state, JobState::Queued);

    t.engine
        .lock(&t.actor, APP, ENV, "incident 42")
        .await
        .expect("lock");
    assert_eq!(t.job(job.id).await.state, JobState::Cancelled);
    let events = t.events(job.id).await;
    let why = format!(
        "cancelled before it started: {} locked the environment (incident 42)",
        t.actor.login
    );
    assert!(events.iter().any(|e| e.text == why), "{events:?}");
    assert_eq!(events.last().map(|e| e.text.as_str()), Some("cancelled"));

    // A runner started now has nothing to run: nothing was released.
    t.start_runner();
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(t.job(job.id).await.state, JobState::Cancelled);
    assert!(
        !t.target_dir().join("current").exists(),
        "a locked environment was deployed"
    );
}

/// A runner on its own runtime, so that it can die the way a process does:
/// every one of its tasks stops at once.
struct CrashableRunner {
    runtime: Option<tokio::runtime::Runtime>,
    _shutdown: watch::Sender<bool>,
}

impl CrashableRunner {
    async fn start(settings: EngineSettings) -> Self {
        tokio::task::spawn_blocking(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .unwrap();
            let engine = runtime
                .block_on(Engine::open(&settings))
                .expect("open engine for runner A");
            let (shutdown, rx) = watch::channel(false);
            runtime.spawn(engine.job_runner(runner_settings()).run(rx));
            Self {
                runtime: Some(runtime),
                _shutdown: shutdown,
            }
        })
        .await
        .unwrap()
    }

    fn crash(mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

impl Drop for CrashableRunner {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// Checks what a runner's death leaves behind once another runner noticed.
async fn assert_interrupted(t: &TestEngine, job_id: i64) {
    let job = t.wait_finished(job_id).await;
    assert_eq!(job.state, JobState::Interrupted, "{:?}", job.error);
    assert!(
        job.error
            .as_deref()
            .unwrap_or_default()
            .contains("lease expired"),
        "{:?}",
        job.error
    );
    let hosts = t.engine.store().job_hosts(job_id).await.unwrap();
    assert_eq!(hosts.len(), 1);
    assert_eq!(hosts[0].host, "local");
    assert_eq!(hosts[0].state, "interrupted");
    let audit = t.audit_after(0).await;
    let interrupted: Vec<_> = audit
        .iter()
        .filter(|r| r.action == actions::JOB_INTERRUPTED)
        .collect();
    assert_eq!(interrupted.len(), 1);
    assert_eq!(interrupted[0].target, format!("job/{job_id}"));
    assert_eq!(
        interrupted[0].environment.as_deref(),
        Some("shop/production")
    );
    let release = t
        .engine
        .store()
        .release(job.release_id.unwrap())
        .await
        .unwrap();
    assert_eq!(release.state, ReleaseState::Failed);
    // The job died in its first deploy, before the switch: no `current` at all
    // (not a dangling link, not a half-made one).
    assert!(std::fs::symlink_metadata(t.target_dir().join("current")).is_err());
    assert!(!t.target_dir().read_dir().unwrap().any(|e| e
        .unwrap()
        .file_name()
        .to_string_lossy()
        .starts_with(".current")));
    let events = t.events(job_id).await;
    assert_eq!(
        events.last().map(|e| (e.level.as_str(), e.text.as_str())),
        Some(("end", "interrupted"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_runners_job_becomes_interrupted() {
    let mut t = TestEngine::new().await;
    let mut config = t.config();
    config.before_switch = Some("echo waiting; exec sleep 30".into());
    t.setup(config).await;
    let v1 = t.register_version("1.0.0").await;

    let runner_a = CrashableRunner::start(t.settings.clone()).await;
    let job = t.deploy(&v1).await;
    t.wait_for_event(job.id, "waiting").await;
    assert_eq!(t.job(job.id).await.state, JobState::Running);
    runner_a.crash();

    t.start_runner();
    assert_interrupted(&t, job.id).await;
    // The environment takes deploys again.
    let mut config = t.config();
    config.before_switch = None;
    t.update_config(config).await;
    let next = t.deploy_and_wait(&v1).await;
    assert_eq!(next.state, JobState::Succeeded, "{:?}", next.error);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]

async fn an_aborted_runner_tasks_job_becomes_interrupted() {
    let mut t = TestEngine::new().await;
    let mut config = t.config();
    config.before_switch = Some("echo waiting; exec sleep 30".into());
    t.setup(config).await;
    let v1 = t.register_version("1.0.0").await;

    let (_shutdown_a, rx) = watch::channel(false);
    let runner_a = tokio::spawn(t.engine.job_runner(runner_settings()).run(rx));
    let job = t.deploy(&v1).await;
    t.wait_for_event(job.id, "waiting").await;
    runner_a.abort();
    let _ = runner_a.await;

    t.start_runner();
    assert_interrupted(&t, job.id).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_qa_environment_whose_destroy_fails_is_not_retried_on_every_sweep() {
    let mut t = TestEngine::new().await;
    let env = t.setup(t.config()).await;
    t.start_runner();
    let v1 = t.register_version("1.0.0").await;
    t.deploy_ok(&v1).await;
    // A QA environment past its time, on a backend whose destroy fails.
    engine::on_test_pool!(t.engine.store().pool(), pool => sqlx::query("UPDATE environments SET kind = 'qa', expires_at = $1 WHERE id = $2")
        .bind(chrono::Utc::now() - chrono::Duration::minutes(1))
        .bind(env.id)
        .execute(pool)
        .await.map(|done| done.rows_affected()))
        .unwrap();
    let destroys = "SELECT COUNT(*) FROM jobs WHERE kind = 'destroy'";
    let failed = t
        .poll("the automatic destroy to fail", || async {
            let failed: i64 =
                engine::on_test_pool!(t.engine.store().pool(), pool => sqlx::query_scalar(
                "SELECT COUNT(*) FROM jobs WHERE kind = 'destroy' AND state = 'failed'",
            )
            .fetch_one(pool)
            .await)
                .unwrap();
            (failed > 0).then_some(failed)
        })
        .await;
    assert_eq!(failed, 1);
    // Many sweeps later (one every 200 ms) it has not been queued again.
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    let queued: i64 =
        engine::on_test_pool!(t.engine.store().pool(), pool => sqlx::query_scalar(destroys)
        .fetch_one(pool)
        .await)
        .unwrap();
    assert_eq!(queued, 1, "the failed destroy was retried at once");
    let expired_rows = t
        .audit_actions_after(0)
        .await
        .into_iter()
        .filter(|a| a == actions::ENVIRONMENT_EXPIRED)
        .count();
    assert_eq!(expired_rows, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_log_longer_than_the_job_view_says_there_is_more() {
    let mut t = TestEngine::new().await;
    let mut config = t.config();
    config.before_switch = Some("seq 1 10100".into());
    t.setup(config).await;
    t.start_runner();
    let v1 = t.register_version("1.0.0").await;
    let job = t.deploy_ok(&v1).await;
    let view = t.engine.job_view(&t.actor, job.id).await.unwrap();
    assert_eq!(view.events.len() as i64, engine::JOB_VIEW_EVENTS);
    assert!(view.more_events, "the view says the log goes on");
    // What the page then reads from the stream: the rest, to the end.
    let last_shown = view.events.last().unwrap().seq;
    let rest = t
        .engine
        .store()
        .job_events_after(job.id, last_shown, 100_000)
        .await
        .unwrap();
    assert!(rest.iter().any(|e| e.text == "10100"));
    assert_eq!(rest.last().unwrap().level.as_str(), "end");

    let short = t.register_version("2.0.0").await;
    let mut config = t.config();
    config.before_switch = Some("echo short".into());
    t.update_config(config).await;
    let job = t.deploy_ok(&short).await;
    assert!(
        !t.engine
            .job_view(&t.actor, job.id)
            .await
            .unwrap()
            .more_events
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn builds_of_a_matching_branch_deploy_by_themselves_as_who_registered_them() {
    use engine::auth::{Credential, DeployPolicy, Scopes};
    use engine::backends::BackendConfig;
    let mut t = TestEngine::new().await;
    t.setup(t.config()).await;
    t.engine
        .update_environment(
            &t.actor,
            APP,
            ENV,
            BackendConfig::Local(t.config()),
            DeployPolicy::parse(false, "", "release/*", "").unwrap(),
        )
        .await
        .unwrap();
    t.start_runner();
    let jobs = |t: &TestEngine| {
        let store = t.engine.store().clone();
        async move { store.jobs_for_environment(1, 100).await.unwrap() }
    };

    // A build of another branch: registered, nothing deployed.
    t.register_version_on(&t.actor, "0.9.0", "feature/release-notes")
        .await;
    assert!(jobs(&t).await.is_empty());

    // A build of release/1.0 deploys as soon as it is registered.
    let build = t
        .register_version_on(&t.actor, "1.0.0", "release/1.0")
        .await;
    let queued = jobs(&t).await;
    assert_eq!(queued.len(), 1);
    assert_eq!(queued[0].build_id, build.id);
    let job = t.wait_finished(queued[0].id).await;
    assert_eq!(job.state, JobState::Succeeded, "{:?}", job.error);
    assert!(t.current_index().contains("version 1.0.0"));

    // A CI token that may register builds but not deploy: the build is
    // registered, the deploy is not made, and the audit log says why.
    let ci = engine::auth::Actor {
        credential: Credential::Token {
            id: 1,
            scopes: Scopes::parse(&["builds:write".to_owned()]).unwrap(),
            reach: Default::default(),
        },
        ..t.actor.clone()
    };
    let before = t.last_audit_seq().await;
    t.register_version_on(&ci, "1.0.1", "release/1.0").await;
    assert_eq!(jobs(&t).await.len(), 1, "no second deploy");
    let skipped: Vec<_> = t
        .audit_after(before)
        .await
        .into_iter()
        .filter(|r| r.action == actions::AUTO_DEPLOY_SKIPPED)
        .collect();
    assert_eq!(skipped.len(), 1);
    assert!(
        skipped[0].details.contains("deploy"),
        "{}",
        skipped[0].details
    );
    assert!(t.current_index().contains("version 1.0.0"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn branch_previews_are_refused_on_an_environment_they_could_not_copy() {
    use engine::auth::DeployPolicy;
    use engine::backends::BackendConfig;
    let t = TestEngine::new().await;
    t.setup(t.config()).await;
    let before = t.last_audit_seq().await;
    let err = t
        .engine
        .update_environment(
            &t.actor,
            APP,
            ENV,
            BackendConfig::Local(t.config()),
            DeployPolicy::parse(false, "", "", "feature/*").unwrap(),
        )
        .await
        .unwrap_err();
    assert_eq!(err.http_status(), 400);
    assert!(err.public_message().contains("docker"), "{err}");
    assert!(t.audit_after(before).await.is_empty(), "nothing recorded");
    let env = t.engine.environment(&t.actor, APP, ENV).await.unwrap();
    assert!(env.previews.is_none());
    // A bad pattern names its field.
    let bad = DeployPolicy::parse(false, "", "", "feature/$(x)").unwrap_err();
    assert_eq!(bad.field, "previews");
}

/// Sets up the environment with a `before_switch` hook that waits until
/// `marker` exists, starts the runner, and deploys a first build: returns
/// the job once its hook is running.
async fn deploy_held_in_before_switch(
    t: &mut TestEngine,
    marker: &std::path::Path,
) -> engine::domain::Job {
    let mut config = t.config();
    config.before_switch = Some(format!(
        "while [ ! -e '{}' ]; do sleep 0.1; done",
        marker.display()
    ));
    t.setup(config).await;
    t.start_runner();
    let v1 = t.register_version("1.0.0").await;
    let job = t.deploy(&v1).await;
    t.wait_for_event(job.id, "before_switch").await;
    job
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_runner_never_interrupts_a_job_it_is_still_running() {
    let mut t = TestEngine::new().await;
    let marker = t.path().join("let-it-finish");
    let job = deploy_held_in_before_switch(&mut t, &marker).await;

    // The clock jumps (a VM resumed, NTP stepped): the lease looks long
    // lapsed to this runner's own sweep, which runs every 200 ms.
    for _ in 0..5 {
        engine::on_test_pool!(t.engine.store().pool(), pool => sqlx::query("UPDATE jobs SET lease_expires_at = $1 WHERE id = $2")
            .bind(chrono::DateTime::<chrono::Utc>::UNIX_EPOCH)
            .bind(job.id)
            .execute(pool)
            .await.map(|done| done.rows_affected()))
            .unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
        assert_eq!(t.job(job.id).await.state, JobState::Running);
    }
    std::fs::write(&marker, "").unwrap();
    let job = t.wait_finished(job.id).await;
    assert_eq!(job.state, JobState::Succeeded, "{:?}", job.error);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_runner_that_loses_a_jobs_lease_stops_it_before_the_switch() {
    let mut t = TestEngine::new().await;
    let marker = t.path().join("lease-lost-marker");
    let job = deploy_held_in_before_switch(&mut t, &marker).await;

    // Another runner took the job for dead and holds its lease now.
    engine::on_test_pool!(t.engine.store().pool(), pool => sqlx::query(
        "UPDATE jobs SET lease_owner = 'another-runner', lease_expires_at = $1 WHERE id = $2",
    )
    .bind(chrono::Utc::now() + chrono::Duration::seconds(1))
    .bind(job.id)
    .execute(pool)
    .await.map(|done| done.rows_affected()))
    .unwrap();

    // This runner stops the hook at its next renewal and records nothing
    // over the other's lease; once that lease lapses too, the job is
    // interrupted. Nothing was switched.
    t.wait_for_event(job.id, "lost the job's lease").await;
    let job = t.wait_finished(job.id).await;
    assert_eq!(job.state, JobState::Interrupted, "{:?}", job.error);
    assert!(
        std::fs::symlink_metadata(t.target_dir().join("current")).is_err(),
        "current was switched"
    );
    let hook_alive = std::process::Command::new("pgrep")
        .args(["-f", &marker.display().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(!hook_alive, "the hook still runs");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_environments_never_release_into_one_directory() {
    use engine::backends::BackendConfig;
    let t = TestEngine::new().await;
    t.setup(t.config()).await;
    let before = t.last_audit_seq().await;
    let mut inside = t.config();
    inside.target_dir = t.config().target_dir.join("staging");
    for config in [t.config(), inside] {
        let err = t
            .engine
            .create_environment(
                &t.actor,
                APP,
                "staging",
                BackendConfig::Local(config),
                false,
            )
            .await
            .unwrap_err();
        assert_eq!(err.http_status(), 400);
        let message = err.public_message();
        assert!(
            message.contains("target_dir") && message.contains(&format!("{APP}/{ENV}")),
            "{message}"
        );
    }
    assert!(t.audit_after(before).await.is_empty(), "nothing recorded");
    let mut beside = t.config();
    beside.target_dir = t.path().join("staging-target");
    t.engine
        .create_environment(
            &t.actor,
            APP,
            "staging",
            BackendConfig::Local(beside),
            false,
        )
        .await
        .unwrap();
    // Nor may an edit move one into the other's directory.
    let err = t
        .engine
        .update_environment(
            &t.actor,
            APP,
            "staging",
            BackendConfig::Local(t.config()),
            false,
        )
        .await
        .unwrap_err();
    assert_eq!(err.http_status(), 400, "{err}");
}
