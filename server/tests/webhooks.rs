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

fn sign(secret: &str, body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body.as_bytes());
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

async fn github(
    server: &TestServer,
    path: &str,
    event: &str,
    signature: &str,
    body: &str,
) -> Reply {
    server
        .post_raw(
            path,
            &Auth::None,
            &[
                ("x-github-event", event),
                ("x-hub-signature-256", signature),
            ],
            body,
        )
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_signed_webhooks_are_read_and_bad_ones_change_nothing() {
    let server = TestServer::start_with_env(&[("SLIPWAY_WEBHOOK_SECRET", SECRET)]).await;
    let db = server.db().await;
    let before = snapshot(&db).await;
    let deleted = r#"{"ref":"refs/heads/feature/cart","deleted":true}"#;
    let hook = "/hooks/github/demo";

    // Unsigned, signed with another secret, or signed over another body: 401.
    for signature in ["", "sha256=00", &sign("another-secret-entirely", deleted)] {
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
    let reply = github(&server, hook, "push", &sign(SECRET, other_body), deleted).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);

    // Signed: a ping, a push of commits, a deleted branch without a preview.
    let ping = github(&server, hook, "ping", &sign(SECRET, "{}"), "{}").await;
    assert_eq!(ping.status, StatusCode::OK, "{}", ping.text);
    let push = r#"{"ref":"refs/heads/main","deleted":false}"#;
    let reply = github(&server, hook, "push", &sign(SECRET, push), push).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert!(reply.json()["result"]
        .as_str()
        .unwrap()
        .contains("nothing to do"));
    let reply = github(&server, hook, "push", &sign(SECRET, deleted), deleted).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert!(
        reply.json()["result"]
            .as_str()
            .unwrap()
            .contains("no QA environment"),
        "{}",
        reply.text
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
            "/hooks/github/no-such-app",
            "push",
            deleted,
            StatusCode::NOT_FOUND,
            "no-such-app",
        ),
        (
            "/hooks/bitbucket/demo",
            "push",
            deleted,
            StatusCode::NOT_FOUND,
            "github",
        ),
    ];
    for (path, event, body, status, says) in cases {
        let reply = github(&server, path, event, &sign(SECRET, body), body).await;
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
            &[("x-hub-signature-256", &sign(SECRET, deleted))],
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

    // GitLab sends the secret itself.
    let gitlab =
        r#"{"ref":"refs/heads/feature/cart","after":"0000000000000000000000000000000000000000"}"#;
    for (token, status) in [
        (SECRET, StatusCode::OK),
        ("not-the-secret", StatusCode::UNAUTHORIZED),
    ] {
        let reply = server
            .post_raw(
                "/hooks/gitlab/demo",
                &Auth::None,
                &[("x-gitlab-event", "Push Hook"), ("x-gitlab-token", token)],
                gitlab,
            )
            .await;
        assert_eq!(reply.status, status, "{token}: {}", reply.text);
    }

    assert!(!std::path::Path::new("/tmp/slipway-canary").exists());
    assert_eq!(snapshot(&db).await, before, "a webhook changed something");
    assert!(!server.stdout_text().contains(SECRET) && !server.stderr_text().contains(SECRET));
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

    let dir = tempfile::tempdir().unwrap();
    let output = std::process::Command::new(common::binary())
        .args(["serve", "--addr", "127.0.0.1:0"])
        .env("SLIPWAY_DATA_DIR", dir.path())
        .env("SLIPWAY_WEBHOOK_SECRET", "short")
        .output()
        .unwrap();
    assert!(!output.status.success());
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
        .output()
        .expect("running bash");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("it has no QA environment"),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
