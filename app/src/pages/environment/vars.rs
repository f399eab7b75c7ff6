//! The environment page's variables: listed (secrets masked), set, removed.

use leptos::prelude::*;

use super::EnvActions;
use crate::components::confirm::ConfirmSubmit;
use crate::components::errors::ActionError;
use crate::model::VarInfo;

/// The variables every deploy here runs with.
#[component]
pub fn VarsCard(
    app: String,
    env: String,
    vars: Vec<VarInfo>,
    /// Whether to offer setting and removing variables.
    manage: bool,
    actions: EnvActions,
) -> impl IntoView {
    let rows = vars
        .into_iter()
        .map(|v| {
            let (app, env) = (app.clone(), env.clone());
            let value = if v.secret {
                view! { <span class="muted">"•••••• (secret)"</span> }.into_any()
            } else {
                view! { <code>{v.value.clone()}</code> }.into_any()
            };
            view! {
                <tr>
                    <td><code>{v.name.clone()}</code></td>
                    <td>{value}</td>
                    <td>
                        {manage.then(|| view! {
                            <ActionForm action=actions.delete_var>
                                <input type="hidden" name="app" value=app />
                                <input type="hidden" name="env" value=env />
                                <input type="hidden" name="name" value=v.name.clone() />
                                <ConfirmSubmit label="remove" confirm="Yes, remove it" kind="link">
                                    {remove_question(&v)}
                                </ConfirmSubmit>
                            </ActionForm>
                        })}
                    </td>
                </tr>
            }
        })
        .collect_view();
    // Once saved, the form is emptied: a secret's value must not stay on
    // screen (the page updates in place, so the inputs would keep it).
    let form = NodeRef::<leptos::html::Form>::new();
    let set_var = actions.set_var;
    Effect::new(move |_| {
        if let (Some(Ok(())), Some(form)) = (set_var.value().get(), form.get()) {
            form.reset();
        }
    });
    view! {
        <section class="card">
            <h2>"Environment variables"</h2>
            <table class="vars">
                <thead><tr><th>"Name"</th><th>"Value"</th><th></th></tr></thead>
                <tbody>{rows}</tbody>
            </table>
            {manage.then(|| view! {
                <ActionForm action=actions.set_var node_ref=form attr:class="inline-form">
                    <input type="hidden" name="app" value=app />
                    <input type="hidden" name="env" value=env />
                    <input name="name" placeholder="NAME" required />
                    // A textarea: a value may span lines (a key, a certificate).
                    <textarea name="value" rows="1" placeholder="value"></textarea>
                    <label><input type="checkbox" name="secret" value="on" />" secret"</label>
                    <button type="submit">"Set"</button>
                </ActionForm>
            })}
            <ActionError value=actions.set_var.value() />
            <ActionError value=actions.delete_var.value() />
        </section>
    }
}

/// What removing variable `v` asks first: a secret cannot be read back.
fn remove_question(v: &VarInfo) -> String {
    if v.secret {
        format!("Remove the secret {}? Its value cannot be recovered, and deploys from now on go without it.", v.name)
    } else {
        format!("Remove {}? Deploys from now on go without it.", v.name)
    }
}
