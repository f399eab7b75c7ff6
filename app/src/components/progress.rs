use leptos::prelude::*;

use crate::model::HostInfo;

/// One host's progress through the plan.
#[component]
pub fn HostProgress(host: HostInfo) -> impl IntoView {
    let percent = if host.total > 0 {
        (host.done * 100 / host.total).clamp(0, 100)
    } else {
        0
    };
    let percent = if host.state == "succeeded" {
        100
    } else {
        percent
    };
    let width = format!("width: {percent}%");
    let class = format!("bar state-{}", host.state);
    view! {
        <div class="host-progress" data-host=host.host.clone() data-state=host.state.clone()>
            <div class="host-progress-label">
                <strong>{host.host.clone()}</strong>
                " · "
                <span class="phase">{host.phase.clone()}</span>
                " · "
                <span>{host.step.clone()}</span>
                " · "
                <span class="count">{format!("{}/{}", host.done, host.total)}</span>
                " "
                <span class=format!("badge state-{}", host.state)>{host.state.clone()}</span>
            </div>
            <div class="track" role="progressbar" aria-valuenow=percent aria-valuemin="0" aria-valuemax="100">
                <div class=class style=width></div>
            </div>
            {host.error.clone().map(|e| view! { <p class="error">{e}</p> })}
        </div>
    }
}
