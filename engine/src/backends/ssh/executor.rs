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
use tokio::sync::{Mutex, OnceCell, Semaphore};
use tracing::{info_span, Instrument};

use super::plan::{self, Incoming, ReleaseLayout, LOCKED_EXIT, OWNED_EXIT};
use super::transport::{Connection, RemoteOutput, SshWorkspace, Stdin, TransportError};
use super::{HostAddr, SshConfig};
use crate::artifact::{ArtifactPolicy, ArtifactSource, Downloaded};
use crate::backends::RunFailure;
use crate::jobs::{CancelSignal, EventEmitter, EventLevel};
use crate::shares::{ArtifactShares, Share};
use crate::store::jobs::HostProgress;

const STEP_TIMEOUT: Duration = Duration::from_secs(600);
const QUICK_TIMEOUT: Duration = Duration::from_secs(60);

pub struct SshRun<'a> {
    pub config: &'a SshConfig,
    pub layout: ReleaseLayout,
    pub artifact: &'a str,
    pub is_rollback: bool,
    pub emitter: &'a EventEmitter,
    pub cancel: CancelSignal,
    pub artifacts: &'a ArtifactPolicy,
    /// Where the archive is lent when the hosts fetch it.
    pub shares: &'a ArtifactShares,
    /// Exported to hooks and health checks (SLIPWAY_* and the environment's own).
    pub vars: Vec<(String, String)>,
    pub env_file: String,
    /// Release keys that must survive pruning (the rollback target).
    pub protect: Vec<String>,
    /// Who holds the lock, written on each host.
    pub lock_holder: String,
}

impl SshRun<'_> {
    fn release_step(&self, script: String) -> String {
        plan::release_step(self.config.sudo, script)
    }
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

