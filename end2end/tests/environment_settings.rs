//! Creating and editing an environment in the browser: settings are
//! validated with clear messages, and a refused form changes nothing.

use anyhow::Result;
use end2end::{fill, sign_in_as_first_admin, wait_for_text, Browser, Slipway, PATIENCE};
use fantoccini::{Client, Locator};

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
    end2end::submit_env_form(client).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn environment_settings_are_validated_and_saved() -> Result<()> {
    let slipway = Slipway::start()?;
    let browser = Browser::start().await?;
    let client = &browser.client;
    sign_in_as_first_admin(client, &slipway).await?;

    // A relative target directory is refused with a message that says why.
    open_new_environment_form(client, &slipway).await?;
    fill(client, "name", "staging").await?;
    fill(client, "target_dir", "relative/path").await?;
    submit(client).await?;
    let error = wait_for_text(client, ".error", |s| !s.is_empty()).await?;
    assert!(error.contains("absolute"), "unclear message: {error}");

    // So is a keep count that is not a number.
    fill(client, "target_dir", &slipway.data_path("staging")).await?;
    fill(client, "keep_releases", "lots").await?;
    submit(client).await?;
    wait_for_text(client, ".error", |s| s.contains("whole number")).await?;

    // So is the directory another environment releases into.
    fill(client, "keep_releases", "3").await?;
    fill(client, "target_dir", &slipway.data_path("demo-target")).await?;
    submit(client).await?;
    wait_for_text(client, ".error", |s| s.contains("where demo/demo releases")).await?;

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
    fill(client, "target_dir", &slipway.data_path("staging")).await?;
    fill(client, "keep_releases", "3").await?;
    fill(client, "before_switch", "echo one\necho two").await?;
    submit(client).await?;
    wait_for_text(client, "h1.env-title", |s| s.contains("staging")).await?;
    let settings = wait_for_text(client, "dl.settings", |s| s.contains("Keep releases")).await?;
    assert!(settings.contains('3'), "{settings}");

    // A hook of two lines keeps both, and comes back as two lines.
    client
        .goto(&slipway.url("/apps/demo/envs/staging/edit"))
        .await?;
    end2end::wait_hydrated(client).await?;
    let hook = client
        .find(Locator::Css(".env-form [name='before_switch']"))
        .await?
        .prop("value")
        .await?
        .unwrap_or_default();
    assert_eq!(hook, "echo one\necho two");

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
