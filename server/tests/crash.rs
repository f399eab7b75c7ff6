//! kill -9 in the middle of a deploy: after a restart on the same data the
//! job is `interrupted` (never retried), production was never touched,
//! and the audit chain records it and stays intact.

mod common;

use std::time::{Duration, Instant};

use common::{cli, count, open_db, set_before_switch, TestServer};
use serde_json::{json, Value};

/// The specified bound: a dead runner's job is interrupted within 30 s.
const INTERRUPT_DEADLINE: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_of_a_killed_server_is_interrupted_after_restart() {
    let server = TestServer::start().await;
    let auth = server.bearer_token("crash");
    let data_dir = server.data_dir().to_path_buf();
    {
        let db = server.db().await;
        set_before_switch(&db, "echo staging; sleep 60").await;
        db.close().await;
    }

    let job_id = server.deploy(&auth, 1).await;

    // Wait until the hook is running (its output is stored).
    let deadline = Instant::now() + common::JOB_DEADLINE;
    let db = server.db().await;
    loop {
        let view = server.job(&auth, job_id).await;
        let host = &view["hosts"][0];
        let in_hook = view["job"]["state"] == json!("running")
            && host["state"] == json!("running")
            && host["step"]
                .as_str()
                .is_some_and(|s| s.starts_with("before_switch"));
        let staged_output: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM job_events WHERE job_id = ? AND text = 'staging'",
        )
        .bind(job_id)
        .fetch_one(&db)
        .await
        .unwrap();
        if in_hook && staged_output > 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the job never reached its hook: {view}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    db.close().await;

    // SIGKILL: no graceful shutdown, no chance to record anything.
    let data = server.kill();
    let current = data_dir.join("demo-target/current");
    assert!(
        std::fs::symlink_metadata(&current).is_err(),
        "the first deploy never switched"
    );

    let server = TestServer::start_in(data).await;
    let started = Instant::now();
    let view: Value = loop {
        let view = server.job(&auth, job_id).await;
        if view["job"]["state"] != json!("running") {
            break view;
        }
        assert!(
            started.elapsed() < INTERRUPT_DEADLINE,
            "job #{job_id} still running {INTERRUPT_DEADLINE:?} after the restart: {view}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    eprintln!(
        "interrupted {:.1}s after the restarted server answered",
        started.elapsed().as_secs_f64()
    );
    assert_eq!(view["job"]["state"], json!("interrupted"), "{view}");
    assert!(
        view["job"]["error"]
            .as_str()
            .is_some_and(|e| e.contains("not retried")),
        "{view}"
    );
    let hosts = view["hosts"].as_array().expect("hosts");
    assert!(!hosts.is_empty(), "{view}");
    for host in hosts {
        assert_eq!(host["state"], json!("interrupted"), "{view}");
    }
    assert_eq!(
        view["release"]["state"],
        json!("failed"),
        "the release never went live: {view}"
    );

    // Production: `current` either does not exist (first deploy) or points
    // at a complete directory.
    match std::fs::symlink_metadata(&current) {
        Err(_) => {}
        Ok(_) => panic!(
            "current appeared after an interrupted first deploy: {:?}",
            std::fs::read_link(&current)
        ),
    }

    // Nothing was retried, and the environment is free again.
    let db = open_db(&data_dir).await;
    assert_eq!(count(&db, "SELECT COUNT(*) FROM jobs").await, 1);
    assert_eq!(
        count(
            &db,
            "SELECT COUNT(*) FROM audit_log WHERE action = 'job.interrupted'"
        )
        .await,
        1
    );
    let releases = server
        .get("/api/apps/demo/envs/demo/releases", &auth)
        .await
        .json();
    assert!(
        releases
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["state"] != json!("live")),
        "{releases}"
    );

    // Its event stream is complete and closed with an end event.
    let last_level: String = sqlx::query_scalar(
        "SELECT level FROM job_events WHERE job_id = ? ORDER BY seq DESC LIMIT 1",
    )
    .bind(job_id)
    .fetch_one(&db)
    .await
    .unwrap();
    let last_text: String = sqlx::query_scalar(
        "SELECT text FROM job_events WHERE job_id = ? ORDER BY seq DESC LIMIT 1",
    )
    .bind(job_id)
    .fetch_one(&db)
    .await
    .unwrap();
    assert_eq!(
        (last_level.as_str(), last_text.as_str()),
        ("end", "interrupted")
    );
    db.close().await;

    let out = cli(&data_dir, &["audit", "verify"]);
    assert!(
        out.status.success(),
        "audit verify: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("audit log OK"));

    // The environment takes a new deploy, which now succeeds.
    {
        let db = server.db().await;
        set_before_switch(&db, "echo quick").await;
        db.close().await;
    }
    let next = server.deploy(&auth, 1).await;
    let view = server.wait_job_finished(&auth, next).await;
    assert_eq!(view["job"]["state"], json!("succeeded"), "{view}");
    let target = std::fs::read_link(&current).expect("current is a symlink now");
    let target = if target.is_absolute() {
        target
    } else {
        current.parent().unwrap().join(target)
    };
    assert!(target.is_dir(), "current points at {}", target.display());
}
