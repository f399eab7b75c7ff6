//! The deploy domain: names parsed at the edge and the records Slipway keeps.

mod names;
mod records;
mod rollback;

pub use names::{AppName, BranchName, BranchPattern, CommitSha, EnvName, Login, VarName};
pub use records::*;
pub use rollback::{rollback_refusal, RollbackRefusal};
