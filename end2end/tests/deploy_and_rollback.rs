//! The v0 promise, in a real browser: from an empty data directory, sign in
//! with the first-admin link, deploy the demo build and watch it go live,
//! find it in the history, roll back, and find both in the audit log.

use anyhow::Result;
use end2end::{
    artifacts_dir, click, fill, job_succeeds, press_confirmed, press_deploy,
    sign_in_as_first_admin, wait_for_text, wait_hydrated, Browser, Slipway,
};
use fantoccini::{Client, Locator};

/// Deploys build `build_id` from the environment page and follows the job
/// page until it succeeds. Returns the job id.
async fn deploy_from_env_page(client: &Client, slipway: &Slipway, build_id: i64) -> Result<i64> {
    press_deploy(client, slipway, build_id).await?;
    follow_job_page(client).await
}

/// The version the demo environment's `current` serves.
fn served_version(slipway: &Slipway) -> Result<String> {
    let current = std::fs::read_link(slipway.data_dir.path().join("demo-target/current"))?;
    Ok(std::fs::read_to_string(current.join("VERSION"))?
        .trim()
        .to_owned())
}

async fn follow_job_page(client: &Client) -> Result<i64> {
    let job_id = job_succeeds(client).await?;
    wait_for_text(client, ".host-progress[data-host='local'] .badge", |s| {
        s == "succeeded"
    })
    .await?;
    Ok(job_id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deploy_watch_roll_back_and_audit_in_the_browser() -> Result<()> {
    let slipway = Slipway::start()?;
    let browser = Browser::start().await?;
    let client = &browser.client;

    // Sign in with the one-time link, which then stops working.
    sign_in_as_first_admin(client, &slipway).await?;
    wait_for_text(client, "tr[data-env='demo']", |s| {
        s.contains("nothing released yet")
    })
    .await?;

    // Deploy the first demo build and watch it live.
    let first_job = deploy_from_env_page(client, &slipway, 1).await?;
    let log = wait_for_text(client, "#job-log", |s| s.contains("job succeeded")).await?;
    for expected in [
        "[stage]",
        "preparing release",
        "[switch]",
        "now serving 1.0.0",
        "[verify]",
    ] {
        assert!(log.contains(expected), "job log lacks {expected:?}:\n{log}");
    }
    let lines = client.find_all(Locator::Css("#job-log .line")).await?;
    let mut seqs = Vec::new();
    for line in &lines {
        seqs.push(line.attr("data-seq").await?.unwrap_or_default());
    }
    let mut unique = seqs.clone();
    unique.dedup();
    assert_eq!(seqs, unique, "a log line was shown twice");
    let screenshot = client.screenshot().await?;
    std::fs::write(artifacts_dir()?.join("job-page.png"), screenshot)?;

    // Deploy the second build, so there is something to roll back to.
    let second_job = deploy_from_env_page(client, &slipway, 2).await?;
    assert_ne!(first_job, second_job);
    assert_eq!(served_version(&slipway)?, "1.1.0");

    // The history shows both; roll back to the first release.
    client.goto(&slipway.url("/apps/demo/envs/demo")).await?;
    wait_hydrated(client).await?;
    wait_for_text(client, "table.releases tr[data-state='live']", |s| {
        s.contains("deploy")
    })
    .await?;
    // Rollback asks first, naming what goes live; opening the question
    // alone starts nothing.
    let row = "table.releases tr[data-state='superseded']";
    click(client, &format!("{row} details.confirm > summary")).await?;
    let question = wait_for_text(client, &format!("{row} .question"), |q| !q.is_empty()).await?;
    assert!(
        question.contains("Roll demo/demo back to release") && question.contains("main"),
        "{question}"
    );
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert!(
        client.current_url().await?.path().ends_with("/envs/demo"),
        "opening the question left the page"
    );
    click(
        client,
        &format!("{row} details.confirm[open] button.confirm"),
    )
    .await?;
    let rollback_job = follow_job_page(client).await?;
    assert_eq!(served_version(&slipway)?, "1.0.0");

    client.goto(&slipway.url("/apps/demo/envs/demo")).await?;
    let live = wait_for_text(client, "table.releases tr[data-state='live']", |s| {
        s.contains("rollback")
    })
    .await?;
    assert!(
        live.contains("admin"),
        "the live release names who released it: {live}"
    );

    // Both requests, and how they ended, are in the audit log.
    client.goto(&slipway.url("/audit")).await?;
    wait_for_text(client, "table.audit", |s| s.contains("rollback.requested")).await?;
    let audit = client
        .find(Locator::Css("table.audit"))
        .await?
        .text()
        .await?;
    for expected in [
        format!("job/{first_job}"),
        format!("job/{second_job}"),
        format!("job/{rollback_job}"),
        "deploy.requested".to_owned(),
        "job.succeeded".to_owned(),
        "login".to_owned(),
    ] {
        assert!(audit.contains(&expected), "audit page lacks {expected:?}");
    }
    // The filter narrows to rollbacks only.
    client
        .goto(&slipway.url("/audit?action=rollback.requested"))
        .await?;
    wait_hydrated(client).await?;
    let rows = client
        .find_all(Locator::Css("table.audit tbody tr"))
        .await?;
    assert_eq!(rows.len(), 1, "exactly one rollback was requested");

    browser.client.clone().close().await?;
    Ok(())
}

/// A deploy that fails after its switch is flagged on the environment page,
/// whose live release then offers Restore: pressed, it applies that release
/// again and the flag goes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_deploy_is_flagged_and_the_live_release_restored_in_the_browser() -> Result<()> {
    let slipway = Slipway::start()?;
    let browser = Browser::start().await?;
    let client = &browser.client;
    sign_in_as_first_admin(client, &slipway).await?;
    deploy_from_env_page(client, &slipway, 1).await?;

    // after_switch fails while the marker file exists.
    let marker = slipway.data_dir.path().join("fail-after-switch");
    std::fs::write(&marker, "")?;
    client
        .goto(&slipway.url("/apps/demo/envs/demo/edit"))
        .await?;
    wait_hydrated(client).await?;
    fill(
        client,
        "after_switch",
        &format!("test ! -e '{}'", marker.display()),
    )
    .await?;
    end2end::submit_env_form(client).await?;
    wait_for_text(client, "dl.settings", |s| s.contains("fail-after-switch")).await?;

    // Build 2 fails after its switch and is switched back.
    press_deploy(client, &slipway, 2).await?;
    wait_for_text(client, "#job-state .badge", |s| s == "failed").await?;

    client.goto(&slipway.url("/apps/demo/envs/demo")).await?;
    wait_hydrated(client).await?;
    let notice = wait_for_text(client, "p.notice.warning", |s| s.contains("ended failed")).await?;
    assert!(notice.contains("Restore"), "{notice}");
    let restore = client
        .find(Locator::Css(
            "table.releases tr[data-state='live'] summary.rollback",
        ))
        .await?;
    assert_eq!(restore.text().await?, "Restore this release");
    std::fs::write(
        artifacts_dir()?.join("restore-offered.png"),
        client.screenshot().await?,
    )?;

    std::fs::remove_file(&marker)?;
    press_confirmed(client, "table.releases tr[data-state='live']").await?;
    follow_job_page(client).await?;
    assert_eq!(served_version(&slipway)?, "1.0.0");
    client.goto(&slipway.url("/apps/demo/envs/demo")).await?;
    wait_hydrated(client).await?;
    wait_for_text(client, "table.releases tr[data-state='live']", |s| {
        s.contains("rollback")
    })
    .await?;
    assert!(
        client
            .find_all(Locator::Css("p.notice.warning"))
            .await?
            .is_empty(),
        "settled again"
    );
    browser.client.clone().close().await?;
    Ok(())
}
