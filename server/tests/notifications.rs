//! Notifications from the real binary to a real HTTP receiver process on
//! loopback (`fixtures/notify_receiver.py`): a generic target's bodies
//! are signed (the test recomputes the HMAC), delivered after the
//! receiver answered 500 twice, and only for the events chosen; a Slack
//! target gets `text` + `blocks`; no secret is in any body, and the
//! target's URL is never shown or audited with its path. Bad targets are
//! a clear 400 and change nothing.

mod common;

use std::path::Path;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use common::{set_before_switch, TestServer};
use hmac::{Hmac, Mac};
use reqwest::StatusCode;
use serde_json::{json, Value};
use sha2::Sha256;

const SIGNING_SECRET: &str = "receiver-shared-secret-0123";
const PLANTED_SECRET: &str = "planted-secret-value-9f8e7d";

/// The receiver process; ended (by its own PID) when dropped.
struct Receiver {
    child: Child,
    port: u16,
    log: std::path::PathBuf,
}

impl Receiver {
    fn start(dir: &Path, fail_first: u32) -> Self {
        let script =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/notify_receiver.py");
        let port_file = dir.join("receiver.port");
        let log = dir.join("receiver.log");
        let child = Command::new("python3")
            .arg(script)
            .arg(&port_file)
            .arg(&log)
            .arg(fail_first.to_string())
            .spawn()
            .expect("start the receiver");
        let deadline = Instant::now() + Duration::from_secs(20);
        let port = loop {
            if let Ok(text) = std::fs::read_to_string(&port_file) {
                break text.trim().parse().expect("a port");
            }
            assert!(Instant::now() < deadline, "the receiver did not start");
            std::thread::sleep(Duration::from_millis(50));
        };
        Receiver { child, port, log }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn requests(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .map(|line| serde_json::from_str(line).expect("a JSON line"))
            .collect()
    }

    /// Waits until `count` requests reached `path`.
    async fn wait_for(&self, path: &str, count: usize) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let seen: Vec<Value> = self
                .requests()
                .into_iter()
                .filter(|r| r["path"] == path)
                .collect();
            if seen.len() >= count {
                return seen;
            }
            assert!(
                Instant::now() < deadline,
                "{path}: {} of {count} requests arrived: {seen:?}",
                seen.len()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn hmac_hex(secret: &str, message: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(message.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn targets_hear_of_chosen_events_signed_retried_and_without_secrets() {
    let server = TestServer::start_with_env(&[("SLIPWAY_NOTIFY_FIRST_RETRY_SECS", "0.3")]).await;
    let receiver = Receiver::start(server.data_dir(), 2);
    let admin = server.token_for("admin", "read,deploy");
    let session = server.login().await;

    // A secret variable a failing hook prints.
    server
        .set_demo_secret(&session, "API_KEY", PLANTED_SECRET)
        .await;

    // Bad targets: a clear 400 each, and nothing made.
    for (bad, field) in [
        (
            json!({"name": "x", "url": "ftp://127.0.0.1/x", "format": "slack", "events": "failed"}),
            "url",
        ),
        (
            json!({"name": "x", "url": receiver.url("/x"), "format": "generic", "events": "failed"}),
            "secret",
        ),
        (
            json!({"name": "x", "url": receiver.url("/x"), "format": "slack", "events": "failed; rm -rf /"}),
            "events",
        ),
        (
            json!({"name": "x", "url": "http://u:p@127.0.0.1/x", "format": "slack", "events": "failed"}),
            "url",
        ),
        (
            json!({"name": "<b>\u{7}</b>", "url": receiver.url("/x"), "format": "slack", "events": "failed"}),
            "name",
        ),
    ] {
        let reply = server
            .post_json("/api/apps/demo/notifications", &admin, &bad)
            .await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{bad}: {}",
            reply.text
        );
        assert!(reply.text.contains(field), "{bad}: {}", reply.text);
    }
    let listed = server.get("/api/apps/demo/notifications", &admin).await;
    assert_eq!(listed.json(), json!([]), "nothing was made");

    let generic = server
        .post_json(
            "/api/apps/demo/notifications",
            &admin,
            &json!({
                "name": "release bot",
                "environment": "demo",
                "url": receiver.url("/flaky"),
                "format": "generic",
                "secret": SIGNING_SECRET,
                "events": "succeeded failed",
            }),
        )
        .await;
    assert_eq!(generic.status, StatusCode::CREATED, "{}", generic.text);
    let generic = generic.json();
    // Shown as scheme and host only.
    assert_eq!(
        generic["url"],
        format!("http://127.0.0.1:{}/…", receiver.port)
    );
    assert_eq!(generic["signed"], true);
    let slack = server
        .post_json(
            "/api/apps/demo/notifications",
            &admin,
            &json!({
                "name": "#deploys",
                "url": receiver.url("/slack"),
                "format": "slack",
                "events": "started",
            }),
        )
        .await;
    assert_eq!(slack.status, StatusCode::CREATED, "{}", slack.text);

    // A deploy: "started" goes to Slack; "succeeded" to the generic target,
    // which answers 500 twice before it takes it.
    let job = server.deploy(&admin, 1).await;
    let done = server.wait_job_finished(&admin, job).await;
    assert_eq!(done["job"]["state"], "succeeded", "{done}");
    let flaky = receiver.wait_for("/flaky", 3).await;
    assert_eq!(
        flaky
            .iter()
            .map(|r| r["answered"].as_i64())
            .collect::<Vec<_>>(),
        [Some(500), Some(500), Some(200)]
    );
    for request in &flaky {
        let body = request["body"].as_str().expect("a body");
        let timestamp = request["headers"]["x-slipway-timestamp"]
            .as_str()
            .expect("a timestamp");
        let signature = request["headers"]["x-slipway-signature"]
            .as_str()
            .expect("a signature");
        assert_eq!(
            signature,
            format!(
                "sha256={}",
                hmac_hex(SIGNING_SECRET, &format!("{timestamp}.{body}"))
            ),
            "the signature covers the timestamp and the body"
        );
        let body: Value = serde_json::from_str(body).expect("JSON");
        assert_eq!(body["event"], "succeeded");
        assert_eq!(body["environment"], "demo/demo");
        assert_eq!(body["job_id"], job);
        assert_eq!(request["headers"]["x-slipway-event"], "succeeded");
    }
    let slack_requests = receiver.wait_for("/slack", 1).await;
    let slack_body: Value =
        serde_json::from_str(slack_requests[0]["body"].as_str().expect("a body")).expect("JSON");
    assert!(
        slack_body["text"]
            .as_str()
            .is_some_and(|t| t.contains("Deploy started")),
        "{slack_body}"
    );
    assert_eq!(slack_body["blocks"][0]["type"], "section");
    assert!(slack_requests[0]["headers"]
        .get("x-slipway-signature")
        .is_none());

    // The delivery log says how it went.
    let id = generic["id"].as_i64().expect("an id");
    let log = server
        .get(&format!("/api/notifications/{id}/deliveries"), &admin)
        .await;
    assert_eq!(log.status, StatusCode::OK, "{}", log.text);
    let log = log.json();
    assert_eq!(log[0]["state"], "delivered", "{log}");
    assert_eq!(log[0]["attempts"], 3, "{log}");
    assert_eq!(log[0]["last_status"], 200, "{log}");

    // A failed deploy whose hook printed the secret: told once, masked.
    set_before_switch(&server.db().await, "echo \"key is $API_KEY\"; exit 3").await;
    let job = server.deploy(&admin, 2).await;
    let done = server.wait_job_finished(&admin, job).await;
    assert_eq!(done["job"]["state"], "failed", "{done}");
    let flaky = receiver.wait_for("/flaky", 4).await;
    let failed: Value =
        serde_json::from_str(flaky[3]["body"].as_str().expect("a body")).expect("JSON");
    assert_eq!(failed["event"], "failed", "{failed}");

    // Give a stray delivery time to arrive, then: nothing for events not
    // chosen (requested, and started for the generic target), and no
    // secret anywhere.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let all = receiver.requests();
    assert_eq!(
        all.iter().filter(|r| r["path"] == "/flaky").count(),
        4,
        "{all:?}"
    );
    assert_eq!(
        all.iter().filter(|r| r["path"] == "/slack").count(),
        2,
        "two starts: {all:?}"
    );
    let everything = serde_json::to_string(&all).expect("JSON");
    assert!(!everything.contains(PLANTED_SECRET), "a secret was sent");
    assert!(
        !everything.contains(SIGNING_SECRET),
        "the signing secret was sent"
    );

    // The audit log names the target by scheme and host, never its path.
    let audit = server
        .get("/api/audit?action=notification_target.created", &admin)
        .await;
    assert_eq!(audit.status, StatusCode::OK, "{}", audit.text);
    assert!(audit.text.contains("release bot"), "{}", audit.text);
    assert!(
        !audit.text.contains("/flaky") && !audit.text.contains("/slack"),
        "{}",
        audit.text
    );
    assert!(!audit.text.contains(SIGNING_SECRET));
    assert!(
        !server.stderr_text().contains("/flaky"),
        "the URL was logged"
    );
    assert!(
        !server.stdout_text().contains("/flaky"),
        "the URL was logged"
    );

    // Removed (admins only): no more deliveries to it.
    server.login_as("dora", "deployer").await;
    let deployer = server.token_for("dora", "read,deploy");
    let refused = server
        .send(server.request(
            reqwest::Method::DELETE,
            &format!("/api/notifications/{id}"),
            &deployer,
        ))
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.text);
    let removed = server
        .send(server.request(
            reqwest::Method::DELETE,
            &format!("/api/notifications/{id}"),
            &admin,
        ))
        .await;
    assert_eq!(removed.status, StatusCode::NO_CONTENT, "{}", removed.text);
}
