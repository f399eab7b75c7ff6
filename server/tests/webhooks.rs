//! Push webhooks against the real binary: only a body signed with the
//! configured secret is read; what is not a deleted branch changes
//! nothing; malformed bodies and hostile branch names get a clear 4xx and
//! change nothing; without a secret the route is off. (A deleted branch
//! destroying its preview runs against a real Docker engine in
//! `engine/tests/docker_backend.rs` and in the browser in
//! `end2end/tests/branch_previews.rs`.)

mod common;

use common::{snapshot, Auth, Reply, TestServer};
use hmac::{Hmac, Mac};
use reqwest::StatusCode;
use sha2::Sha256;

const SECRET: &str = "a-webhook-secret-for-tests";

/// The secret `app`'s webhooks are signed with (what `slipway
/// webhook-secret <app>` prints).
fn app_secret(app: &str) -> String {
    engine::webhooks::WebhookSecret::new(SECRET)
        .unwrap()
        .for_application(&engine::domain::AppName::parse(app).unwrap())
        .reveal()
        .to_owned()
}

fn sign(secret: &str, body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body.as_bytes());
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// A delivery id of its own for each call, as GitHub sends.
fn new_delivery_id() -> String {
    static SENT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    format!(
        "00000000-0000-4000-8000-{:012x}",
        SENT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    )
}

async fn github(
    server: &TestServer,
    path: &str,
    event: &str,
    signature: &str,
    body: &str,
) -> Reply {
    let delivery = new_delivery_id();
    server
        .post_raw(
            path,
            &Auth::None,
            &[
                ("x-github-event", event),
                ("x-hub-signature-256", signature),
                ("x-github-delivery", &delivery),
            ],
            body,
        )
        .await
}

