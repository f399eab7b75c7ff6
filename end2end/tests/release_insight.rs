//! Release insight in the browser, against the real server and its demo:
//! the deploy form lists the commits a build brings (from the commit list
//! its registration sent) and the variables that differ from the live
//! release's — a secret only as "(secret)" — before Deploy, and the job
//! page says the same after; the release timeline draws the releases as
//! SVG marks linking to their jobs; `?` lists the keyboard shortcuts and
//! `g t` goes to the timeline. Screenshots are kept as test artifacts.

use anyhow::{ensure, Context, Result};
use end2end::{
    artifacts_dir, click, drawn_bars, job_succeeds, pick_build, press_deploy,
    sign_in_as_first_admin, type_into, wait_for_text, wait_hydrated, Browser, Slipway, PATIENCE,
};
use fantoccini::Locator;

const SECRET_VALUE: &str = "planted-browser-secret-42";

async fn set_variable(
    client: &fantoccini::Client,
    name: &str,
    value: &str,
    secret: bool,
) -> Result<()> {
    let form = "form:has(textarea[name='value'])";
    type_into(client, &format!("{form} input[name='name']"), name).await?;
    type_into(client, &format!("{form} textarea[name='value']"), value).await?;
    if secret {
        click(client, &format!("{form} input[name='secret']")).await?;
    }
    click(client, &format!("{form} button[type='submit']")).await?;
    wait_for_text(client, "table.vars", |t| t.contains(name)).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_deploy_form_shows_what_changes_and_the_timeline_draws_releases() -> Result<()> {
    let slipway = Slipway::start()?;
    let browser = Browser::start().await?;
    let client = &browser.client;
    sign_in_as_first_admin(client, &slipway).await?;
    // The demo's first build goes live; then its settings change.
    press_deploy(client, &slipway, 1).await?;
    job_succeeds(client).await?;
    client.goto(&slipway.url("/apps/demo/envs/demo")).await?;
    wait_hydrated(client).await?;
    set_variable(client, "GREETING", "hello <b>&amp;</b>", false).await?;
    set_variable(client, "API_KEY", SECRET_VALUE, true).await?;

    // Before Deploy: the two commits of the list CI sent and the build's own.
    pick_build(client, &slipway, "/apps/demo/envs/demo", 2).await?;
    let headline = wait_for_text(client, "#deploy-changes .changes-headline", |t| {
        t.contains("Brings 3 commits")
    })
    .await?;
    ensure!(headline.contains("build #1"), "{headline}");
    let source =
        wait_for_text(client, "#deploy-changes .changes-source", |t| !t.is_empty()).await?;
    ensure!(
        source.contains("commit lists CI and push webhooks sent"),
        "the page must say where the list came from: {source}"
    );
    let commits = client
        .find_all(Locator::Css("#deploy-changes table.commits tr"))
        .await?;
    ensure!(
        commits.len() == 3,
        "{} commits listed, not 3",
        commits.len()
    );
    let listed = client
        .find(Locator::Css("#deploy-changes table.commits"))
        .await?
        .text()
        .await?;
    ensure!(
        listed.contains("Fix the greeting's punctuation")
            && listed.contains("Say hello in the page title"),
        "{listed}"
    );
    // The variables set since build #1 went live; the secret's value never.
    let greeting = wait_for_text(
        client,
        "#deploy-changes tr[data-var='GREETING'][data-change='added']",
        |t| !t.is_empty(),
    )
    .await?;
    ensure!(
        greeting.contains("hello <b>&amp;</b>"),
        "shown as text: {greeting}"
    );
    let secret = wait_for_text(
        client,
        "#deploy-changes tr[data-var='API_KEY'][data-change='added']",
        |t| !t.is_empty(),
    )
    .await?;
    ensure!(secret.contains("(secret)"), "{secret}");
    ensure!(
        !client.source().await?.contains(SECRET_VALUE),
        "a secret's value reached the page"
    );
    std::fs::write(
        artifacts_dir()?.join("deploy-what-changes.png"),
        client.screenshot().await?,
    )?;

    // After: the job page says what the job changed.
    click(client, "#deploy-button").await?;
    let job = job_succeeds(client).await?;
    wait_for_text(client, "#job-changes .changes-headline", |t| {
        t.contains("Brings 3 commits")
    })
    .await?;
    wait_for_text(client, "#job-changes tr[data-var='API_KEY']", |t| {
        t.contains("(secret)")
    })
    .await?;

    // The timeline: both releases, as marks linking to their jobs.
    client.goto(&slipway.url("/timeline?zoom=day")).await?;
    wait_hydrated(client).await?;
    let lane = client
        .wait()
        .at_most(PATIENCE)
        .for_element(Locator::Css(
            "svg.timeline-chart g.lane[data-environment='demo/demo']",
        ))
        .await
        .context("no lane for demo/demo")?;
    let marks = lane.find_all(Locator::Css("rect.mark")).await?;
    ensure!(!marks.is_empty(), "no release marks");
    let mut outcomes = Vec::new();
    let mut releases = 0;
    for mark in &marks {
        outcomes.push(mark.attr("data-outcome").await?.unwrap_or_default());
        releases += mark
            .attr("data-releases")
            .await?
            .unwrap_or_default()
            .parse::<u32>()?;
    }
    ensure!(
        releases == 2,
        "two releases drawn, not {releases}: {outcomes:?}"
    );
    ensure!(outcomes.iter().any(|o| o == "live"), "{outcomes:?}");
    let newest = client
        .find(Locator::Css(&format!(
            "svg.timeline-chart a[href='/jobs/{job}'] rect.mark"
        )))
        .await;
    ensure!(
        newest.is_ok(),
        "the live release's mark links to job #{job}"
    );
    std::fs::write(
        artifacts_dir()?.join("timeline.png"),
        client.screenshot().await?,
    )?;
    // Zoom is a link: the quarter shows the same releases.
    click(client, "a[data-zoom='quarter']").await?;
    wait_for_text(client, "section.timeline p.muted", |t| {
        t.starts_with("2 releases")
    })
    .await?;

    // Keyboard shortcuts: `?` lists them, `g e` goes to the environments.
    client
        .execute(
            "document.body.dispatchEvent(new KeyboardEvent('keydown', {key: '?', bubbles: true}))",
            vec![],
        )
        .await?;
    wait_for_text(client, "#shortcuts", |t| {
        t.contains("go to the release timeline")
    })
    .await?;
    for key in ["g", "e"] {
        client
            .execute(
                &format!(
                    "document.body.dispatchEvent(new KeyboardEvent('keydown', {{key: '{key}', bubbles: true}}))"
                ),
                vec![],
            )
            .await?;
    }
    let deadline = std::time::Instant::now() + PATIENCE;
    while client.current_url().await?.path() != "/" {
        ensure!(
            std::time::Instant::now() < deadline,
            "g e did not go to the environments"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    Ok(())
}

/// The sample history `--demo-history` seeds: the timeline draws every
/// outcome, and the DORA page's charts have bars in most weeks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_seeded_history_fills_the_timeline_and_the_dora_charts() -> Result<()> {
    let slipway = Slipway::start_with_env(&[("SLIPWAY_DEMO_HISTORY", "true")])?;
    let browser = Browser::start().await?;
    let client = &browser.client;
    sign_in_as_first_admin(client, &slipway).await?;

    client
        .goto(&slipway.url("/timeline?zoom=quarter&app=storefront"))
        .await?;
    wait_hydrated(client).await?;
    let lanes = client
        .find_all(Locator::Css("svg.timeline-chart g.lane"))
        .await?;
    let mut names = Vec::new();
    for lane in &lanes {
        names.push(lane.attr("data-environment").await?.unwrap_or_default());
    }
    ensure!(
        names == ["storefront/production", "storefront/staging"],
        "{names:?}"
    );
    let mut outcomes = std::collections::BTreeSet::new();
    for mark in client
        .find_all(Locator::Css("svg.timeline-chart rect.mark"))
        .await?
    {
        outcomes.insert(mark.attr("data-outcome").await?.unwrap_or_default());
    }
    for outcome in ["live", "superseded", "failed", "rolled_back"] {
        ensure!(
            outcomes.contains(outcome),
            "no {outcome} mark: {outcomes:?}"
        );
    }
    std::fs::write(
        artifacts_dir()?.join("timeline-history.png"),
        client.screenshot().await?,
    )?;

    client
        .goto(&slipway.url("/apps/storefront/envs/production/insight"))
        .await?;
    wait_hydrated(client).await?;
    let (drawn, bars) = drawn_bars(client, "figure.chart.deployments svg rect.bar").await?;
    ensure!(drawn >= 10, "{drawn} of {bars} weeks show deploys");
    let failures = client
        .find_all(Locator::Css("figure.chart.failure-rate svg rect.bar"))
        .await?;
    ensure!(!failures.is_empty(), "no change failure rate drawn");
    std::fs::write(
        artifacts_dir()?.join("insight-history.png"),
        client.screenshot().await?,
    )?;

    // The application's environments together: at least as many deploys
    // each week as production alone, reached from the overview.
    client.goto(&slipway.url("/")).await?;
    wait_hydrated(client).await?;
    click(client, "section.app[data-app='storefront'] a.app-insight").await?;
    let scope = wait_for_text(client, "p.insight-scope", |s| !s.is_empty()).await?;
    ensure!(scope.contains("permanent environments together"), "{scope}");
    let (drawn_app, _) = drawn_bars(client, "figure.chart.deployments svg rect.bar").await?;
    ensure!(
        drawn_app >= drawn,
        "{drawn_app} weeks drawn for the application, {drawn} for production"
    );
    std::fs::write(
        artifacts_dir()?.join("insight-application.png"),
        client.screenshot().await?,
    )?;
    Ok(())
}
