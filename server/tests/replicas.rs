//! Two real `slipway serve` replicas on one real PostgreSQL database,
//! sharing one data directory (as a shared volume would be): each accepted
//! job runs exactly once, a replica killed mid-job leaves the job
//! `interrupted` by the other, a watcher on the other replica sees every
//! event of it exactly once, and the audit chain stays one chain.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::{
    gated_hook, open_events, open_gate, start_replicas, wait_claimed, Auth, SseReader, TestServer,
    JOB_DEADLINE,
};
use engine::testing::postgres::Cluster;
use reqwest::StatusCode;
use sqlx::PgPool;

/// Two replicas on a fresh database of a throwaway cluster.
struct Replicas {
    a: TestServer,
    b: TestServer,
    auth: Auth,
    url: String,
    db: PgPool,
    // Last: the cluster outlives the servers using it.
    _cluster: Option<Cluster>,
}

impl Replicas {
    async fn start() -> Self {
        let (admin, cluster) = Cluster::shared_or_start();
        let url = engine::testing::database::fresh_postgres(&admin).await;
        let (a, b, auth) = start_replicas(&url).await;
        let db = PgPool::connect(&url)
            .await
            .expect("the test's own connection");
        Self {
            a,
            b,
            auth,
            url,
            db,
            _cluster: cluster,
        }
    }

    fn data_dir(&self) -> PathBuf {
        self.a.data_dir().to_path_buf()
    }

    async fn create_environments(&self, names: &[&str], before_switch: &str) {
        common::create_local_environments(&self.url, &self.data_dir(), names, before_switch).await;
    }

    async fn build_id(&self) -> i64 {
        sqlx::query_scalar("SELECT id FROM builds ORDER BY id DESC LIMIT 1")
            .fetch_one(&self.db)
            .await
            .expect("a demo build")
    }

    async fn count(&self, sql: &str) -> i64 {
        sqlx::query_scalar(sql)
            .fetch_one(&self.db)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }
}

async fn deploy(
    server: &TestServer,
    auth: &Auth,
    env: &str,
    build_id: i64,
) -> (StatusCode, String) {
    let reply = server.deploy_to(auth, env, build_id).await;
    (reply.status, reply.text)
}

