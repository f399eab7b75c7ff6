//! Access control: the policy (who may call what), the request layers that
//! apply it, and browser sessions.

pub mod middleware;
pub mod policy;
pub mod return_to;
pub mod session;
pub mod throttle;
