use leptos::prelude::*;

use crate::functions::access::login_providers;

/// Where signed-out people land: the configured identity providers, and
/// the one-time link for the first admin (and break-glass).
#[component]
pub fn LoginPage() -> impl IntoView {
    let providers = Resource::new(|| (), |_| login_providers());
    view! {
        <section class="card narrow">
            <h1>"Sign in to Slipway"</h1>
            <Suspense fallback=|| ()>
                {move || Suspend::new(async move {
                    let providers = providers.await.unwrap_or_default();
                    (!providers.is_empty()).then(|| view! {
                        <ul class="providers">
                            {providers.into_iter().map(|p| {
                                let href = format!("/auth/{}/start", p.id);
                                view! {
                                    <li><a class="button primary" rel="external" href=href data-provider=p.id.clone()>"Sign in with "{p.name}</a></li>
                                }
                            }).collect_view()}
                        </ul>
                    })
                })}
            </Suspense>
            <p class="muted">
                "First admin, or no provider? Open a one-time login link: on a first start the server prints one; "
                "an admin can make a new one with "<code>"slipway login-link <login>"</code>" (audited)."
            </p>
        </section>
    }
}
