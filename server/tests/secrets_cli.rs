//! Secrets at rest with the real binary: the data directory, the database
//! and the key file are their owner's only; `slipway rotate-secret-key`
//! seals every secret again and a deploy after it still gets the value; a
//! lost key is a job that fails naming the variable, never a hook run with
//! garbage.

mod common;

use std::os::unix::fs::PermissionsExt;

use common::{cli, set_before_switch, TestServer};

const PLANTED: &str = "planted-cli-secret-2b7c";

fn mode(path: &std::path::Path) -> u32 {
    std::fs::metadata(path)
        .map(|m| m.permissions().mode() & 0o777)
        .unwrap_or(0)
}

/// A hook that succeeds only when `$API_KEY` is the planted secret.
fn hook() -> String {
    use sha2::Digest;
    let digest = hex::encode(sha2::Sha256::digest(PLANTED.as_bytes()));
    format!("test \"$(printf %s \"$API_KEY\" | sha256sum | cut -c1-64)\" = '{digest}'")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_keeps_secrets_and_a_lost_key_fails_jobs_by_name() {
    let server = TestServer::start().await;
    let session = server.login().await;
    server.set_demo_secret(&session, "API_KEY", PLANTED).await;
    set_before_switch(&server.db().await, &hook()).await;
    let data = server.stop();
    let dir = data.path().to_path_buf();
    assert_eq!(mode(&dir), 0o700, "the data directory");
    assert_eq!(mode(&dir.join("secret.key")), 0o600, "the key file");
    if common::postgres_url_of(&dir).is_none() {
        assert_eq!(mode(&dir.join("slipway.db")), 0o600, "the database");
    }

    let key_before = std::fs::read_to_string(dir.join("secret.key")).unwrap();
    let rotated = cli(&dir, &["rotate-secret-key"]);
    let said = String::from_utf8_lossy(&rotated.stdout);
    assert!(
        rotated.status.success(),
        "{said}\n{}",
        String::from_utf8_lossy(&rotated.stderr)
    );
    assert!(said.contains("sealed 1 secret variables"), "{said}");
    let key_after = std::fs::read_to_string(dir.join("secret.key")).unwrap();
    assert_ne!(key_before, key_after);
    assert!(!dir.join("secret.key.new").exists());
    assert!(
        !said.contains(key_after.trim()),
        "the key file's key is not printed"
    );

    // A deploy after the rotation gets the secret.
    let server = TestServer::start_in(data).await;
    let admin = server.token_for("admin", "read,deploy");
    let job = server.deploy(&admin, 1).await;
    let done = server.wait_job_finished(&admin, job).await;
    assert_eq!(done["job"]["state"], "succeeded", "{done}");
    let data = server.stop();

    // The key lost: the server starts (and says why secrets will fail),
    // and a deploy fails naming the variable instead of running the hook.
    std::fs::remove_file(data.path().join("secret.key")).unwrap();
    let server = TestServer::start_in(data).await;
    let admin = server.token_for("admin", "read,deploy");
    let job = server.deploy(&admin, 2).await;
    let done = server.wait_job_finished(&admin, job).await;
    assert_eq!(done["job"]["state"], "failed", "{done}");
    let error = done["job"]["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("API_KEY") && error.contains("secret key"),
        "{error}"
    );
    assert!(
        server
            .stdout_text()
            .contains("do not open with this secret key")
            || server
                .stderr_text()
                .contains("do not open with this secret key"),
        "the start says so"
    );
    for output in [server.stdout_text(), server.stderr_text()] {
        assert!(!output.contains(PLANTED));
    }
}
