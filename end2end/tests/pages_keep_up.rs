//! Pages keep up with what others do: with the overview and the demo
//! environment's page open in one window, a deploy and a lock made in
//! another window show on the overview by themselves and on the
//! environment page after its Refresh notice; a locked environment offers
//! no Deploy; a secret's value leaves the form once it is saved.

use anyhow::{ensure, Result};
use end2end::{
    click, job_succeeds, press_deploy, sign_in_as_first_admin, type_into, wait_for_text,
    wait_hydrated, Browser, Slipway,
};
use fantoccini::Locator;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_overview_and_an_environment_page_show_what_others_did() -> Result<()> {
    let slipway = Slipway::start()?;
    let browser = Browser::start().await?;
    let client = &browser.client;
    sign_in_as_first_admin(client, &slipway).await?;
    let watcher = client.window().await?;

    // The watcher's window: the overview, nothing released yet.
    client.goto(&slipway.url("/")).await?;
    wait_for_text(client, "tr[data-env='demo']", |s| {
        s.contains("nothing released yet")
    })
    .await?;
    wait_hydrated(client).await?;

    // Someone else's window deploys the first demo build.
    let other = client.new_window(true).await?;
    client.switch_to_window(other.handle.clone()).await?;
    press_deploy(client, &slipway, 1).await?;
    job_succeeds(client).await?;

    // The overview shows it without a reload.
    client.switch_to_window(watcher.clone()).await?;
    wait_for_text(client, "tr[data-env='demo']", |s| s.contains("succeeded")).await?;

    // The environment page, open while the other window locks it, offers
    // a Refresh, which shows the lock and no way to deploy.
    client.goto(&slipway.url("/apps/demo/envs/demo")).await?;
    wait_hydrated(client).await?;
    client.switch_to_window(other.handle.clone()).await?;
    client.goto(&slipway.url("/apps/demo/envs/demo")).await?;
    wait_hydrated(client).await?;
    let reason = client.find(Locator::Css("input[name='reason']")).await?;
    reason.send_keys("release freeze").await?;
    client
        .find(Locator::Css(".card .inline-form button[type='submit']"))
        .await?
        .click()
        .await?;
    wait_for_text(client, "p.locked", |s| s.contains("release freeze")).await?;

    client.switch_to_window(watcher.clone()).await?;
    click(client, "#refresh-page").await?;
    wait_for_text(client, "p.locked", |s| s.contains("release freeze")).await?;
    let deploy = client.find(Locator::Css("#deploy-button")).await?;
    ensure!(
        !deploy.is_enabled().await?,
        "Deploy is offered while locked"
    );

    // A secret's value is gone from the form once saved.
    let form = "form:has(textarea[name='value'])";
    type_into(client, &format!("{form} input[name='name']"), "API_KEY").await?;
    type_into(client, "textarea[name='value']", "sk-live-not-for-screens").await?;
    click(client, "input[name='secret']").await?;
    click(client, &format!("{form} button[type='submit']")).await?;
    wait_for_text(client, "table.vars", |s| s.contains("API_KEY")).await?;
    let left = client
        .find(Locator::Css("textarea[name='value']"))
        .await?
        .prop("value")
        .await?
        .unwrap_or_default();
    ensure!(left.is_empty(), "the secret is still in the form: {left:?}");
    let page = client.source().await?;
    ensure!(
        !page.contains("sk-live-not-for-screens"),
        "the secret is on the page"
    );
    browser.client.clone().close().await?;
    Ok(())
}
