//! One command on a host as a journaled step: progress before, its output
//! streamed to the job log as it arrives, and how it ended, told the same
//! way by every backend that runs scripts on hosts.

use std::future::Future;
use std::time::{Duration, Instant};

use tracing::{info_span, Instrument};

use super::report::{At, Reporter};
use crate::backends::ssh::transport::{Connection, RemoteOutput, Stdin, TransportError};
use crate::domain::{EventLevel, HostState};

/// Something that runs a shell script and streams its output:
/// `on_line(is_stderr, line)` sees each line as it arrives.
pub trait RunsScripts {
    fn run_script(
        &self,
        script: &str,
        stdin: Stdin<'_>,
        timeout: Duration,
        on_line: &(dyn Fn(bool, &str) + Sync),
    ) -> impl Future<Output = Result<RemoteOutput, TransportError>>;
}

impl RunsScripts for Connection {
    fn run_script(
        &self,
        script: &str,
        stdin: Stdin<'_>,
        timeout: Duration,
        on_line: &(dyn Fn(bool, &str) + Sync),
    ) -> impl Future<Output = Result<RemoteOutput, TransportError>> {
        self.run(script, stdin, timeout, on_line)
    }
}

/// Which of a step's output lines reach the job log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Echo {
    Nothing,
    /// Only stderr: the step's stdout is for Slipway (e.g. where `current`
    /// pointed), and its tools report trouble on stderr.
    Errors,
    Everything,
}

impl Echo {
    fn shows(self, is_stderr: bool) -> bool {
        match self {
            Echo::Nothing => false,
            Echo::Errors => is_stderr,
            Echo::Everything => true,
        }
    }
}

/// One remote command as a journaled step.
pub struct RemoteStep<'s> {
    pub at: At<'s>,
    pub script: String,
    pub stdin: Stdin<'s>,
    pub timeout: Duration,
    pub echo: Echo,
    /// Exit statuses whose last stderr line says it all (a lock held by
    /// another job): the step's label is left out of the message.
    pub self_explaining: &'s [i32],
}

impl<'s> RemoteStep<'s> {
    /// A step that reads nothing, shows all its output, and explains any failure by its label.
    pub fn new(at: At<'s>, script: String, timeout: Duration) -> Self {
        Self {
            at,
            script,
            stdin: Stdin::NONE,
            timeout,
            echo: Echo::Everything,
            self_explaining: &[],
        }
    }
}

/// A step that failed: why (for the host's row), the same prefixed with the
/// host (for the job's error), and the remote exit status when the command
/// ran to an end.
#[derive(Debug)]
pub struct StepError {
    pub why: String,
    pub message: String,
    pub code: Option<i32>,
}

impl From<StepError> for String {
    fn from(e: StepError) -> Self {
        e.message
    }
}

/// A sink for a command's output lines and the future that forwards them
/// to the job log as `host`'s; the future ends once the sink is dropped.
pub fn line_forwarder<'a>(
    report: &'a Reporter<'a>,
    host: &'a str,
    echo: Echo,
) -> (
    impl Fn(bool, &str) + Sync + 'a,
    impl Future<Output = ()> + 'a,
) {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(bool, String)>();
    let on_line = move |is_stderr: bool, line: &str| {
        if echo.shows(is_stderr) {
            let _ = tx.send((is_stderr, line.to_owned()));
        }
    };
    let forward = async move {
        while let Some((is_stderr, line)) = rx.recv().await {
            let level = if is_stderr {
                EventLevel::Err
            } else {
                EventLevel::Out
            };
            report.log(Some(host), level, &line).await;
        }
    };
    (on_line, forward)
}

/// Runs one journaled step on `host`: journaled `running` before, output
/// streamed, "done in" logged after; a failure is logged and journaled.
pub async fn run_step(
    report: &Reporter<'_>,
    host: &str,
    target: &impl RunsScripts,
    step: RemoteStep<'_>,
) -> Result<RemoteOutput, StepError> {
    let RemoteStep {
        at,
        script,
        stdin,
        timeout,
        echo,
        self_explaining,
    } = step;
    report.journal(host, at, HostState::Running, None).await;
    let (on_line, forward) = line_forwarder(report, host, echo);
    let started = Instant::now();
    let work = async {
        let output = target.run_script(&script, stdin, timeout, &on_line).await;
        drop(on_line);
        output
    };
    let span = info_span!("host_step", host = %host, phase = at.phase, step = at.step);
    let (result, ()) = tokio::join!(work.instrument(span), forward);
    let label = at.step;
    let code = result.as_ref().ok().and_then(|o| o.code);
    let why = match result {
        Ok(output) if output.success => {
            let text = format!(
                "[{}] {label} done in {:.2}s",
                at.phase,
                started.elapsed().as_secs_f64()
            );
            report.log(Some(host), EventLevel::Info, &text).await;
            return Ok(output);
        }
        Ok(output) if output.code.is_some_and(|c| self_explaining.contains(&c)) => output.reason(),
        Ok(output) => format!("{label} {}", output.reason()),
        Err(TransportError::Timeout(secs)) => format!("{label} timed out after {secs}s"),
        Err(e) => format!("{label}: {e}"),
    };
    let message = report.fail(host, at, &why).await;
    Err(StepError { why, message, code })
}
