//! Backends turn a job into a plan of steps and run it against targets.
//!
//! A backend's settings are typed (`BackendConfig`), validated when an
//! environment is saved, and stored as JSON. Today: `local`, `ssh`,
//! `dnf` and `docker`, each with its own plan and executor.

pub mod dnf;
pub mod docker;
pub mod local;
pub mod overlap;
pub mod preview;
pub mod ssh;

use serde::{Deserialize, Serialize};

use crate::error::InvalidInput;

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

/// Release directories kept when an environment does not say.
pub const DEFAULT_KEEP_RELEASES: u32 = 5;
/// Health-check timeout when an environment does not say.
pub const DEFAULT_HEALTH_TIMEOUT_SECS: u64 = 30;

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

pub(crate) fn default_keep() -> u32 {
    DEFAULT_KEEP_RELEASES
}

pub(crate) fn default_health_timeout() -> u64 {
    DEFAULT_HEALTH_TIMEOUT_SECS
}

/// Checks the settings every release-directory backend shares: how many
/// releases to keep, and the shell commands it runs (hooks, checks).
pub(crate) fn validate_release_settings(
    keep_releases: u32,
    commands: &[(&'static str, &Option<String>)],
) -> Result<(), InvalidInput> {
    if !(1..=100).contains(&keep_releases) {
        return Err(InvalidInput::new(
            "keep_releases",
            "keep between 1 and 100 releases",
        ));
    }
    for (field, command) in commands {
        if let Some(command) = command {
            if command.trim().is_empty() || command.len() > 4000 {
                return Err(InvalidInput::new(
                    field,
                    "a command must be 1-4000 characters",
                ));
            }
        }
    }
    Ok(())
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "backend", rename_all = "lowercase")]
pub enum BackendConfig {
    Local(local::LocalConfig),
    Ssh(ssh::SshConfig),
    Dnf(dnf::DnfConfig),
    Docker(docker::DockerConfig),
}

impl BackendConfig {
    pub fn backend_name(&self) -> &'static str {
        match self {
            BackendConfig::Local(_) => "local",
            BackendConfig::Ssh(_) => "ssh",
            BackendConfig::Dnf(_) => "dnf",
            BackendConfig::Docker(_) => "docker",
        }
    }

    /// The kind of build artifact this backend deploys.
    pub fn artifact_kind(&self) -> crate::artifact::ArtifactKind {
        use crate::artifact::ArtifactKind;
        match self {
            BackendConfig::Local(_) | BackendConfig::Ssh(_) => ArtifactKind::Files,
            BackendConfig::Dnf(_) => ArtifactKind::Package,
            BackendConfig::Docker(_) => ArtifactKind::Image,
        }
    }

    /// Whether this backend can deploy a build whose artifact is `artifact`.
    pub fn deploys(&self, artifact: &str) -> bool {
        crate::artifact::ArtifactKind::of(artifact) == self.artifact_kind()
    }

    pub fn validate(&self) -> Result<(), InvalidInput> {
        match self {
            BackendConfig::Local(config) => config.validate(),
            BackendConfig::Ssh(config) => config.validate(),
            BackendConfig::Dnf(config) => config.validate(),
            BackendConfig::Docker(config) => config.validate(),
        }
    }
}
