//! On a phone-sized screen every page fits its width (tables scroll inside
//! their card) and the Deploy and Rollback buttons can be pressed.

use anyhow::{ensure, Result};
use end2end::{
    job_succeeds, press_confirmed, press_deploy, sign_in_as_first_admin, wait_hydrated, Browser,
    Slipway,
};

/// How far the page is wider than the window, in CSS pixels.
async fn overflow(client: &fantoccini::Client) -> Result<i64> {
    let value = client
        .execute(
            "return document.documentElement.scrollWidth - document.documentElement.clientWidth;",
            vec![],
        )
        .await?;
    Ok(value.as_i64().unwrap_or(i64::MAX))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_fits_a_phone_and_deploys_and_rolls_back_there() -> Result<()> {
    let slipway = Slipway::start()?;
    let browser = Browser::start().await?;
    let client = &browser.client;
    client.set_window_size(390, 844).await?;
    sign_in_as_first_admin(client, &slipway).await?;

    press_deploy(client, &slipway, 1).await?;
    let first = job_succeeds(client).await?;
    press_deploy(client, &slipway, 2).await?;
    job_succeeds(client).await?;
    client.goto(&slipway.url("/apps/demo/envs/demo")).await?;
    wait_hydrated(client).await?;
    press_confirmed(client, "table.releases tr[data-state='superseded']").await?;
    job_succeeds(client).await?;

    for page in [
        "/".to_owned(),
        "/apps/demo/envs/demo".to_owned(),
        "/apps/demo/envs/demo/edit".to_owned(),
        format!("/jobs/{first}"),
        "/builds".to_owned(),
        "/audit".to_owned(),
        "/users".to_owned(),
        "/tokens".to_owned(),
    ] {
        client.goto(&slipway.url(&page)).await?;
        wait_hydrated(client).await?;
        let wider = overflow(client).await?;
        ensure!(wider <= 0, "{page} is {wider}px wider than a phone");
    }
    Ok(())
}
