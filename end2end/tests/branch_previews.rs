//! Branch previews in the browser: an admin sets `feature/*` on a docker
//! environment, registers a build of feature/cart on the Builds page, and
//! finds a QA environment for the branch on the overview, serving that
//! build at its own URL. A signed GitHub webhook then says the branch was
//! deleted: the preview is destroyed and nothing labelled is left.

use anyhow::{ensure, Context, Result};
use end2end::{
    create_docker_environment, job_succeeds, register_build_in_form, sign_in_as_first_admin,
    wait_for_text, wait_hydrated, wait_until_live, Browser, Slipway,
};
use engine::backends::docker::EnvIdentity;
use engine::testing::docker::{DockerEngine, EnvironmentCleanup};
use fantoccini::Locator;
use hmac::{Hmac, Mac};
use sha2::Sha256;

const SECRET: &str = "e2e-webhook-secret-0123456789";
const PREVIEW: &str = "qa-feature-cart";

/// Signs `body` with the demo application's webhook secret, as GitHub would.
fn github_signature(body: &[u8]) -> Result<String> {
    let secret = engine::webhooks::WebhookSecret::new(SECRET)?
        .for_application(&engine::domain::AppName::parse("demo")?);
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.reveal().as_bytes())?;
    mac.update(body);
    Ok(format!(
        "sha256={}",
        hex::encode(mac.finalize().into_bytes())
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_feature_branch_gets_its_own_environment_until_the_branch_is_deleted() -> Result<()> {
    let docker = DockerEngine::ensure();
    let image = format!("slipway-e2e-preview:{}", std::process::id());
    docker.build_app_image(&image, "cart", true);
    let slipway = Slipway::start_with_env(&[("SLIPWAY_WEBHOOK_SECRET", SECRET)])?;
    let cleanup =
        EnvironmentCleanup::new(slipway.data_dir.path(), EnvIdentity::new("demo", PREVIEW));
    let browser = Browser::start().await?;
    let client = &browser.client;
    sign_in_as_first_admin(client, &slipway).await?;

    create_docker_environment(client, &slipway, "web", &[("previews", "feature/*")]).await?;
    wait_for_text(client, "dd.previews", |s| {
        s == "builds of feature/* get a QA environment of their own"
    })
    .await?;

    let sha = "ca57".repeat(10);
    register_build_in_form(
        client,
        &slipway,
        &[
            ("commit_sha", sha.as_str()),
            ("branch", "feature/cart"),
            ("message", "the cart"),
            ("artifact", image.as_str()),
        ],
    )
    .await?;

    // Nobody asked for it: the overview lists the branch's environment.
    client.goto(&slipway.url("/")).await?;
    wait_hydrated(client).await?;
    wait_for_text(client, "main", |s| s.contains(PREVIEW)).await?;
    client
        .goto(&slipway.url(&format!("/apps/demo/envs/{PREVIEW}")))
        .await?;
    wait_hydrated(client).await?;
    wait_until_live(client, "the cart").await?;
    let url = client
        .find(Locator::Css("a.env-url"))
        .await?
        .attr("href")
        .await?
        .context("no href")?;
    // It follows its branch: the next build of feature/cart goes there too.
    wait_for_text(client, "dd.auto-deploy", |s| {
        s == "builds of feature/cart as they are registered"
    })
    .await?;
    std::fs::write(
        end2end::artifacts_dir()?.join("branch-preview.png"),
        client.screenshot().await?,
    )?;
    client.goto(&url).await?;
    wait_for_text(client, "body", |s| s.contains("shop version cart")).await?;

    // GitHub says the branch was deleted.
    let body = br#"{"ref":"refs/heads/feature/cart","deleted":true,"after":"0000000000000000000000000000000000000000"}"#;
    let reply = reqwest::Client::builder()
        .no_proxy()
        .build()?
        .post(slipway.url("/hooks/github/demo"))
        .header("x-github-event", "push")
        .header("x-github-delivery", "9a1f4c2e-0000-4000-8000-000000000001")
        .header("x-hub-signature-256", github_signature(body)?)
        .header("content-type", "application/json")
        .body(body.to_vec())
        .send()
        .await?;
    ensure!(reply.status() == 202, "webhook answered {}", reply.status());
    let reply: serde_json::Value = reply.json().await?;
    let job = reply["job"].as_i64().context("the webhook names its job")?;
    client.goto(&slipway.url(&format!("/jobs/{job}"))).await?;
    job_succeeds(client).await?;
    ensure!(cleanup.containers().is_empty(), "containers left");
    ensure!(cleanup.networks().is_empty(), "networks left");
    client.goto(&slipway.url("/")).await?;
    wait_hydrated(client).await?;
    let overview = client.find(Locator::Css("main")).await?.text().await?;
    ensure!(!overview.contains(PREVIEW), "{overview}");
    client.goto(&slipway.url("/audit")).await?;
    wait_for_text(client, "main", |s| s.contains("webhook:github")).await?;
    browser.client.clone().close().await?;
    docker.remove_image(&image);
    Ok(())
}