/// Audit rows besides the refused webhooks (which are recorded).
async fn audit_rows_besides_refusals(db: &engine::store::Pool) -> i64 {
    common::count(
        db,
        "SELECT COUNT(*) FROM audit_log WHERE action != 'webhook.refused'",
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_signed_webhooks_are_read_and_bad_ones_change_nothing() {
    let server = TestServer::start_with_env(&[("SLIPWAY_WEBHOOK_SECRET", SECRET)]).await;
    let db = server.db().await;
    let before = snapshot(&db).await;
    let audit_before = audit_rows_besides_refusals(&db).await;
    let deleted = r#"{"ref":"refs/heads/feature/cart","deleted":true}"#;
    let hook = "/hooks/github/demo";
    let demo = app_secret("demo");

    // Unsigned, signed with another secret — Slipway's own, another
    // application's — or over another body: 401.
    for signature in [
        "",
        "sha256=00",
        &sign("another-secret-entirely", deleted),
        &sign(SECRET, deleted),
        &sign(&app_secret("blog"), deleted),
    ] {
        let reply = github(&server, hook, "push", signature, deleted).await;
        assert_eq!(
            reply.status,
            StatusCode::UNAUTHORIZED,
            "{signature:?}: {}",
            reply.text
        );
        assert!(reply.error().contains("signature"), "{}", reply.text);
    }
    let other_body = r#"{"ref":"refs/heads/main","deleted":true}"#;
    let reply = github(&server, hook, "push", &sign(&demo, other_body), deleted).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    // Each refusal is audited (anonymously, rate-limited like failed sign-ins).
    assert_eq!(
        common::count(
            &db,
            "SELECT COUNT(*) FROM audit_log WHERE action = 'webhook.refused' AND actor = 'anonymous'"
        )
        .await,
        6
    );

    // Signed: a ping, a push of commits, a deleted branch without a preview.
    let ping = github(&server, hook, "ping", &sign(&demo, "{}"), "{}").await;
    assert_eq!(ping.status, StatusCode::OK, "{}", ping.text);
    let push = r#"{"ref":"refs/heads/main","deleted":false}"#;
    let reply = github(&server, hook, "push", &sign(&demo, push), push).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert!(
        reply.json()["result"]
            .as_str()
            .unwrap()
            .contains("0 commit(s) noted"),
        "{}",
        reply.text
    );
    let tag = r#"{"ref":"refs/tags/v1","deleted":false}"#;
    let reply = github(&server, hook, "push", &sign(&demo, tag), tag).await;
    assert!(reply.text.contains("nothing to do"), "{}", reply.text);
    let reply = github(&server, hook, "push", &sign(&demo, deleted), deleted).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert!(
        reply.json()["result"]
            .as_str()
            .unwrap()
            .contains("no preview"),
        "{}",
        reply.text
    );

    // One delivery is acted on once: sent again (replayed, redelivered)
    // it is answered, not acted on — under its own id or any other, since
    // the id is not signed and the body is; a delivery without an id, or
    // with a malformed one, is refused.
    let delivered = |id: &'static str, body: &'static str| {
        let signature = sign(&demo, body);
        let server = &server;
        async move {
            let mut headers = vec![
                ("x-github-event", "push"),
                ("x-hub-signature-256", signature.as_str()),
            ];
            if !id.is_empty() {
                headers.push(("x-github-delivery", id));
            }
            server.post_raw(hook, &Auth::None, &headers, body).await
        }
    };
    let once = r#"{"ref":"refs/heads/feature/once","deleted":true}"#;
    let first = delivered("72d3162e-cc78-11e3-81ab-4c9367dc0958", once).await;
    assert!(first.text.contains("no preview"), "{}", first.text);
    let again = delivered("72d3162e-cc78-11e3-81ab-4c9367dc0958", once).await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.text);
    assert!(again.text.contains("handled already"), "{}", again.text);
    let replayed = delivered("72d3162e-cc78-11e3-81ab-000000000001", once).await;
    assert_eq!(replayed.status, StatusCode::OK, "{}", replayed.text);
    assert!(
        replayed.text.contains("handled already"),
        "{}",
        replayed.text
    );
    let twice = r#"{"ref":"refs/heads/feature/twice","deleted":true}"#;
    let other = delivered("72d3162e-cc78-11e3-81ab-000000000002", twice).await;
    assert!(other.text.contains("no preview"), "{}", other.text);
    let bad = delivered("../etc; rm", twice).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{}", bad.text);
    assert!(bad.error().contains("delivery id"), "{}", bad.text);
    let headerless = r#"{"ref":"refs/heads/feature/anon","deleted":true}"#;
    let missing = delivered("", headerless).await;
    assert_eq!(missing.status, StatusCode::BAD_REQUEST, "{}", missing.text);
    assert!(
        missing.error().contains("x-github-delivery"),
        "{}",
        missing.text
    );

    // Signed but malformed, hostile or misaddressed: a clear 4xx.
    let cases = [
        (
            hook,
            "push",
            "not json",
            StatusCode::BAD_REQUEST,
            "push event",
        ),
        (
            hook,
            "push",
            r#"{"deleted":true}"#,
            StatusCode::BAD_REQUEST,
            "ref",
        ),
        (
            hook,
            "push",
            r#"{"ref":"refs/heads/-rf","deleted":true}"#,
            StatusCode::BAD_REQUEST,
            "branch",
        ),
        (
            hook,
            "push",
            r#"{"ref":"refs/heads/x;$(touch /tmp/slipway-canary)`id`","deleted":true}"#,
            StatusCode::BAD_REQUEST,
            "branch",
        ),
        (
            "/hooks/github/Not_An_App",
            "push",
            deleted,
            StatusCode::BAD_REQUEST,
            "application",
        ),
        (
            "/hooks/bitbucket/demo",
            "push",
            deleted,
            StatusCode::NOT_FOUND,
            "github",
        ),
    ];
    let unknown_app = "/hooks/github/no-such-app";
    let reply = github(
        &server,
        unknown_app,
        "push",
        &sign(&app_secret("no-such-app"), deleted),
        deleted,
    )
    .await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND, "{}", reply.text);
    assert!(reply.error().contains("no-such-app"), "{}", reply.text);
    for (path, event, body, status, says) in cases {
        let reply = github(&server, path, event, &sign(&demo, body), body).await;
        assert_eq!(reply.status, status, "{path} {body}: {}", reply.text);
        assert!(
            reply.error().contains(says),
            "{path} {body}: {}",
            reply.text
        );
    }
    let no_event = server
        .post_raw(
            hook,
            &Auth::None,
            &[("x-hub-signature-256", &sign(&demo, deleted))],
            deleted,
        )
        .await;
    assert_eq!(
        no_event.status,
        StatusCode::BAD_REQUEST,
        "{}",
        no_event.text
    );
    assert!(no_event.error().contains("x-github-event"));

    // GitLab sends the application's secret itself.
    let gitlab =
        r#"{"ref":"refs/heads/feature/cart","after":"0000000000000000000000000000000000000000"}"#;
    for (token, status) in [
        (demo.as_str(), StatusCode::OK),
        (SECRET, StatusCode::UNAUTHORIZED),
        ("not-the-secret", StatusCode::UNAUTHORIZED),
    ] {
        let reply = server
            .post_raw(
                "/hooks/gitlab/demo",
                &Auth::None,
                &[
                    ("x-gitlab-event", "Push Hook"),
                    ("x-gitlab-token", token),
                    ("x-gitlab-event-uuid", &new_delivery_id()),
                ],
                gitlab,
            )
            .await;
        assert_eq!(reply.status, status, "{token}: {}", reply.text);
    }

    assert!(!std::path::Path::new("/tmp/slipway-canary").exists());
    let after = snapshot(&db).await;
    assert_eq!(
        (after.builds, after.jobs, after.releases),
        (before.builds, before.jobs, before.releases),
        "a webhook changed something"
    );
    assert_eq!(
        audit_rows_besides_refusals(&db).await,
        audit_before,
        "a webhook was audited as something it did not do"
    );
    for secret in [SECRET, demo.as_str()] {
        assert!(!server.stdout_text().contains(secret) && !server.stderr_text().contains(secret));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_secret_webhooks_are_off_and_a_weak_secret_does_not_start() {
    let server = TestServer::start().await;
    let body = r#"{"ref":"refs/heads/feature/cart","deleted":true}"#;
    let reply = github(&server, "/hooks/github/demo", "push", &sign("", body), body).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND, "{}", reply.text);
    assert!(
        reply.error().contains("SLIPWAY_WEBHOOK_SECRET"),
        "{}",
        reply.text
    );
    drop(server);

    // Refused as the flags are read: before the database, a login link or
    // a job. (Killed after a while if it starts serving after all.)
    let dir = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new(common::binary())
        .args(["serve", "--addr", "127.0.0.1:0"])
        .env("SLIPWAY_DATA_DIR", dir.path())
        .env("SLIPWAY_WEBHOOK_SECRET", "short")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while child.try_wait().unwrap().is_none() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let _ = child.kill();
    let output = child.wait_with_output().unwrap();
    assert!(!output.status.success());
    assert!(
        std::fs::read_dir(dir.path()).unwrap().next().is_none(),
        "it touched the data directory"
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("16-256 characters"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_webhook_example_is_signed_the_way_slipway_checks() {
    let server = TestServer::start_with_env(&[("SLIPWAY_WEBHOOK_SECRET", SECRET)]).await;
    let out = std::process::Command::new("bash")
        .args(["-euo", "pipefail", "-c"])
        .arg(common::readme_sh_block("### Webhooks"))
        .env("SLIPWAY", server.url(""))
        .env("SLIPWAY_WEBHOOK_SECRET", SECRET)
        .env("SLIPWAY_DATA_DIR", server.data_dir())
        .envs(common::postgres_url_of(server.data_dir()).map(|url| ("DATABASE_URL", url)))
        .env("PATH", path_with_slipway())
        .output()
        .expect("running bash");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("it has no preview"),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `PATH` with the `slipway` under test first, as the README's commands call it.
fn path_with_slipway() -> String {
    let bin = common::binary();
    let dir = bin.parent().expect("the binary's directory");
    format!(
        "{}:{}",
        dir.display(),
        std::env::var("PATH").unwrap_or_default()
    )
}
