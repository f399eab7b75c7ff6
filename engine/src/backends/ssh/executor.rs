//! Runs an SSH release in two phases across the fleet.
//!
//! 1. **Stage** on every host (at most `parallelism` at once): take the host's
//!    deploy lock, upload the release (or let the host fetch it from Slipway
//!    and check its sha256) and unpack it, run `before_switch`.
//! 2. Only if every host staged: **switch** `current` on all hosts together,
//!    then `after_switch` and the health check on each.
//!
//! A stage failure anywhere removes what this job staged and leaves every
//! `current` untouched. A switch, hook or health failure switches every host
//! back to what it served before. Every host step is journaled.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::join_all;
use tokio::sync::Mutex;

use super::plan::{self, ReleaseLayout, LOCKED_EXIT, OWNED_EXIT};
use super::transport::{Connection, RemoteOutput, SshWorkspace, Stdin};
use super::{HostAddr, SshConfig};
use crate::backends::exec::{self, each_limited, At, Echo, RemoteStep, Reporter, StepError};
use crate::backends::{JobContext, ReleaseSpec, RunFailure};
use crate::domain::HostState;

mod archive;
mod host_steps;

use archive::ArchiveOnce;
use host_steps::*;

const STEP_TIMEOUT: Duration = Duration::from_secs(600);
const QUICK_TIMEOUT: Duration = Duration::from_secs(60);

/// One SSH release as it runs: the settings, the job, and the hooks' variables.
pub struct SshRun<'a> {
    pub config: &'a SshConfig,
    pub layout: ReleaseLayout,
    pub ctx: &'a JobContext<'a>,
    pub spec: &'a ReleaseSpec<'a>,
    pub report: Reporter<'a>,
    /// Exported to hooks and health checks (SLIPWAY_* with paths, and the environment's own).
    pub vars: Vec<(String, String)>,
}

impl SshRun<'_> {
    fn release_step(&self, script: String) -> String {
        plan::release_step(self.config.sudo, script)
    }
}

/// The SSH backend's entry: stages on every host, then switches them all.
pub async fn release(
    config: &SshConfig,
    ctx: &JobContext<'_>,
    spec: &ReleaseSpec<'_>,
) -> Result<(), RunFailure> {
    let layout = ReleaseLayout {
        deploy_path: config.deploy_path.clone(),
        environment: ctx.environment_path(),
        release_key: spec.release_key.to_owned(),
        job_id: ctx.job_id,
    };
    let run = SshRun {
        config,
        layout,
        ctx,
        spec,
        report: Reporter::new(ctx.emitter, steps_per_host(config, spec.reuses_release)),
        vars: spec.vars_with_paths(&config.deploy_path),
    };
    run_release(run).await
}

/// What the job knows about one host as it goes.
struct Host {
    conn: Connection,
    name: String,
    done: i64,
    locked: bool,
    previous: Option<PathBuf>,
    staged_here: bool,
    switched: bool,
    /// The first step that failed here: the host's row keeps showing it,
    /// whatever is undone later.
    failure: Option<String>,
    /// `after_switch` started here: a switch back must run it again.
    after_switch_ran: bool,
    /// The release directories listed right after the switch, for pruning.
    releases: Vec<String>,
}

type Shared = Arc<Mutex<Host>>;

async fn run_release(run: SshRun<'_>) -> Result<(), RunFailure> {
    let addrs = super::hosts::resolve(run.config).await.map_err(|e| {
        RunFailure::Failed(format!(
            "hosts from {}: {e}",
            super::hosts::describe(run.config)
        ))
    })?;
    if run.config.hosts.is_empty() {
        let names: Vec<String> = addrs.iter().map(ToString::to_string).collect();
        run.ctx
            .emitter
            .info(
                None,
                &format!(
                    "{} hosts from {}: {}",
                    addrs.len(),
                    super::hosts::describe(run.config),
                    names.join(", ")
                ),
            )
            .await
            .map_err(|e| RunFailure::Failed(e.to_string()))?;
    }
    for addr in &addrs {
        run.report
            .journal(
                &addr.to_string(),
                At::new("connect", "connecting", 0),
                HostState::Running,
                None,
            )
            .await;
    }
    let archive = ArchiveOnce::default();
    if !run.spec.reuses_release {
        // A deploy ships the archive to every host: load it before connecting.
        archive.get(&run).await.map_err(RunFailure::Failed)?;
    }
    let workspace = SshWorkspace::create(run.config, run.layout.job_id)
        .map_err(|e| RunFailure::Failed(format!("cannot prepare the ssh client: {e}")))?;

    let hosts = connect_all(&run, &workspace, &addrs).await?;
    let result = two_phases(&run, &hosts, &archive).await;
    // Whatever happened, release the locks we hold and close the connections.
    join_all(hosts.iter().map(|h| release_lock(&run, h))).await;
    for host in hosts {
        if let Ok(host) = Arc::try_unwrap(host) {
            host.into_inner().conn.close().await;
        }
    }
    result
}

