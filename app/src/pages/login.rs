use leptos::prelude::*;
use leptos_meta::Title;

use leptos_router::hooks::use_query_map;

use crate::functions::access::login_providers;
use crate::urls::encode_query_value;

/// Where signed-out people land: the configured identity providers, and
/// the one-time link for the first admin (and break-glass).
#[component]
pub fn LoginPage() -> impl IntoView {
    let providers = Resource::new(|| (), |_| login_providers());
    // The page that sent here (`?next=…`) goes along to the provider and
    // back; the server checks it is a page of this site.
    let next = use_query_map()
        .read_untracked()
        .get("next")
        .map(|next| format!("?next={}", encode_query_value(&next)))
        .unwrap_or_default();
    view! {
        <Title text="Sign in" />
        <section class="card narrow">
            <h1>"Sign in to Slipway"</h1>
            <Suspense fallback=|| ()>
                {move || {
                    let next = next.clone();
                    Suspend::new(async move {
                        let providers = providers.await.unwrap_or_default();
                        (!providers.is_empty()).then(|| view! {
                            <ul class="providers">
                                {providers.into_iter().map(|p| {
                                    let href = format!("/auth/{}/start{next}", p.id);
                                    view! {
                                        <li><a class="button primary" rel="external" href=href data-provider=p.id.clone()>"Sign in with "{p.name}</a></li>
                                    }
                                }).collect_view()}
                            </ul>
                        })
                    })
                }}
            </Suspense>
            <p class="muted">
                "First admin, or no provider? Open a one-time login link: on a first start the server prints one; "
                "an admin can make a new one with "<code>"slipway login-link <login>"</code>" (audited)."
            </p>
        </section>
    }
}
