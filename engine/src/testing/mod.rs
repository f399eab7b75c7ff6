//! Test support shared by the engine's tests and the browser tests (feature
//! `test-support`): real components started and stopped by the harness.

pub mod database;
pub mod docker;
pub mod postgres;
pub mod registry;
pub mod rpm;
pub mod share_server;
pub mod sshd;
