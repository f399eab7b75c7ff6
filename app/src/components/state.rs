use leptos::prelude::*;

/// A coloured label for a job, release or host state.
#[component]
pub fn StateBadge(#[prop(into)] state: String) -> impl IntoView {
    let class = format!("badge state-{state}");
    view! { <span class=class>{state}</span> }
}
