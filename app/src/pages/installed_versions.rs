//! The "Installed versions" card of a dnf environment: per host, what is
//! installed, and drift (a version Slipway did not release there).

use leptos::prelude::*;

use crate::components::errors::ActionError;
use crate::functions::packages::InstalledVersions;
use crate::model::HostVersionInfo;

#[component]
pub fn InstalledVersionsCard(app: String, env: String) -> impl IntoView {
    let refresh = ServerAction::<InstalledVersions>::new();
    view! {
        <section class="card installed-versions">
            <h2>"Installed versions"</h2>
            <p class="muted">
                "Asks every host which version of the package it has (rpm -q). "
                "A version Slipway did not release here is flagged as drift."
            </p>
            <ActionForm action=refresh>
                <input type="hidden" name="app" value=app />
                <input type="hidden" name="env" value=env />
                <button type="submit" id="refresh-versions">"Refresh installed versions"</button>
            </ActionForm>
            <ActionError value=refresh.value() />
            {move || refresh.value().get().and_then(Result::ok).map(|hosts| view! {
                <table class="host-versions">
                    <thead><tr><th>"Host"</th><th>"Installed"</th><th>"Status"</th></tr></thead>
                    <tbody>{hosts.into_iter().map(|h| view! { <HostVersionRow h /> }).collect_view()}</tbody>
                </table>
            })}
        </section>
    }
}

#[component]
fn HostVersionRow(h: HostVersionInfo) -> impl IntoView {
    let installed = if h.installed.is_empty() {
        "—".to_owned()
    } else {
        h.installed.join(", ")
    };
    let status = match &h.error {
        Some(error) => format!("{}: {error}", h.status),
        None => h.status.clone(),
    };
    view! {
        <tr data-host=h.host.clone() data-status=h.status.clone() class:drift=h.drift>
            <td><code>{h.host.clone()}</code></td>
            <td><code class="installed">{installed}</code></td>
            <td>
                {h.drift.then(|| view! { <span class="badge drift">"drift"</span>" " })}
                <span class="version-status">{status}</span>
            </td>
        </tr>
    }
}
