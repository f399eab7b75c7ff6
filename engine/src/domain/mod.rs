//! The deploy domain: names parsed at the edge and the records Slipway keeps.

mod names;
mod records;

pub use names::{AppName, BranchName, BranchPattern, CommitSha, EnvName, Login};
pub use records::*;