async fn two_phases(
    run: &SshRun<'_>,
    hosts: &[Shared],
    archive: &ArchiveOnce,
) -> Result<(), RunFailure> {
    // ---- phase 1: stage everywhere ----
    let staged = each_limited(hosts, run.config.parallelism as usize, |host| {
        stage_host(run, host, archive)
    })
    .await;
    let failures: Vec<String> = staged.into_iter().filter_map(Result::err).collect();
    let cancelled = run.ctx.cancel.reason();
    if !failures.is_empty() || cancelled.is_some() {
        join_all(hosts.iter().map(|h| discard_staged(run, h))).await;
        if let Some(reason) = cancelled.filter(|_| failures.is_empty()) {
            for host in hosts {
                let h = host.lock().await;
                run.report
                    .journal(
                        &h.name,
                        At::new("stage", "cancelled", h.done),
                        HostState::Cancelled,
                        Some(&reason),
                    )
                    .await;
            }
            return Err(RunFailure::Cancelled(reason));
        }
        return Err(RunFailure::Failed(format!(
            "staging failed on {} of {} hosts, nothing was switched: {}",
            failures.len(),
            hosts.len(),
            failures.join("; ")
        )));
    }
    run.report
        .info(&format!("all {} hosts staged; switching", hosts.len()))
        .await;

    // ---- phase 2: switch everywhere at once ----
    let started = Instant::now();
    let switched = join_all(hosts.iter().map(|host| switch_host(run, host))).await;
    let mut times: Vec<Duration> = switched
        .iter()
        .filter_map(|r| r.as_ref().ok().copied())
        .collect();
    times.sort();
    if let (Some(first), Some(last)) = (times.first(), times.last()) {
        run.report
            .info(&format!(
                "switched {} hosts in {:.0} ms (skew {:.1} ms)",
                times.len(),
                started.elapsed().as_secs_f64() * 1000.0,
                (*last - *first).as_secs_f64() * 1000.0
            ))
            .await;
    }
    let mut failures: Vec<String> = switched.into_iter().filter_map(Result::err).collect();
    if failures.is_empty() {
        let verified = each_limited(hosts, run.config.parallelism as usize, |host| {
            after_switch_host(run, host)
        })
        .await;
        failures = verified.into_iter().filter_map(Result::err).collect();
    }
    if !failures.is_empty() {
        run.report
            .info("switching every host back to its previous release")
            .await;
        let stuck: Vec<String> = join_all(hosts.iter().map(|h| switch_back_host(run, h)))
            .await
            .into_iter()
            .filter_map(Result::err)
            .collect();
        join_all(hosts.iter().map(|h| discard_staged(run, h))).await;
        let undone = if stuck.is_empty() {
            "all switched back".to_owned()
        } else {
            format!(
                "NOT cleanly switched back on {} (check them; roll back or fix by hand): {}",
                stuck.len(),
                stuck.join("; ")
            )
        };
        return Err(RunFailure::Failed(format!(
            "release failed on {} of {} hosts, {undone}: {}",
            failures.len(),
            hosts.len(),
            failures.join("; ")
        )));
    }

    // ---- clean-up: keep N ----
    join_all(hosts.iter().map(|h| prune_host(run, h))).await;
    Ok(())
}

fn steps_per_host(config: &SshConfig, reuses_release: bool) -> i64 {
    // connect, stage (a rollback or a resumed job first checks what is
    // still staged), switch,
    // cleanup, + optional steps
    4 + i64::from(reuses_release)
        + [
            &config.before_switch,
            &config.after_switch,
            &config.health_check,
        ]
        .iter()
        .filter(|c| c.is_some())
        .count() as i64
}

async fn connect_all(
    run: &SshRun<'_>,
    workspace: &SshWorkspace,
    addrs: &[HostAddr],
) -> Result<Vec<Shared>, RunFailure> {
    let (hosts, unreachable) =
        exec::connect_fleet(Some(&run.report), workspace, run.config, addrs).await;
    let failures: Vec<String> = unreachable
        .iter()
        .map(|down| format!("{}: {}", down.name, down.error))
        .collect();
    if !failures.is_empty() {
        for conn in hosts {
            conn.close().await;
        }
        return Err(RunFailure::Failed(format!(
            "could not reach {} of {} hosts, nothing was changed: {}",
            failures.len(),
            addrs.len(),
            failures.join("; ")
        )));
    }
    Ok(hosts
        .into_iter()
        .map(|conn| {
            let name = conn.addr.to_string();
            Arc::new(Mutex::new(Host {
                conn,
                name,
                done: 1,
                locked: false,
                previous: None,
                staged_here: false,
                switched: false,
                failure: None,
                after_switch_ran: false,
                releases: Vec::new(),
            }))
        })
        .collect())
}

/// One remote command on a host, before it knows where the host is.
struct HostStep<'s> {
    phase: &'s str,
    label: &'s str,
    script: String,
    stdin: Stdin<'s>,
    timeout: Duration,
    /// Which of the command's output the job log shows.
    echo: Echo,
}

/// Runs one journaled step on a host ([`exec::run_step`]): counts it done
/// there, or keeps it as the host's first failure, which the host's row
/// goes on showing whatever is undone later.
async fn step(
    run: &SshRun<'_>,
    host: &mut Host,
    remote: HostStep<'_>,
) -> Result<RemoteOutput, StepError> {
    let HostStep {
        phase,
        label,
        script,
        stdin,
        timeout,
        echo,
    } = remote;
    let result = exec::run_step(
        &run.report,
        &host.name,
        &host.conn,
        RemoteStep {
            at: At::new(phase, label, host.done),
            script,
            stdin,
            timeout,
            echo,
            self_explaining: &[LOCKED_EXIT, OWNED_EXIT],
        },
    )
    .await;
    match &result {
        Ok(_) => {
            host.done += 1;
            let at = At::new(phase, label, host.done);
            run.report
                .journal(&host.name, at, HostState::Running, None)
                .await;
        }
        Err(e) => {
            host.failure.get_or_insert_with(|| e.why.clone());
        }
    }
    result
}