/// `slipway audit verify` on the replicas' database and data directory.
fn audit_verify(data_dir: &Path, url: &str) -> (bool, String) {
    let output = Command::new(common::binary())
        .env_remove("SLIPWAY_DATA_DIR")
        .env("DATABASE_URL", url)
        .arg("--data-dir")
        .arg(data_dir)
        .args(["audit", "verify"])
        .stdin(Stdio::null())
        .output()
        .expect("running slipway audit verify");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_requests_over_two_replicas_run_each_accepted_job_exactly_once() {
    let r = Replicas::start().await;
    let names: Vec<String> = (1..=10).map(|n| format!("env-{n}")).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    // Each run of a job's hook leaves one line with its release.
    let runs = r.data_dir().join("runs");
    std::fs::create_dir_all(&runs).unwrap();
    let hook = format!(
        "echo \"$SLIPWAY_RELEASE_ID\" >> '{}/{{env}}.log'; sleep 0.3",
        runs.display()
    );
    r.create_environments(&names, &hook).await;
    let build_id = r.build_id().await;
    let jobs_before = r.count("SELECT COUNT(*) FROM jobs").await;

    // 50 requests at once, alternating replicas, five per environment.
    let requests = (0..50).map(|i| {
        let server = if i % 2 == 0 { &r.a } else { &r.b };
        deploy(server, &r.auth, names[i % names.len()], build_id)
    });
    let answers = futures::future::join_all(requests).await;
    let mut accepted = Vec::new();
    for (status, text) in &answers {
        match *status {
            StatusCode::ACCEPTED => {
                let body: serde_json::Value = serde_json::from_str(text).expect("JSON");
                accepted.push(body["id"].as_i64().expect("a job id"));
            }
            StatusCode::CONFLICT => assert!(
                text.contains("busy"),
                "a refused request says the environment is busy: {text}"
            ),
            other => panic!("a deploy request answered {other}: {text}"),
        }
    }
    assert!(
        accepted.len() >= names.len(),
        "each environment took one: {answers:?}"
    );

    for job_id in &accepted {
        let view = r.a.wait_job_finished(&r.auth, *job_id).await;
        assert_eq!(view["job"]["state"], "succeeded", "job #{job_id}: {view}");
    }
    // Nothing but the accepted jobs exists, and each ran once: one hook
    // run, one release, one `job.succeeded`.
    assert_eq!(
        r.count("SELECT COUNT(*) FROM jobs").await - jobs_before,
        accepted.len() as i64
    );
    let mut hook_runs: Vec<String> = Vec::new();
    for name in &names {
        let log = std::fs::read_to_string(runs.join(format!("{name}.log"))).unwrap_or_default();
        hook_runs.extend(log.lines().map(str::to_owned));
    }
    let distinct: std::collections::BTreeSet<&String> = hook_runs.iter().collect();
    assert_eq!(hook_runs.len(), accepted.len(), "hook runs: {hook_runs:?}");
    assert_eq!(
        distinct.len(),
        accepted.len(),
        "a release ran twice: {hook_runs:?}"
    );
    assert_eq!(
        r.count("SELECT COUNT(*) FROM audit_log WHERE action = 'job.succeeded'")
            .await,
        accepted.len() as i64
    );
    // The periodic work (lease sweeps, QA expiry, due requests, the docker
    // reconcile) has one leader.
    let leading = |server: &TestServer| {
        format!("{}{}", server.stdout_text(), server.stderr_text())
            .contains("leading the periodic work")
    };
    assert!(
        leading(&r.a) ^ leading(&r.b),
        "exactly one replica leads: A {}, B {}",
        leading(&r.a),
        leading(&r.b)
    );

    let (ok, text) = audit_verify(&r.data_dir(), &r.url);
    assert!(ok, "audit verify after the load: {text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_replicas_job_is_interrupted_by_the_other_whose_watchers_saw_every_event_once() {
    let r = Replicas::start().await;
    let data_dir = r.data_dir();
    // The hook speaks only once the watcher is connected: what it says can
    // reach the watcher only live, from the other replica, through the
    // database.
    let spoken = data_dir.join("speak");
    let gate = gated_hook(
        &data_dir,
        &format!(
            "while [ ! -e '{}' ]; do sleep 0.05; done; echo waiting at the gate",
            spoken.display()
        ),
        "echo through the gate",
    );
    r.create_environments(&["held"], &gate).await;
    let build_id = r.build_id().await;
    let (status, text) = deploy(&r.a, &r.auth, "held", build_id).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{text}");
    let job_id = serde_json::from_str::<serde_json::Value>(&text).unwrap()["id"]
        .as_i64()
        .unwrap();

    // Which replica claimed it: its runner's name carries its PID.
    let owner = wait_claimed(&r.db, job_id, None).await;
    let runs_on_a = owner.contains(&format!("-{}-", r.a.pid()));
    assert!(
        runs_on_a || owner.contains(&format!("-{}-", r.b.pid())),
        "{owner}"
    );
    let (mut running, watcher) = if runs_on_a { (r.a, r.b) } else { (r.b, r.a) };

    // Watched through the replica that does not run it: its events reach
    // this stream only through the database.
    let resp = open_events(&watcher, &r.auth, job_id, "", None).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let mut stream = SseReader::new(resp);
    std::fs::write(&spoken, b"now").unwrap();
    let mut seen = Vec::new();
    let heard = tokio::time::timeout(JOB_DEADLINE, async {
        loop {
            let event = stream.next_event().await.expect("the stream goes on");
            let at_gate = event.text().contains("waiting at the gate");
            seen.push(event);
            if at_gate {
                break;
            }
        }
    })
    .await;
    assert!(
        heard.is_ok(),
        "the other replica's live event never reached this one's watcher: {seen:?}"
    );

    // The replica running it dies; the other interrupts it once its lease ends.
    running.sigkill();
    let rest = tokio::time::timeout(JOB_DEADLINE, stream.until_end())
        .await
        .unwrap_or_else(|_| panic!("the stream did not end after the kill: {seen:?}"));
    seen.extend(rest);
    let last = seen.last().expect("events");
    assert_eq!(last.level(), "end", "{seen:?}");

    let stored: Vec<(i64, String)> =
        sqlx::query_as("SELECT seq, text FROM job_events WHERE job_id = $1 ORDER BY seq")
            .bind(job_id)
            .fetch_all(&r.db)
            .await
            .unwrap();
    let streamed: Vec<(i64, String)> = seen
        .iter()
        .map(|e| (e.id.expect("an event id"), e.text()))
        .collect();
    assert_eq!(streamed, stored, "every stored event once, in order");

    let view = watcher.wait_job_finished(&r.auth, job_id).await;
    assert_eq!(view["job"]["state"], "interrupted", "{view}");
    // The survivor keeps serving: a deploy through it runs to the end.
    open_gate(&data_dir);
    let (status, text) = deploy(&watcher, &r.auth, "demo", build_id).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{text}");
    let next: i64 = serde_json::from_str::<serde_json::Value>(&text).unwrap()["id"]
        .as_i64()
        .unwrap();
    let view = watcher.wait_job_finished(&r.auth, next).await;
    assert_eq!(view["job"]["state"], "succeeded", "{view}");

    let (ok, text) = audit_verify(&data_dir, &r.url);
    assert!(ok, "audit verify after the kill: {text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_through_one_replica_stops_the_job_the_other_runs() {
    let r = Replicas::start().await;
    let data_dir = r.data_dir();
    let gate = gated_hook(
        &data_dir,
        "echo waiting at the gate",
        "echo through the gate",
    );
    r.create_environments(&["held"], &gate).await;
    let build_id = r.build_id().await;
    let (status, text) = deploy(&r.b, &r.auth, "held", build_id).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{text}");
    let job_id = serde_json::from_str::<serde_json::Value>(&text).unwrap()["id"]
        .as_i64()
        .unwrap();
    let owner = wait_claimed(&r.db, job_id, Some("waiting at the gate")).await;
    let other = if owner.contains(&format!("-{}-", r.a.pid())) {
        &r.b
    } else {
        &r.a
    };
    let reply = other
        .post_json(
            &format!("/api/jobs/{job_id}/cancel"),
            &r.auth,
            &serde_json::json!({}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::ACCEPTED, "cancel: {}", reply.text);
    let view = other.wait_job_finished(&r.auth, job_id).await;
    assert_eq!(view["job"]["state"], "cancelled", "{view}");
    assert_eq!(
        r.count("SELECT COUNT(*) FROM audit_log WHERE action = 'job.cancelled'")
            .await,
        1
    );
    // It never went through the gate (the hook was stopped there).
    let through: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM job_events WHERE job_id = $1 AND text = 'through the gate'",
    )
    .bind(job_id)
    .fetch_one(&r.db)
    .await
    .unwrap();
    assert_eq!(through, 0);
}
