//! The docker backend against a real Docker engine (started by the harness
//! when none answers) with images built FROM scratch from busybox-static:
//! blue-green releases through Slipway's nginx with zero failed requests
//! under load, a release that fails its health check and changes nothing,
//! rollback to a kept container, and QA environments that leave nothing.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{free_port, TestEngine, APP};
use engine::backends::docker::{DockerConfig, EnvIdentity};
use engine::domain::{JobState, ReleaseState};
use engine::testing::docker::{DockerEngine, EnvironmentCleanup};

/// Bounds of the load loop (it stops by itself).
const LOAD_MAX_REQUESTS: u64 = 200_000;
const LOAD_MAX_TIME: Duration = Duration::from_secs(90);
const LOAD_WORKERS: usize = 4;

fn image(version: &str) -> String {
    format!("slipway-test-shop:{version}-{}", std::process::id())
}

fn docker_config(publish_port: u16) -> DockerConfig {
    let mut config = DockerConfig::new(80, publish_port);
    config.health_path = Some("/health".into());
    config.health_interval_ms = 100;
    config.health_timeout_secs = 6;
    config.drain_timeout_secs = 2;
    config.keep_containers = 2;
    config
}

/// How a request failed: the connection it was sent on closed before any
/// answer (the only failure a client may retry), or anything else.
#[derive(Debug)]
enum Failure {
    Closed(String),
    Other(String),
}

impl Failure {
    fn message(&self) -> &str {
        match self {
            Failure::Closed(m) | Failure::Other(m) => m,
        }
    }
}

async fn page(client: &reqwest::Client, port: u16) -> Result<String, Failure> {
    let response = client
        .get(format!("http://127.0.0.1:{port}/"))
        .send()
        .await
        .map_err(|e| {
            // Refused or timed out is a real failure; an established
            // connection closed under the request is the keep-alive race.
            if e.is_connect() || e.is_timeout() {
                Failure::Other(format!("{e:?}"))
            } else {
                Failure::Closed(format!("{e:?}"))
            }
        })?;
    if !response.status().is_success() {
        return Err(Failure::Other(format!("status {}", response.status())));
    }
    response
        .text()
        .await
        .map_err(|e| Failure::Other(e.to_string()))
}

/// A client that keeps connections alive (like a browser), or one that
/// opens a fresh connection for every request.
fn client_with(keep_alive: bool) -> reqwest::Client {
    let builder = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(5));
    let builder = if keep_alive {
        builder
    } else {
        builder.pool_max_idle_per_host(0)
    };
    builder.build().unwrap()
}

fn client() -> reqwest::Client {
    client_with(true)
}

#[derive(Debug, Default)]
struct LoadReport {
    ok: u64,
    failed: u64,
    /// Keep-alive requests retried once on a new connection because the
    /// server had closed the idle connection they were sent on.
    retried: u64,
    v1: u64,
    v2: u64,
    errors: Vec<String>,
}

impl LoadReport {
    fn add(&mut self, other: LoadReport) {
        self.ok += other.ok;
        self.failed += other.failed;
        self.retried += other.retried;
        self.v1 += other.v1;
        self.v2 += other.v2;
        self.errors.extend(other.errors);
    }
}

/// Requests the page back to back until `stop`, counting what answered.
///
/// Fresh-connection clients get no second chance: any error is a failed
/// request. Keep-alive clients behave as HTTP/1.1 requires of them (RFC 9112
/// §9.3.1) and browsers do: a GET whose persistent connection the server
/// closed before answering is sent once more on a new connection; it counts
/// as failed only if that fails too. (nginx's old workers close their idle
/// keep-alive connections when a reload retires them.)
async fn load_loop(port: u16, stop: Arc<AtomicBool>, keep_alive: bool) -> LoadReport {
    let client = client_with(keep_alive);
    let fresh = client_with(false);
    let mut report = LoadReport::default();
    let started = Instant::now();
    while !stop.load(Ordering::Relaxed)
        && report.ok + report.failed < LOAD_MAX_REQUESTS
        && started.elapsed() < LOAD_MAX_TIME
    {
        let answer = match page(&client, port).await {
            Err(Failure::Closed(_)) if keep_alive => {
                report.retried += 1;
                page(&fresh, port).await
            }
            other => other,
        };
        match answer {
            Ok(body) => {
                report.ok += 1;
                if body.contains("version 1") {
                    report.v1 += 1;
                } else if body.contains("version 2") {
                    report.v2 += 1;
                }
            }
            Err(e) => {
                report.failed += 1;
                if report.errors.len() < 10 {
                    report.errors.push(e.message().to_owned());
                }
            }
        }
    }
    report
}

