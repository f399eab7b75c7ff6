//! How every executor tells a job's story: each host's progress journaled
//! before and after every step, and the log lines around it.

use crate::domain::{EventLevel, HostProgress, HostState};
use crate::runtime::EventEmitter;

/// Where a host is in its steps: the phase, the step's label, and how many
/// of the host's steps are done.
#[derive(Clone, Copy, Debug)]
pub struct At<'s> {
    pub phase: &'s str,
    pub step: &'s str,
    pub done: i64,
}

impl<'s> At<'s> {
    pub fn new(phase: &'s str, step: &'s str, done: i64) -> Self {
        Self { phase, step, done }
    }
}

/// Journals hosts' progress and writes log lines for one run. Best effort:
/// a line that cannot be stored is traced, and the run goes on.
#[derive(Clone, Copy, Debug)]
pub struct Reporter<'a> {
    emitter: &'a EventEmitter,
    /// Steps per host, for the progress bars.
    total: i64,
}

impl<'a> Reporter<'a> {
    pub fn new(emitter: &'a EventEmitter, total: i64) -> Self {
        Self { emitter, total }
    }

    /// The same log, for hosts with another number of steps.
    pub fn with_total(self, total: i64) -> Self {
        Self { total, ..self }
    }

    pub fn total(&self) -> i64 {
        self.total
    }

    pub fn emitter(&self) -> &'a EventEmitter {
        self.emitter
    }

    /// Journals where `host` is and in what state.
    pub async fn journal(&self, host: &str, at: At<'_>, state: HostState, error: Option<&str>) {
        self.emitter
            .journal(HostProgress {
                host: host.to_owned(),
                phase: at.phase.to_owned(),
                step: at.step.to_owned(),
                steps_done: at.done,
                steps_total: self.total,
                state,
                error: error.map(str::to_owned),
            })
            .await;
    }

    /// A log line, about one host or (`None`) the whole job.
    pub async fn log(&self, host: Option<&str>, level: EventLevel, text: &str) {
        self.emitter.note(host, level, text).await;
    }

    /// An informational line about the whole job.
    pub async fn info(&self, text: &str) {
        self.log(None, EventLevel::Info, text).await;
    }

    /// Records that a step failed on `host` (a log line and its journal);
    /// returns `host: why`, as the job's error names it.
    pub async fn fail(&self, host: &str, at: At<'_>, why: &str) -> String {
        let text = format!("[{}] {why}", at.phase);
        self.log(Some(host), EventLevel::Error, &text).await;
        self.journal(host, at, HostState::Failed, Some(why)).await;
        format!("{host}: {why}")
    }
}
