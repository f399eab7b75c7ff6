//! Runs a dnf release across the environment's hosts.
//!
//! 1. **Connect** to every host; an unreachable host stops the job before
//!    anything runs anywhere.
//! 2. **Check** on every host, with fresh metadata and only the environment's
//!    repository enabled, that exactly the build's `name-version-release` is
//!    available, and read what is installed; then **stage** it: resolve the
//!    install, upgrade or downgrade and download the packages
//!    (`--downloadonly`). If any host cannot see it, resolve it or fetch it,
//!    the job fails before any host changes.
//! 3. **Install** on every host in parallel (at most `parallelism` at once):
//!    install, upgrade or downgrade to exactly that version, then **verify**
//!    with `rpm -q`. Each host reports for itself: a host that fails does
//!    not hide the hosts that succeeded, and the job says which run what.

use std::time::{Duration, Instant};

use super::hosts::{Host, Hosts, Targets};
use super::plan::{self, Change};
use crate::domain::settings::dnf::{DnfConfig, DnfTarget};
use crate::domain::settings::package::PackageVersion;

/// What the pre-flight learnt about a host.
struct Staged {
    change: Change,
}

use crate::backends::exec::{self, each_limited, At, RemoteStep, Reporter};
use crate::backends::ssh::transport::RemoteOutput;
use crate::backends::{JobContext, ReleaseSpec, RunFailure};
use crate::domain::{EventLevel, HostState};
use crate::runtime::CancelSignal;

/// connect, check, download, install, verify
const STEPS: i64 = 5;
const CHECK_TIMEOUT: Duration = Duration::from_secs(300);
const INSTALL_TIMEOUT: Duration = Duration::from_secs(1800);
const VERIFY_TIMEOUT: Duration = Duration::from_secs(60);

struct DnfRun<'a> {
    config: &'a DnfConfig,
    /// The build's artifact: the package version to reach.
    artifact: &'a str,
    job_id: i64,
    report: Reporter<'a>,
    cancel: CancelSignal,
}

/// The dnf backend's entry: checks every host can reach the build's
/// package version, then installs it everywhere.
pub async fn release(
    config: &DnfConfig,
    ctx: &JobContext<'_>,
    spec: &ReleaseSpec<'_>,
) -> Result<(), RunFailure> {
    run(DnfRun {
        config,
        artifact: spec.artifact,
        job_id: ctx.job_id,
        report: Reporter::new(ctx.emitter, STEPS),
        cancel: ctx.cancel.clone(),
    })
    .await
}

async fn run(run: DnfRun<'_>) -> Result<(), RunFailure> {
    let target = PackageVersion::parse(run.artifact).map_err(|_| {
        RunFailure::Failed(format!(
            "the build's artifact {:?} is not a package version (name-version-release); \
             a dnf environment installs packages",
            run.artifact
        ))
    })?;
    if target.name() != run.config.package {
        return Err(RunFailure::Failed(format!(
            "the build is package {} but this environment runs {}",
            target.name(),
            run.config.package
        )));
    }
    let targets = Targets::resolve(run.config)
        .await
        .map_err(RunFailure::Failed)?;
    let names = targets.names();
    if matches!(&run.config.target, DnfTarget::Ssh(ssh) if ssh.hosts.is_empty()) {
        run.report
            .log(
                None,
                EventLevel::Info,
                &format!("{} hosts discovered: {}", names.len(), names.join(", ")),
            )
            .await;
    }
    for name in &names {
        run.report
            .journal(
                name,
                At::new("connect", "connecting", 0),
                HostState::Running,
                None,
            )
            .await;
    }
    let (hosts, unreachable) = Hosts::connect(Some(&run.report), run.config, &targets, run.job_id)
        .await
        .map_err(RunFailure::Failed)?;
    if !unreachable.is_empty() {
        let reasons: Vec<String> = unreachable
            .iter()
            .map(|down| format!("{}: {}", down.name, down.error))
            .collect();
        for host in &hosts.connected {
            let why = "not changed: other hosts are unreachable";
            run.report
                .journal(
                    &host.name,
                    At::new("connect", "connected", 1),
                    HostState::Skipped,
                    Some(why),
                )
                .await;
        }
        hosts.close().await;
        return Err(RunFailure::Failed(format!(
            "could not reach {} of {} hosts, nothing was changed: {}",
            unreachable.len(),
            names.len(),
            reasons.join("; ")
        )));
    }
    let result = check_then_install(&run, &hosts.connected, &target).await;
    hosts.close().await;
    result
}

