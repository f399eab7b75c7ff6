//! Backends turn a job into a plan of steps and run it against targets.
//!
//! A backend's settings are typed (`BackendConfig`), validated when an
//! environment is saved, and stored as JSON. Today: `local` and `ssh`;
//! yum/dnf and docker slot in as further variants with their own plan and executor.

pub mod local;
pub mod ssh;

use serde::{Deserialize, Serialize};

use crate::error::InvalidInput;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "backend", rename_all = "lowercase")]
pub enum BackendConfig {
    Local(local::LocalConfig),
    Ssh(ssh::SshConfig),
}

impl BackendConfig {
    pub fn backend_name(&self) -> &'static str {
        match self {
            BackendConfig::Local(_) => "local",
            BackendConfig::Ssh(_) => "ssh",
        }
    }

    pub fn validate(&self) -> Result<(), InvalidInput> {
        match self {
            BackendConfig::Local(config) => config.validate(),
            BackendConfig::Ssh(config) => config.validate(),
        }
    }

    /// The hosts a job on this backend reports progress for.
    pub fn hosts(&self) -> Vec<String> {
        match self {
            BackendConfig::Local(_) => vec![local::HOST_NAME.to_owned()],
            BackendConfig::Ssh(config) => config.hosts.clone(),
        }
    }
}
