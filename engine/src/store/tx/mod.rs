//! Transaction-level SQL that several topics need: each helper runs inside
//! the caller's transaction, so an action, its audit row and its events
//! commit together. The `impl Store` files call down into these; these
//! never call up into a topic file (a test reading the tree holds that).
//! [`packed`] decodes the packed rows some reads hand back.

pub(crate) mod audit;
pub(crate) mod environments;
pub(crate) mod events;
pub(crate) mod freezes;
pub(crate) mod jobs;
pub(crate) mod notifications;
pub(crate) mod packed;
pub(crate) mod promotion;
pub(crate) mod qa;
pub(crate) mod releases;
pub(crate) mod requests;
