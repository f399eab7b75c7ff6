//! Slipway's user interface: Leptos pages rendered on the server and
//! hydrated in the browser, and the server functions they call.
// Leptos view types nest deeply; the environment page needs more than 128.
#![recursion_limit = "256"]

pub mod components;
pub mod error;
pub mod functions;
pub mod model;
pub mod pages;
pub mod urls;

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, MetaTags, Stylesheet, Title};
use leptos_router::components::{Route, Router, Routes};
use leptos_router::path;

use components::layout::Header;
use components::shortcuts::Shortcuts;
use pages::{
    audit::AuditLogPage, builds::BuildsListPage, environment::EnvironmentPage,
    environment_form::EnvironmentFormPage, insight::InsightPage, job::JobPage, login::LoginPage,
    overview::OverviewPage, requests::RequestsPage, timeline::TimelinePage, tokens::TokensPage,
    users::UsersPage,
};

/// The name of the wasm/JS/CSS bundle under `/pkg`.
pub const OUTPUT_NAME: &str = "slipway";

/// The HTML document around the app.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8" />
                <meta name="viewport" content="width=device-width, initial-scale=1" />
                // No icon to fetch (and no 404 for one on every page).
                <link rel="icon" href="data:," />
                <HydrationScripts options />
                <MetaTags />
            </head>
            <body>
                <App />
            </body>
        </html>
    }
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    // Effects run only in the browser: this marks the page as hydrated
    // (interactive), which people never see and browser tests wait for.
    Effect::new(move |_| {
        if let Some(body) = document().body() {
            let _ = body.set_attribute("data-hydrated", "true");
        }
    });
    view! {
        <Stylesheet id="slipway" href="/pkg/slipway.css" />
        // Each page names itself; the tab reads "shop/production · Slipway".
        <Title formatter=|page: String| if page.is_empty() { "Slipway".to_owned() } else { format!("{page} · Slipway") } />
        <Router>
            <Header />
            <main>
                <Routes fallback=|| view! { <p class="error">"Page not found."</p> }>
                    <Route path=path!("/") view=OverviewPage />
                    <Route path=path!("/login") view=LoginPage />
                    <Route path=path!("/builds") view=BuildsListPage />
                    <Route path=path!("/audit") view=AuditLogPage />
                    <Route path=path!("/requests") view=RequestsPage />
                    <Route path=path!("/timeline") view=TimelinePage />
                    <Route path=path!("/users") view=UsersPage />
                    <Route path=path!("/tokens") view=TokensPage />
                    <Route path=path!("/jobs/:id") view=JobPage />
                    <Route path=path!("/apps/:app/new-env") view=EnvironmentFormPage />
                    <Route path=path!("/apps/:app/envs/:env/edit") view=EnvironmentFormPage />
                    <Route path=path!("/apps/:app/envs/:env") view=EnvironmentPage />
                    <Route path=path!("/apps/:app/envs/:env/insight") view=InsightPage />
                    <Route path=path!("/apps/:app/insight") view=InsightPage />
                </Routes>
            </main>
            <Shortcuts />
        </Router>
    }
}

#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_body(App);
}
