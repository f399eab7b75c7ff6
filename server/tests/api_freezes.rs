//! Freeze windows through the API of the real binary: made by an admin,
//! refusing a deploy with the window's name, overridden with a reason,
//! bad schedules refused with nothing written.

mod common;

use chrono::{Duration, SecondsFormat, Utc};
use common::{count, TestServer};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

const FREEZES: &str = "/api/apps/demo/freezes";

fn around_now() -> Value {
    let at = |offset: Duration| (Utc::now() + offset).to_rfc3339_opts(SecondsFormat::Secs, true);
    json!({
        "name": "<b>Holiday</b> freeze",
        "environment": "demo",
        "kind": "once",
        "from": at(-Duration::hours(1)),
        "to": at(Duration::hours(2)),
        "time_zone": "Europe/Berlin",
    })
}

async fn latest_build(server: &TestServer) -> i64 {
    engine::on_test_pool!(&server.db().await, pool => sqlx::query_scalar("SELECT MAX(id) FROM builds")
        .fetch_one(pool)
        .await)
        .expect("the demo's builds")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_freeze_made_through_the_api_refuses_deploys_until_an_admin_overrides_it() {
    let server = TestServer::start().await;
    let admin = server.token_for("admin", "read,deploy");
    server.login_as("dora", "deployer").await;
    let dora = server.token_for("dora", "read,deploy");
    let build_id = latest_build(&server).await;

    let refused = server.post_json(FREEZES, &dora, &around_now()).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.text);
    let made = server.post_json(FREEZES, &admin, &around_now()).await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.text);
    let window = made.json();
    assert_eq!(window["name"], "<b>Holiday</b> freeze");
    assert!(window["active"]["end"].is_string(), "{window}");

    let listed = server.get(FREEZES, &dora).await.json();
    assert_eq!(listed.as_array().map(Vec::len), Some(1), "{listed}");
    let apps = server.get("/api/apps", &dora).await.json();
    let env = &apps[0]["environments"][0];
    assert_eq!(
        env["freeze"]["active"]["name"], "<b>Holiday</b> freeze",
        "{env}"
    );

    let deploy = "/api/apps/demo/envs/demo/deploy";
    let frozen = server
        .post_json(deploy, &dora, &json!({ "build_id": build_id }))
        .await;
    assert_eq!(frozen.status, StatusCode::CONFLICT, "{}", frozen.text);
    assert!(frozen.error().contains("Holiday"), "{}", frozen.text);
    assert!(frozen.error().contains("Europe/Berlin"), "{}", frozen.text);
    let not_admin = json!({ "build_id": build_id, "freeze_override": "urgent" });
    let reply = server.post_json(deploy, &dora, &not_admin).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN, "{}", reply.text);

    let through = json!({ "build_id": build_id, "freeze_override": "INC-7: payment outage" });
    let reply = server.post_json(deploy, &admin, &through).await;
    assert_eq!(reply.status, StatusCode::ACCEPTED, "{}", reply.text);
    let job = server
        .wait_job_finished(&admin, reply.json()["id"].as_i64().expect("a job id"))
        .await;
    assert_eq!(job["job"]["state"], "succeeded", "{job}");
    let db = server.db().await;
    assert_eq!(
        count(&db, "SELECT COUNT(*) FROM audit_log WHERE action = 'freeze.overridden' AND details LIKE '%INC-7%'").await,
        1
    );

    let path = format!("{FREEZES}/{}", window["id"]);
    let reply = server
        .send(server.request(Method::DELETE, &path, &admin))
        .await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.text);
    let reply = server
        .send(server.request(Method::DELETE, &path, &admin))
        .await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND, "{}", reply.text);
    server.deploy(&dora, build_id).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_schedule_zone_or_body_is_a_400_naming_it_and_writes_nothing() {
    let server = TestServer::start().await;
    let admin = server.token_for("admin", "read,deploy");
    let db = server.db().await;
    let with = |patch: Value| {
        let mut body = json!({
            "name": "weekend", "kind": "weekly", "days": "Sat,Sun",
            "start": "00:00", "end": "23:59", "time_zone": "UTC",
        });
        for (key, value) in patch.as_object().expect("an object") {
            body[key] = value.clone();
        }
        body
    };
    for (body, names) in [
        (
            with(json!({ "time_zone": "Mars/Olympus_Mons" })),
            "time_zone",
        ),
        (with(json!({ "days": "Caturday" })), "days"),
        (with(json!({ "start": "25:99" })), "start"),
        (
            with(json!({ "kind": "cron", "cron": "0 18 * * 5 `reboot`", "minutes": 60 })),
            "cron",
        ),
        (
            with(json!({ "kind": "cron", "cron": "0 18 * * 5" })),
            "minutes",
        ),
        (with(json!({ "kind": "fortnightly" })), "kind"),
        (with(json!({ "environment": "nowhere" })), "nowhere"),
        (with(json!({ "colour": "blue" })), "colour"),
    ] {
        let reply = server.post_json(FREEZES, &admin, &body).await;
        assert!(reply.status.is_client_error(), "{body}: {}", reply.text);
        assert!(reply.error().contains(names), "{body}: {}", reply.text);
    }
    assert_eq!(count(&db, "SELECT COUNT(*) FROM freeze_windows").await, 0);
    let reply = server.post_json(FREEZES, &admin, &with(json!({}))).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    assert_eq!(reply.json()["schedule"], "every Sat, Sun 00:00–23:59");
    let reply = server
        .send(server.request(Method::DELETE, &format!("{FREEZES}/x1"), &admin))
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.text);
}
