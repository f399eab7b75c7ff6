//! The `ssh` backend: capistrano-style releases on a fleet of hosts, in two
//! phases. Every host stages the release (`releases/<id>`, hooks); only when
//! all of them have, every host switches `current` at once.
//!
//! The plan ([`plan`]) is pure: remote scripts built from escaped values.
//! The transport ([`transport`]) holds one multiplexed connection per host.
//! The executor ([`executor`]) runs the phases with a concurrency limit and
//! journals every host step.

mod executor;
pub mod hosts;
pub mod keyscan;
pub mod locks;
pub mod plan;
pub mod transport;

pub use crate::domain::settings::ssh::{HostAddr, SshConfig};
pub use executor::release;
