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
use tokio::sync::{Mutex, OnceCell};
use tracing::{info_span, Instrument};

use super::plan::{self, Incoming, ReleaseLayout, LOCKED_EXIT, OWNED_EXIT};
use super::transport::{Connection, RemoteOutput, SshWorkspace, Stdin};
use super::{HostAddr, SshConfig};
use crate::backends::exec::{self, each_limited, At, Echo, RemoteStep, Reporter, StepError};
use crate::backends::{JobContext, ReleaseSpec, RunFailure};
use crate::domain::{EventLevel, HostState};
use crate::runtime::artifacts::{ArtifactSource, Downloaded};
use crate::runtime::shares::Share;

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
        report: Reporter::new(ctx.emitter, steps_per_host(config, spec.is_rollback)),
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
    if !run.spec.is_rollback {
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

fn steps_per_host(config: &SshConfig, is_rollback: bool) -> i64 {
    // connect, stage (a rollback first checks what is still staged), switch,
    // cleanup, + optional steps
    4 + i64::from(is_rollback)
        + [
            &config.before_switch,
            &config.after_switch,
            &config.health_check,
        ]
        .iter()
        .filter(|c| c.is_some())
        .count() as i64
}

/// The release archive, loaded at most once per job. A deploy loads it
/// before connecting; a rollback only when some host no longer has the
/// release staged, so rolling back to a staged release needs neither the
/// artifact file nor a download.
#[derive(Default)]
struct ArchiveOnce(OnceCell<Result<Archive, String>>);

impl ArchiveOnce {
    async fn get(&self, run: &SshRun<'_>) -> Result<&Archive, String> {
        self.0
            .get_or_init(|| load_archive(run))
            .await
            .as_ref()
            .map_err(Clone::clone)
    }
}

/// The archive on this machine (downloading a URL artifact once), and,
/// when the hosts fetch it, its checksum and the share they fetch it from.
async fn load_archive(run: &SshRun<'_>) -> Result<Archive, String> {
    let source = run
        .ctx
        .artifacts
        .resolve(run.spec.artifact)
        .map_err(|e| format!("artifact refused: {}", e.message))?;
    let (path, downloaded) = match source {
        ArtifactSource::Archive(path) => (path, None),
        ArtifactSource::Directory(_) => {
            return Err("the ssh backend ships archives (.tar.gz or .tar), not directories".into())
        }
        ArtifactSource::Url(url) => {
            let shown = crate::domain::artifact::loggable_url(&url);
            run.report.info(&format!("downloading {shown}")).await;
            let downloaded = crate::runtime::artifacts::download(&url, &std::env::temp_dir())
                .await
                .map_err(|e| format!("{shown}: {e}"))?;
            (downloaded.path.clone(), Some(downloaded))
        }
    };
    let gzip = path.extension().is_none_or(|e| e != "tar");
    let size = tokio::fs::metadata(&path)
        .await
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?
        .len();
    let fetched = match &run.config.fetch_from {
        None => None,
        Some(base) => {
            let sha256 = crate::runtime::artifacts::sha256_file(&path)
                .await
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            let share = run.ctx.shares.lend(path.clone());
            let url = crate::runtime::shares::share_url(base, share.token());
            Some(Fetched {
                url,
                sha256,
                _share: share,
            })
        }
    };
    Ok(Archive {
        path,
        gzip,
        size,
        fetched,
        _downloaded: downloaded,
    })
}

/// The release archive: streamed from its file to every host, or lent for
/// the hosts to fetch. Dropping it withdraws the share and removes a download.
struct Archive {
    path: PathBuf,
    gzip: bool,
    size: u64,
    fetched: Option<Fetched>,
    _downloaded: Option<Downloaded>,
}

struct Fetched {
    url: String,
    sha256: String,
    _share: Share,
}

impl Archive {
    fn incoming(&self) -> Incoming<'_> {
        Incoming {
            gzip: self.gzip,
            fetch: self.fetched.as_ref().map(|f| plan::Fetch {
                url: &f.url,
                sha256: &f.sha256,
            }),
        }
    }

    /// The staging command's stdin: the env file, then the archive when
    /// it is uploaded.
    fn stdin<'a>(&'a self, env_file: &'a str) -> Stdin<'a> {
        Stdin {
            bytes: env_file.as_bytes(),
            file: self.fetched.is_none().then_some(self.path.as_path()),
        }
    }

    /// What staging does with it, for the step's label.
    fn transfer(&self) -> String {
        let verb = if self.fetched.is_some() {
            "fetch"
        } else {
            "upload"
        };
        format!("{verb} {} KiB and unpack", self.size / 1024)
    }
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

async fn stage_host(run: &SshRun<'_>, host: &Shared, archive: &ArchiveOnce) -> Result<(), String> {
    let mut h = host.lock().await;
    let layout = &run.layout;
    // Unlocking checks the lock names this job, so it is safe to mark it
    // held before knowing whether the `mkdir` won.
    h.locked = true;
    let locked = if run.spec.is_rollback {
        // The release may still be staged: look before uploading anything.
        let prepared = step(
            run,
            &mut h,
            HostStep {
                phase: "stage",
                label: "lock and prepare",
                script: run.release_step(plan::lock_and_prepare(layout, &run.spec.lock_holder)),
                stdin: Stdin::NONE,
                timeout: QUICK_TIMEOUT,
                echo: Echo::Nothing,
            },
        )
        .await?;
        if run.ctx.cancel.reason().is_some() {
            // Not a failure: the phase ends cancelled (see `two_phases`).
            return Ok(());
        }
        if prepared.stdout.iter().any(|l| l == "staged") {
            run.report
                .log(
                    Some(&h.name),
                    EventLevel::Info,
                    "release is still staged; reusing it",
                )
                .await;
            // Variables are configuration, not code: the release gets the
            // environment's current ones (a rotated secret stays rotated).
            step(
                run,
                &mut h,
                HostStep {
                    phase: "stage",
                    label: "write the current .env",
                    script: run.release_step(plan::refresh_env(layout, run.spec.env_file.len())),
                    stdin: Stdin::bytes(run.spec.env_file.as_bytes()),
                    timeout: QUICK_TIMEOUT,
                    echo: Echo::Errors,
                },
            )
            .await?;
        } else {
            let archive = match archive.get(run).await {
                Ok(archive) => archive,
                Err(e) => {
                    let message = format!("cannot re-stage the release: {e}");
                    run.report
                        .journal(
                            &h.name,
                            At::new("stage", "re-stage", h.done),
                            HostState::Failed,
                            Some(&message),
                        )
                        .await;
                    return Err(format!("{}: {message}", h.name));
                }
            };
            h.staged_here = true;
            step(
                run,
                &mut h,
                HostStep {
                    phase: "stage",
                    label: &archive.transfer(),
                    script: run.release_step(plan::stage(
                        layout,
                        archive.incoming(),
                        run.spec.env_file.len(),
                    )),
                    stdin: archive.stdin(&run.spec.env_file),
                    timeout: STEP_TIMEOUT,
                    echo: Echo::Errors,
                },
            )
            .await?;
        }
        prepared
    } else {
        // A new release directory: lock, check and upload in one round trip.
        let archive = archive.get(run).await?;
        let upload = archive.transfer();
        let staged = step(
            run,
            &mut h,
            HostStep {
                phase: "stage",
                label: &format!("lock, {upload}"),
                script: run.release_step(plan::lock_and_stage(
                    layout,
                    &run.spec.lock_holder,
                    archive.incoming(),
                    run.spec.env_file.len(),
                )),
                stdin: archive.stdin(&run.spec.env_file),
                timeout: STEP_TIMEOUT,
                echo: Echo::Errors,
            },
        )
        .await;
        // Past the lock and the existence check, whatever is there is this job's.
        h.staged_here = match &staged {
            Ok(_) => true,
            Err(e) => !matches!(e.code, Some(LOCKED_EXIT | OWNED_EXIT | plan::EXISTS_EXIT)),
        };
        staged?
    };
    h.previous = locked
        .stdout
        .iter()
        .find_map(|l| l.strip_prefix(plan::CURRENT_NOTE))
        .filter(|t| !t.trim().is_empty())
        .map(PathBuf::from);
    if let Some(command) = &run.config.before_switch {
        let exports = plan::exports(&run.vars);
        let script = plan::hook(layout, command);
        step(
            run,
            &mut h,
            HostStep {
                phase: "stage",
                label: "before_switch hook",
                script,
                stdin: Stdin::bytes(exports.as_bytes()),
                timeout: STEP_TIMEOUT,
                echo: Echo::Everything,
            },
        )
        .await?;
    }
    Ok(())
}

async fn switch_host(run: &SshRun<'_>, host: &Shared) -> Result<Duration, String> {
    let mut h = host.lock().await;
    // Marked before the step: when its outcome is lost (the connection drops
    // or the step times out after `mv` ran), the host may already serve the
    // new release, so an undo must switch it back and must not remove that
    // release. Switching back a host that never moved changes nothing.
    h.switched = true;
    let started = Instant::now();
    let switched = step(
        run,
        &mut h,
        HostStep {
            phase: "switch",
            label: "switch current",
            script: run.release_step(plan::switch_and_list(&run.layout)),
            stdin: Stdin::NONE,
            timeout: QUICK_TIMEOUT,
            echo: Echo::Nothing,
        },
    )
    .await?;
    h.releases = switched.stdout;
    Ok(started.elapsed())
}

async fn after_switch_host(run: &SshRun<'_>, host: &Shared) -> Result<(), String> {
    let mut h = host.lock().await;
    if let Some(command) = &run.config.after_switch {
        h.after_switch_ran = true;
        let exports = plan::exports(&run.vars);
        let script = plan::hook(&run.layout, command);
        step(
            run,
            &mut h,
            HostStep {
                phase: "switch",
                label: "after_switch hook",
                script,
                stdin: Stdin::bytes(exports.as_bytes()),
                timeout: STEP_TIMEOUT,
                echo: Echo::Everything,
            },
        )
        .await?;
    }
    if let Some(command) = &run.config.health_check {
        let exports = plan::exports(&run.vars);
        let script = plan::health_check(&run.layout, command);
        let timeout = Duration::from_secs(run.config.health_timeout_secs);
        step(
            run,
            &mut h,
            HostStep {
                phase: "verify",
                label: "health check",
                script,
                stdin: Stdin::bytes(exports.as_bytes()),
                timeout,
                echo: Echo::Everything,
            },
        )
        .await?;
    }
    Ok(())
}

/// Points `current` back where it was before this job, if this job moved
/// it. `Err` names a host left on the new release.
async fn switch_back_host(run: &SshRun<'_>, host: &Shared) -> Result<(), String> {
    let mut h = host.lock().await;
    if !h.switched {
        return Ok(());
    }
    let script = run.release_step(plan::switch_back(&run.layout, h.previous.as_deref()));
    let outcome = match h
        .conn
        .run(&script, Stdin::NONE, QUICK_TIMEOUT, &|_, _| {})
        .instrument(info_span!("host_step", host = %h.name, phase = "undo", step = "switch back"))
        .await
    {
        Ok(out) if out.success => Ok(()),
        Ok(out) => Err(out.reason()),
        Err(e) => Err(e.to_string()),
    };
    match outcome {
        Ok(()) => {
            h.switched = false;
            let target = h
                .previous
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_else(|| "nothing".into());
            let text = format!("switched back to {target}");
            run.report.log(Some(&h.name), EventLevel::Warn, &text).await;
            after_switch_again(run, &mut h).await?;
            undone(run, &h, &text).await;
            Ok(())
        }
        Err(why) => {
            let text = format!("could not switch back: {why}");
            run.report
                .log(Some(&h.name), EventLevel::Error, &text)
                .await;
            run.report
                .journal(
                    &h.name,
                    At::new("undo", "switch back", h.done),
                    HostState::Failed,
                    Some(&text),
                )
                .await;
            Err(format!("{}: {why}", h.name))
        }
    }
}

/// After a switch back, runs `after_switch` again in the release switched
/// back to, if it had run for the new one: what it did (reload a service,
/// say) is redone for the code `current` serves again.
async fn after_switch_again(run: &SshRun<'_>, h: &mut Host) -> Result<(), String> {
    let (Some(command), Some(previous), true) = (
        &run.config.after_switch,
        h.previous.clone(),
        h.after_switch_ran,
    ) else {
        return Ok(());
    };
    let exports = plan::exports(&crate::backends::switched_back_vars(&run.vars, &previous));
    step(
        run,
        h,
        HostStep {
            phase: "undo",
            label: "after_switch hook in the previous release",
            script: plan::run_in(&previous, command),
            stdin: Stdin::bytes(exports.as_bytes()),
            timeout: STEP_TIMEOUT,
            echo: Echo::Everything,
        },
    )
    .await
    .map(|_| ())
    .map_err(|e| format!("{} (after switching back)", e.message))
}

/// Removes what this job staged on a host it did not leave switched.
async fn discard_staged(run: &SshRun<'_>, host: &Shared) {
    let mut h = host.lock().await;
    if !h.staged_here || h.switched {
        return;
    }
    let removed = h
        .conn
        .run(
            &run.release_step(plan::discard(&run.layout)),
            Stdin::NONE,
            QUICK_TIMEOUT,
            &|_, _| {},
        )
        .instrument(info_span!("host_step", host = %h.name, phase = "undo", step = "discard"))
        .await;
    if matches!(&removed, Ok(out) if out.success) {
        h.staged_here = false;
        run.report
            .log(
                Some(&h.name),
                EventLevel::Info,
                "removed the staged release",
            )
            .await;
        undone(run, &h, "not released: staged release removed").await;
    } else {
        run.report
            .log(
                Some(&h.name),
                EventLevel::Warn,
                "could not remove the staged release",
            )
            .await;
    }
}

/// Journals what was undone on a host: `reverted` when the failure was
/// elsewhere, else still `failed` with its own first failure.
async fn undone(run: &SshRun<'_>, h: &Host, what: &str) {
    let (state, error) = match &h.failure {
        None => (HostState::Reverted, None),
        Some(failure) => (HostState::Failed, Some(failure.as_str())),
    };
    run.report
        .journal(&h.name, At::new("undo", what, h.done), state, error)
        .await;
}

async fn release_lock(run: &SshRun<'_>, host: &Shared) {
    let mut h = host.lock().await;
    if !h.locked {
        return;
    }
    if let Ok(out) = h
        .conn
        .run(
            &run.release_step(plan::unlock(&run.layout, &run.spec.lock_holder)),
            Stdin::NONE,
            QUICK_TIMEOUT,
            &|_, _| {},
        )
        .await
    {
        if out.success {
            h.locked = false;
        }
    }
}

/// Keep-N from the listing taken at the switch, and the lock released, in one round trip.
async fn prune_host(run: &SshRun<'_>, host: &Shared) {
    let mut h = host.lock().await;
    let mut protect = run.spec.protect.clone();
    protect.push(run.layout.release_key.clone());
    let doomed = crate::backends::local::releases_to_prune(
        std::mem::take(&mut h.releases),
        run.config.keep_releases as usize,
        &protect,
    );
    let cleaned = step(
        run,
        &mut h,
        HostStep {
            phase: "cleanup",
            label: "prune and unlock",
            script: run.release_step(plan::prune_and_unlock(
                &run.layout,
                &run.spec.lock_holder,
                &doomed,
            )),
            stdin: Stdin::NONE,
            timeout: QUICK_TIMEOUT,
            echo: Echo::Everything,
        },
    )
    .await;
    if cleaned.is_err() {
        // Still locked: the job's final unlock tries once more.
        return;
    }
    h.locked = false;
    let name = h.name.clone();
    if !doomed.is_empty() {
        run.report
            .log(
                Some(&name),
                EventLevel::Info,
                &format!("pruned {}", doomed.join(", ")),
            )
            .await;
    }
    run.report
        .journal(
            &name,
            At::new("done", "released", run.report.total()),
            HostState::Succeeded,
            None,
        )
        .await;
}
