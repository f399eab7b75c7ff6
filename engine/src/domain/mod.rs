//! The deploy domain: names parsed at the edge, the records Slipway keeps,
//! each backend's settings, and the words a job's progress is told in.
//! The lowest layer: it imports no other part of the engine but errors.

mod approvals;
pub mod artifact;
pub mod changes;
mod freeze;
pub mod insight;
mod names;
pub mod notify;
mod principal;
mod progress;
mod reach;
mod records;
mod requests;
mod resume;
mod rollback;
pub mod settings;
pub mod snapshot;
pub mod timeline;

pub use approvals::{ApprovalPolicy, ApprovalRule, Approver, DEFAULT_EXPIRE_HOURS};
pub use freeze::{
    describe_instant, in_force, parse_zone, upcoming, weekday_name, ActiveFreeze, FreezePeriod,
    FreezeRule, FreezeSchedule, FreezeWindow,
};
pub use names::{AppName, BranchName, BranchPattern, CommitSha, EnvName, Login, VarName};
pub use principal::{qualified_group, Principal};
pub use progress::{EventLevel, HostProgress, HostState};
pub use reach::{ReachTarget, TokenReach};
pub use records::*;
pub use requests::{ApprovalRecord, DeployRequest, Deployment, RequestState};
pub use resume::{resume_refusal, ResumeContext, ResumeRefusal};
pub use rollback::{rollback_refusal, RollbackRefusal};
pub use settings::BackendConfig;
