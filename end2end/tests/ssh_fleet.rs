//! An SSH environment from the browser: configure three real sshd hosts
//! (a non-root user, release steps through sudo, each host fetching the release archive from
//! this Slipway and checking its sha256), deploy and watch three progress
//! bars reach success, then roll back.

use anyhow::Result;
use end2end::{
    fill, roll_back_from, run_job_from, sign_in_as_first_admin, wait_for_text, wait_hydrated,
    Browser, Slipway,
};
use engine::testing::sshd::{require_deploy_user, Fleet, HostImage, DEPLOY_PATH, DEPLOY_USER};
use fantoccini::Locator;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deploy_to_three_ssh_hosts_and_roll_back_in_the_browser() -> Result<()> {
    // Hosts with the machine's /usr and /etc, so sudo is there, reached as
    // a user who needs it to write the deploy path.
    require_deploy_user();
    let fleet = Fleet::start_with(3, HostImage::Full);
    let slipway = Slipway::start()?;
    let browser = Browser::start().await?;
    let client = &browser.client;
    sign_in_as_first_admin(client, &slipway).await?;

    client.goto(&slipway.url("/apps/demo/new-env")).await?;
    wait_hydrated(client).await?;
    fill(client, "name", "fleet").await?;
    client
        .find(Locator::Css("#backend-select option[value='ssh']"))
        .await?
        .click()
        .await?;
    let config = fleet.config();
    fill(client, "hosts", &config.hosts.join("\n")).await?;
    fill(client, "user", DEPLOY_USER).await?;
    fill(
        client,
        "identity_file",
        &fleet.client_key.display().to_string(),
    )
    .await?;
    // Pin the keys the hosts offer: Slipway reads them, the admin compares
    // the fingerprints shown beside the field, then saves.
    client
        .find(Locator::Css("#scan-keys"))
        .await?
        .click()
        .await?;
    let listed = wait_for_text(client, "ul.scanned-keys", |t| {
        t.matches("SHA256:").count() >= 3
    })
    .await?;
    assert!(listed.contains("ED25519"), "{listed}");
    let pinned = client
        .find(Locator::Css("textarea[name='known_hosts']"))
        .await?
        .prop("value")
        .await?
        .unwrap_or_default();
    for line in fleet.known_hosts().lines() {
        assert!(
            pinned.lines().any(|l| l == line),
            "{line} not pinned: {pinned}"
        );
    }
    std::fs::write(
        end2end::artifacts_dir()?.join("ssh-scanned-keys.png"),
        client.screenshot().await?,
    )?;
    fill(client, "target_dir", DEPLOY_PATH).await?;
    fill(client, "fetch_from", &slipway.base_url).await?;
    client
        .find(Locator::Css("input[name='ssh_sudo']"))
        .await?
        .click()
        .await?;
    fill(
        client,
        "before_switch",
        "echo staged on $SLIPWAY_ENVIRONMENT",
    )
    .await?;
    end2end::submit_env_form(client).await?;
    wait_for_text(client, "h1.env-title", |s| s.contains("fleet")).await?;
    wait_for_text(client, "dl.settings", |s| {
        s.contains("127.0.0.1:")
            && s.contains("release steps with sudo")
            && s.contains(&format!("fetched by each host from {}", slipway.base_url))
    })
    .await?;

    // Deploy build 1, then build 2.
    for (build, version) in [(1, "1.0.0"), (2, "1.1.0")] {
        end2end::pick_build(client, &slipway, "/apps/demo/envs/fleet", build).await?;
        // Before pressing Deploy: what will run, for the picked build.
        client
            .find(Locator::Css("#deploy-plan summary"))
            .await?
            .click()
            .await?;
        let plan = wait_for_text(client, "#deploy-plan ol", |t| {
            t.contains("all hosts together") && t.contains(&format!("demo-{version}.tar.gz"))
        })
        .await?;
        assert!(plan.contains(DEPLOY_PATH), "{plan}");
        assert!(plan.contains("sudo -n sh -c"), "{plan}");
        assert!(
            plan.contains("/artifacts/<job token>") && plan.contains("sha256sum"),
            "{plan}"
        );
        run_job_from(client, "#deploy-button", 3).await?;
        wait_for_text(client, "#job-log", |log| {
            log.contains("fetch ") && log.contains("KiB and unpack done in")
        })
        .await?;
    }
    for host in &fleet.hosts {
        assert_eq!(
            host.current_version().as_deref(),
            Some("1.1.0"),
            "{}",
            host.name()
        );
    }

    // Roll back to the first release everywhere.
    client.goto(&slipway.url("/apps/demo/envs/fleet")).await?;
    wait_hydrated(client).await?;
    roll_back_from(client, "tr[data-state='superseded']", 3).await?;
    for host in &fleet.hosts {
        assert_eq!(
            host.current_version().as_deref(),
            Some("1.0.0"),
            "{}",
            host.name()
        );
    }
    let screenshot = client.screenshot().await?;
    std::fs::write(
        end2end::artifacts_dir()?.join("ssh-rollback-job-page.png"),
        screenshot,
    )?;
    browser.client.clone().close().await?;
    Ok(())
}
