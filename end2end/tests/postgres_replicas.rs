//! The deploy button on two replicas sharing one PostgreSQL database, in a
//! real browser: signed in through one replica, a deploy pressed on the
//! other and watched live through the first, a second deploy the other way
//! round, a rollback, and the audit log read on either.

use anyhow::Result;
use end2end::{
    job_page_reached, job_succeeds, press_deploy, roll_back_from, sign_in_as_first_admin,
    wait_for_text, wait_hydrated, Browser, Slipway,
};
use engine::testing::postgres::Cluster;

/// The version the demo environment's `current` serves (its target lives
/// in the shared data directory).
fn served_version(slipway: &Slipway) -> Result<String> {
    let current = std::fs::read_link(slipway.data_dir.path().join("demo-target/current"))?;
    Ok(std::fs::read_to_string(current.join("VERSION"))?
        .trim()
        .to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_on_postgres_serve_one_slipway_in_the_browser() -> Result<()> {
    let (admin, _cluster) = Cluster::shared_or_start();
    let url = engine::testing::database::fresh_postgres(&admin).await;
    // One after the other: A seeds the demo, B finds it. They share A's
    // data directory, as replicas share one volume (artifacts, keys).
    let a = Slipway::start_with_env(&[("DATABASE_URL", url.as_str())])?;
    let shared = a.data_dir.path().display().to_string();
    let b = Slipway::start_with_env(&[
        ("DATABASE_URL", url.as_str()),
        ("SLIPWAY_DATA_DIR", shared.as_str()),
    ])?;
    let browser = Browser::start().await?;
    let client = &browser.client;

    // Each start before anyone signed in makes a new first-login link: B's
    // is the one. The session cookie is for 127.0.0.1, both replicas' host,
    // and the session lives in the database: A knows it too.
    sign_in_as_first_admin(client, &b).await?;
    client.goto(&a.url("/")).await?;
    wait_for_text(client, "header .who", |s| s.contains("(admin)")).await?;

    // Deployed through A, watched live through B.
    press_deploy(client, &a, 1).await?;
    let first = job_page_reached(client).await?;
    client.goto(&b.url(&format!("/jobs/{first}"))).await?;
    wait_for_text(client, "#job-state .badge", |s| s == "succeeded").await?;
    let log = wait_for_text(client, "#job-log", |s| s.contains("job succeeded")).await?;
    assert!(log.contains("now serving 1.0.0"), "{log}");
    assert_eq!(served_version(&a)?, "1.0.0");

    // Deployed through B, watched through A.
    press_deploy(client, &b, 2).await?;
    let second = job_page_reached(client).await?;
    assert_ne!(first, second);
    client.goto(&a.url(&format!("/jobs/{second}"))).await?;
    wait_for_text(client, "#job-state .badge", |s| s == "succeeded").await?;
    assert_eq!(served_version(&a)?, "1.1.0");

    // Rolled back from A's release history.
    client.goto(&a.url("/apps/demo/envs/demo")).await?;
    wait_hydrated(client).await?;
    wait_for_text(client, "table.releases tr[data-state='live']", |s| {
        s.contains("deploy")
    })
    .await?;
    let rollback = roll_back_from(client, "tr[data-state='superseded']", 1).await?;
    assert_eq!(served_version(&a)?, "1.0.0");

    // One audit log, read on B.
    client.goto(&b.url("/audit")).await?;
    let audit = wait_for_text(client, "table.audit", |s| s.contains("rollback.requested")).await?;
    for expected in [
        format!("job/{first}"),
        format!("job/{second}"),
        format!("job/{rollback}"),
        "job.succeeded".to_owned(),
    ] {
        assert!(audit.contains(&expected), "audit page lacks {expected:?}");
    }
    // The job page of B's job, on A, is the same page.
    client.goto(&a.url(&format!("/jobs/{rollback}"))).await?;
    job_succeeds(client).await?;

    browser.client.clone().close().await?;
    Ok(())
}
