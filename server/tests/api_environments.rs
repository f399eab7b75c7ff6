//! The environments API against the real binary: listing what each
//! application has and what is live, locking and unlocking, and QA
//! environments' create and destroy refusing what they cannot do.

mod common;

use common::{count, snapshot, Auth, Reply, TestServer};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

async fn send_json(
    server: &TestServer,
    method: Method,
    path: &str,
    auth: &Auth,
    body: Option<&str>,
) -> Reply {
    let mut builder = server.request(method, path, auth);
    if let Some(body) = body {
        builder = builder
            .header("content-type", "application/json")
            .body(body.to_owned());
    }
    server.send(builder).await
}

fn demo_environment(apps: &Value) -> Value {
    apps.as_array()
        .and_then(|apps| apps.iter().find(|a| a["name"] == "demo"))
        .and_then(|app| app["environments"].as_array())
        .and_then(|envs| envs.iter().find(|e| e["name"] == "demo"))
        .cloned()
        .unwrap_or_else(|| panic!("no demo/demo in {apps}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn environments_are_listed_locked_and_unlocked_through_the_api() {
    let server = TestServer::start().await;
    let deployer = server.token_for("admin", "read,deploy");
    let reader = server.token_for("admin", "read");
    let db = server.db().await;
    let lock = "/api/apps/demo/envs/demo/lock";

    let listed = server.get("/api/apps", &reader).await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.text);
    let env = demo_environment(&listed.json());
    assert_eq!(env["backend"], "local");
    assert_eq!(env["kind"], "permanent");
    assert!(env["lock"].is_null(), "{env}");

    // Refused, each with a reason, and nothing written (but the audit
    // log's note of a refused credential).
    let state = || async {
        let s = snapshot(&db).await;
        (s.builds, s.jobs, s.releases, locked(&db).await)
    };
    let before = state().await;
    for (auth, body, status) in [
        (&deployer, r#"{"reason": "#, StatusCode::BAD_REQUEST),
        (
            &deployer,
            r#"{"reason": "x", "until": 1}"#,
            StatusCode::BAD_REQUEST,
        ),
        (&deployer, r#"{"reason": "   "}"#, StatusCode::BAD_REQUEST),
        (
            &reader,
            r#"{"reason": "release freeze"}"#,
            StatusCode::FORBIDDEN,
        ),
        (
            &Auth::None,
            r#"{"reason": "release freeze"}"#,
            StatusCode::UNAUTHORIZED,
        ),
    ] {
        let reply = send_json(&server, Method::PUT, lock, auth, Some(body)).await;
        assert_eq!(reply.status, status, "{body}: {}", reply.text);
        assert!(!reply.error().is_empty(), "{body}: {}", reply.text);
    }
    assert_eq!(state().await, before);

    let reply = send_json(
        &server,
        Method::PUT,
        lock,
        &deployer,
        Some(r#"{"reason": "release freeze"}"#),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(reply.json()["reason"], "release freeze");
    assert_eq!(reply.json()["locked_by"], "admin");
    let again = send_json(
        &server,
        Method::PUT,
        lock,
        &deployer,
        Some(r#"{"reason": "twice"}"#),
    )
    .await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.text);
    assert!(again.error().contains("already locked"), "{}", again.text);

    // The list says so, and a deploy waits for the unlock.
    let env = demo_environment(&server.get("/api/apps", &reader).await.json());
    assert_eq!(env["lock"]["reason"], "release freeze", "{env}");
    let build_id: i64 =
        engine::on_test_pool!(&db, pool => sqlx::query_scalar("SELECT MAX(id) FROM builds")
        .fetch_one(pool)
        .await)
        .expect("the demo's builds");
    let deploy = server
        .post_json(
            "/api/apps/demo/envs/demo/deploy",
            &deployer,
            &json!({ "build_id": build_id }),
        )
        .await;
    assert_eq!(deploy.status, StatusCode::CONFLICT, "{}", deploy.text);
    assert!(deploy.error().contains("locked"), "{}", deploy.text);

    let reply = send_json(&server, Method::DELETE, lock, &reader, None).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN, "{}", reply.text);
    let reply = send_json(&server, Method::DELETE, lock, &deployer, None).await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.text);
    let reply = send_json(&server, Method::DELETE, lock, &deployer, None).await;
    assert_eq!(reply.status, StatusCode::CONFLICT, "{}", reply.text);
    let env = demo_environment(&server.get("/api/apps", &reader).await.json());
    assert!(env["lock"].is_null(), "{env}");

    // One audit row each for the lock and the unlock.
    assert_eq!(
        count(
            &db,
            "SELECT COUNT(*) FROM audit_log WHERE action IN ('environment.locked', 'environment.unlocked')"
        )
        .await,
        2
    );
}

async fn locked(db: &engine::store::Pool) -> i64 {
    count(
        db,
        "SELECT COUNT(*) FROM environments WHERE lock_reason IS NOT NULL",
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qa_environments_through_the_api_refuse_what_they_cannot_do() {
    let server = TestServer::start().await;
    let deployer = server.token_for("admin", "read,deploy");
    let db = server.db().await;
    let environments = || count(&db, "SELECT COUNT(*) FROM environments");
    let before = (snapshot(&db).await, environments().await);

    for (body, status, says) in [
        (r#"{"based_on": "demo""#, StatusCode::BAD_REQUEST, "JSON"),
        (
            r#"{"based_on": "demo", "build_id": 1, "ttl_hours": 24, "image": "x"}"#,
            StatusCode::BAD_REQUEST,
            "image",
        ),
        (
            r#"{"based_on": "nowhere", "build_id": 1, "ttl_hours": 24}"#,
            StatusCode::NOT_FOUND,
            "nowhere",
        ),
    ] {
        let reply = send_json(
            &server,
            Method::POST,
            "/api/apps/demo/qa",
            &deployer,
            Some(body),
        )
        .await;
        assert_eq!(reply.status, status, "{body}: {}", reply.text);
        assert!(reply.error().contains(says), "{body}: {}", reply.text);
    }
    // A permanent environment is not destroyed.
    let reply = send_json(
        &server,
        Method::DELETE,
        "/api/apps/demo/envs/demo",
        &deployer,
        None,
    )
    .await;
    assert!(reply.status.is_client_error(), "{}", reply.text);
    assert!(!reply.error().is_empty(), "{}", reply.text);
    assert_eq!((snapshot(&db).await, environments().await), before);
}
