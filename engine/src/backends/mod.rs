//! Backends turn a job into a plan of steps and run it against targets.
//!
//! A backend's settings are typed ([`BackendConfig`], under
//! [`crate::domain::settings`]). Today: `local`, `ssh`, `dnf` and `docker`,
//! each with its own plan and executor.

mod context;
pub mod dnf;
pub mod docker;
pub mod exec;
pub mod local;
pub mod overlap;
pub mod preview;
pub mod ssh;

pub use crate::domain::settings::{
    BackendConfig, DEFAULT_HEALTH_TIMEOUT_SECS, DEFAULT_KEEP_RELEASES,
};
pub use context::{destroy, release, DeployLock, JobContext, ReleaseSpec};

/// How a backend's run ended when it did not succeed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunFailure {
    Failed(String),
    /// Stopped between steps; the reason says who or what stopped it.
    Cancelled(String),
}

impl std::fmt::Display for RunFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RunFailure::Failed(why) => write!(f, "{why}"),
            RunFailure::Cancelled(why) => write!(f, "cancelled: {why}"),
        }
    }
}

/// Why staging refuses an artifact that carries its own `.env`: the release's
/// env file is Slipway's, written from the environment's variables.
pub const ARTIFACT_HAS_ENV_FILE: &str =
    "the artifact has its own .env; Slipway writes the release's .env from the environment's variables: leave it out of the artifact";

/// The hook variables for running `after_switch` again in `previous`, the
/// release a failed job switched back to (a service reloaded into the new
/// code must be reloaded into the old one): `SLIPWAY_RELEASE_*` name
/// `previous`, `SLIPWAY_PREVIOUS_RELEASE_*` the release given up,
/// `SLIPWAY_SWITCHED_BACK=1`, and the build variables (which describe the
/// failed build) are left out.
pub fn switched_back_vars(
    vars: &[(String, String)],
    previous: &std::path::Path,
) -> Vec<(String, String)> {
    let value = |name: &str| {
        vars.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let given_up = [
        ("SLIPWAY_PREVIOUS_RELEASE_ID", value("SLIPWAY_RELEASE_ID")),
        (
            "SLIPWAY_PREVIOUS_RELEASE_PATH",
            value("SLIPWAY_RELEASE_PATH"),
        ),
    ];
    let replaced = [
        "SLIPWAY_RELEASE_ID",
        "SLIPWAY_RELEASE_PATH",
        "SLIPWAY_PREVIOUS_RELEASE_ID",
        "SLIPWAY_PREVIOUS_RELEASE_PATH",
        "SLIPWAY_BUILD_ID",
        "SLIPWAY_COMMIT_SHA",
        "SLIPWAY_BRANCH",
    ];
    let mut out: Vec<(String, String)> = vars
        .iter()
        .filter(|(k, _)| !replaced.contains(&k.as_str()))
        .cloned()
        .collect();
    let release_id = previous
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    out.push(("SLIPWAY_RELEASE_ID".into(), release_id));
    out.push((
        "SLIPWAY_RELEASE_PATH".into(),
        previous.display().to_string(),
    ));
    out.extend(given_up.map(|(k, v)| (k.to_owned(), v)));
    out.push(("SLIPWAY_SWITCHED_BACK".into(), "1".into()));
    out
}
