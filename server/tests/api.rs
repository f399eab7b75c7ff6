//! The JSON API against the real binary: bad input is refused with a clear
//! 4xx and changes nothing; builds are idempotent; anonymous and cross-site
//! requests are refused; two deploys at once cannot both run.

mod common;

use common::{
    assert_refused, build_request, copy_demo_artifact, gated_hook, open_gate, set_before_switch,
    sha, snapshot, Auth, TestServer,
};
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_refused_with_a_clear_message_and_changes_nothing() {
    let server = TestServer::start().await;
    let auth = server.login().await;
    let db = server.db().await;
    let before = snapshot(&db).await;
    assert_eq!(before.builds, 2, "the demo seeds two builds");

    let demo_artifact = server
        .data_dir()
        .join("artifacts/demo/demo-1.0.0.tar.gz")
        .display()
        .to_string();
    let good = build_request("demo", &sha("bad-input"), &demo_artifact);

    // Malformed JSON.
    let reply = server
        .post_raw(
            "/api/builds",
            &auth,
            &[],
            r#"{"application": "demo", "commit_sha": "#,
        )
        .await;
    let message = assert_refused(&reply, StatusCode::BAD_REQUEST, "malformed JSON");
    assert!(message.contains("JSON"), "{message}");

    // An unknown field.
    let mut unknown = good.clone();
    unknown["deploy_to"] = json!("production");
    let reply = server.post_json("/api/builds", &auth, &unknown).await;
    let message = assert_refused(&reply, StatusCode::BAD_REQUEST, "unknown field");
    assert!(message.contains("deploy_to"), "{message}");

    // A missing field.
    let mut missing = good.clone();
    missing.as_object_mut().unwrap().remove("commit_sha");
    let reply = server.post_json("/api/builds", &auth, &missing).await;
    let message = assert_refused(&reply, StatusCode::BAD_REQUEST, "missing field");
    assert!(message.contains("commit_sha"), "{message}");

    // Commit shas with characters that are not hex.
    let not_hex_40 = format!("{}z", &sha("z")[..39]);
    assert_eq!(not_hex_40.len(), 40);
    for bad_sha in ["abc;rm -rf /", not_hex_40.as_str(), "abc123", ""] {
        let mut body = good.clone();
        body["commit_sha"] = json!(bad_sha);
        let reply = server.post_json("/api/builds", &auth, &body).await;
        let message = assert_refused(
            &reply,
            StatusCode::BAD_REQUEST,
            &format!("commit_sha {bad_sha:?}"),
        );
        assert!(message.contains("commit"), "{message}");
    }

    // A branch name with shell characters.
    let mut body = good.clone();
    body["branch"] = json!("main;id");
    let reply = server.post_json("/api/builds", &auth, &body).await;
    let message = assert_refused(&reply, StatusCode::BAD_REQUEST, "bad branch");
    assert!(message.contains("branch"), "{message}");

    // An application that does not exist.
    let mut body = good.clone();
    body["application"] = json!("nosuchapp");
    let reply = server.post_json("/api/builds", &auth, &body).await;
    let message = assert_refused(&reply, StatusCode::NOT_FOUND, "unknown application");
    assert!(message.contains("nosuchapp"), "{message}");

    // Artifacts outside the allowed roots.
    for outside in ["/etc/passwd", "/etc/../etc/passwd", "etc/passwd"] {
        let mut body = good.clone();
        body["artifact"] = json!(outside);
        let reply = server.post_json("/api/builds", &auth, &body).await;
        let message = assert_refused(
            &reply,
            StatusCode::BAD_REQUEST,
            &format!("artifact {outside:?}"),
        );
        assert!(message.contains("artifact"), "{message}");
        if outside == "/etc/passwd" {
            assert!(message.contains("allowed artifact roots"), "{message}");
        }
    }

    // Deploys that cannot be.
    let reply = server
        .post_json(
            "/api/apps/demo/envs/nosuchenv/deploy",
            &auth,
            &json!({"build_id": 1}),
        )
        .await;
    let message = assert_refused(&reply, StatusCode::NOT_FOUND, "unknown environment");
    assert!(message.contains("nosuchenv"), "{message}");
    let reply = server
        .post_json(
            "/api/apps/nosuchapp/envs/demo/deploy",
            &auth,
            &json!({"build_id": 1}),
        )
        .await;
    assert_refused(
        &reply,
        StatusCode::NOT_FOUND,
        "unknown application (deploy)",
    );
    let reply = server
        .post_json(
            "/api/apps/demo/envs/demo/deploy",
            &auth,
            &json!({"build_id": 999}),
        )
        .await;
    let message = assert_refused(&reply, StatusCode::NOT_FOUND, "unknown build");
    assert!(message.contains("999"), "{message}");
    let reply = server
        .post_json(
            "/api/apps/demo/envs/demo/deploy",
            &auth,
            &json!({"build_id": "1; rm -rf /"}),
        )
        .await;
    assert_refused(
        &reply,
        StatusCode::BAD_REQUEST,
        "build id of the wrong type",
    );
    let reply = server
        .post_json(
            "/api/apps/demo/envs/demo/deploy",
            &auth,
            &json!({"build_id": 1, "force": true}),
        )
        .await;
    assert_refused(
        &reply,
        StatusCode::BAD_REQUEST,
        "deploy with an unknown field",
    );
    let reply = server
        .post_json(
            "/api/apps/demo/envs/demo/rollback",
            &auth,
            &json!({"release_id": 42}),
        )
        .await;
    assert_refused(
        &reply,
        StatusCode::NOT_FOUND,
        "rollback to an unknown release",
    );
    let reply = server
        .post_json(
            "/api/apps/demo/envs/demo..%2F/deploy",
            &auth,
            &json!({"build_id": 1}),
        )
        .await;
    assert!(
        reply.status.is_client_error(),
        "odd environment name answered {}: {}",
        reply.status,
        reply.text
    );
    let reply = server.get("/api/jobs/424242", &auth).await;
    assert_refused(&reply, StatusCode::NOT_FOUND, "unknown job");
    // No "new environment" form for an application that is not there.
    let reply = server
        .call_fn("default_settings", &auth, &[("app", "nope")])
        .await;
    assert!(
        !reply.status.is_success() && reply.text.contains("application nope"),
        "{} {}",
        reply.status,
        reply.text
    );

    // Nothing changed.
    assert_eq!(snapshot(&db).await, before);
    let releases = server.get("/api/apps/demo/envs/demo/releases", &auth).await;
    assert_eq!(releases.status, StatusCode::OK, "{}", releases.text);
    assert_eq!(releases.json(), json!([]), "no release was created");

    // And the next valid build is #3.
    let reply = server.post_json("/api/builds", &auth, &good).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    assert_eq!(reply.json()["id"], json!(3), "{}", reply.text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_commit_is_exactly_one_build() {
    let server = TestServer::start().await;
    let auth = server.login().await;
    let db = server.db().await;

    let artifact = copy_demo_artifact(server.data_dir(), "ci/app-3.tar.gz");
    let commit = sha("one commit one build");
    let body = build_request("demo", &commit, &artifact);

    let created = server.post_json("/api/builds", &auth, &body).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let build = created.json();
    assert_eq!(build["id"], json!(3));
    assert_eq!(build["commit_sha"], json!(commit));
    assert_eq!(build["artifact"], json!(artifact));

    // The same registration again is answered with the same build.
    let after_create = snapshot(&db).await;
    let again = server.post_json("/api/builds", &auth, &body).await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.text);
    assert_eq!(again.json()["id"], json!(3));
    assert_eq!(
        snapshot(&db).await,
        after_create,
        "a repeat records nothing"
    );

    // An upper-case sha is the same commit.
    let mut upper = body.clone();
    upper["commit_sha"] = json!(commit.to_ascii_uppercase());
    let again = server.post_json("/api/builds", &auth, &upper).await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.text);
    assert_eq!(again.json()["id"], json!(3));

    // The same commit with another artifact is a conflict.
    let other = copy_demo_artifact(server.data_dir(), "ci/app-3-rebuilt.tar.gz");
    let conflict = server
        .post_json(
            "/api/builds",
            &auth,
            &build_request("demo", &commit, &other),
        )
        .await;
    let message = assert_refused(&conflict, StatusCode::CONFLICT, "same sha, other artifact");
    assert!(message.contains("build #3"), "{message}");
    assert_eq!(
        snapshot(&db).await,
        after_create,
        "a conflict records nothing"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_url_artifacts_credentials_and_signature_are_never_served() {
    let server = TestServer::start().await;
    let auth = server.login().await;
    // Nothing listens there: the deploy fails, the records stay.
    let artifact = "https://ci:hunter2@127.0.0.1:1/shop.tar.gz?X-Amz-Signature=sekrit";
    let body = build_request("demo", &sha("signed url"), artifact);
    let created = server.post_json("/api/builds", &auth, &body).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let build = created.json();
    assert_eq!(
        build["artifact"],
        json!("https://127.0.0.1:1/shop.tar.gz"),
        "{build}"
    );
    let job_id = server.deploy(&auth, build["id"].as_i64().unwrap()).await;
    server.wait_job_finished(&auth, job_id).await;
    let job = server.get(&format!("/api/jobs/{job_id}"), &auth).await;
    assert_eq!(job.status, StatusCode::OK, "{}", job.text);
    let releases = server.get("/api/apps/demo/envs/demo/releases", &auth).await;
    for text in [&created.text, &job.text, &releases.text] {
        assert!(
            !text.contains("hunter2") && !text.contains("sekrit"),
            "{text}"
        );
    }
    assert!(job.text.contains("127.0.0.1:1/shop.tar.gz"), "{}", job.text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anonymous_requests_are_refused() {
    let server = TestServer::start().await;
    let db = server.db().await;
    let before = snapshot(&db).await;
    let artifact = copy_demo_artifact(server.data_dir(), "anon.tar.gz");
    let body = build_request("demo", &sha("anonymous"), &artifact);

    let reply = server.post_json("/api/builds", &Auth::None, &body).await;
    assert_refused(&reply, StatusCode::UNAUTHORIZED, "anonymous build");

    let reply = server
        .post_json(
            "/api/apps/demo/envs/demo/deploy",
            &Auth::None,
            &json!({"build_id": 1}),
        )
        .await;
    assert_refused(&reply, StatusCode::UNAUTHORIZED, "anonymous deploy");

    let reply = server
        .post_json(
            "/api/builds",
            &Auth::Bearer("not-a-real-token".into()),
            &body,
        )
        .await;
    assert_refused(&reply, StatusCode::UNAUTHORIZED, "made-up bearer token");

    let reply = server
        .post_json(
            "/api/builds",
            &Auth::Cookie("slipway_session=forged".into()),
            &body,
        )
        .await;
    assert_refused(&reply, StatusCode::UNAUTHORIZED, "forged session cookie");

    for path in [
        "/api/jobs/1",
        "/api/apps/demo/envs/demo/releases",
        "/events/jobs/1",
        "/audit.csv",
    ] {
        let reply = server.get(path, &Auth::None).await;
        assert_refused(&reply, StatusCode::UNAUTHORIZED, path);
    }

    // A page sends to sign in, and says where to come back to.
    for (page, login) in [
        ("/", "/login"),
        ("/apps/demo", "/login?next=%2Fapps%2Fdemo"),
        (
            "/audit?action=login",
            "/login?next=%2Faudit%3Faction%3Dlogin",
        ),
    ] {
        let reply = server.get(page, &Auth::None).await;
        assert_eq!(
            reply.status,
            StatusCode::SEE_OTHER,
            "{page}: {}",
            reply.text
        );
        assert_eq!(reply.header("location"), Some(login), "{page}");
    }

    let healthz = server.get("/healthz", &Auth::None).await;
    assert_eq!(healthz.status, StatusCode::OK);

    // Lent release archives exist only while a job stages them; a guessed
    // or finished token, or a path around the route, finds nothing.
    for path in [
        &format!("/artifacts/{}", "0".repeat(64)),
        "/artifacts/..%2Fslipway.db",
        "/artifacts/",
    ] {
        let reply = server.get(path, &Auth::None).await;
        assert_eq!(
            reply.status,
            StatusCode::NOT_FOUND,
            "{path}: {}",
            reply.text
        );
    }

    assert_eq!(snapshot(&db).await, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cross_site_cookie_requests_are_refused_but_bearer_requests_are_not() {
    let server = TestServer::start().await;
    let cookie = server.login().await;
    let bearer = server.bearer_token("ci");
    let db = server.db().await;
    let before = snapshot(&db).await;

    let artifact = copy_demo_artifact(server.data_dir(), "cross-site.tar.gz");
    let body = build_request("demo", &sha("cross-site"), &artifact).to_string();
    let deploy = json!({"build_id": 1}).to_string();
    let cross_site: &[&[(&str, &str)]] = &[
        &[("Sec-Fetch-Site", "cross-site")],
        &[("Sec-Fetch-Site", "same-site")],
        &[("Origin", "http://evil.example")],
        &[("Origin", "null")],
        &[
            ("Origin", "http://evil.example"),
            ("Sec-Fetch-Site", "cross-site"),
        ],
    ];
    for headers in cross_site {
        let reply = server
            .post_raw("/api/builds", &cookie, headers, &body)
            .await;
        assert_refused(
            &reply,
            StatusCode::FORBIDDEN,
            &format!("cookie build with {headers:?}"),
        );
        let reply = server
            .post_raw("/api/apps/demo/envs/demo/deploy", &cookie, headers, &deploy)
            .await;
        assert_refused(
            &reply,
            StatusCode::FORBIDDEN,
            &format!("cookie deploy with {headers:?}"),
        );
        let reply = server.post_raw("/logout", &cookie, headers, "").await;
        assert_eq!(
            reply.status,
            StatusCode::FORBIDDEN,
            "cross-site logout with {headers:?}: {}",
            reply.text
        );
    }
    assert_eq!(
        snapshot(&db).await,
        before,
        "refused requests change nothing"
    );

    // The session survived the refused logouts.
    let reply = server.get("/api/jobs/1", &cookie).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND, "{}", reply.text);

    // A bearer token carries no ambient authority: the same headers are fine.
    let reply = server
        .post_raw(
            "/api/builds",
            &bearer,
            &[
                ("Origin", "http://evil.example"),
                ("Sec-Fetch-Site", "cross-site"),
            ],
            &body,
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    assert_eq!(reply.json()["id"], json!(3));

    // A same-origin request with a cookie is fine too.
    let origin = server.base_url.clone();
    let other = copy_demo_artifact(server.data_dir(), "same-origin.tar.gz");
    let same_origin_body = build_request("demo", &sha("same-origin"), &other).to_string();
    let reply = server
        .post_raw(
            "/api/builds",
            &cookie,
            &[("Origin", &origin), ("Sec-Fetch-Site", "same-origin")],
            &same_origin_body,
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    assert_eq!(reply.json()["id"], json!(4));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_deploys_at_once_one_runs_the_other_is_told_busy() {
    let server = TestServer::start().await;
    let auth = server.bearer_token("ci");
    let db = server.db().await;
    // The job runs until the test lets it finish.
    set_before_switch(
        &db,
        &gated_hook(server.data_dir(), "echo staged", "echo go"),
    )
    .await;
    let before = snapshot(&db).await;

    let path = "/api/apps/demo/envs/demo/deploy";
    let (one, two) = (json!({"build_id": 1}), json!({"build_id": 2}));
    let (a, b) = tokio::join!(
        server.post_json(path, &auth, &one),
        server.post_json(path, &auth, &two),
    );
    let mut statuses = [a.status, b.status];
    statuses.sort();
    assert_eq!(
        statuses,
        [StatusCode::ACCEPTED, StatusCode::CONFLICT],
        "first: {} {}; second: {} {}",
        a.status,
        a.text,
        b.status,
        b.text
    );
    let (won, lost) = if a.status == StatusCode::ACCEPTED {
        (a, b)
    } else {
        (b, a)
    };
    let job_id = won.json()["id"].as_i64().expect("job id");
    let message = lost.error();
    assert!(
        message.starts_with(&format!("environment busy: job #{job_id}")),
        "{message}"
    );

    // Exactly one job and one (pending) release were recorded.
    let after = snapshot(&db).await;
    assert_eq!(after.jobs, before.jobs + 1);
    assert_eq!(after.releases, before.releases + 1);
    assert_eq!(after.builds, before.builds);

    // Later requests are refused the same way while the job is active.
    let reply = server.post_json(path, &auth, &one).await;
    let message = assert_refused(&reply, StatusCode::CONFLICT, "deploy while busy");
    assert!(
        message.starts_with(&format!("environment busy: job #{job_id}")),
        "{message}"
    );
    assert_eq!(snapshot(&db).await, after);

    open_gate(server.data_dir());
    let view = server.wait_job_finished(&auth, job_id).await;
    assert_eq!(view["job"]["state"], json!("succeeded"), "{view}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_stops_a_running_job_before_its_next_step_and_names_who_asked() {
    let server = TestServer::start().await;
    let dana = server.login_as("dana", "deployer").await;
    let db = server.db().await;
    set_before_switch(
        &db,
        &gated_hook(server.data_dir(), "echo staged", "echo go"),
    )
    .await;
    let job = server.deploy(&dana, 1).await;
    let id = job.to_string();
    // Running, and waiting at its gate.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while server.job(&dana, job).await["job"]["state"] != json!("running") {
        assert!(std::time::Instant::now() < deadline, "job #{job} never ran");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }

    let asked = server.call_fn("cancel_job", &dana, &[("id", &id)]).await;
    assert_eq!(asked.status, StatusCode::OK, "{}", asked.text);
    let detail = server.call_fn("get_job", &dana, &[("id", &id)]).await;
    assert_eq!(
        detail.json()["cancel_requested_by"],
        json!("dana"),
        "{}",
        detail.text
    );
    // The gate opens at once: the job must not get past it to its switch.
    open_gate(server.data_dir());
    let view = server.wait_job_finished(&dana, job).await;
    assert_eq!(view["job"]["state"], json!("cancelled"), "{view}");
    assert_eq!(view["job"]["cancel_requested_by"], json!("dana"), "{view}");
    assert_eq!(view["release"]["state"], json!("failed"), "{view}");
    let current = server.data_dir().join("demo-target/current");
    assert!(!current.exists(), "the cancelled release went live");
}
