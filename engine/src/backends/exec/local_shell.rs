//! `sh -c` on the Slipway machine: a clean environment, its own process
//! group (a timeout or cancel stops everything it started), and its output
//! read to the end, but never held up by a process it left in the background.

use std::path::Path;
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use futures::future::{FusedFuture, FutureExt};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

use crate::backends::ssh::transport::RemoteOutput;
use crate::runtime::CancelSignal;

/// After the command exited, output it left in its pipes is still read; the
/// reading stops once no line came for this long (a process it left in the
/// background may hold the pipes open) ...
const OUTPUT_GRACE: Duration = Duration::from_secs(2);
/// ... or at the latest this long after the exit.
const OUTPUT_DRAIN_MAX: Duration = Duration::from_secs(60);

/// Where and with what the command runs.
#[derive(Clone, Copy, Debug, Default)]
pub struct ShellOptions<'a> {
    /// Its working directory, and its `HOME` (absent: inherited, no `HOME`).
    pub dir: Option<&'a Path>,
    /// Variables on top of `PATH` and `LANG`.
    pub vars: &'a [(String, String)],
}

#[derive(Debug, thiserror::Error)]
pub enum ShellError {
    #[error("cannot start sh: {0}")]
    Start(std::io::Error),
    #[error("could not wait for the command: {0}")]
    Wait(std::io::Error),
    #[error("timed out after {0}s")]
    Timeout(u64),
    #[error("cancelled: {0}")]
    Cancelled(String),
}

/// Runs `sh -c script`; `on_line(is_stderr, line)` sees its output as it
/// arrives. A `cancel` that fires stops it like a timeout does.
pub async fn run_sh(
    script: &str,
    options: ShellOptions<'_>,
    timeout: Duration,
    cancel: Option<CancelSignal>,
    on_line: &(dyn Fn(bool, &str) + Sync),
) -> Result<RemoteOutput, ShellError> {
    let mut command = Command::new("sh");
    command
        .arg("-c")
        .arg(script)
        .env_clear()
        .env(
            "PATH",
            std::env::var_os("PATH").unwrap_or_else(|| "/usr/sbin:/usr/bin:/sbin:/bin".into()),
        )
        .env("LANG", "C.UTF-8");
    if let Some(dir) = options.dir {
        command.current_dir(dir).env("HOME", dir);
    }
    let mut child = command
        .envs(options.vars.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        // Its own process group, so a cancel or timeout can stop its children too.
        .process_group(0)
        .spawn()
        .map_err(ShellError::Start)?;
    let process_group = child.id();
    let (stdout, stderr) = (child.stdout.take(), child.stderr.take());
    let lines_read = AtomicU64::new(0);
    let collected = Mutex::new((Vec::new(), Vec::new()));
    let finished = async {
        let mut pumps = Box::pin(
            async {
                tokio::join!(
                    pump(stdout, false, on_line, &lines_read, &collected),
                    pump(stderr, true, on_line, &lines_read, &collected)
                );
            }
            .fuse(),
        );
        let status = tokio::select! {
            status = child.wait() => status,
            () = &mut pumps => child.wait().await,
        };
        // Everything the command printed is read; only a pipe that stays
        // open with nothing coming, held by a process it left in the
        // background, is let go.
        let exited = std::time::Instant::now();
        while !pumps.is_terminated() && exited.elapsed() < OUTPUT_DRAIN_MAX {
            let before = lines_read.load(Ordering::Relaxed);
            if tokio::time::timeout(OUTPUT_GRACE, &mut pumps).await.is_ok() {
                break;
            }
            if lines_read.load(Ordering::Relaxed) == before {
                break;
            }
        }
        status
    };
    let cancelled = async {
        match cancel {
            Some(mut signal) => signal.fired().await,
            None => std::future::pending().await,
        }
    };
    let failure = tokio::select! {
        status = tokio::time::timeout(timeout, finished) => match status {
            Err(_) => ShellError::Timeout(timeout.as_secs()),
            Ok(Err(e)) => ShellError::Wait(e),
            Ok(Ok(status)) => {
                let (stdout, stderr) = std::mem::take(&mut *lock(&collected));
                return Ok(RemoteOutput { success: status.success(), code: status.code(), stdout, stderr });
            }
        },
        reason = cancelled => ShellError::Cancelled(reason),
    };
    // Timed out or cancelled: stop the command and everything it started.
    if let Some(pgid) = process_group {
        kill_process_group(pgid);
    }
    let _ = child.wait().await;
    Err(failure)
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panicked holder leaves lines that are still lines.
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

async fn pump(
    stream: Option<impl tokio::io::AsyncRead + Unpin>,
    is_stderr: bool,
    on_line: &(dyn Fn(bool, &str) + Sync),
    lines_read: &AtomicU64,
    collected: &Mutex<(Vec<String>, Vec<String>)>,
) {
    let Some(stream) = stream else { return };
    let mut lines = BufReader::new(stream).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        lines_read.fetch_add(1, Ordering::Relaxed);
        on_line(is_stderr, &line);
        let mut collected = lock(collected);
        if is_stderr {
            collected.1.push(line);
        } else {
            collected.0.push(line);
        }
    }
}

/// SIGKILL to every process in the group the command's shell leads.
fn kill_process_group(pgid: u32) {
    let Ok(pgid) = i32::try_from(pgid) else {
        return;
    };
    if let Err(e) = nix::sys::signal::killpg(
        nix::unistd::Pid::from_raw(pgid),
        nix::sys::signal::Signal::SIGKILL,
    ) {
        tracing::warn!(error = %e, pgid, "could not kill the command's process group");
    }
}