pub async fn run(run: SshRun<'_>) -> Result<(), RunFailure> {
    let addrs = super::hosts::resolve(run.config).await.map_err(|e| {
        RunFailure::Failed(format!(
            "hosts from {}: {e}",
            super::hosts::describe(run.config)
        ))
    })?;
    if run.config.hosts.is_empty() {
        let names: Vec<String> = addrs.iter().map(ToString::to_string).collect();
        run.emitter
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
    let total = steps_per_host(run.config, run.is_rollback);
    for addr in &addrs {
        journal(
            &run,
            &addr.to_string(),
            "connect",
            "connecting",
            0,
            total,
            "running",
            None,
        )
        .await;
    }
    let archive = ArchiveOnce::default();
    if !run.is_rollback {
        // A deploy ships the archive to every host: load it before connecting.
        archive.get(&run).await.map_err(RunFailure::Failed)?;
    }
    let workspace = SshWorkspace::create(run.config, run.layout.job_id)
        .map_err(|e| RunFailure::Failed(format!("cannot prepare the ssh client: {e}")))?;

    let hosts = connect_all(&run, &workspace, &addrs, total).await?;
    let result = two_phases(&run, &hosts, &archive, total).await;
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
    total: i64,
) -> Result<(), RunFailure> {
    // ---- phase 1: stage everywhere ----
    let limit = Arc::new(Semaphore::new(run.config.parallelism as usize));
    let staged = join_all(hosts.iter().map(|host| {
        let limit = limit.clone();
        async move {
            let _permit = limit.acquire().await;
            stage_host(run, host, archive, total).await
        }
    }))
    .await;
    let failures: Vec<String> = staged.into_iter().filter_map(Result::err).collect();
    let cancelled = run.cancel.reason();
    if !failures.is_empty() || cancelled.is_some() {
        join_all(hosts.iter().map(|h| discard_staged(run, h, total))).await;
        if let Some(reason) = cancelled.filter(|_| failures.is_empty()) {
            for host in hosts {
                let h = host.lock().await;
                journal(
                    run,
                    &h.name,
                    "stage",
                    "cancelled",
                    h.done,
                    total,
                    "cancelled",
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
    info(run, &format!("all {} hosts staged; switching", hosts.len())).await;

    // ---- phase 2: switch everywhere at once ----
    let started = Instant::now();
    let switched = join_all(hosts.iter().map(|host| switch_host(run, host, total))).await;
    let mut times: Vec<Duration> = switched
        .iter()
        .filter_map(|r| r.as_ref().ok().copied())
        .collect();
    times.sort();
    if let (Some(first), Some(last)) = (times.first(), times.last()) {
        info(
            run,
            &format!(
                "switched {} hosts in {:.0} ms (skew {:.1} ms)",
                times.len(),
                started.elapsed().as_secs_f64() * 1000.0,
                (*last - *first).as_secs_f64() * 1000.0
            ),
        )
        .await;
    }
    let mut failures: Vec<String> = switched.into_iter().filter_map(Result::err).collect();
    if failures.is_empty() {
        let limit = Arc::new(Semaphore::new(run.config.parallelism as usize));
        let verified = join_all(hosts.iter().map(|host| {
            let limit = limit.clone();
            async move {
                let _permit = limit.acquire().await;
                after_switch_host(run, host, total).await
            }
        }))
        .await;
        failures = verified.into_iter().filter_map(Result::err).collect();
    }
    if !failures.is_empty() {
        info(run, "switching every host back to its previous release").await;
        let stuck: Vec<String> = join_all(hosts.iter().map(|h| switch_back_host(run, h, total)))
            .await
            .into_iter()
            .filter_map(Result::err)
            .collect();
        join_all(hosts.iter().map(|h| discard_staged(run, h, total))).await;
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
    join_all(hosts.iter().map(|h| prune_host(run, h, total))).await;
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
        .artifacts
        .resolve(run.artifact)
        .map_err(|e| format!("artifact refused: {}", e.message))?;
    let (path, downloaded) = match source {
        ArtifactSource::Archive(path) => (path, None),
        ArtifactSource::Directory(_) => {
            return Err("the ssh backend ships archives (.tar.gz or .tar), not directories".into())
        }
        ArtifactSource::Url(url) => {
            let shown = crate::artifact::loggable_url(&url);
            info(run, &format!("downloading {shown}")).await;
            let downloaded = crate::artifact::download(&url, &std::env::temp_dir())
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
            let sha256 = crate::artifact::sha256_file(&path)
                .await
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            let share = run.shares.lend(path.clone());
            let url = crate::shares::share_url(base, share.token());
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
    total: i64,
) -> Result<Vec<Shared>, RunFailure> {
    let limit = Arc::new(Semaphore::new(run.config.parallelism as usize));
    let results = join_all(addrs.iter().map(|addr| {
        let limit = limit.clone();
        async move {
            let _permit = limit.acquire().await;
            let name = addr.to_string();
            let result = Connection::open(workspace, run.config, addr)
                .instrument(info_span!("host_step", host = %name, step = "connect"))
                .await;
            match result {
                Ok(conn) => {
                    journal(
                        run,
                        &name,
                        "connect",
                        "connected",
                        1,
                        total,
                        "running",
                        None,
                    )
                    .await;
                    Ok(conn)
                }
                Err(e) => {
                    let message = e.to_string();
                    host_log(run, &name, EventLevel::Error, &message).await;
                    journal(
                        run,
                        &name,
                        "connect",
                        "connect",
                        0,
                        total,
                        "failed",
                        Some(&message),
                    )
                    .await;
                    Err(format!("{name}: {message}"))
                }
            }
        }
    }))
    .await;
    let mut hosts = Vec::new();
    let mut failures = Vec::new();
    for result in results {
        match result {
            Ok(conn) => hosts.push(conn),
            Err(e) => failures.push(e),
        }
    }
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

/// One remote command as a journaled step.
struct RemoteStep<'s> {
    phase: &'s str,
    label: &'s str,
    script: String,
    stdin: Stdin<'s>,
    timeout: Duration,
    /// Which of the command's output the job log shows.
    echo: Echo,
}

/// Which of a step's output lines reach the job log.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Echo {
    Nothing,
    /// Only stderr: the step's stdout is for Slipway (e.g. where `current`
    /// pointed), and its tools report trouble on stderr.
    Errors,
    Everything,
}

/// A step that failed: the message for people, and the remote exit status
/// when the command ran to an end.
struct StepError {
    message: String,
    code: Option<i32>,
}

impl From<StepError> for String {
    fn from(e: StepError) -> Self {
        e.message
    }
}

/// Runs one journaled step on a host: progress before and after, output streamed.
async fn step(
    run: &SshRun<'_>,
    host: &mut Host,
    remote: RemoteStep<'_>,
    total: i64,
) -> Result<RemoteOutput, StepError> {
    let RemoteStep {
        phase,
        label,
        script,
        stdin,
        timeout,
        echo,
    } = remote;
    journal(
        run, &host.name, phase, label, host.done, total, "running", None,
    )
    .await;
    let name = host.name.clone();
    let emitter = run.emitter;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(bool, String)>();
    let on_line = move |is_err: bool, line: &str| {
        let shown = match echo {
            Echo::Nothing => false,
            Echo::Errors => is_err,
            Echo::Everything => true,
        };
        if shown {
            let _ = tx.send((is_err, line.to_owned()));
        }
    };
    let forward = async {
        while let Some((is_err, line)) = rx.recv().await {
            let level = if is_err {
                EventLevel::Err
            } else {
                EventLevel::Out
            };
            emitter.note(Some(&name), level, &line).await;
        }
    };
    let started = Instant::now();
    let result = async {
        let output = host.conn.run(&script, stdin, timeout, &on_line).await;
        drop(on_line);
        output
    };
    let (result, ()) = tokio::join!(
        result.instrument(info_span!("host_step", host = %host.name, phase, step = label)),
        forward
    );
    let code = result.as_ref().ok().and_then(|o| o.code);
    let outcome = match result {
        Ok(output) if output.success => Ok(output),
        Ok(output) if matches!(output.code, Some(LOCKED_EXIT | OWNED_EXIT)) => Err(output.reason()),
        Ok(output) => Err(format!("{label} {}", output.reason())),
        Err(TransportError::Timeout(secs)) => Err(format!("{label} timed out after {secs}s")),
        Err(e) => Err(format!("{label}: {e}")),
    };
    match &outcome {
        Ok(_) => {
            host.done += 1;
            let text = format!(
                "[{phase}] {label} done in {:.2}s",
                started.elapsed().as_secs_f64()
            );
            host_log(run, &host.name, EventLevel::Info, &text).await;
            journal(
                run, &host.name, phase, label, host.done, total, "running", None,
            )
            .await;
        }
        Err(message) => {
            host.failure.get_or_insert_with(|| message.clone());
            host_log(
                run,
                &host.name,
                EventLevel::Error,
                &format!("[{phase}] {message}"),
            )
            .await;
            journal(
                run,
                &host.name,
                phase,
                label,
                host.done,
                total,
                "failed",
                Some(message),
            )
            .await;
        }
    }
    outcome.map_err(|m| StepError {
        message: format!("{}: {m}", host.name),
        code,
    })
}

async fn stage_host(
    run: &SshRun<'_>,
    host: &Shared,
    archive: &ArchiveOnce,
    total: i64,
) -> Result<(), String> {
    let mut h = host.lock().await;
    let layout = &run.layout;
    // Unlocking checks the lock names this job, so it is safe to mark it
    // held before knowing whether the `mkdir` won.
    h.locked = true;
    let locked = if run.is_rollback {
        // The release may still be staged: look before uploading anything.
        let prepared = step(
            run,
            &mut h,
            RemoteStep {
                phase: "stage",
                label: "lock and prepare",
                script: run.release_step(plan::lock_and_prepare(layout, &run.lock_holder)),
                stdin: Stdin::NONE,
                timeout: QUICK_TIMEOUT,
                echo: Echo::Nothing,
            },
            total,
        )
        .await?;
        if run.cancel.reason().is_some() {
            // Not a failure: the phase ends cancelled (see `two_phases`).
            return Ok(());
        }
        if prepared.stdout.iter().any(|l| l == "staged") {
            host_log(
                run,
                &h.name,
                EventLevel::Info,
                "release is still staged; reusing it",
            )
            .await;
            // Variables are configuration, not code: the release gets the
            // environment's current ones (a rotated secret stays rotated).
            step(
                run,
                &mut h,
                RemoteStep {
                    phase: "stage",
                    label: "write the current .env",
                    script: run.release_step(plan::refresh_env(layout, run.env_file.len())),
                    stdin: Stdin::bytes(run.env_file.as_bytes()),
                    timeout: QUICK_TIMEOUT,
                    echo: Echo::Errors,
                },
                total,
            )
            .await?;
        } else {
            let archive = match archive.get(run).await {
                Ok(archive) => archive,
                Err(e) => {
                    let message = format!("cannot re-stage the release: {e}");
                    journal(
                        run,
                        &h.name,
                        "stage",
                        "re-stage",
                        h.done,
                        total,
                        "failed",
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
                RemoteStep {
                    phase: "stage",
                    label: &archive.transfer(),
                    script: run.release_step(plan::stage(
                        layout,
                        archive.incoming(),
                        run.env_file.len(),
                    )),
                    stdin: archive.stdin(&run.env_file),
                    timeout: STEP_TIMEOUT,
                    echo: Echo::Errors,
                },
                total,
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
            RemoteStep {
                phase: "stage",
                label: &format!("lock, {upload}"),
                script: run.release_step(plan::lock_and_stage(
                    layout,
                    &run.lock_holder,
                    archive.incoming(),
                    run.env_file.len(),
                )),
                stdin: archive.stdin(&run.env_file),
                timeout: STEP_TIMEOUT,
                echo: Echo::Errors,
            },
            total,
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
            RemoteStep {
                phase: "stage",
                label: "before_switch hook",
                script,
                stdin: Stdin::bytes(exports.as_bytes()),
                timeout: STEP_TIMEOUT,
                echo: Echo::Everything,
            },
            total,
        )
        .await?;
    }
    Ok(())
}

async fn switch_host(run: &SshRun<'_>, host: &Shared, total: i64) -> Result<Duration, String> {
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
        RemoteStep {
            phase: "switch",
            label: "switch current",
            script: run.release_step(plan::switch_and_list(&run.layout)),
            stdin: Stdin::NONE,
            timeout: QUICK_TIMEOUT,
            echo: Echo::Nothing,
        },
        total,
    )
    .await?;
    h.releases = switched.stdout;
    Ok(started.elapsed())
}

async fn after_switch_host(run: &SshRun<'_>, host: &Shared, total: i64) -> Result<(), String> {
    let mut h = host.lock().await;
    if let Some(command) = &run.config.after_switch {
        h.after_switch_ran = true;
        let exports = plan::exports(&run.vars);
        let script = plan::hook(&run.layout, command);
        step(
            run,
            &mut h,
            RemoteStep {
                phase: "switch",
                label: "after_switch hook",
                script,
                stdin: Stdin::bytes(exports.as_bytes()),
                timeout: STEP_TIMEOUT,
                echo: Echo::Everything,
            },
            total,
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
            RemoteStep {
                phase: "verify",
                label: "health check",
                script,
                stdin: Stdin::bytes(exports.as_bytes()),
                timeout,
                echo: Echo::Everything,
            },
            total,
        )
        .await?;
    }
    Ok(())
}

/// Points `current` back where it was before this job, if this job moved
/// it. `Err` names a host left on the new release.
async fn switch_back_host(run: &SshRun<'_>, host: &Shared, total: i64) -> Result<(), String> {
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
            host_log(run, &h.name, EventLevel::Warn, &text).await;
            after_switch_again(run, &mut h, total).await?;
            undone(run, &h, &text, total).await;
            Ok(())
        }
        Err(why) => {
            let text = format!("could not switch back: {why}");
            host_log(run, &h.name, EventLevel::Error, &text).await;
            journal(
                run,
                &h.name,
                "undo",
                "switch back",
                h.done,
                total,
                "failed",
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
async fn after_switch_again(run: &SshRun<'_>, h: &mut Host, total: i64) -> Result<(), String> {
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
        RemoteStep {
            phase: "undo",
            label: "after_switch hook in the previous release",
            script: plan::run_in(&previous, command),
            stdin: Stdin::bytes(exports.as_bytes()),
            timeout: STEP_TIMEOUT,
            echo: Echo::Everything,
        },
        total,
    )
    .await
    .map(|_| ())
    .map_err(|e| format!("{} (after switching back)", e.message))
}

/// Removes what this job staged on a host it did not leave switched.
async fn discard_staged(run: &SshRun<'_>, host: &Shared, total: i64) {
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
        host_log(run, &h.name, EventLevel::Info, "removed the staged release").await;
        undone(run, &h, "not released: staged release removed", total).await;
    } else {
        host_log(
            run,
            &h.name,
            EventLevel::Warn,
            "could not remove the staged release",
        )
        .await;
    }
}

/// Journals what was undone on a host: `reverted` when the failure was
/// elsewhere, else still `failed` with its own first failure.
async fn undone(run: &SshRun<'_>, h: &Host, what: &str, total: i64) {
    let (state, error) = match &h.failure {
        None => ("reverted", None),
        Some(failure) => ("failed", Some(failure.as_str())),
    };
    journal(run, &h.name, "undo", what, h.done, total, state, error).await;
}

async fn release_lock(run: &SshRun<'_>, host: &Shared) {
    let mut h = host.lock().await;
    if !h.locked {
        return;
    }
    if let Ok(out) = h
        .conn
        .run(
            &run.release_step(plan::unlock(&run.layout, &run.lock_holder)),
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
async fn prune_host(run: &SshRun<'_>, host: &Shared, total: i64) {
    let mut h = host.lock().await;
    let mut protect = run.protect.clone();
    protect.push(run.layout.release_key.clone());
    let doomed = crate::backends::local::releases_to_prune(
        std::mem::take(&mut h.releases),
        run.config.keep_releases as usize,
        &protect,
    );
    let cleaned = step(
        run,
        &mut h,
        RemoteStep {
            phase: "cleanup",
            label: "prune and unlock",
            script: run.release_step(plan::prune_and_unlock(
                &run.layout,
                &run.lock_holder,
                &doomed,
            )),
            stdin: Stdin::NONE,
            timeout: QUICK_TIMEOUT,
            echo: Echo::Everything,
        },
        total,
    )
    .await;
    if cleaned.is_err() {
        // Still locked: the job's final unlock tries once more.
        return;
    }
    h.locked = false;
    let name = h.name.clone();
    if !doomed.is_empty() {
        host_log(
            run,
            &name,
            EventLevel::Info,
            &format!("pruned {}", doomed.join(", ")),
        )
        .await;
    }
    journal(
        run,
        &name,
        "done",
        "released",
        total,
        total,
        "succeeded",
        None,
    )
    .await;
}

#[allow(clippy::too_many_arguments)]
async fn journal(
    run: &SshRun<'_>,
    host: &str,
    phase: &str,
    step: &str,
    done: i64,
    total: i64,
    state: &str,
    error: Option<&str>,
) {
    let progress = HostProgress {
        host,
        phase,
        step,
        steps_done: done,
        steps_total: total,
        state,
        error,
    };
    run.emitter.journal(&progress).await;
}

async fn host_log(run: &SshRun<'_>, host: &str, level: EventLevel, text: &str) {
    run.emitter.note(Some(host), level, text).await;
}

async fn info(run: &SshRun<'_>, text: &str) {
    run.emitter.note(None, EventLevel::Info, text).await;
}
