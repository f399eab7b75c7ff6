//! Server functions: thin adapters from the UI onto the engine.
//! Each one finds the signed-in actor, calls one engine operation, and maps
//! the result to wire types. Access is decided in the engine.

#[cfg(feature = "ssr")]
pub mod context;
#[cfg(feature = "ssr")]
pub mod convert;

pub mod access;
pub mod audit;
pub mod builds;
pub mod changes;
pub mod environments;
pub mod freezes;
pub mod insight;
pub mod jobs;
pub mod notifications;
pub mod overview;
pub mod packages;
pub mod qa;
pub mod requests;
pub mod session;
pub mod timeline;
