//! Creating and editing an environment in the browser: settings are
//! validated with clear messages, and a refused form changes nothing.

use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use end2end::{Browser, Slipway};
use fantoccini::{Client, Locator};

const PATIENCE: Duration = Duration::from_secs(90);

async fn wait_for_text(client: &Client, css: &str, ok: impl Fn(&str) -> bool) -> Result<String> {
    let deadline = Instant::now() + PATIENCE;
    let mut last = String::new();
    while Instant::now() < deadline {
        if let Ok(element) = client.find(Locator::Css(css)).await {
            if let Ok(text) = element.text().await {
                if ok(&text) {
                    return Ok(text);
                }
                last = text;
            }
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    bail!("timed out waiting for {css}; last text was {last:?}")
}

async fn fill(client: &Client, name: &str, value: &str) -> Result<()> {
    let input = client
        .find(Locator::Css(&format!(".env-form [name='{name}']")))
        .await?;
    input.clear().await?;
    input.send_keys(value).await?;
    Ok(())
}

async fn open_new_environment_form(client: &Client, slipway: &Slipway) -> Result<()> {
    client.goto(&slipway.url("/apps/demo/new-env")).await?;
    client
        .wait()
        .at_most(PATIENCE)
        .for_element(Locator::Css("body[data-hydrated='true'] .env-form"))
        .await?;
    Ok(())
}

async fn submit(client: &Client) -> Result<()> {
    client
        .find(Locator::Css(".env-form button[type='submit']"))
        .await?
        .click()
        .await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn environment_settings_are_validated_and_saved() -> Result<()> {
    let slipway = Slipway::start()?;
    let browser = Browser::start().await?;
    let client = &browser.client;
    client.goto(&slipway.login_link).await?;
    wait_for_text(client, ".me .who", |s| s.contains("admin")).await?;

    // A relative target directory is refused with a message that says why.
    open_new_environment_form(client, &slipway).await?;
    fill(client, "name", "staging").await?;
    fill(client, "target_dir", "relative/path").await?;
    submit(client).await?;
    let error = wait_for_text(client, ".error", |s| !s.is_empty()).await?;
    assert!(error.contains("absolute"), "unclear message: {error}");

    // So is a keep count that is not a number.
    fill(
        client,
        "target_dir",
        &slipway
            .data_dir
            .path()
            .join("staging")
            .display()
            .to_string(),
    )
    .await?;
    fill(client, "keep_releases", "lots").await?;
    submit(client).await?;
    wait_for_text(client, ".error", |s| s.contains("whole number")).await?;

    // Nothing was created by the refused forms.
    client.goto(&slipway.url("/")).await?;
    wait_for_text(client, "section.app[data-app='demo']", |s| {
        s.contains("demo")
    })
    .await?;
    assert!(client
        .find(Locator::Css("tr[data-env='staging']"))
        .await
        .is_err());

    // A valid form creates it and lands on its page.
    open_new_environment_form(client, &slipway).await?;
    fill(client, "name", "staging").await?;
    fill(
        client,
        "target_dir",
        &slipway
            .data_dir
            .path()
            .join("staging")
            .display()
            .to_string(),
    )
    .await?;
    fill(client, "keep_releases", "3").await?;
    submit(client).await?;
    wait_for_text(client, "h1.env-title", |s| s.contains("staging")).await?;
    let settings = wait_for_text(client, "dl.settings", |s| s.contains("Keep releases")).await?;
    assert!(settings.contains('3'), "{settings}");

    // The same name again is a clear conflict.
    open_new_environment_form(client, &slipway).await?;
    fill(client, "name", "staging").await?;
    fill(client, "target_dir", "/srv/other").await?;
    submit(client).await?;
    let error = wait_for_text(client, ".error", |s| !s.is_empty()).await?;
    assert!(
        error.contains("already has an environment named staging"),
        "{error}"
    );

    browser.client.clone().close().await?;
    Ok(())
}
