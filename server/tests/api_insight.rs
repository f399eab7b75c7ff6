//! DORA metrics through the API of the real binary, as JSON and CSV.

mod common;

use common::TestServer;
use reqwest::StatusCode;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dora_metrics_answer_as_json_and_csv_and_refuse_bad_ranges() {
    let server = TestServer::start().await;
    let admin = server.token_for("admin", "read,deploy");
    let job = server.deploy(&admin, 1).await;
    let finished = server.wait_job_finished(&admin, job).await;
    assert_eq!(finished["job"]["state"], "succeeded", "{finished}");

    let path = "/api/apps/demo/envs/demo/dora?weeks=2";
    let reply = server.get(path, &admin).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let weeks = reply.json();
    assert_eq!(weeks.as_array().map(Vec::len), Some(2), "{weeks}");
    // This week's (or, run at midnight on a Sunday, last week's).
    let this_week = weeks
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["deployments"] == 1)
        .unwrap_or_else(|| panic!("no week with the deploy: {weeks}"));
    // The demo's first build was committed 26 hours before it started.
    let lead = this_week["lead_time_secs"].as_i64().expect("a lead time");
    assert!((26 * 3600..27 * 3600).contains(&lead), "{lead}");
    assert_eq!(this_week["change_failure_rate"], 0.0);

    let csv = server
        .get("/api/apps/demo/envs/demo/dora.csv?weeks=2", &admin)
        .await;
    assert_eq!(csv.status, StatusCode::OK);
    let lines: Vec<&str> = csv.text.lines().collect();
    assert_eq!(lines[0], "week_start,deployments,lead_time_secs,failed_deployments,change_failure_rate,time_to_restore_secs");
    assert_eq!(lines.len(), 3, "{}", csv.text);
    assert!(lines[1..].iter().any(|l| l.contains(",1,")), "{}", csv.text);

    for bad in [
        "/api/apps/demo/envs/demo/dora?weeks=0",
        "/api/apps/demo/envs/demo/dora?weeks=105",
        "/api/apps/demo/envs/demo/dora?failure_window_hours=0",
        "/api/apps/demo/envs/demo/dora?weeks=x",
        "/api/apps/demo/envs/demo/dora?other=1",
    ] {
        let refused = server.get(bad, &admin).await;
        assert_eq!(
            refused.status,
            StatusCode::BAD_REQUEST,
            "{bad}: {}",
            refused.text
        );
    }
    let missing = server.get("/api/apps/demo/envs/nope/dora", &admin).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);

    // The application: its one permanent environment, so the same weeks.
    let app = server.get("/api/apps/demo/dora?weeks=2", &admin).await;
    assert_eq!(app.status, StatusCode::OK, "{}", app.text);
    assert_eq!(app.json(), weeks);
    let app_csv = server.get("/api/apps/demo/dora.csv?weeks=2", &admin).await;
    assert_eq!(app_csv.status, StatusCode::OK);
    assert_eq!(app_csv.text, csv.text);
    let refused = server.get("/api/apps/demo/dora?weeks=0", &admin).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.text);
    let missing = server.get("/api/apps/nope/dora", &admin).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND, "{}", missing.text);
}
