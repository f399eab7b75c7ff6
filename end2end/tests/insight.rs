//! DORA metrics in the browser: after a deploy, the environment's Insight
//! page draws four weekly SVG charts (server-rendered) with this week's
//! deploy and lead time, the numbers behind them and their definitions.

use anyhow::{ensure, Result};
use end2end::{
    artifacts_dir, click, drawn_bars, job_succeeds, press_deploy, sign_in_as_first_admin,
    wait_for_text, wait_hydrated, Browser, Slipway,
};
use fantoccini::Locator;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_insight_page_charts_this_weeks_deploy() -> Result<()> {
    let slipway = Slipway::start()?;
    let browser = Browser::start().await?;
    let client = &browser.client;
    sign_in_as_first_admin(client, &slipway).await?;
    press_deploy(client, &slipway, 1).await?;
    job_succeeds(client).await?;

    client.goto(&slipway.url("/apps/demo/envs/demo")).await?;
    wait_hydrated(client).await?;
    click(client, "a.insight-link").await?;
    wait_for_text(client, "main h1", |s| s.contains("DORA metrics")).await?;
    let (drawn, bars) = drawn_bars(client, "figure.chart.deployments svg rect.bar").await?;
    ensure!(bars == 12, "{bars} weekly bars, not 12");
    ensure!(drawn >= 1, "no week shows the deploy");
    let lead = client
        .find_all(Locator::Css("figure.chart.lead-time svg rect.bar"))
        .await?;
    ensure!(!lead.is_empty(), "no lead time is drawn");
    let numbers =
        wait_for_text(client, "table.dora tbody tr:first-child", |s| !s.is_empty()).await?;
    ensure!(
        numbers.contains(" h"),
        "this week's lead time is not shown: {numbers}"
    );
    wait_for_text(client, ".definitions", |s| {
        s.contains("Change failure rate")
    })
    .await?;
    std::fs::write(
        artifacts_dir()?.join("insight.png"),
        client.screenshot().await?,
    )?;
    Ok(())
}
