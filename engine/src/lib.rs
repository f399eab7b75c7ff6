//! Slipway's engine: the deploy domain without a UI.
//!
//! Layers, each importing only those below it (`tests/layers.rs` holds this):
//!
//! 1. [`domain`] (with [`error`], [`time`], [`shell`], [`auth`], [`audit`],
//!    [`webhooks`]): names, records, settings, progress; policy and parsing
//!    that need no I/O.
//! 2. [`store`]: every SQL statement (SQLite).
//! 3. [`runtime`]: what a running job uses: events, cancel, masking,
//!    artifacts and the archives lent to hosts.
//! 4. [`backends`]: how a job becomes steps on targets.
//! 5. [`jobs`]: the runner: leases, sweeps, one backend entry per job.
//! 6. [`Engine`]: the operations the UI and API call, with access checks.

pub mod audit;
pub mod auth;
pub mod backends;
pub mod demo;
pub mod domain;
pub mod error;
pub mod git;
pub mod jobs;
pub mod keyfile;
pub mod runtime;
pub mod secrets;
mod service;
pub mod shell;
pub mod store;
#[cfg(feature = "test-support")]
pub mod testing;
pub mod time;
pub mod webhooks;

pub use error::{Error, InvalidInput, Result};
pub use service::{
    BranchDeleted, BuildRequest, CommitRequest, DeployAsk, Engine, EngineSettings, EnvVarRequest,
    EnvironmentActivity, EnvironmentOverview, FreezeKind, FreezeRequest, FreezeStatus, JobView,
    NotificationTargetRequest, PackageUpload, QaRequest, ReleaseChanges, RequestView, TokenRequest,
    JOB_VIEW_EVENTS, PREVIEW_TTL_HOURS,
};
pub use store::users::ExternalIdentity;
