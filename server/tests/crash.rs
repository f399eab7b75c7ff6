//! kill -9 in the middle of a deploy: after a restart on the same data the
//! job is `interrupted` (never retried), production was never touched,
//! and the audit chain records it and stays intact.

mod common;

use std::time::{Duration, Instant};

use common::{assert_refused, cli, count, open_db, set_before_switch, TestServer};
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

    wait_in_hook(&server, &auth, job_id, "before_switch", "staging").await;
    let abandon = format!("/api/jobs/{job_id}/abandon");
    let running = server
        .post_json(&abandon, &auth, &json!({ "reason": "too early" }))
        .await;
    let refusal = assert_refused(&running, reqwest::StatusCode::CONFLICT, "running");
    assert!(refusal.contains("only an interrupted job"), "{refusal}");

    // SIGKILL: no graceful shutdown, no chance to record anything.
    let data = server.kill();
    let current = data_dir.join("demo-target/current");
    assert!(
        std::fs::symlink_metadata(&current).is_err(),
        "the first deploy never switched"
    );

    let server = TestServer::start_in(data).await;
    let view = wait_interrupted(&server, &auth, job_id).await;
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
    assert_eq!(view["job"]["abandoned_by"], Value::Null, "{view}");

    // Abandoning it takes a reason, is kept on the job as sent, and happens once.
    let blank = server
        .post_json(&abandon, &auth, &json!({ "reason": "  " }))
        .await;
    assert_eq!(
        blank.status,
        reqwest::StatusCode::BAD_REQUEST,
        "{}",
        blank.text
    );
    let reason = "checked <b>host</b>; $(rm -rf /) `id`\u{7}";
    let abandoned = server
        .post_json(&abandon, &auth, &json!({ "reason": reason }))
        .await;
    assert_eq!(
        abandoned.status,
        reqwest::StatusCode::OK,
        "{}",
        abandoned.text
    );
    let job = abandoned.json();
    assert_eq!(job["abandon_reason"], json!(reason), "{job}");
    assert_eq!(job["abandoned_by"], job["requested_by"], "{job}");
    assert!(job["abandoned_at"].is_string(), "{job}");
    let again = server
        .post_json(&abandon, &auth, &json!({ "reason": "twice" }))
        .await;
    assert_eq!(
        again.status,
        reqwest::StatusCode::CONFLICT,
        "{}",
        again.text
    );
    assert!(again.text.contains("abandoned already"), "{}", again.text);

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
    assert_eq!(
        audit_details(&db, "job.abandoned", job_id).await["reason"],
        json!(reason)
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
    let last_level: String = engine::on_test_pool!(&db, pool => sqlx::query_scalar(
        "SELECT level FROM job_events WHERE job_id = $1 ORDER BY seq DESC LIMIT 1",
    )
    .bind(job_id)
    .fetch_one(pool)
    .await)
    .unwrap();
    let last_text: String = engine::on_test_pool!(&db, pool => sqlx::query_scalar(
        "SELECT text FROM job_events WHERE job_id = $1 ORDER BY seq DESC LIMIT 1",
    )
    .bind(job_id)
    .fetch_one(pool)
    .await)
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

/// The worst crash for a symlink switch: after `current` moved, before the
/// job could record it. After the restart the database still names the
/// earlier release live while `current` points at the new one; the
/// environment is flagged and restoring the live release puts it back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_killed_after_the_switch_leaves_the_live_release_to_restore() {
    let server = TestServer::start().await;
    let auth = server.bearer_token("crash");
    let data_dir = server.data_dir().to_path_buf();
    let current = data_dir.join("demo-target/current");
    let first = server.deploy(&auth, 1).await;
    let view = server.wait_job_finished(&auth, first).await;
    assert_eq!(view["job"]["state"], json!("succeeded"), "{view}");
    let live = view["release"].clone();
    let live_target = std::fs::read_link(&current).expect("current after the first deploy");

    set_after_switch(&server, "echo switched; sleep 60").await;
    let job_id = server.deploy(&auth, 2).await;
    wait_in_hook(&server, &auth, job_id, "after_switch", "switched").await;
    let data = server.kill();
    assert_ne!(
        std::fs::read_link(&current).ok(),
        Some(live_target.clone()),
        "the second deploy had switched"
    );

    let server = TestServer::start_in(data).await;
    let view = wait_interrupted(&server, &auth, job_id).await;
    assert_eq!(view["job"]["state"], json!("interrupted"), "{view}");

    // The live release is the first one in the database: restore it.
    set_after_switch(&server, "echo switched").await;
    let rollback = "/api/apps/demo/envs/demo/rollback";
    let body = json!({ "release_id": live["id"] });
    let reply = server.post_json(rollback, &auth, &body).await;
    assert_eq!(
        reply.status,
        reqwest::StatusCode::ACCEPTED,
        "{}",
        reply.text
    );
    let restore = reply.json()["id"].as_i64().unwrap();
    let view = server.wait_job_finished(&auth, restore).await;
    assert_eq!(view["job"]["state"], json!("succeeded"), "{view}");
    assert_eq!(
        std::fs::read_link(&current).ok(),
        Some(live_target),
        "current is back on the live release"
    );

    // Settled again: the live release (the restore's) is no rollback target.
    let body = json!({ "release_id": view["release"]["id"] });
    let reply = server.post_json(rollback, &auth, &body).await;
    assert_eq!(
        reply.status,
        reqwest::StatusCode::CONFLICT,
        "{}",
        reply.text
    );
    assert!(reply.text.contains("already live"), "{}", reply.text);
}

