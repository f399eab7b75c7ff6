//! A crash in the browser: the server is killed (SIGKILL) while a deploy
//! waits in its `before_switch` hook and started again on the same data.
//! The job page then says the job was interrupted and needs attention;
//! the admin abandons it with a reason, which the page and the audit log
//! show as typed, never as markup — or resumes it, and a new job finishes
//! its release — or rolls back from the job's page to the release live
//! before it.

use anyhow::{ensure, Result};
use end2end::{
    artifacts_dir, click, fill, held_until_exists, job_page_after, job_page_reached,
    press_confirmed, press_deploy, sign_in_as_first_admin, submit_env_form, wait_for_text,
    wait_hydrated, Browser, Slipway,
};
use fantoccini::Locator;

const ENV_PAGE: &str = "/apps/demo/envs/demo";

/// As a signed-in admin: makes the demo's deploy hold in its
/// `before_switch` hook until `go` exists, deploys, kills the server there
/// and starts it again. The browser is on the job's page once it reads
/// `interrupted`; the job's id.
async fn interrupted_deploy(
    client: &fantoccini::Client,
    slipway: &mut Slipway,
    go: &str,
) -> Result<i64> {
    client
        .goto(&slipway.url(&format!("{ENV_PAGE}/edit")))
        .await?;
    wait_hydrated(client).await?;
    fill(client, "before_switch", &held_until_exists(go)).await?;
    submit_env_form(client).await?;
    wait_for_text(client, "dl.settings", |s| s.contains(go)).await?;

    press_deploy(client, slipway, 1).await?;
    let job_id = job_page_reached(client).await?;
    wait_for_text(client, ".host-progress[data-host='local']", |s| {
        s.contains("before_switch")
    })
    .await?;
    no_attention_asked(client, "a running job needs no attention").await?;

    slipway.kill_and_restart()?;

    // After the dead runner's lease lapses the job is interrupted; the page
    // (its stream reconnects on its own) shows it.
    client
        .goto(&slipway.url(&format!("/jobs/{job_id}")))
        .await?;
    wait_hydrated(client).await?;
    wait_for_text(client, "#job-state", |s| s.contains("interrupted")).await?;
    let attention = wait_for_text(client, "#needs-attention", |s| !s.is_empty()).await?;
    ensure!(attention.contains("Needs attention"), "{attention}");
    Ok(job_id)
}

/// The page no longer asks for attention (`why` says what settled it).
async fn no_attention_asked(client: &fantoccini::Client, why: &str) -> Result<()> {
    let asking = client.find_all(Locator::Css("#needs-attention")).await?;
    ensure!(asking.is_empty(), "{why}");
    Ok(())
}

