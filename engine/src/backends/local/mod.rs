//! The `local` backend: capistrano-style releases in a directory on the
//! Slipway machine itself.
//!
//! ```text
//! <target_dir>/
//!   releases/<release-key>/   one directory per staged release
//!   current -> releases/<release-key>
//! ```

mod executor;
mod files;
mod plan;

pub use crate::domain::settings::local::{HealthCheck, LocalConfig};
pub use executor::{release, run_plan, LocalRun};
pub use files::{prune, releases_to_prune, switch_symlink};
pub use plan::{plan, Phase, Plan, PlanRequest, Step};

/// The single host a local environment has, as progress bars name it.
pub const HOST_NAME: &str = "local";