async fn check_then_install(
    run: &DnfRun<'_>,
    hosts: &[Host],
    target: &PackageVersion,
) -> Result<(), RunFailure> {
    let limit = run.config.parallelism as usize;

    // ---- phase 1: every host must see exactly this version ----
    run.report
        .info(&format!(
            "checking that {target} is available from {} ({}) on {} hosts",
            run.config.repo_id,
            run.config.repo_url,
            hosts.len()
        ))
        .await;
    let checked = each_limited(hosts, limit, |host| check_host(run, host, target)).await;
    let failures: Vec<String> = checked
        .iter()
        .filter_map(|r| r.as_ref().err().cloned())
        .collect();
    if !failures.is_empty() {
        for (host, result) in hosts.iter().zip(&checked) {
            if result.is_ok() {
                let why = "not changed: the pre-flight failed on other hosts";
                run.report
                    .journal(
                        &host.name,
                        At::new("check", "checked", 3),
                        HostState::Skipped,
                        Some(why),
                    )
                    .await;
            }
        }
        return Err(RunFailure::Failed(format!(
            "pre-flight failed on {} of {} hosts, no host was changed: {}",
            failures.len(),
            hosts.len(),
            failures.join("; ")
        )));
    }
    if let Some(reason) = run.cancel.reason() {
        for host in hosts {
            run.report
                .journal(
                    &host.name,
                    At::new("check", "cancelled", 3),
                    HostState::Cancelled,
                    Some(&reason),
                )
                .await;
        }
        return Err(RunFailure::Cancelled(reason));
    }

    // ---- phase 2: install, upgrade or downgrade everywhere ----
    run.report
        .info(&format!(
            "all {} hosts have {target} staged; installing",
            hosts.len()
        ))
        .await;
    let started = Instant::now();
    let installed = each_limited(hosts.iter().zip(checked), limit, |(host, staged)| {
        let change = staged.map_or(Change::Install, |s| s.change);
        install_host(run, host, target, change)
    })
    .await;
    let mut done = Vec::new();
    let mut failed = Vec::new();
    for (host, result) in hosts.iter().zip(installed) {
        match result {
            Ok(()) => done.push(host.name.clone()),
            Err(why) => failed.push(why),
        }
    }
    run.report
        .info(&format!(
            "{target} on {} of {} hosts after {:.1} s",
            done.len(),
            hosts.len(),
            started.elapsed().as_secs_f64()
        ))
        .await;
    if failed.is_empty() {
        return Ok(());
    }
    let running = if done.is_empty() {
        "no host runs it".to_owned()
    } else {
        format!("{} run it: {}", done.len(), done.join(", "))
    };
    Err(RunFailure::Failed(format!(
        "installing {target} failed on {} of {} hosts ({}); {running}",
        failed.len(),
        hosts.len(),
        failed.join("; ")
    )))
}

/// The pre-flight on one host: it must see exactly `target`, and resolve
/// and download what reaching it takes.
async fn check_host(
    run: &DnfRun<'_>,
    host: &Host,
    target: &PackageVersion,
) -> Result<Staged, String> {
    let output = step(
        run,
        host,
        At::new("check", "check repository", 1),
        plan::check(run.config, target),
        CHECK_TIMEOUT,
    )
    .await?;
    let installed = plan::values(&output.stdout, plan::INSTALLED);
    let available = plan::values(&output.stdout, plan::AVAILABLE);
    if !available.contains(&target.to_string()) {
        let why = format!(
            "{target} is not available from repository {} ({})",
            run.config.repo_id, run.config.repo_url
        );
        return Err(run
            .report
            .fail(&host.name, At::new("check", "check repository", 1), &why)
            .await);
    }
    let now = if installed.is_empty() {
        "not installed".to_owned()
    } else {
        installed.join(", ")
    };
    run.report
        .log(
            Some(&host.name),
            EventLevel::Info,
            &format!("[check] {target} is available; installed now: {now}"),
        )
        .await;
    let change = Change::needed(&installed, target);
    if let Some(script) = plan::download(run.config, change, target) {
        let label = format!("download for {}", change.verb().unwrap_or("install"));
        step(
            run,
            host,
            At::new("check", &label, 2),
            script,
            INSTALL_TIMEOUT,
        )
        .await?;
    }
    run.report
        .journal(
            &host.name,
            At::new("check", "staged", 3),
            HostState::Running,
            None,
        )
        .await;
    Ok(Staged { change })
}

/// Moves one host to exactly `target` and verifies it.
async fn install_host(
    run: &DnfRun<'_>,
    host: &Host,
    target: &PackageVersion,
    change: Change,
) -> Result<(), String> {
    match plan::change(run.config, change, target) {
        Some(script) => {
            let label = format!("{} {target}", change.verb().unwrap_or("install"));
            step(
                run,
                host,
                At::new("install", &label, 3),
                script,
                INSTALL_TIMEOUT,
            )
            .await?;
            run.report
                .journal(
                    &host.name,
                    At::new("install", &label, 4),
                    HostState::Running,
                    None,
                )
                .await;
        }
        None => {
            run.report
                .log(
                    Some(&host.name),
                    EventLevel::Info,
                    &format!("[install] {target} is already installed"),
                )
                .await;
            run.report
                .journal(
                    &host.name,
                    At::new("install", "already installed", 4),
                    HostState::Running,
                    None,
                )
                .await;
        }
    }
    let output = step(
        run,
        host,
        At::new("verify", "rpm -q", 4),
        plan::installed(run.config),
        VERIFY_TIMEOUT,
    )
    .await?;
    let now = plan::values(&output.stdout, plan::INSTALLED);
    if !plan::reached(&now, target) {
        let found = if now.is_empty() {
            "nothing".to_owned()
        } else {
            now.join(", ")
        };
        let why = format!("rpm -q reports {found} installed, not {target}");
        return Err(run
            .report
            .fail(&host.name, At::new("verify", "rpm -q", 4), &why)
            .await);
    }
    run.report
        .log(
            Some(&host.name),
            EventLevel::Info,
            &format!("[verify] {target} is installed"),
        )
        .await;
    run.report
        .journal(
            &host.name,
            At::new("done", "installed", STEPS),
            HostState::Succeeded,
            None,
        )
        .await;
    Ok(())
}

/// Runs one journaled command on a host ([`exec::run_step`]); a failure
/// comes back as `host: why`.
async fn step(
    run: &DnfRun<'_>,
    host: &Host,
    at: At<'_>,
    script: String,
    timeout: Duration,
) -> Result<RemoteOutput, String> {
    exec::run_step(
        &run.report,
        &host.name,
        host,
        RemoteStep::new(at, script, timeout),
    )
    .await
    .map_err(String::from)
}
