use leptos::prelude::*;

/// Where signed-out people land. Identity providers come later; today a
/// one-time link (printed by the server on first start, or made with
/// `slipway login-link <login>`) signs you in.
#[component]
pub fn LoginPage() -> impl IntoView {
    view! {
        <section class="card narrow">
            <h1>"Sign in to Slipway"</h1>
            <p>
                "Open the one-time login link. On a first start the server prints one for the first admin; "
                "an admin can make a new one with "<code>"slipway login-link <login>"</code>"."
            </p>
        </section>
    }
}
