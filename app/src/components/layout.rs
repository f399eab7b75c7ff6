use leptos::prelude::*;
use leptos_router::components::A;

use crate::functions::session::get_me;

#[component]
pub fn Header() -> impl IntoView {
    let me = Resource::new(|| (), |_| get_me());
    view! {
        <header class="top">
            <A href="/" attr:class="brand">"⚓ Slipway"</A>
            <nav>
                <A href="/">"Environments"</A>
                <A href="/builds">"Builds"</A>
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
