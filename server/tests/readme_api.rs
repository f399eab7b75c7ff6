//! The README's API example, run as written (with curl and jq) against a
//! real server: register a build, deploy it, follow its events, read its
//! state and the history, roll back, cancel, fetch the OpenAPI document.

mod common;

use std::process::Command;

use common::{copy_demo_artifact, Auth, TestServer};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_api_example_runs() {
    let server = TestServer::start().await;
    let admin = server.login().await;
    // An earlier live release, so the example has something to roll back to.
    let first = server.deploy(&admin, 1).await;
    server.wait_job_finished(&admin, first).await;

    let Auth::Bearer(token) = server.token_for("admin", "read,builds:write,deploy") else {
        unreachable!()
    };
    let sha = common::sha("readme example");
    let artifact = copy_demo_artifact(server.data_dir(), &format!("app-{sha}.tar.gz"));

    // The example's own settings are replaced by this server's.
    let script: String = common::readme_sh_block("## API")
        .lines()
        .filter(|l| {
            !["SLIPWAY=", "TOKEN=", "SHA=", "ARTIFACT="]
                .iter()
                .any(|v| l.starts_with(v))
        })
        .map(|l| format!("{l}\n"))
        .collect();
    assert!(
        script.contains("/api/builds") && script.contains("/events/jobs/"),
        "{script}"
    );
    let out = Command::new("bash")
        .arg("-euo")
        .arg("pipefail")
        .arg("-c")
        .arg(&script)
        .env("SLIPWAY", server.url(""))
        .env("TOKEN", &token)
        .env("SHA", &sha)
        .env("ARTIFACT", &artifact)
        .output()
        .expect("running bash");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the README example failed:\n{stdout}\n{stderr}"
    );

    // It did what it says: the events ended with success, the job succeeded,
    // the history shows the build, and a rollback was queued.
    assert!(
        stdout.contains("event: end") || stdout.contains("\nid: "),
        "{stdout}"
    );
    assert!(stdout.lines().any(|l| l == "succeeded"), "{stdout}");
    assert!(stdout.contains(&sha), "{stdout}");
    assert!(
        stdout.contains("/api/builds"),
        "the OpenAPI paths: {stdout}"
    );
    let db = server.db().await;
    let kinds: Vec<String> =
        engine::on_test_pool!(&db, pool => sqlx::query_scalar("SELECT kind FROM jobs ORDER BY id")
        .fetch_all(pool)
        .await)
        .unwrap();
    assert_eq!(kinds, ["deploy", "deploy", "rollback"]);
}