/// Resume finishes an interrupted job with a new one, only while nothing
/// changed that would make it another release: not while it runs, not
/// after its environment's settings changed, and once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_job_resumes_once_and_only_while_that_is_safe() {
    let server = TestServer::start().await;
    let auth = server.bearer_token("crash");
    let data_dir = server.data_dir().to_path_buf();
    let go = data_dir.join("go");
    {
        let db = server.db().await;
        let hold = format!(
            "echo staging; while [ ! -e '{}' ]; do sleep 0.1; done",
            go.display()
        );
        set_before_switch(&db, &hold).await;
        db.close().await;
    }
    let job_id = server.deploy(&auth, 1).await;
    wait_in_hook(&server, &auth, job_id, "before_switch", "staging").await;
    let resume = format!("/api/jobs/{job_id}/resume");
    let running = server.post_json(&resume, &auth, &json!({})).await;
    let refusal = assert_refused(&running, reqwest::StatusCode::CONFLICT, "running");
    assert!(refusal.contains("only an interrupted job"), "{refusal}");

    let data = server.kill();
    let server = TestServer::start_in(data).await;
    let view = wait_interrupted(&server, &auth, job_id).await;
    assert_eq!(view["job"]["state"], json!("interrupted"), "{view}");

    // Settings changed since: it would be another release. Put back, it is not.
    let db = server.db().await;
    let config: String = engine::on_test_pool!(&db, pool => sqlx::query_scalar("SELECT CAST(config AS TEXT) FROM environments WHERE name = 'demo'")
        .fetch_one(pool)
        .await)
        .unwrap();
    common::set_demo_hook(&db, "after_switch", "echo changed").await;
    let changed = server.post_json(&resume, &auth, &json!({})).await;
    let refusal = assert_refused(&changed, reqwest::StatusCode::CONFLICT, "changed");
    assert!(
        refusal.contains("settings or variables changed"),
        "{refusal}"
    );
    let put_back = match &db {
        engine::store::Pool::Sqlite(_) => "UPDATE environments SET config = $1 WHERE name = 'demo'",
        engine::store::Pool::Postgres(_) => {
            "UPDATE environments SET config = CAST($1 AS JSONB) WHERE name = 'demo'"
        }
    };
    engine::on_test_pool!(&db, pool => sqlx::query(put_back)
        .bind(&config)
        .execute(pool)
        .await.map(|done| done.rows_affected()))
    .unwrap();
    assert_eq!(
        count(&db, "SELECT COUNT(*) FROM jobs").await,
        1,
        "a refused resume queued nothing"
    );

    std::fs::write(&go, "").unwrap();
    let resumed = server.post_json(&resume, &auth, &json!({})).await;
    assert_eq!(
        resumed.status,
        reqwest::StatusCode::ACCEPTED,
        "{}",
        resumed.text
    );
    let resumed = resumed.json()["id"].as_i64().expect("the new job's id");
    let view = server.wait_job_finished(&auth, resumed).await;
    assert_eq!(view["job"]["state"], json!("succeeded"), "{view}");
    assert_eq!(view["job"]["resumes_job_id"], json!(job_id), "{view}");
    assert_eq!(view["build"]["id"], json!(1), "{view}");
    let current = data_dir.join("demo-target/current");
    let target = std::fs::read_link(&current).expect("current after the resume");
    assert!(current
        .parent()
        .unwrap()
        .join(target)
        .join("VERSION")
        .is_file());

    let interrupted = server.job(&auth, job_id).await;
    assert_eq!(
        interrupted["job"]["resumed_by_job_id"],
        json!(resumed),
        "{interrupted}"
    );
    let page = server.get(&format!("/jobs/{job_id}"), &auth).await;
    assert!(page.text.contains("id=\"resumed\""), "{}", page.text);
    let again = server.post_json(&resume, &auth, &json!({})).await;
    let refusal = assert_refused(&again, reqwest::StatusCode::CONFLICT, "resumed twice");
    assert!(refusal.contains("resumed already"), "{refusal}");
    let abandon = server
        .post_json(
            &format!("/api/jobs/{job_id}/abandon"),
            &auth,
            &json!({ "reason": "late" }),
        )
        .await;
    assert_refused(
        &abandon,
        reqwest::StatusCode::CONFLICT,
        "abandon a resumed job",
    );
    assert_eq!(
        audit_details(&db, "job.resumed", job_id).await["resumed_by_job"],
        json!(resumed)
    );
    db.close().await;
    let out = cli(&data_dir, &["audit", "verify"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

/// The details of the audit row `action` about job `job_id`.
async fn audit_details(db: &engine::store::Pool, action: &str, job_id: i64) -> Value {
    let details: String =
        engine::on_test_pool!(db, pool => sqlx::query_scalar("SELECT details FROM audit_log WHERE action = $1 AND target = $2")
            .bind(action)
            .bind(format!("job/{job_id}"))
            .fetch_one(pool)
            .await)
            .unwrap_or_else(|e| panic!("no {action} row for job #{job_id}: {e}"));
    serde_json::from_str(&details).expect("audit details are JSON")
}

/// Waits until the job's (single) host runs the hook named `hook` and the
/// hook's first output line `output` is stored.
async fn wait_in_hook(
    server: &TestServer,
    auth: &common::Auth,
    job_id: i64,
    hook: &str,
    output: &str,
) {
    let deadline = Instant::now() + common::JOB_DEADLINE;
    let db = server.db().await;
    loop {
        let view = server.job(auth, job_id).await;
        let host = &view["hosts"][0];
        let in_hook = view["job"]["state"] == json!("running")
            && host["state"] == json!("running")
            && host["step"].as_str().is_some_and(|s| s.starts_with(hook));
        let printed: i64 =
            engine::on_test_pool!(&db, pool => sqlx::query_scalar("SELECT COUNT(*) FROM job_events WHERE job_id = $1 AND text = $2")
                .bind(job_id)
                .bind(output)
                .fetch_one(pool)
                .await)
                .unwrap();
        if in_hook && printed > 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the job never reached its {hook} hook: {view}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    db.close().await;
}

/// Waits (within the specified bound) until the restarted server has
/// finished the dead runner's job; its view.
async fn wait_interrupted(server: &TestServer, auth: &common::Auth, job_id: i64) -> Value {
    let started = Instant::now();
    loop {
        let view = server.job(auth, job_id).await;
        if view["job"]["state"] != json!("running") {
            eprintln!(
                "finished {:.1}s after the restarted server answered",
                started.elapsed().as_secs_f64()
            );
            return view;
        }
        assert!(
            started.elapsed() < INTERRUPT_DEADLINE,
            "job #{job_id} still running {INTERRUPT_DEADLINE:?} after the restart: {view}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

async fn set_after_switch(server: &TestServer, command: &str) {
    let db = server.db().await;
    common::set_demo_hook(&db, "after_switch", command).await;
    db.close().await;
}
