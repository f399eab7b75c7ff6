//! `slipway remote` against a real server, as CI runs it: a deploy streams
//! its log and exits 0 when the job succeeds and non-zero when it fails;
//! refusals and a wrong address or token exit non-zero saying why.

mod common;

use std::process::{Command, Output, Stdio};

use common::{binary, set_before_switch, Auth, TestServer};

fn remote(server_url: &str, token: &str, args: &[&str]) -> Output {
    Command::new(binary())
        .arg("remote")
        .args(args)
        .env("SLIPWAY_URL", server_url)
        .env("SLIPWAY_TOKEN", token)
        .stdin(Stdio::null())
        .output()
        .expect("running slipway remote")
}

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_remote_deploy_streams_its_log_and_exits_with_the_jobs_outcome() {
    let server = TestServer::start().await;
    let Auth::Bearer(token) = server.token_for("admin", "read,deploy") else {
        unreachable!()
    };
    let url = server.url("");

    let out = remote(&url, &token, &["deploy", "demo/demo", "--build", "1"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("[switch]"), "the log streamed: {stdout}");
    assert!(stdout.trim_end().ends_with("succeeded"), "{stdout}");

    let out = remote(&url, &token, &["status", "demo"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains("demo/demo  live "), "{stdout}");

    // A job that fails: non-zero, with the job's error.
    let db = server.db().await;
    set_before_switch(&db, "echo about to fail; exit 3").await;
    let out = remote(&url, &token, &["deploy", "demo/demo", "--build", "2"]);
    let (stdout, stderr) = text(&out);
    assert!(!out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("about to fail"), "{stdout}");
    assert!(stdout.contains(" failed"), "{stdout}");

    // `wait` on the finished job says the same.
    let job = stdout
        .lines()
        .find_map(|l| {
            l.strip_prefix("job #")?
                .split_whitespace()
                .next()?
                .parse::<i64>()
                .ok()
        })
        .expect("the job's id");
    let out = remote(&url, &token, &["wait", &job.to_string()]);
    assert!(!out.status.success(), "{:?}", text(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_refusals_exit_non_zero_and_say_why() {
    let server = TestServer::start().await;
    let Auth::Bearer(reader) = server.token_for("admin", "read") else {
        unreachable!()
    };
    let url = server.url("");
    for (args, token, says) in [
        (
            vec!["deploy", "demo/demo", "--build", "1"],
            reader.as_str(),
            "refused (403)",
        ),
        (
            vec!["deploy", "demo/demo", "--build", "1"],
            "not-a-token",
            "refused (401)",
        ),
        (
            vec!["deploy", "demo", "--build", "1"],
            reader.as_str(),
            "<application>/<environment>",
        ),
        (vec!["wait", "999"], reader.as_str(), "refused (404)"),
        (
            vec!["status", "nowhere"],
            reader.as_str(),
            "no application \"nowhere\"",
        ),
    ] {
        let out = remote(&url, token, &args);
        let (stdout, stderr) = text(&out);
        assert!(!out.status.success(), "{args:?}: {stdout}");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
        assert!(!stderr.contains(&reader), "no token in messages: {stderr}");
    }
    // Nothing listens there: it says it could not reach Slipway.
    let out = remote("http://127.0.0.1:9", &reader, &["status"]);
    assert!(!out.status.success());
    assert!(
        text(&out).1.contains("could not reach Slipway"),
        "{:?}",
        text(&out)
    );
    let out = remote("ftp://127.0.0.1", &reader, &["status"]);
    assert!(
        text(&out).1.contains("not an http(s) URL"),
        "{:?}",
        text(&out)
    );
    // No job ran.
    let db = server.db().await;
    assert_eq!(common::count(&db, "SELECT COUNT(*) FROM jobs").await, 0);
}

/// A deploy that waits for approval: `remote deploy` follows the request,
/// printing what it waits for, while another person's `remote approve`
/// lets it start; the deploy then streams the job and exits 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_remote_deploy_follows_its_request_until_someone_approves_it() {
    let server = TestServer::start().await;
    let Auth::Bearer(admin) = server.token_for("admin", "read,deploy") else {
        unreachable!()
    };
    server.login_as("dora", "deployer").await;
    let Auth::Bearer(dora) = server.token_for("dora", "read,deploy") else {
        unreachable!()
    };
    engine::on_test_pool!(&server.db().await, pool => sqlx::query(
        r#"UPDATE environments SET approvals = '{"rules":[{"required":1,"from":["user:dora"]}],"prevent_self_review":false,"wait_minutes":0,"expire_hours":24}'"#,
    )
    .execute(pool)
    .await.map(|done| done.rows_affected()))
    .unwrap();
    let url = server.url("");

    let deploying = {
        let (url, admin) = (url.clone(), admin.clone());
        std::thread::spawn(move || remote(&url, &admin, &["deploy", "demo/demo", "--build", "1"]))
    };
    let db = server.db().await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while common::count(&db, "SELECT COUNT(*) FROM deploy_requests").await == 0 {
        assert!(std::time::Instant::now() < deadline, "no request was made");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    // Its requester may not approve it; dora may.
    let own = remote(&url, &admin, &["approve", "1"]);
    assert!(!own.status.success(), "{:?}", text(&own));
    let approved = remote(&url, &dora, &["approve", "1", "--comment", "go"]);
    let (stdout, stderr) = text(&approved);
    assert!(approved.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("request #1: approved by dora"), "{stdout}");

    let out = deploying.join().expect("the deploy thread");
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("request #1: awaiting approval: 1 more of user:dora"),
        "{stdout}"
    );
    assert!(stdout.trim_end().ends_with("succeeded"), "{stdout}");
}
