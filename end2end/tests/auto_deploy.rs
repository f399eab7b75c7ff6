//! Auto-deploy in the browser: an admin sets the branch pattern whose builds
//! the demo environment deploys by itself (a bad pattern is refused, clearly),
//! registers a build of that branch on the Builds page, and finds it live
//! without pressing Deploy.

use anyhow::Result;
use end2end::{
    fill, register_build_in_form, sign_in_as_first_admin, submit_env_form, wait_for_text,
    wait_hydrated, wait_until_live, Browser, Slipway,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_build_of_the_auto_deploy_branch_goes_live_by_itself() -> Result<()> {
    let slipway = Slipway::start()?;
    let browser = Browser::start().await?;
    let client = &browser.client;
    sign_in_as_first_admin(client, &slipway).await?;

    client
        .goto(&slipway.url("/apps/demo/envs/demo/edit"))
        .await?;
    wait_hydrated(client).await?;
    fill(client, "auto_deploy", "main; rm -rf /").await?;
    submit_env_form(client).await?;
    wait_for_text(client, "p.error", |s| s.contains("a branch pattern")).await?;
    fill(client, "auto_deploy", "main").await?;
    submit_env_form(client).await?;
    wait_for_text(client, "dl.settings dd.auto-deploy", |s| {
        s == "builds of main as they are registered"
    })
    .await?;

    // A new commit of main, packed like the demo's second build.
    client.goto(&slipway.url("/builds?app=demo")).await?;
    wait_hydrated(client).await?;
    let artifact = wait_for_text(client, "tr[data-build='2'] code.artifact", |s| {
        s.ends_with(".tar.gz")
    })
    .await?;
    let sha = "c0ffee".repeat(6) + "c0ff";
    register_build_in_form(
        client,
        &slipway,
        &[
            ("commit_sha", sha.as_str()),
            ("message", "Ship it by itself"),
            ("artifact", artifact.as_str()),
        ],
    )
    .await?;
    wait_for_text(client, "tr[data-build='3']", |s| s.contains("c0ffee")).await?;

    // Nobody pressed Deploy: the environment page shows it live.
    client.goto(&slipway.url("/apps/demo/envs/demo")).await?;
    wait_hydrated(client).await?;
    wait_until_live(client, "Ship it by itself").await?;
    Ok(())
}
