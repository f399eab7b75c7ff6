//! Slipway's engine: the deploy domain without a UI.
//!
//! - [`store`]: every SQL statement (SQLite).
//! - [`jobs`]: the queue runner, leases, live events.
//! - [`backends`]: how a job becomes steps on targets.
//! - [`audit`]: the hash-chained record of every action.
//! - [`shares`]: release archives lent to hosts over HTTP during a job.
//! - [`Engine`]: the operations the UI and API call, with access checks.

pub mod artifact;
pub mod audit;
pub mod auth;
pub mod backends;
pub mod demo;
pub mod domain;
mod engine;
pub mod error;
pub mod jobs;
pub mod shares;
pub mod shell;
pub mod store;
#[cfg(feature = "test-support")]
pub mod testing;
pub mod time;
pub mod webhooks;

pub use engine::{
    BranchDeleted, BuildRequest, Engine, EngineSettings, EnvVarRequest, EnvironmentOverview,
    JobView, PackageUpload, QaRequest, JOB_VIEW_EVENTS, PREVIEW_TTL_HOURS,
};
pub use error::{Error, InvalidInput, Result};
pub use store::users::ExternalIdentity;
