use leptos::prelude::*;
use leptos_router::components::A;
use leptos_router::hooks::use_location;

use crate::functions::session::get_me;

#[component]
pub fn Header() -> impl IntoView {
    // Asked again on every navigation: a role an admin just changed (or a
    // session that ended) shows on the next page, not after a reload.
    let location = use_location();
    let me = Resource::new(move || location.pathname.get(), |_| get_me());
    // "3 min ago" stays true while a page stays open (browser only).
    Effect::new(move |_| {
        let handle = set_interval_with_handle(
            crate::components::when::refresh_relative_times,
            std::time::Duration::from_secs(30),
        );
        on_cleanup(move || {
            if let Ok(handle) = handle {
                handle.clear();
            }
        });
    });
    view! {
        <header class="top">
            <A href="/" attr:class="brand">"⚓ Slipway"</A>
            <nav>
                <A href="/">"Environments"</A>
                <A href="/builds">"Builds"</A>
                <A href="/requests">"Requests"</A>
                <A href="/timeline">"Timeline"</A>
                <A href="/audit">"Audit log"</A>
            </nav>
            <Suspense fallback=|| ()>
                {move || Suspend::new(async move {
                    match me.await {
                        Ok(Some(me)) => view! {
                            <div class="me">
                                {(me.role == "admin").then(|| view! { <A href="/users">"Users"</A> })}
                                <A href="/tokens">"Tokens"</A>
                                <span class="who">{me.login}" ("{me.role}")"</span>
                                <form method="post" action="/logout">
                                    <button type="submit" class="link">"Log out"</button>
                                </form>
                            </div>
                        }.into_any(),
                        _ => view! { <div class="me"><a href="/login">"Log in"</a></div> }.into_any(),
                    }
                })}
            </Suspense>
        </header>
    }
}
