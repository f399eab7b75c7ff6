//! Deploy requests, approvals, token reach and the audit API through the
//! real binary: a deploy to an environment with approval rules answers
//! with a request; its requester may not approve it; a named approver
//! does, and it runs; a token limited elsewhere is refused (audited); the
//! audit log pages with its filters kept.

mod common;

use common::{cli, count, Auth, TestServer};
use reqwest::StatusCode;
use serde_json::{json, Value};

const DEPLOY: &str = "/api/apps/demo/envs/demo/deploy";

async fn latest_build(server: &TestServer) -> i64 {
    engine::on_test_pool!(&server.db().await, pool => sqlx::query_scalar("SELECT MAX(id) FROM builds")
        .fetch_one(pool)
        .await)
        .expect("the demo's builds")
}

async fn wait_started(server: &TestServer, auth: &Auth, id: i64) -> Value {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let request = server
            .get(&format!("/api/requests/{id}"), auth)
            .await
            .json();
        if request["state"] == "started" {
            return request;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "request #{id} never started: {request}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deploy_needing_approval_is_a_request_that_someone_else_approves() {
    let server = TestServer::start().await;
    let admin = server.token_for("admin", "read,deploy");
    server.login_as("dora", "deployer").await;
    let dora = server.token_for("dora", "read,deploy");
    engine::on_test_pool!(&server.db().await, pool => sqlx::query(
        r#"UPDATE environments SET approvals = '{"rules":[{"required":1,"from":["user:dora"]}],"prevent_self_review":false,"wait_minutes":0,"expire_hours":24}'"#,
    )
    .execute(pool)
    .await.map(|done| done.rows_affected()))
    .unwrap();
    let build_id = latest_build(&server).await;

    let asked = server
        .post_json(DEPLOY, &admin, &json!({ "build_id": build_id }))
        .await;
    assert_eq!(asked.status, StatusCode::ACCEPTED, "{}", asked.text);
    let request = asked.json()["request"].clone();
    let id = request["id"].as_i64().expect("a request id");
    assert_eq!(request["state"], "awaiting_approval");
    assert_eq!(
        asked.header("location"),
        Some(format!("/api/requests/{id}").as_str())
    );
    assert_eq!(
        count(&server.db().await, "SELECT COUNT(*) FROM jobs").await,
        0
    );

    let pending = server.get("/api/requests", &dora).await.json();
    assert_eq!(pending[0]["id"], id, "{pending}");
    assert_eq!(pending[0]["may_answer"], true);
    let mine = server.get("/api/requests", &admin).await.json();
    assert_eq!(mine[0]["may_answer"], false);
    assert!(mine[0]["why_not"]
        .as_str()
        .unwrap_or_default()
        .contains("you asked for it"));

    let approve = format!("/api/requests/{id}/approve");
    let own = server.post_json(&approve, &admin, &json!({})).await;
    assert_eq!(own.status, StatusCode::FORBIDDEN, "{}", own.text);
    let silent = server
        .post_json(&format!("/api/requests/{id}/reject"), &dora, &json!({}))
        .await;
    assert_eq!(silent.status, StatusCode::BAD_REQUEST, "{}", silent.text);
    let unknown = server
        .post_json(&approve, &dora, &json!({ "comment": "x", "extra": 1 }))
        .await;
    assert_eq!(unknown.status, StatusCode::BAD_REQUEST, "{}", unknown.text);

    let comment = "ok <script>alert(1)</script> $(reboot)";
    let approved = server
        .post_json(&approve, &dora, &json!({ "comment": comment }))
        .await;
    assert_eq!(approved.status, StatusCode::OK, "{}", approved.text);
    assert_eq!(approved.json()["note"], "approved by dora");
    let started = wait_started(&server, &dora, id).await;
    let job_id = started["job_id"].as_i64().expect("its job");
    let job = server.wait_job_finished(&dora, job_id).await;
    assert_eq!(job["job"]["state"], "succeeded", "{job}");
    assert_eq!(job["job"]["requested_by"], "admin");
    assert_eq!(job["release"]["approved_by"], "dora");

    let audit = server
        .get("/api/audit?action=request.approved", &dora)
        .await
        .json();
    assert_eq!(audit[0]["actor"], "dora", "{audit}");
    assert!(audit[0]["details"]
        .as_str()
        .unwrap_or_default()
        .contains("<script>"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_limited_elsewhere_is_refused_and_the_refusal_audited() {
    let server = TestServer::start().await;
    let build_id = latest_build(&server).await;
    let elsewhere =
        server.token_limited_to("admin", "read,builds:write,deploy", "shop, billing/staging");
    let refused = server
        .post_json(DEPLOY, &elsewhere, &json!({ "build_id": build_id }))
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.text);
    assert!(
        refused.error().contains("limited to shop, billing/staging"),
        "{}",
        refused.error()
    );
    let build = common::build_request("demo", &common::sha("limited"), "demo-2.tar.gz");
    let not_registered = server.post_json("/api/builds", &elsewhere, &build).await;
    assert_eq!(
        not_registered.status,
        StatusCode::FORBIDDEN,
        "{}",
        not_registered.text
    );
    let db = server.db().await;
    assert_eq!(count(&db, "SELECT COUNT(*) FROM jobs").await, 0);
    assert_eq!(
        count(
            &db,
            "SELECT COUNT(*) FROM audit_log WHERE action = 'access.denied'"
        )
        .await,
        1,
        "the refused deploy is audited"
    );

    let bad = cli(
        server.data_dir(),
        &[
            "create-token",
            "admin",
            "--name",
            "bad",
            "--limited-to",
            "demo/$(reboot)",
        ],
    );
    assert!(!bad.status.success(), "a bad reach is refused");

    let here = server.token_limited_to("admin", "read,builds:write,deploy", "demo/demo");
    let queued = server
        .post_json(DEPLOY, &here, &json!({ "build_id": build_id }))
        .await;
    assert_eq!(queued.status, StatusCode::ACCEPTED, "{}", queued.text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_api_pages_with_its_filters_kept() {
    let server = TestServer::start().await;
    let admin = server.token_for("admin", "read,deploy");
    for reason in ["one", "two", "three"] {
        let path = "/api/apps/demo/envs/demo/lock";
        let locked = server
            .send(
                server
                    .request(reqwest::Method::PUT, path, &admin)
                    .json(&json!({ "reason": reason })),
            )
            .await;
        assert!(locked.status.is_success(), "{}", locked.text);
        let unlocked = server
            .send(server.request(reqwest::Method::DELETE, path, &admin))
            .await;
        assert!(unlocked.status.is_success(), "{}", unlocked.text);
    }
    let first = server
        .get("/api/audit?action=environment.locked&limit=2", &admin)
        .await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.text);
    let rows = first.json();
    assert_eq!(rows.as_array().map(Vec::len), Some(2), "{rows}");
    assert!(rows
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["action"] == "environment.locked"));
    let link = first.header("link").expect("a next page").to_owned();
    assert!(
        link.contains("action=environment.locked") && link.contains("before="),
        "{link}"
    );
    let next = link
        .trim_start_matches('<')
        .split('>')
        .next()
        .unwrap()
        .to_owned();
    let rest = server.get(&next, &admin).await.json();
    assert_eq!(rest.as_array().map(Vec::len), Some(1), "{rest}");
    assert!(rest[0]["seq"].as_i64() < rows[1]["seq"].as_i64());

    for bad in [
        "/api/audit?limit=0",
        "/api/audit?since=yesterday",
        "/api/audit?nope=1",
    ] {
        let refused = server.get(bad, &admin).await;
        assert_eq!(
            refused.status,
            StatusCode::BAD_REQUEST,
            "{bad}: {}",
            refused.text
        );
    }
}
