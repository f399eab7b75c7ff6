//! A dnf environment from the browser: configure two real sshd hosts (each
//! managing an installroot with real dnf), publish two rpm packages through
//! the upload API into Slipway's own repository, deploy both, see every
//! host's installed version, and roll back by downgrade.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{ensure, Context, Result};
use end2end::{
    fill, roll_back_from, run_job_from, sign_in_as_first_admin, wait_for_text, wait_hydrated,
    workspace_root, Browser, Slipway, PATIENCE,
};
use engine::testing::rpm::{self, RpmBuilder};
use engine::testing::sshd::{Fleet, HostImage};
use fantoccini::{Client, Locator};

const HOSTS: usize = 2;
const INSTALL_ROOT: &str = "/srv/rpmroot";

fn slipway_bin() -> PathBuf {
    std::env::var_os("SLIPWAY_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target/debug/slipway"))
}

/// A bearer token for the first admin, from the `create-token` command.
fn token(data_dir: &Path) -> Result<String> {
    let out = Command::new(slipway_bin())
        .arg("--data-dir")
        .arg(data_dir)
        .args(["create-token", "admin", "--name", "ci"])
        .env_remove("DATABASE_URL")
        .output()?;
    ensure!(out.status.success(), "create-token failed");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::trim)
        .rfind(|l| !l.is_empty())
        .map(str::to_owned)
        .context("create-token printed nothing")
}

/// Uploads an rpm as CI would (curl, bearer token); returns the build id.
fn publish(slipway: &Slipway, token: &str, rpm: &Path, commit: char) -> Result<String> {
    let sha: String = std::iter::repeat_n(commit, 40).collect();
    let url = slipway.url(&format!(
        "/api/apps/demo/packages?commit_sha={sha}&branch=main&message=rpm"
    ));
    let out = Command::new("curl")
        .args(["-sS", "--fail-with-body", "--noproxy", "*"])
        .args(["-H", &format!("Authorization: Bearer {token}")])
        .args(["-H", "content-type: application/x-rpm"])
        .arg("--data-binary")
        .arg(format!("@{}", rpm.display()))
        .arg(&url)
        .output()
        .context("run curl")?;
    let body = String::from_utf8_lossy(&out.stdout).into_owned();
    ensure!(out.status.success(), "upload failed: {body}");
    let json: serde_json::Value = serde_json::from_str(&body)?;
    Ok(json["build"]["id"].to_string())
}

/// Presses "Refresh installed versions" and returns (host, installed, status) rows.
async fn installed_versions(
    client: &Client,
    slipway: &Slipway,
) -> Result<Vec<(String, String, String)>> {
    client
        .goto(&slipway.url("/apps/demo/envs/packages"))
        .await?;
    wait_hydrated(client).await?;
    client
        .wait()
        .at_most(PATIENCE)
        .for_element(Locator::Css("#refresh-versions"))
        .await?
        .click()
        .await?;
    client
        .wait()
        .at_most(PATIENCE)
        .for_element(Locator::Css("table.host-versions tbody tr"))
        .await?;
    let mut rows = Vec::new();
    for row in client
        .find_all(Locator::Css("table.host-versions tbody tr"))
        .await?
    {
        let host = row.attr("data-host").await?.unwrap_or_default();
        let status = row.attr("data-status").await?.unwrap_or_default();
        let installed = row
            .find(Locator::Css("code.installed"))
            .await?
            .text()
            .await?;
        rows.push((host, installed, status));
    }
    Ok(rows)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deploy_rpms_see_host_versions_and_roll_back_in_the_browser() -> Result<()> {
    let fleet = Fleet::start_with(HOSTS, HostImage::Full);
    let slipway = Slipway::start()?;
    let browser = Browser::start().await?;
    let client = &browser.client;
    sign_in_as_first_admin(client, &slipway).await?;

    // A dnf environment for the demo application's package.
    client.goto(&slipway.url("/apps/demo/new-env")).await?;
    wait_hydrated(client).await?;
    fill(client, "name", "packages").await?;
    client
        .find(Locator::Css("#backend-select option[value='dnf']"))
        .await?
        .click()
        .await?;
    let config = fleet.config();
    fill(client, "package", "demo").await?;
    fill(client, "repo_id", "slipway-demo").await?;
    fill(client, "repo_url", &slipway.url("/repo/demo/")).await?;
    fill(
        client,
        "extra_options",
        "--nogpgcheck\n--setopt=install_weak_deps=False\n--releasever=1",
    )
    .await?;
    fill(client, "install_root", INSTALL_ROOT).await?;
    fill(client, "hosts", &config.hosts.join("\n")).await?;
    fill(client, "user", "root").await?;
    fill(
        client,
        "identity_file",
        &fleet.client_key.display().to_string(),
    )
    .await?;
    fill(client, "known_hosts", &fleet.known_hosts()).await?;

    // A package name that is really a command is refused; nothing is created.
    fill(client, "package", "demo; touch /tmp/pwned").await?;
    end2end::submit_env_form(client).await?;
    let error = wait_for_text(client, ".error", |s| !s.is_empty()).await?;
    assert!(error.contains("package name"), "unclear message: {error}");
    assert_eq!(client.current_url().await?.path(), "/apps/demo/new-env");
    fill(client, "package", "demo").await?;
    end2end::submit_env_form(client).await?;
    wait_for_text(client, "h1.env-title", |s| s.contains("packages")).await?;
    wait_for_text(client, "dl.settings", |s| s.contains("slipway-demo")).await?;

    // CI publishes two versions through the API.
    let work = tempfile::tempdir()?;
    let rpms = RpmBuilder::new(work.path());
    let token = token(slipway.data_dir.path())?;
    let first = publish(&slipway, &token, &rpms.build("demo", "1.0", "1"), 'a')?;
    let second = publish(&slipway, &token, &rpms.build("demo", "1.0", "2"), 'b')?;

    for build in [&first, &second] {
        end2end::pick_build(client, &slipway, "/apps/demo/envs/packages", build).await?;
        run_job_from(client, "#deploy-button", HOSTS).await?;
    }
    let rows = installed_versions(client, &slipway).await?;
    assert_eq!(rows.len(), HOSTS, "{rows:?}");
    for (host, installed, status) in &rows {
        assert_eq!(
            (installed.as_str(), status.as_str()),
            ("demo-1.0-2", "live"),
            "{host}"
        );
    }

    // Roll back to the first release: a downgrade on every host.
    client
        .goto(&slipway.url("/apps/demo/envs/packages"))
        .await?;
    wait_hydrated(client).await?;
    roll_back_from(client, "tr[data-state='superseded']", HOSTS).await?;
    let rows = installed_versions(client, &slipway).await?;
    for (host, installed, status) in &rows {
        assert_eq!(
            (installed.as_str(), status.as_str()),
            ("demo-1.0-1", "live"),
            "{host}"
        );
    }
    for host in &fleet.hosts {
        assert_eq!(
            rpm::installed(&host.path(INSTALL_ROOT), "demo"),
            ["demo-1.0-1"]
        );
    }
    let screenshot = client.screenshot().await?;
    std::fs::write(
        end2end::artifacts_dir()?.join("dnf-installed-versions.png"),
        screenshot,
    )?;
    browser.client.clone().close().await?;
    Ok(())
}
