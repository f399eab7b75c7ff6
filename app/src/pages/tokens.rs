use leptos::prelude::*;

use crate::components::when::When;
use leptos_meta::Title;

use crate::components::confirm::ConfirmSubmit;
use crate::components::errors::{ActionError, ErrorBox};
use crate::functions::access::{get_tokens, CreateToken, RevokeToken};
use crate::model::TokenRow;

/// API tokens for CI (shown once, stored hashed) and "log out everywhere".
#[component]
pub fn TokensPage() -> impl IntoView {
    let create = ServerAction::<CreateToken>::new();
    let revoke = ServerAction::<RevokeToken>::new();
    let tokens = Resource::new(
        move || (create.version().get(), revoke.version().get()),
        |_| get_tokens(),
    );
    // Once made, the form starts over (the secret shows below it, once).
    let form = NodeRef::<leptos::html::Form>::new();
    Effect::new(move |_| {
        if let (Some(Ok(_)), Some(form)) = (create.value().get(), form.get()) {
            form.reset();
        }
    });
    view! {
        <Title text="API tokens" />
        <h1>"API tokens"</h1>
        <section class="card">
            <h2>"New token"</h2>
            <ActionForm action=create node_ref=form attr:class="env-form">
                <label>"Name" <input name="name" placeholder="ci-main" required /></label>
                <fieldset>
                    <legend>"Scopes"</legend>
                    <label><input type="checkbox" name="scope_read" value="read" />" read (environments, jobs, releases, audit)"</label>
                    <label><input type="checkbox" name="scope_builds_write" value="builds:write" />" builds:write (register builds)"</label>
                    <label><input type="checkbox" name="scope_deploy" value="deploy" />" deploy (deploy, roll back, cancel)"</label>
                </fieldset>
                <label>"Limited to (applications and app/environment, comma-separated; empty: wherever you may act)" <input name="limited_to" placeholder="shop, billing/staging" /></label>
                <label>"Expires after (days; empty: never)" <input name="valid_for_days" value="90" inputmode="numeric" /></label>
                <button type="submit" class="primary">"Create token"</button>
            </ActionForm>
            <ActionError value=create.value() />
            {move || create.value().get().and_then(Result::ok).map(|t| view! {
                <div class="notice" id="new-token">
                    <p>"Token #"{t.id}" — copy it now, it is shown only once:"</p>
                    <code class="secret">{t.secret}</code>
                </div>
            })}
        </section>
        <ActionError value=revoke.value() />
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                match tokens.await {
                    Ok(tokens) => view! { <TokensTable tokens revoke /> }.into_any(),
                    Err(e) => view! { <ErrorBox error=e /> }.into_any(),
                }
            })}
        </Suspense>
        <section class="card danger">
            <h2>"Sessions"</h2>
            <p class="muted">"Sign out of Slipway in every browser, this one included."</p>
            <form method="post" action="/logout/everywhere">
                <button type="submit">"Log out everywhere"</button>
            </form>
        </section>
    }
}

#[component]
fn TokensTable(tokens: Vec<TokenRow>, revoke: ServerAction<RevokeToken>) -> impl IntoView {
    view! {
        <table class="tokens">
            <thead><tr><th>"#"</th><th>"Name"</th><th>"Owner"</th><th>"Scopes"</th><th>"Limited to"</th><th>"Created"</th><th>"Expires"</th><th>"Last used"</th><th>"Status"</th><th></th></tr></thead>
            <tbody>
                {tokens.into_iter().map(|t| {
                    let active = t.status == "active";
                    view! {
                        <tr data-token=t.id>
                            <td>{t.id}</td>
                            <td>{t.name.clone()}</td>
                            <td>{t.owner.clone()}</td>
                            <td><code>{t.scopes.clone()}</code></td>
                            <td class="limited-to">{t.limited_to.clone()}</td>
                            <td><When at=t.created_at.clone() /></td>
                            <td>{t.expires_at.clone().unwrap_or_else(|| "never".into())}</td>
                            <td>{t.last_used_at.clone().unwrap_or_else(|| "never".into())}</td>
                            <td class=format!("state {}", t.status)>{t.status.clone()}</td>
                            <td>
                                {active.then(|| view! {
                                    <ActionForm action=revoke attr:class="inline">
                                        <input type="hidden" name="id" value=t.id />
                                        <ConfirmSubmit label="Revoke" confirm="Yes, revoke it" kind="danger">
                                            {format!("Revoke {}? Whatever uses it (CI, scripts) gets 401 from now on.", t.name)}
                                        </ConfirmSubmit>
                                    </ActionForm>
                                })}
                            </td>
                        </tr>
                    }
                }).collect_view()}
            </tbody>
        </table>
    }
}
