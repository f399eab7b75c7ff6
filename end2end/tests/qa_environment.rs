//! A QA environment from the browser: a docker environment, a build that is
//! an image, "Create QA environment" from the build's branch, open the URL
//! it shows, then destroy it and find nothing of it left on the engine.

use anyhow::{Context, Result};
use end2end::{
    click, create_docker_environment, job_succeeds, press_confirmed, register_build_in_form,
    sign_in_as_first_admin, wait_for_text, wait_hydrated, Browser, Slipway, PATIENCE,
};
use engine::backends::docker::EnvIdentity;
use engine::testing::docker::{DockerEngine, EnvironmentCleanup};
use fantoccini::Locator;

const QA_NAME: &str = "qa-feature-checkout";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_a_qa_environment_open_its_url_and_destroy_it_in_the_browser() -> Result<()> {
    let docker = DockerEngine::ensure();
    let image = format!("slipway-e2e-shop:{}", std::process::id());
    docker.build_app_image(&image, "e2e", true);
    let slipway = Slipway::start()?;
    let cleanup =
        EnvironmentCleanup::new(slipway.data_dir.path(), EnvIdentity::new("demo", QA_NAME));
    let browser = Browser::start().await?;
    let client = &browser.client;
    sign_in_as_first_admin(client, &slipway).await?;

    // A build whose artifact is the image, from a feature branch.
    let sha = "e2e0".repeat(10);
    register_build_in_form(
        client,
        &slipway,
        &[
            ("commit_sha", sha.as_str()),
            ("branch", "feature/Checkout"),
            ("message", "checkout page"),
            ("artifact", image.as_str()),
        ],
    )
    .await?;

    // A docker environment whose settings QA environments copy.
    create_docker_environment(client, &slipway, "web", &[]).await?;

    // Create the QA environment, named after the branch.
    wait_hydrated(client).await?;
    let option = client
        .find_all(Locator::Css("#qa-build-select option"))
        .await?;
    let mut chosen = false;
    for o in option {
        if o.text().await?.contains("feature/Checkout") {
            o.click().await?;
            chosen = true;
        }
    }
    assert!(chosen, "the image build is offered");
    click(client, "#qa-create-button").await?;
    job_succeeds(client).await?;
    // Two progress bars: the release's container and the traffic switch.
    let bars = client
        .find_all(Locator::Css(".host-progress[data-state='succeeded']"))
        .await?;
    assert_eq!(bars.len(), 2, "container and proxy bars at success");
    std::fs::write(
        end2end::artifacts_dir()?.join("qa-create-job.png"),
        client.screenshot().await?,
    )?;

    // Its page shows its address; open it.
    client
        .goto(&slipway.url(&format!("/apps/demo/envs/{QA_NAME}")))
        .await?;
    wait_hydrated(client).await?;
    let link = client
        .wait()
        .at_most(PATIENCE)
        .for_element(Locator::Css("a.env-url"))
        .await?;
    std::fs::write(
        end2end::artifacts_dir()?.join("qa-environment-page.png"),
        client.screenshot().await?,
    )?;
    let url = link.attr("href").await?.context("no href")?;
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    let env_page = client.current_url().await?;
    client.goto(&url).await?;
    wait_for_text(client, "body", |s| s.contains("shop version e2e")).await?;
    std::fs::write(
        end2end::artifacts_dir()?.join("qa-environment-url.png"),
        client.screenshot().await?,
    )?;
    assert_eq!(cleanup.containers().len(), 1);

    // Destroy it: the job succeeds and nothing labelled is left.
    client.goto(env_page.as_str()).await?;
    wait_hydrated(client).await?;
    press_confirmed(client, "#qa-destroy").await?;
    job_succeeds(client).await?;
    assert!(cleanup.containers().is_empty(), "containers left");
    assert!(cleanup.networks().is_empty(), "networks left");
    client.goto(&slipway.url("/")).await?;
    wait_hydrated(client).await?;
    let overview = client.find(Locator::Css("main")).await?.text().await?;
    assert!(!overview.contains(QA_NAME), "{overview}");
    browser.client.clone().close().await?;
    docker.remove_image(&image);
    Ok(())
}
