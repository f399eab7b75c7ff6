//! The job engine: a queue in the database, a runner that leases jobs,
//! and the events each job emits.

pub(crate) mod cancel;
mod emitter;
mod hub;
mod masking;
mod runner;
mod terminal;

pub use cancel::{CancelRegistry, CancelSignal};
pub use emitter::{EventEmitter, EventLevel};
pub use hub::EventHub;
pub use masking::{SecretMasker, MASK, MIN_SECRET_LEN};
pub use runner::{JobRunner, RunnerLinks, RunnerSettings};
