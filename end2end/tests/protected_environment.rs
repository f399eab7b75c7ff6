//! A protected environment in the browser: an admin protects it and names
//! who may deploy; a deployer who is not named presses Deploy and gets a
//! clear refusal that changes nothing (and lands in the audit log), also
//! when a group of the same name at another provider is named; named
//! through their identity provider's group, the same person deploys.

use anyhow::{ensure, Result};
use end2end::{
    fill, give_role, job_succeeds, press_deploy, sign_in_as_first_admin, submit_env_form,
    wait_for_text, wait_hydrated, Browser, OidcAccount, OidcProvider, Slipway,
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
    let env = provider.slipway_env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let slipway = Slipway::start_with_env(&env)?;

    let dave = Browser::start().await?;
    dave.client.goto(&slipway.url("/auth/oidc/start")).await?;
    wait_for_text(&dave.client, "header .who", |t| t.contains("dave (viewer)")).await?;

    let admin = Browser::start().await?;
    sign_in_as_first_admin(&admin.client, &slipway).await?;
    give_role(&admin.client, &slipway, "dave", "deployer").await?;
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

    // Dave is a deployer, but not one of this environment's.
    press_deploy(&dave.client, &slipway, 1).await?;
    let refusal = wait_for_text(&dave.client, "p.error", |s| !s.is_empty()).await?;
    ensure!(
        refusal.contains("is protected") && refusal.contains("named deployers"),
        "unclear refusal: {refusal}"
    );
    ensure!(
        dave.client.current_url().await?.path() == "/apps/demo/envs/demo",
        "the refused deploy left the environment page"
    );
    ensure!(
        !slipway.data_dir.path().join("demo-target/current").exists(),
        "the refused deploy released something"
    );

    // The refusal is in the audit log, with who and where.
    admin
        .client
        .goto(&slipway.url("/audit?action=access.denied"))
        .await?;
    wait_for_text(&admin.client, "tr[data-action='access.denied']", |s| {
        s.contains("dave") && s.contains("demo")
    })
    .await?;

    // Named through his provider group, dave deploys.
    protect_demo(&admin.client, &slipway, "group:oidc:release").await?;
    press_deploy(&dave.client, &slipway, 1).await?;
    job_succeeds(&dave.client).await?;
    Ok(())
}