fn switch_ms(events: &[engine::domain::JobEvent]) -> Option<String> {
    events
        .iter()
        .find(|e| e.text.starts_with("traffic switched"))
        .map(|e| e.text.clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn blue_green_releases_switch_without_a_failed_request_and_roll_back() {
    let docker = DockerEngine::ensure();
    for (version, healthy) in [("1", true), ("2", true), ("3", false)] {
        docker.build_app_image(&image(version), version, healthy);
    }
    let mut t = TestEngine::new().await;
    let cleanup = EnvironmentCleanup::new(&t.state_dir(), EnvIdentity::new(APP, "production"));
    let port = free_port();
    t.setup_docker("production", docker_config(port)).await;
    t.start_runner();
    let v1 = t.register_image("1", &image("1"), "main").await;
    let v2 = t.register_image("2", &image("2"), "main").await;
    let v3 = t.register_image("3", &image("3"), "main").await;
    let http = client();

    // v1: the first release starts the proxy.
    let job1 = t.deploy_to("production", &v1).await;
    assert_eq!(job1.state, JobState::Succeeded, "{:?}", job1.error);
    assert_eq!(page(&http, port).await.unwrap(), "shop version 1\n");
    let hosts = t.engine.store().job_hosts(job1.id).await.unwrap();
    assert_eq!(hosts.len(), 2, "{hosts:?}");
    assert!(hosts.iter().all(|h| h.state == "succeeded"), "{hosts:?}");

    // v2 while a load loop hits the published address the whole time:
    // LOAD_WORKERS clients back to back, half of them opening a fresh
    // connection per request, half keeping connections alive.
    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..LOAD_WORKERS)
        .map(|i| tokio::spawn(load_loop(port, stop.clone(), i % 2 == 1)))
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let deploy_started = Instant::now();
    let job2 = t.deploy_to("production", &v2).await;
    let deploy_time = deploy_started.elapsed();
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);
    let mut report = LoadReport::default();
    for worker in workers {
        report.add(worker.await.unwrap());
    }
    assert_eq!(job2.state, JobState::Succeeded, "{:?}", job2.error);
    let switched = switch_ms(&t.events(job2.id).await);
    println!(
        "load loop ({LOAD_WORKERS} clients) during the v1→v2 release: {} requests, {} failed, \
         {} keep-alive requests retried on a new connection ({} answered v1, {} answered v2); \
         deploy job took {} ms; {}",
        report.ok + report.failed,
        report.failed,
        report.retried,
        report.v1,
        report.v2,
        deploy_time.as_millis(),
        switched.as_deref().unwrap_or("no switch event")
    );
    assert_eq!(report.failed, 0, "failed requests: {:?}", report.errors);
    assert!(report.v1 > 0 && report.v2 > 0, "{report:?}");
    assert_eq!(page(&http, port).await.unwrap(), "shop version 2\n");
    // The old container is stopped, kept for rollback.
    assert_eq!(cleanup.containers().len(), 2);

    // v3 never becomes healthy: it is removed and v2 keeps serving.
    let job3 = t.deploy_to("production", &v3).await;
    assert_eq!(job3.state, JobState::Failed);
    let error = job3.error.clone().unwrap_or_default();
    assert!(error.contains("not healthy"), "{error}");
    assert_eq!(page(&http, port).await.unwrap(), "shop version 2\n");
    assert_eq!(
        cleanup.containers().len(),
        2,
        "the v3 container was not removed"
    );

    // Rollback to v1: its kept container is started again and takes the traffic.
    let env = t
        .engine
        .environment(&t.actor, APP, "production")
        .await
        .unwrap();
    let releases = t.engine.releases(&t.actor, &env, None, 10).await.unwrap();
    let first = releases.iter().find(|r| r.job_id == job1.id).unwrap();
    assert_eq!(first.state, ReleaseState::Superseded);
    let rollback = t
        .engine
        .rollback(&t.actor, APP, "production", first.id)
        .await
        .unwrap();
    let rollback = t.wait_finished(rollback.id).await;
    assert_eq!(rollback.state, JobState::Succeeded, "{:?}", rollback.error);
    assert_eq!(page(&http, port).await.unwrap(), "shop version 1\n");
    let events = t.events(rollback.id).await;
    assert!(
        events
            .iter()
            .any(|e| e.text.contains("restarting the kept container")),
        "the rollback did not reuse the kept container"
    );
    println!("rollback: {}", switch_ms(&events).unwrap_or_default());

    // After a reboot: the proxy is gone and the live container stopped.
    // Starting Slipway's runner puts both back, from the labels and the
    // release history, and the environment serves v1 again.
    let layout = engine::backends::docker::plan::ProxyLayout::new(
        &t.state_dir(),
        &EnvIdentity::new(APP, "production"),
    );
    let nginx: i32 = std::fs::read_to_string(layout.pid_file())
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    kill_process(nginx);
    let live = engine::backends::docker::daemon::Daemon::connect(&docker_config(port))
        .await
        .unwrap();
    let containers = live
        .containers(&EnvIdentity::new(APP, "production"))
        .await
        .unwrap();
    for c in containers.iter().filter(|c| c.running) {
        live.stop(&c.id, 1).await.unwrap();
    }
    t.poll("the proxy to stop", || async {
        page(&http, port).await.is_err().then_some(())
    })
    .await;
    t.engine
        .job_runner(common::runner_settings())
        .reconcile_docker()
        .await;
    assert_eq!(page(&http, port).await.unwrap(), "shop version 1\n");

    drop(cleanup);
    for version in ["1", "2", "3"] {
        docker.remove_image(&image(version));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_image_missing_from_the_engine_fails_clearly_and_changes_nothing() {
    let _docker = DockerEngine::ensure();
    let mut t = TestEngine::new().await;
    let cleanup = EnvironmentCleanup::new(&t.state_dir(), EnvIdentity::new(APP, "missing"));
    t.setup_docker("missing", docker_config(free_port())).await;
    t.start_runner();
    let build = t
        .register_image("9", "slipway-test-never-built:v9", "main")
        .await;
    let job = t.deploy_to("missing", &build).await;
    assert_eq!(job.state, JobState::Failed);
    let error = job.error.unwrap_or_default();
    assert!(error.contains("is not on the Docker engine"), "{error}");
    assert!(cleanup.containers().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_release_unreachable_through_the_proxy_is_switched_back_and_the_old_one_keeps_serving() {
    let docker = DockerEngine::ensure();
    let good = image("reach-1");
    let deaf = image("reach-2");
    docker.build_app_image(&good, "1", true);
    // v2 passes its health command (run inside the container) but its
    // httpd listens on 8081, not the container port nginx is sent to.
    docker.build_app_image_listening(&deaf, "2", true, 8081);
    let mut t = TestEngine::new().await;
    let cleanup = EnvironmentCleanup::new(&t.state_dir(), EnvIdentity::new(APP, "reach"));
    let port = free_port();
    let mut config = docker_config(port);
    config.health_path = None;
    config.health_command = Some("test -e /www/health".into());
    t.setup_docker("reach", config).await;
    t.start_runner();
    let v1 = t.register_image("1", &good, "main").await;
    let v2 = t.register_image("2", &deaf, "main").await;
    let job1 = t.deploy_to("reach", &v1).await;
    assert_eq!(job1.state, JobState::Succeeded, "{:?}", job1.error);

    let job2 = t.deploy_to("reach", &v2).await;
    assert_eq!(job2.state, JobState::Failed);
    let error = job2.error.clone().unwrap_or_default();
    assert!(
        error.contains("the traffic switch failed") && error.contains("could not reach"),
        "{error}"
    );
    let events = t.events(job2.id).await;
    assert!(
        events.iter().any(|e| e.text == "traffic switched back"),
        "{:?}",
        events.iter().map(|e| &e.text).collect::<Vec<_>>()
    );
    assert_eq!(page(&client(), port).await.unwrap(), "shop version 1\n");
    assert_eq!(cleanup.containers().len(), 1, "the v2 container was kept");
    let env = t.engine.environment(&t.actor, APP, "reach").await.unwrap();
    let releases = t.engine.releases(&t.actor, &env, None, 10).await.unwrap();
    let live: Vec<_> = releases
        .iter()
        .filter(|r| r.state == ReleaseState::Live)
        .collect();
    assert_eq!(live.len(), 1, "{releases:?}");
    assert_eq!(live[0].job_id, job1.id);

    drop(cleanup);
    docker.remove_image(&good);
    docker.remove_image(&deaf);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_qa_environment_from_a_branch_serves_its_url_and_leaves_nothing_behind() {
    use engine::backends::docker::plan::ProxyLayout;
    use engine::backends::BackendConfig;
    use engine::domain::EnvironmentKind;
    use engine::QaRequest;

    let docker = DockerEngine::ensure();
    docker.build_app_image(&image("qa"), "qa-1", true);
    let mut t = TestEngine::new().await;
    let name = "qa-feature-login-page";
    let cleanup = EnvironmentCleanup::new(&t.state_dir(), EnvIdentity::new(APP, name));
    t.setup_docker("staging", docker_config(free_port())).await;
    for (name, value, secret) in [
        ("GREETING", "hello", false),
        ("API_KEY", "s3cret-of-staging", true),
    ] {
        let var = engine::EnvVarRequest {
            name: name.into(),
            value: value.into(),
            secret,
        };
        t.engine
            .set_env_var(&t.actor, APP, "staging", var)
            .await
            .unwrap();
    }
    t.start_runner();
    let build = t
        .register_image("qa-1", &image("qa"), "feature/Login_Page")
        .await;
    let before = t.last_audit_seq().await;
    let request = QaRequest {
        based_on: "staging".into(),
        name: None,
        build_id: build.id,
        ttl_hours: 4,
    };

    // Create: named after the branch, its own port, its first release.
    let (env, job) = t
        .engine
        .create_qa_environment(&t.actor, APP, request.clone())
        .await
        .unwrap();
    assert_eq!(env.name, name);
    assert_eq!(env.kind, EnvironmentKind::Qa);
    assert!(env.expires_at.is_some());
    let job = t.wait_finished(job.id).await;
    assert_eq!(job.state, JobState::Succeeded, "{:?}", job.error);
    let BackendConfig::Docker(config) = &env.config else {
        panic!("not docker")
    };
    let url = engine::backends::docker::public_url(config);
    let body = client()
        .get(&url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(body, "shop version qa-1\n");
    assert_eq!(cleanup.containers().len(), 1);
    assert_eq!(cleanup.networks().len(), 1);
    // The original's variables come along, its secrets do not.
    let vars = t.engine.store().env_vars(&env).await.unwrap();
    let names: Vec<&str> = vars.iter().map(|v| v.name.as_str()).collect();
    assert_eq!(names, ["GREETING"]);
    let container_env = running_container_env(&cleanup);
    assert!(
        container_env.iter().any(|e| e == "GREETING=hello"),
        "{container_env:?}"
    );
    assert!(
        !container_env.iter().any(|e| e.contains("s3cret")),
        "{container_env:?}"
    );
    // The same name again is refused while it exists.
    assert!(t
        .engine
        .create_qa_environment(&t.actor, APP, request.clone())
        .await
        .is_err());

    // Destroy: containers, network, proxy and the environment are gone.
    let destroy = t
        .engine
        .destroy_environment(&t.actor, APP, name)
        .await
        .unwrap();
    let destroy = t.wait_finished(destroy.id).await;
    assert_eq!(destroy.state, JobState::Succeeded, "{:?}", destroy.error);
    assert!(cleanup.containers().is_empty(), "containers left");
    assert!(cleanup.networks().is_empty(), "networks left");
    let layout = ProxyLayout::new(&t.state_dir(), &EnvIdentity::new(APP, name));
    assert!(!layout.dir.exists(), "proxy files left");
    assert!(
        client().get(&url).send().await.is_err(),
        "{url} still answers"
    );
    assert!(t.engine.environment(&t.actor, APP, name).await.is_err());
    // Its history stays, and no longer says anything is live there.
    let live: i64 = engine::on_test_pool!(t.engine.store().pool(), pool => sqlx::query_scalar(
        "SELECT COUNT(*) FROM releases r JOIN environments e ON e.id = r.environment_id
         WHERE e.destroyed_at IS NOT NULL AND r.state = 'live'",
    )
    .fetch_one(pool)
    .await)
    .unwrap();
    assert_eq!(live, 0, "a destroyed environment keeps a live release");
    let actions = t.audit_actions_after(before).await;
    for expected in [
        "environment.created",
        "qa.create_requested",
        "environment.destroy_requested",
        "environment.destroyed",
    ] {
        assert!(
            actions.iter().any(|a| a == expected),
            "{expected} not in {actions:?}"
        );
    }

    // The name is free again; once expired, the sweeper destroys it (audited).
    let (env, job) = t
        .engine
        .create_qa_environment(&t.actor, APP, request)
        .await
        .unwrap();
    let job = t.wait_finished(job.id).await;
    assert_eq!(job.state, JobState::Succeeded, "{:?}", job.error);
    let before = t.last_audit_seq().await;
    // Time passes (only the expiry moves; the sweeper runs as in production).
    engine::on_test_pool!(t.engine.store().pool(), pool => sqlx::query("UPDATE environments SET expires_at = $1 WHERE id = $2")
        .bind(chrono::Utc::now() - chrono::Duration::minutes(1))
        .bind(env.id)
        .execute(pool)
        .await.map(|done| done.rows_affected()))
        .unwrap();
    t.poll("the expired QA environment to be destroyed", || async {
        t.engine
            .environment(&t.actor, APP, name)
            .await
            .is_err()
            .then_some(())
    })
    .await;
    let rows = t.audit_after(before).await;
    assert!(
        rows.iter()
            .any(|r| r.action == "environment.expired" && r.actor == "slipway"),
        "{rows:?}"
    );
    assert!(cleanup.containers().is_empty() && cleanup.networks().is_empty());
    docker.remove_image(&image("qa"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_branch_preview_follows_its_branch_from_the_first_build_until_the_branch_is_deleted() {
    use engine::auth::DeployPolicy;
    use engine::backends::BackendConfig;
    use engine::BranchDeleted;

    let docker = DockerEngine::ensure();
    docker.build_app_image(&image("preview-1"), "preview-1", true);
    docker.build_app_image(&image("preview-2"), "preview-2", true);
    docker.build_app_image(&image("preview-sick"), "preview-sick", false);
    let mut t = TestEngine::new().await;
    let name = "qa-feature-cart";
    let cleanup = EnvironmentCleanup::new(&t.state_dir(), EnvIdentity::new(APP, name));
    let config = docker_config(free_port());
    t.setup_docker("staging", config.clone()).await;
    t.engine
        .update_environment(
            &t.actor,
            APP,
            "staging",
            BackendConfig::Docker(config),
            DeployPolicy::parse(false, "", "", "feature/*").unwrap(),
        )
        .await
        .unwrap();
    t.start_runner();
    let preview = |t: &TestEngine| {
        let (engine, actor) = (t.engine.clone(), t.actor.clone());
        async move { engine.environment(&actor, APP, name).await.ok() }
    };
    let serves = |env: &engine::domain::Environment| {
        let BackendConfig::Docker(config) = &env.config else {
            panic!("not docker")
        };
        let url = engine::backends::docker::public_url(config);
        async move {
            client()
                .get(&url)
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap()
        }
    };
    let latest_job = |t: &TestEngine, env_id: i64| {
        let store = t.engine.store().clone();
        async move {
            store
                .jobs_for_environment(env_id, 1)
                .await
                .unwrap()
                .remove(0)
        }
    };

    let jobs_on = |t: &TestEngine, env_id: i64| {
        let store = t.engine.store().clone();
        async move { store.jobs_for_environment(env_id, 100).await.unwrap().len() }
    };

    // A build of another branch gets no preview.
    t.register_image("main-1", &image("preview-1"), "main")
        .await;
    assert!(preview(&t).await.is_none());

    // The branch's first build creates its preview, serving that build.
    let before = t.last_audit_seq().await;
    t.register_image("cart-1", &image("preview-1"), "feature/cart")
        .await;
    let env = preview(&t).await.expect("a preview for feature/cart");
    assert_eq!(env.kind, engine::domain::EnvironmentKind::Qa);
    let job = t.wait_finished(latest_job(&t, env.id).await.id).await;
    assert_eq!(job.state, JobState::Succeeded, "{:?}", job.error);
    assert_eq!(serves(&env).await, "shop version preview-1\n");
    let first_expiry = env.expires_at.expect("previews expire");
    let actions = t.audit_actions_after(before).await;
    let expected = [
        "build.registered",
        "environment.created",
        "qa.create_requested",
        "job.succeeded",
    ];
    assert_eq!(actions, expected, "one row per action");

    // The next build is deployed there, once, and the preview lives on.
    let before = t.last_audit_seq().await;
    t.register_image("cart-2", &image("preview-2"), "feature/cart")
        .await;
    let job = t.wait_finished(latest_job(&t, env.id).await.id).await;
    assert_eq!(job.kind, engine::domain::JobKind::Deploy);
    assert_eq!(job.state, JobState::Succeeded, "{:?}", job.error);
    assert_eq!(serves(&env).await, "shop version preview-2\n");
    assert_eq!(jobs_on(&t, env.id).await, 2, "one deploy per build");
    let extended = preview(&t).await.unwrap().expires_at.unwrap();
    assert!(extended > first_expiry, "{extended} <= {first_expiry}");
    let actions = t.audit_actions_after(before).await;
    let expected = [
        "build.registered",
        "deploy.requested",
        "environment.expiry_changed",
        "job.succeeded",
    ];
    assert_eq!(actions, expected, "one row per action");

    // A branch whose name maps to the same environment name is not this
    // preview's: it gets none (audited), and its deletion leaves this one.
    let before = t.last_audit_seq().await;
    t.register_image("cart-upper", &image("preview-1"), "feature/Cart")
        .await;
    assert_eq!(
        jobs_on(&t, env.id).await,
        2,
        "nothing deployed to another's preview"
    );
    let skipped = t.audit_after(before).await;
    assert!(
        skipped
            .iter()
            .any(|r| r.action == "branch_preview.skipped" && r.details.contains("does not follow")),
        "{skipped:?}"
    );
    let other = t
        .engine
        .branch_deleted("webhook:github", APP, "feature-cart");
    assert!(matches!(other.await.unwrap(), BranchDeleted::NoPreview));
    assert!(preview(&t).await.is_some());

    // A preview has no previews of its own.
    let err = t
        .engine
        .update_environment(
            &t.actor,
            APP,
            name,
            env.config.clone(),
            DeployPolicy::parse(false, "", "feature/cart", "feature/*").unwrap(),
        )
        .await
        .unwrap_err();
    assert_eq!(err.http_status(), 400, "{err}");

    // Someone locked the preview to keep it: the deletion is refused, clearly.
    t.engine
        .lock(&t.actor, APP, name, "demo for the customer at 3pm")
        .await
        .unwrap();
    let locked = t
        .engine
        .branch_deleted("webhook:github", APP, "feature/cart")
        .await
        .unwrap_err();
    assert_eq!(locked.http_status(), 409);
    assert!(locked.public_message().contains("customer"), "{locked}");
    assert!(preview(&t).await.is_some());
    t.engine.unlock(&t.actor, APP, name).await.unwrap();

    // The branch is deleted while a build that fails its health check is
    // still being tried there: the preview expires at once, and the sweeper
    // destroys it as soon as that job has ended.
    let failing = t
        .register_image("cart-3", &image("preview-sick"), "feature/cart")
        .await;
    let running = latest_job(&t, env.id).await;
    assert_eq!(running.build_id, failing.id);
    let before = t.last_audit_seq().await;
    match t
        .engine
        .branch_deleted("webhook:github", APP, "feature/cart")
        .await
        .unwrap()
    {
        BranchDeleted::AfterJob { job_id, .. } => assert_eq!(job_id, running.id),
        other => panic!("expected to wait for job #{}: {other:?}", running.id),
    }
    let job = t.wait_finished(running.id).await;
    assert_eq!(job.state, JobState::Failed);
    t.poll("the preview to be destroyed", || async {
        preview(&t).await.is_none().then_some(())
    })
    .await;
    let rows = t.audit_after(before).await;
    for (action, actor) in [
        ("environment.expiry_changed", "webhook:github"),
        ("environment.expired", "slipway"),
        ("environment.destroyed", "slipway"),
    ] {
        assert!(
            rows.iter().any(|r| r.action == action && r.actor == actor),
            "no {action} by {actor} in {rows:?}"
        );
    }
    t.poll("the destroy job to clean up", || async {
        (cleanup.containers().is_empty() && cleanup.networks().is_empty()).then_some(())
    })
    .await;

    // Said again: nothing to do. Of an application Slipway does not know:
    // a clear 404.
    let again = t
        .engine
        .branch_deleted("webhook:github", APP, "feature/cart");
    assert!(matches!(again.await.unwrap(), BranchDeleted::NoPreview));
    let unknown = t
        .engine
        .branch_deleted("webhook:github", "no-such-app", "feature/cart")
        .await
        .unwrap_err();
    assert_eq!(unknown.http_status(), 404);
    for version in ["preview-1", "preview-2", "preview-sick"] {
        docker.remove_image(&image(version));
    }
}

fn kill_process(pid: i32) {
    let status = std::process::Command::new("kill")
        .arg(pid.to_string())
        .status()
        .expect("run kill");
    assert!(status.success(), "kill {pid}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn containers_get_the_environment_variables_and_secrets_stay_out_of_the_log() {
    let docker = DockerEngine::ensure();
    docker.build_app_image(&image("vars"), "vars", true);
    let mut t = TestEngine::new().await;
    let cleanup = EnvironmentCleanup::new(&t.state_dir(), EnvIdentity::new(APP, "vars"));
    // The health check is a command run inside the container: it passes
    // only if the container received both variables (the secret checked by
    // its length, so that the settings never hold it).
    let mut config = docker_config(free_port());
    config.health_path = None;
    config.health_command =
        Some(r#"test "$GREETING" = 'hello world' && test "${#API_KEY}" = 12"#.into());
    t.setup_docker("vars", config).await;
    for (name, value, secret) in [
        ("GREETING", "hello world", false),
        ("API_KEY", "s3cr3t-value", true),
        // Any name: one ending in _PATH too.
        ("UPLOAD_PATH", "/var/uploads", false),
    ] {
        t.engine
            .set_env_var(
                &t.actor,
                APP,
                "vars",
                engine::EnvVarRequest {
                    name: name.into(),
                    value: value.into(),
                    secret,
                },
            )
            .await
            .unwrap();
    }
    t.start_runner();
    let build = t.register_image("vars", &image("vars"), "main").await;
    let job = t.deploy_to("vars", &build).await;
    assert_eq!(job.state, JobState::Succeeded, "{:?}", job.error);
    assert_eq!(cleanup.containers().len(), 1);
    let env = running_container_env(&cleanup);
    for expected in [
        "GREETING=hello world",
        "UPLOAD_PATH=/var/uploads",
        "SLIPWAY_ENVIRONMENT=vars",
    ] {
        assert!(
            env.contains(&expected.to_owned()),
            "{expected} missing: {env:?}"
        );
    }
    // A container has no release directory on this machine to be told of.
    assert!(
        !env.iter().any(|e| e.starts_with("SLIPWAY_RELEASE_PATH=")),
        "{env:?}"
    );
    let events = t.events(job.id).await;
    assert!(events.iter().all(|e| !e.text.contains("s3cr3t-value")));
    let audit = t.audit_after(0).await;
    assert!(audit.iter().all(|r| !r.details.contains("s3cr3t-value")));
    drop(cleanup);
    docker.remove_image(&image("vars"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_health_command_that_never_ends_fails_the_release_at_its_deadline() {
    let docker = DockerEngine::ensure();
    docker.build_app_image(&image("hang"), "hang", true);
    let mut t = TestEngine::new().await;
    let cleanup = EnvironmentCleanup::new(&t.state_dir(), EnvIdentity::new(APP, "hang"));
    let mut config = docker_config(free_port());
    config.health_path = None;
    config.health_command = Some("sleep 600".into());
    config.health_timeout_secs = 3;
    t.setup_docker("hang", config).await;
    t.start_runner();
    let build = t.register_image("hang", &image("hang"), "main").await;
    let started = Instant::now();
    let job = t.deploy_to("hang", &build).await;
    assert_eq!(job.state, JobState::Failed);
    let error = job.error.unwrap_or_default();
    assert!(
        error.contains("not healthy within 3 s") && error.contains("still running"),
        "{error}"
    );
    // Not a timing assertion: a hung check would hold the job for 600 s.
    assert!(started.elapsed() < Duration::from_secs(300));
    assert!(cleanup.containers().is_empty());
    drop(cleanup);
    docker.remove_image(&image("hang"));
}

/// `NAME=value` entries of the one running container of `cleanup`'s environment.
fn running_container_env(cleanup: &EnvironmentCleanup) -> Vec<String> {
    let running: Vec<String> = cleanup
        .containers()
        .into_iter()
        .filter_map(|id| {
            let out = std::process::Command::new("docker")
                .args([
                    "inspect",
                    "-f",
                    "{{.State.Running}}|{{join .Config.Env \"\\n\"}}",
                    &id,
                ])
                .output()
                .unwrap();
            let text = String::from_utf8_lossy(&out.stdout).into_owned();
            text.strip_prefix("true|").map(str::to_owned)
        })
        .collect();
    assert_eq!(running.len(), 1, "{running:?}");
    running[0].lines().map(str::to_owned).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollback_after_a_variable_changed_recreates_and_a_restore_keeps_the_live_container() {
    let docker = DockerEngine::ensure();
    for (version, healthy) in [("a", true), ("b", true), ("c", false)] {
        docker.build_app_image(&image(&format!("rot-{version}")), version, healthy);
    }
    let mut t = TestEngine::new().await;
    let cleanup = EnvironmentCleanup::new(&t.state_dir(), EnvIdentity::new(APP, "rotate"));
    let port = free_port();
    t.setup_docker("rotate", docker_config(port)).await;
    let (engine, actor) = (t.engine.clone(), t.actor.clone());
    let set_note = |value: &'static str| {
        let (engine, actor) = (engine.clone(), actor.clone());
        async move {
            let var = engine::EnvVarRequest {
                name: "NOTE".into(),
                value: value.into(),
                secret: true,
            };
            engine
                .set_env_var(&actor, APP, "rotate", var)
                .await
                .unwrap();
        }
    };
    set_note("first-value").await;
    t.start_runner();
    let a = t.register_image("a", &image("rot-a"), "main").await;
    let b = t.register_image("b", &image("rot-b"), "main").await;
    let c = t.register_image("c", &image("rot-c"), "main").await;
    let job_a = t.deploy_to("rotate", &a).await;
    assert_eq!(job_a.state, JobState::Succeeded, "{:?}", job_a.error);
    let job_b = t.deploy_to("rotate", &b).await;
    assert_eq!(job_b.state, JobState::Succeeded, "{:?}", job_b.error);

    // The secret is rotated; a's kept container still holds the old one.
    set_note("second-value").await;
    let release_a = t.release_of_job_in("rotate", job_a.id).await;
    let rollback = t.roll_back_and_wait_in("rotate", release_a.id).await;
    assert_eq!(rollback.state, JobState::Succeeded, "{:?}", rollback.error);
    assert_eq!(page(&client(), port).await.unwrap(), "shop version a\n");
    let events = t.events(rollback.id).await;
    assert!(
        events.iter().any(|e| e.text.contains("variables changed")),
        "the kept container was not recreated"
    );
    let env = running_container_env(&cleanup);
    assert!(env.contains(&"NOTE=second-value".to_owned()), "{env:?}");
    assert!(!env.iter().any(|e| e.contains("first-value")), "{env:?}");

    // c fails its health check; restoring the live release (a) leaves its
    // running container serving throughout.
    let job_c = t.deploy_to("rotate", &c).await;
    assert_eq!(job_c.state, JobState::Failed);
    let live_before = cleanup.containers();
    let live = t.release_of_job_in("rotate", rollback.id).await;
    let restore = t.roll_back_and_wait_in("rotate", live.id).await;
    assert_eq!(restore.state, JobState::Succeeded, "{:?}", restore.error);
    let events = t.events(restore.id).await;
    assert!(
        events
            .iter()
            .any(|e| e.text == "the container is already running"),
        "{:?}",
        events.iter().map(|e| &e.text).collect::<Vec<_>>()
    );
    assert_eq!(cleanup.containers(), live_before);
    assert_eq!(page(&client(), port).await.unwrap(), "shop version a\n");

    drop(cleanup);
    for version in ["a", "b", "c"] {
        docker.remove_image(&image(&format!("rot-{version}")));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_an_image_repository_the_build_is_pulled_from_its_registry() {
    use engine::testing::registry::Registry;

    let docker = DockerEngine::ensure();
    let registry = Registry::start();
    docker.build_app_image(&image("pull"), "pulled-1", true);
    let remote = registry.push_and_forget(&image("pull"), "shop", "v1");
    let mut t = TestEngine::new().await;
    let cleanup = EnvironmentCleanup::new(&t.state_dir(), EnvIdentity::new(APP, "pulled"));
    let port = free_port();
    let mut config = docker_config(port);
    config.image_repository = Some(registry.repository("shop"));
    t.setup_docker("pulled", config).await;
    t.start_runner();

    // An image from elsewhere is refused before anything starts.
    let foreign = t
        .register_image("x", "elsewhere.example/shop:v1", "main")
        .await;
    let job = t.deploy_to("pulled", &foreign).await;
    assert_eq!(job.state, JobState::Failed);
    let error = job.error.unwrap_or_default();
    assert!(
        error.contains("is not from this environment's repository"),
        "{error}"
    );
    assert!(cleanup.containers().is_empty());

    // The engine does not have it; the deploy pulls it, then serves it.
    let build = t.register_image("1", &remote, "main").await;
    let job = t.deploy_to("pulled", &build).await;
    assert_eq!(job.state, JobState::Succeeded, "{:?}", job.error);
    let log: Vec<String> = t.events(job.id).await.into_iter().map(|e| e.text).collect();
    assert!(
        log.iter().any(|l| l == &format!("pulling {remote}")),
        "{log:#?}"
    );
    let body = reqwest::get(format!("http://127.0.0.1:{port}/"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(body.contains("shop version pulled-1"), "{body}");

    // A tag the registry does not have fails with the registry's word.
    let missing = t
        .register_image("2", &format!("{}:v2", registry.repository("shop")), "main")
        .await;
    let job = t.deploy_to("pulled", &missing).await;
    assert_eq!(job.state, JobState::Failed);
    let error = job.error.unwrap_or_default();
    assert!(error.contains("could not pull"), "{error}");
    drop(cleanup);
    docker.remove_image(&remote);
}
