//! The job runner: a queue in the database, a runner that leases jobs and
//! hands each to its backend with one [`crate::backends::JobContext`].

mod runner;
mod running;

pub use runner::{JobRunner, RunnerLinks, RunnerSettings};