/// The audit page lists `action` on job `job_id`.
async fn audit_lists(
    client: &fantoccini::Client,
    slipway: &Slipway,
    action: &str,
    job_id: i64,
) -> Result<()> {
    client.goto(&slipway.url("/audit")).await?;
    let target = format!("job/{job_id}");
    wait_for_text(client, "main", |s| {
        s.contains(action) && s.contains(&target)
    })
    .await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_job_resumes_as_a_new_job_that_finishes_its_release() -> Result<()> {
    let mut slipway = Slipway::start()?;
    let browser = Browser::start().await?;
    let client = &browser.client;
    let go = slipway.data_path("go");
    sign_in_as_first_admin(client, &slipway).await?;
    let job_id = interrupted_deploy(client, &mut slipway, &go).await?;

    std::fs::write(&go, "")?;
    let question = press_confirmed(client, "#needs-attention").await?;
    ensure!(question.contains("Finish this job's release"), "{question}");
    let resumed = job_page_after(client, job_id).await?;
    wait_for_text(client, "#job-state", |s| s.contains("succeeded")).await?;
    let resumes = wait_for_text(client, "#resumes", |s| !s.is_empty()).await?;
    ensure!(
        resumes.contains(&format!("interrupted job #{job_id}")),
        "{resumes}"
    );
    let png = client.screenshot().await?;
    std::fs::write(artifacts_dir()?.join("job-resumed.png"), png)?;

    client
        .goto(&slipway.url(&format!("/jobs/{job_id}")))
        .await?;
    wait_hydrated(client).await?;
    let note = wait_for_text(client, "#resumed", |s| !s.is_empty()).await?;
    ensure!(note.contains(&format!("job #{resumed}")), "{note}");
    no_attention_asked(client, "a resumed job needs no more attention").await?;

    audit_lists(client, &slipway, "job.resumed", job_id).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_job_needs_attention_until_abandoned_with_a_reason() -> Result<()> {
    let mut slipway = Slipway::start()?;
    let browser = Browser::start().await?;
    let client = &browser.client;

    // The deploy holds in its before_switch hook until `go` exists (never).
    let go = slipway.data_path("go");
    sign_in_as_first_admin(client, &slipway).await?;
    let job_id = interrupted_deploy(client, &mut slipway, &go).await?;

    let reason = "<b>checked</b> the host: current untouched; $(id)";
    let field = client
        .find(Locator::Css("#needs-attention textarea[name='reason']"))
        .await?;
    field.send_keys(reason).await?;
    click(client, "#abandon").await?;
    let shown = wait_for_text(client, "#abandoned", |s| s.contains("Abandoned by")).await?;
    ensure!(shown.contains(reason), "the reason as typed: {shown}");
    ensure!(
        client
            .find_all(Locator::Css("#abandoned .reason b"))
            .await?
            .is_empty(),
        "the reason was rendered as markup"
    );
    no_attention_asked(client, "an abandoned job needs no more attention").await?;
    let png = client.screenshot().await?;
    std::fs::write(artifacts_dir()?.join("job-abandoned.png"), png)?;

    audit_lists(client, &slipway, "job.abandoned", job_id).await?;
    Ok(())
}

/// Roll back from the interrupted job's page: a rollback job puts every
/// host back on the release live before the job, and the interrupted job's
/// page then names the job that took over from it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_job_rolls_back_from_its_page_to_the_release_live_before() -> Result<()> {
    let mut slipway = Slipway::start()?;
    let browser = Browser::start().await?;
    let client = &browser.client;
    sign_in_as_first_admin(client, &slipway).await?;
    press_deploy(client, &slipway, 1).await?;
    job_page_reached(client).await?;
    wait_for_text(client, "#job-state", |s| s.contains("succeeded")).await?;
    let live_key = wait_for_text(client, "#release-key", |s| !s.is_empty()).await?;

    let go = slipway.data_path("go");
    let job_id = interrupted_deploy(client, &mut slipway, &go).await?;
    std::fs::write(&go, "")?;
    let question = press_confirmed(client, "#restore").await?;
    ensure!(
        question.contains(&format!("back on release {live_key}")),
        "{question}"
    );
    let rollback = job_page_after(client, job_id).await?;
    wait_for_text(client, "#job-state", |s| s.contains("succeeded")).await?;
    wait_for_text(client, "h1", |s| s.contains("rollback")).await?;
    let restored = wait_for_text(client, "#release-key", |s| !s.is_empty()).await?;
    ensure!(restored == live_key, "restored {restored}, not {live_key}");

    client
        .goto(&slipway.url(&format!("/jobs/{job_id}")))
        .await?;
    wait_hydrated(client).await?;
    let note = wait_for_text(client, "#taken-over", |s| !s.is_empty()).await?;
    ensure!(note.contains(&format!("Job #{rollback}")), "{note}");
    no_attention_asked(
        client,
        "a job another job took over from needs no more attention",
    )
    .await?;
    let png = client.screenshot().await?;
    std::fs::write(artifacts_dir()?.join("job-rolled-back.png"), png)?;

    audit_lists(client, &slipway, "rollback.requested", rollback).await?;
    Ok(())
}
