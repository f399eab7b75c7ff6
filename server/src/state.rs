//! What every route handler can reach.

use axum::extract::FromRef;
use engine::Engine;
use leptos::config::LeptosOptions;
use tokio::sync::watch;

#[derive(Clone)]
pub struct AppState {
    pub engine: Engine,
    pub leptos_options: LeptosOptions,
    /// Turns true when the server is shutting down; long-lived streams end.
    pub shutdown: watch::Receiver<bool>,
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos_options.clone()
    }
}
