//! What a running job uses, whatever its backend: the event emitter and hub
//! (live progress), the cancel signal, secret masking and terminal clean-up,
//! the artifacts it reads and the archives it lends to hosts.
//!
//! Below the backends and the runner, above the store: a backend never
//! reaches the runner, and the runner wires these together for each job.

pub mod artifacts;
pub mod cancel;
mod emitter;
pub mod feed;
mod hub;
mod masking;
pub mod shares;
mod terminal;

pub use cancel::{CancelRegistry, CancelSignal, CancelTrigger};
pub use emitter::EventEmitter;
pub use feed::JobWatch;
pub use hub::{EventHub, LiveEvent};
pub use masking::{SecretMasker, MASK, MIN_SECRET_LEN};
