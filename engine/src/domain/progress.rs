//! A job's live progress as every layer names it: the level of each event
//! in its log, and each host's state as the job goes.
//!
//! Stored as lowercase text (`job_events.level`, `job_hosts.state`), sent
//! to browsers the same way; inside Slipway they are enums.

use serde::{Deserialize, Serialize};

/// What kind of line a job event is.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, sqlx::Type, utoipa::ToSchema,
)]
#[sqlx(rename_all = "lowercase", type_name = "text")]
#[serde(rename_all = "lowercase")]
pub enum EventLevel {
    Info,
    Warn,
    Error,
    /// A line a command wrote to stdout.
    Out,
    /// A line a command wrote to stderr.
    Err,
    /// Per-host progress, as JSON (`phase`, `step`, `done`, `total`, `state`).
    Progress,
    /// The last event of a job; its text is the final state.
    End,
}

impl EventLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            EventLevel::Info => "info",
            EventLevel::Warn => "warn",
            EventLevel::Error => "error",
            EventLevel::Out => "out",
            EventLevel::Err => "err",
            EventLevel::Progress => "progress",
            EventLevel::End => "end",
        }
    }
}

/// Where one host of a job stands.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, sqlx::Type, utoipa::ToSchema,
)]
#[sqlx(rename_all = "lowercase", type_name = "text")]
#[serde(rename_all = "lowercase")]
pub enum HostState {
    /// Known, not yet reached (docker: the traffic switch waits for its turn).
    Pending,
    Running,
    Succeeded,
    Failed,
    Cancelled,
    /// Left alone because of another host (unreachable, failed check).
    Skipped,
    /// Changed, then put back because the job failed elsewhere.
    Reverted,
    /// The backend left it mid-step when the job ended.
    Stopped,
    /// Its runner died while the host was mid-step.
    Interrupted,
}

impl HostState {
    pub fn as_str(self) -> &'static str {
        match self {
            HostState::Pending => "pending",
            HostState::Running => "running",
            HostState::Succeeded => "succeeded",
            HostState::Failed => "failed",
            HostState::Cancelled => "cancelled",
            HostState::Skipped => "skipped",
            HostState::Reverted => "reverted",
            HostState::Stopped => "stopped",
            HostState::Interrupted => "interrupted",
        }
    }
}

/// Compared with the word it is stored and sent as (`level == "end"`),
/// which is how tests and scripts read events.
macro_rules! compares_with_its_word {
    ($($kind:ty),*) => {$(
        impl PartialEq<&str> for $kind {
            fn eq(&self, word: &&str) -> bool {
                self.as_str() == *word
            }
        }

        impl PartialEq<str> for $kind {
            fn eq(&self, word: &str) -> bool {
                self.as_str() == word
            }
        }

        impl std::fmt::Display for $kind {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    )*};
}

compares_with_its_word!(EventLevel, HostState);

/// One host's progress, journaled before and after every step and
/// streamed with the job's events.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostProgress {
    pub host: String,
    pub phase: String,
    pub step: String,
    pub steps_done: i64,
    pub steps_total: i64,
    pub state: HostState,
    pub error: Option<String>,
}

impl HostProgress {
    /// The progress event's text: what the browser's progress bars read.
    pub fn to_json(&self) -> String {
        serde_json::json!({
            "phase": self.phase,
            "step": self.step,
            "done": self.steps_done,
            "total": self.steps_total,
            "state": self.state,
            "error": self.error,
        })
        .to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_and_levels_read_as_their_stored_text() {
        for state in [HostState::Running, HostState::Skipped, HostState::Reverted] {
            let json = serde_json::to_string(&state).unwrap();
            assert_eq!(json, format!("\"{}\"", state.as_str()));
        }
        assert_eq!(serde_json::to_string(&EventLevel::End).unwrap(), "\"end\"");
    }
}
