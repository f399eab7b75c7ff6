//! A protected environment in the browser: an admin protects it and names
//! who may deploy; a deployer who is not named is told why on the page and
//! offered no Deploy, Lock or Rollback (also when a group of the same name
//! at another provider is named), and the settings page refuses him; named
//! through his identity provider's group, the same person deploys. (The
//! server's own refusal of such a deploy, audited, is tested in
//! server/tests/access.rs.)

use anyhow::{ensure, Result};
use end2end::{
    fill, give_role, job_succeeds, press_deploy, sign_in_as_first_admin, sign_in_with_provider,
    submit_env_form, wait_for_text, wait_hydrated, Browser, OidcAccount, OidcProvider, Slipway,
};
use fantoccini::{Client, Locator};

/// On the demo environment's settings form: protected, with `deployers`.
async fn protect_demo(client: &Client, slipway: &Slipway, deployers: &str) -> Result<()> {
    client
        .goto(&slipway.url("/apps/demo/envs/demo/edit"))
        .await?;
    wait_hydrated(client).await?;
    let checkbox = client
        .find(Locator::Css(".env-form [name='protected']"))
        .await?;
    if !checkbox.is_selected().await? {
        checkbox.click().await?;
    }
    fill(client, "deployers", deployers).await?;
    submit_env_form(client).await?;
    wait_for_text(client, "dl.settings dd.deployers", |s| {
        s == format!("admins and {deployers} (protected)")
    })
    .await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_named_deployers_and_admins_deploy_to_a_protected_environment() -> Result<()> {
    let provider = OidcProvider::start(&OidcAccount {
        subject: "dave-subject",
        login: "dave",
        groups: &["release"],
    })?;
    let slipway = Slipway::start_with_provider(&provider, &[])?;

    let dave = Browser::start().await?;
    sign_in_with_provider(&dave.client, &slipway, "dave (viewer)").await?;

    let admin = Browser::start().await?;
    sign_in_as_first_admin(&admin.client, &slipway).await?;
    give_role(&admin.client, &slipway, "dave", "deployer").await?;
    // Dave's header says so after his next click, without a reload.
    wait_hydrated(&dave.client).await?;
    dave.client
        .find(Locator::Css("header nav a[href='/builds']"))
        .await?
        .click()
        .await?;
    wait_for_text(&dave.client, "header .who", |s| s == "dave (deployer)").await?;
    // A group is named with its provider: a bare name is refused, clearly.
    admin
        .client
        .goto(&slipway.url("/apps/demo/envs/demo/edit"))
        .await?;
    wait_hydrated(&admin.client).await?;
    fill(&admin.client, "deployers", "group:release").await?;
    submit_env_form(&admin.client).await?;
    wait_for_text(&admin.client, "p.error", |s| {
        s.contains("name the identity provider")
    })
    .await?;
    // The same group name at another provider is another group.
    protect_demo(&admin.client, &slipway, "group:github:release").await?;

    // Dave is a deployer, but not one of this environment's: the page says
    // why and offers no Deploy, Lock or Rollback; nor may he edit settings.
    let page = &dave.client;
    page.goto(&slipway.url("/apps/demo/envs/demo")).await?;
    wait_hydrated(page).await?;
    let why = wait_for_text(page, ".not-allowed", |s| !s.is_empty()).await?;
    ensure!(
        why.contains("is protected") && why.contains("named deployers"),
        "unclear: {why}"
    );
    for offered in [
        "#deploy-button",
        ".rollback",
        "input[name='reason']",
        "a[href$='/edit']",
    ] {
        ensure!(
            page.find(Locator::Css(offered)).await.is_err(),
            "{offered} is offered to dave"
        );
    }
    page.goto(&slipway.url("/apps/demo/envs/demo/edit")).await?;
    let refused = wait_for_text(page, "main h1", |s| !s.is_empty()).await?;
    ensure!(refused == "Not allowed", "the edit page opened: {refused}");
    ensure!(
        !slipway.data_dir.path().join("demo-target/current").exists(),
        "something was released"
    );

    // Named through his provider group, dave deploys.
    protect_demo(&admin.client, &slipway, "group:oidc:release").await?;
    press_deploy(&dave.client, &slipway, 1).await?;
    job_succeeds(&dave.client).await?;
    Ok(())
}
