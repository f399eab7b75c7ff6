//! The background workers. The job runner: a queue in the database, a
//! runner that leases jobs and hands each to its backend with one
//! [`crate::backends::JobContext`]. The notifier: the outbox of outgoing
//! webhooks, sent and retried.

pub mod checkpointer;
pub mod notifier;
pub mod relay;
mod runner;
mod running;

pub use checkpointer::{CheckpointSettings, Checkpointer};
pub use notifier::{Notifier, NotifierSettings};
pub use relay::{EventRelay, RelaySettings};
pub use runner::{JobRunner, RunnerLinks, RunnerSettings};
