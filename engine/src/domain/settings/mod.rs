//! Each backend's settings, typed: validated when an environment is saved
//! and stored as JSON in `environments.config`. The backends read them;
//! the store keeps them; neither owns them.

pub mod dnf;
pub mod docker;
pub mod image;
pub mod local;
pub mod package;
pub mod ssh;

pub use image::ImageRef;
pub use package::PackageVersion;

use serde::{Deserialize, Serialize};

use crate::domain::artifact::ArtifactKind;
use crate::error::InvalidInput;

/// Most hosts one environment may have.
pub const MAX_HOSTS: usize = 1000;
/// Release directories kept when an environment does not say.
pub const DEFAULT_KEEP_RELEASES: u32 = 5;
/// Health-check timeout when an environment does not say.
pub const DEFAULT_HEALTH_TIMEOUT_SECS: u64 = 30;

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
    pub fn artifact_kind(&self) -> ArtifactKind {
        match self {
            BackendConfig::Local(_) | BackendConfig::Ssh(_) => ArtifactKind::Files,
            BackendConfig::Dnf(_) => ArtifactKind::Package,
            BackendConfig::Docker(_) => ArtifactKind::Image,
        }
    }

    /// Whether this backend can deploy a build whose artifact is `artifact`.
    pub fn deploys(&self, artifact: &str) -> bool {
        ArtifactKind::of(artifact) == self.artifact_kind()
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
