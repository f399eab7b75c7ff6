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

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::join_all;
use tokio::sync::Semaphore;
use tracing::{info_span, Instrument};

use super::config::{DnfConfig, DnfTarget};
use super::hosts::{Host, Hosts, Targets};
use super::package::PackageVersion;
use super::plan::{self, Change};

/// What the pre-flight learnt about a host.
struct Staged {
    change: Change,
}
use crate::backends::ssh::transport::{RemoteOutput, TransportError};
use crate::backends::RunFailure;
use crate::jobs::{CancelSignal, EventEmitter, EventLevel};
use crate::store::jobs::HostProgress;

/// connect, check, download, install, verify
const STEPS: i64 = 5;
const CHECK_TIMEOUT: Duration = Duration::from_secs(300);
const INSTALL_TIMEOUT: Duration = Duration::from_secs(1800);
const VERIFY_TIMEOUT: Duration = Duration::from_secs(60);

pub struct DnfRun<'a> {
    pub config: &'a DnfConfig,
    /// The build's artifact: the package version to reach.
    pub artifact: &'a str,
    pub job_id: i64,
    pub emitter: &'a EventEmitter,
    pub cancel: CancelSignal,
}

pub async fn run(run: DnfRun<'_>) -> Result<(), RunFailure> {
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
        log(
            &run,
            None,
            EventLevel::Info,
            &format!("{} hosts discovered: {}", names.len(), names.join(", ")),
        )
        .await;
    }
    for name in &names {
        journal(&run, name, "connect", "connecting", 0, "running", None).await;
    }
    let (hosts, unreachable) = Hosts::connect(run.config, &targets, run.job_id)
        .await
        .map_err(RunFailure::Failed)?;
    if !unreachable.is_empty() {
        let mut reasons = Vec::new();
        for down in &unreachable {
            log(&run, Some(&down.name), EventLevel::Error, &down.error).await;
            journal(
                &run,
                &down.name,
                "connect",
                "connect",
                0,
                "failed",
                Some(&down.error),
            )
            .await;
            reasons.push(format!("{}: {}", down.name, down.error));
        }
        for host in &hosts.connected {
            let why = "not changed: other hosts are unreachable";
            journal(
                &run,
                &host.name,
                "connect",
                "connected",
                1,
                "skipped",
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
    for host in &hosts.connected {
        journal(&run, &host.name, "connect", "connected", 1, "running", None).await;
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
    let limit = Arc::new(Semaphore::new(run.config.parallelism as usize));

    // ---- phase 1: every host must see exactly this version ----
    info(
        run,
        &format!(
            "checking that {target} is available from {} ({}) on {} hosts",
            run.config.repo_id,
            run.config.repo_url,
            hosts.len()
        ),
    )
    .await;
    let checked = join_all(hosts.iter().map(|host| {
        let limit = limit.clone();
        async move {
            let _permit = limit.acquire().await;
            check_host(run, host, target).await
        }
    }))
    .await;
    let failures: Vec<String> = checked
        .iter()
        .filter_map(|r| r.as_ref().err().cloned())
        .collect();
    if !failures.is_empty() {
        for (host, result) in hosts.iter().zip(&checked) {
            if result.is_ok() {
                let why = "not changed: the pre-flight failed on other hosts";
                journal(run, &host.name, "check", "checked", 3, "skipped", Some(why)).await;
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
            journal(
                run,
                &host.name,
                "check",
                "cancelled",
                3,
                "cancelled",
                Some(&reason),
            )
            .await;
        }
        return Err(RunFailure::Cancelled(reason));
    }

    // ---- phase 2: install, upgrade or downgrade everywhere ----
    info(
        run,
        &format!("all {} hosts have {target} staged; installing", hosts.len()),
    )
    .await;
    let started = Instant::now();
    let installed = join_all(hosts.iter().zip(checked).map(|(host, staged)| {
        let limit = limit.clone();
        async move {
            let _permit = limit.acquire().await;
            let change = staged.map_or(Change::Install, |s| s.change);
            install_host(run, host, target, change).await
        }
    }))
    .await;
    let mut done = Vec::new();
    let mut failed = Vec::new();
    for (host, result) in hosts.iter().zip(installed) {
        match result {
            Ok(()) => done.push(host.name.clone()),
            Err(why) => failed.push(why),
        }
    }
    info(
        run,
        &format!(
            "{target} on {} of {} hosts after {:.1} s",
            done.len(),
            hosts.len(),
            started.elapsed().as_secs_f64()
        ),
    )
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
        "check",
        "check repository",
        1,
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
        return Err(fail(run, host, "check", "check repository", 1, &why).await);
    }
    let now = if installed.is_empty() {
        "not installed".to_owned()
    } else {
        installed.join(", ")
    };
    log(
        run,
        Some(&host.name),
        EventLevel::Info,
        &format!("[check] {target} is available; installed now: {now}"),
    )
    .await;
    let change = Change::needed(&installed, target);
    if let Some(script) = plan::download(run.config, change, target) {
        let label = format!("download for {}", change.verb().unwrap_or("install"));
        step(run, host, "check", &label, 2, script, INSTALL_TIMEOUT).await?;
    }
    journal(run, &host.name, "check", "staged", 3, "running", None).await;
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
            step(run, host, "install", &label, 3, script, INSTALL_TIMEOUT).await?;
            journal(run, &host.name, "install", &label, 4, "running", None).await;
        }
        None => {
            log(
                run,
                Some(&host.name),
                EventLevel::Info,
                &format!("[install] {target} is already installed"),
            )
            .await;
            journal(
                run,
                &host.name,
                "install",
                "already installed",
                4,
                "running",
                None,
            )
            .await;
        }
    }
    let output = step(
        run,
        host,
        "verify",
        "rpm -q",
        4,
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
        return Err(fail(run, host, "verify", "rpm -q", 4, &why).await);
    }
    log(
        run,
        Some(&host.name),
        EventLevel::Info,
        &format!("[verify] {target} is installed"),
    )
    .await;
    journal(
        run,
        &host.name,
        "done",
        "installed",
        STEPS,
        "succeeded",
        None,
    )
    .await;
    Ok(())
}

/// Runs one journaled command on a host with its output streamed to the log.
async fn step(
    run: &DnfRun<'_>,
    host: &Host,
    phase: &str,
    label: &str,
    done: i64,
    script: String,
    timeout: Duration,
) -> Result<RemoteOutput, String> {
    journal(run, &host.name, phase, label, done, "running", None).await;
    let emitter = run.emitter;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(bool, String)>();
    let on_line = move |is_err: bool, line: &str| {
        let _ = tx.send((is_err, line.to_owned()));
    };
    let forward = async {
        while let Some((is_err, line)) = rx.recv().await {
            let level = if is_err {
                EventLevel::Err
            } else {
                EventLevel::Out
            };
            emitter.note(Some(&host.name), level, &line).await;
        }
    };
    let started = Instant::now();
    let work = async {
        let output = host.run(&script, timeout, &on_line).await;
        drop(on_line);
        output
    };
    let (result, ()) = tokio::join!(
        work.instrument(info_span!("host_step", host = %host.name, phase, step = label)),
        forward
    );
    let outcome = match result {
        Ok(output) if output.success => Ok(output),
        Ok(output) => Err(format!("{label} {}", output.reason())),
        Err(TransportError::Timeout(secs)) => Err(format!("{label} timed out after {secs}s")),
        Err(e) => Err(format!("{label}: {e}")),
    };
    match outcome {
        Ok(output) => {
            let text = format!(
                "[{phase}] {label} done in {:.2}s",
                started.elapsed().as_secs_f64()
            );
            log(run, Some(&host.name), EventLevel::Info, &text).await;
            Ok(output)
        }
        Err(why) => Err(fail(run, host, phase, label, done, &why).await),
    }
}

/// Records a host's failure; returns it as `host: why` for the job's error.
async fn fail(
    run: &DnfRun<'_>,
    host: &Host,
    phase: &str,
    label: &str,
    done: i64,
    why: &str,
) -> String {
    log(
        run,
        Some(&host.name),
        EventLevel::Error,
        &format!("[{phase}] {why}"),
    )
    .await;
    journal(run, &host.name, phase, label, done, "failed", Some(why)).await;
    format!("{}: {why}", host.name)
}

async fn journal(
    run: &DnfRun<'_>,
    host: &str,
    phase: &str,
    step: &str,
    done: i64,
    state: &str,
    error: Option<&str>,
) {
    let progress = HostProgress {
        host,
        phase,
        step,
        steps_done: done,
        steps_total: STEPS,
        state,
        error,
    };
    run.emitter.journal(&progress).await;
}

async fn log(run: &DnfRun<'_>, host: Option<&str>, level: EventLevel, text: &str) {
    run.emitter.note(host, level, text).await;
}

async fn info(run: &DnfRun<'_>, text: &str) {
    run.emitter.note(None, EventLevel::Info, text).await;
}
