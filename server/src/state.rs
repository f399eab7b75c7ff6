//! What every route handler can reach.

use axum::extract::FromRef;
use engine::Engine;
use leptos::config::LeptosOptions;
use tokio::sync::watch;

use crate::identity::Providers;

#[derive(Clone)]
pub struct AppState {
    pub engine: Engine,
    pub leptos_options: LeptosOptions,
    /// The identity providers people may sign in with.
    pub providers: Providers,
    /// Served over https: cookies are Secure and `__Host-` named.
    pub secure_cookies: bool,
    /// The origin people reach Slipway at (`scheme://host[:port]` of the
    /// public URL): behind a proxy that rewrites `Host`, what browsers send
    /// as `Origin`.
    pub public_origin: String,
    /// Bounds the audit rows anonymous failed sign-ins can add.
    pub failed_logins: std::sync::Arc<crate::access::throttle::AuditThrottle>,
    /// Webhooks refused for their signature, recorded as failed sign-ins are.
    pub refused_webhooks: std::sync::Arc<crate::access::throttle::AuditThrottle>,
    /// What push webhooks are checked with; `None`: webhooks are off.
    pub webhook_secret: Option<engine::webhooks::WebhookSecret>,
    /// Turns true when the server is shutting down; long-lived streams end.
    pub shutdown: watch::Receiver<bool>,
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos_options.clone()
    }
}
