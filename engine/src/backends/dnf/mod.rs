//! The `dnf` backend: the application ships as an rpm package; a release
//! installs exactly one `name-version-release` on every host, a rollback
//! reaches exactly the earlier version (a downgrade).
//!
//! - [`package`]: the build's artifact, a parsed package version, and rpm's ordering.
//! - [`config`]: the environment's settings.
//! - [`plan`]: the commands, as quoted argument vectors (pure, unit-tested).
//! - [`hosts`]: the local machine or an SSH fleet (the `ssh` backend's transport).
//! - [`executor`]: check everywhere, then install everywhere, verify, report per host.
//! - [`inventory`]: what each host has installed, and drift.
//! - [`repository`]: the rpm repository Slipway hosts itself.

mod executor;
pub mod hosts;
pub mod inventory;
pub mod plan;
pub mod repository;

pub use crate::domain::settings::dnf::{DnfConfig, DnfTarget, PackageManager, SshHosts};
pub use crate::domain::settings::PackageVersion;
pub use executor::release;
