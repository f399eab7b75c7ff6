//! The environment page's notification targets: who hears of what, how
//! each delivery went, and (admins) a form to add one.

use leptos::prelude::*;

use crate::components::when::When;

use crate::components::confirm::ConfirmSubmit;
use crate::components::errors::{ActionError, ErrorBox};
use crate::functions::notifications::{
    get_notifications, CreateNotificationTarget, DeleteNotificationTarget,
};
use crate::model::{NotificationsInfo, TargetInfo};

#[component]
pub fn NotificationsCard(app: String, env: String) -> impl IntoView {
    let create = ServerAction::<CreateNotificationTarget>::new();
    let delete = ServerAction::<DeleteNotificationTarget>::new();
    let info = Resource::new(move || create.version().get() + delete.version().get(), {
        let (app, env) = (app.clone(), env.clone());
        move |_| get_notifications(app.clone(), env.clone())
    });
    // Emptied once saved: the secret must not stay on screen.
    let form = NodeRef::<leptos::html::Form>::new();
    Effect::new(move |_| {
        if let (Some(Ok(_)), Some(form)) = (create.value().get(), form.get()) {
            form.reset();
        }
    });
    view! {
        <section class="card notifications" id="notifications">
            <h2>"Notifications"</h2>
            <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {
                    let (app, env) = (app.clone(), env.clone());
                    move || {
                        let (app, env) = (app.clone(), env.clone());
                        Suspend::new(async move {
                            match info.await {
                                Ok(info) => view! { <Targets info app env create delete form /> }.into_any(),
                                Err(e) => view! { <ErrorBox error=e /> }.into_any(),
                            }
                        })
                    }
                }
            </Suspense>
            <ActionError value=create.value() />
            <ActionError value=delete.value() />
        </section>
    }
}

#[component]
fn Targets(
    info: NotificationsInfo,
    app: String,
    env: String,
    create: ServerAction<CreateNotificationTarget>,
    delete: ServerAction<DeleteNotificationTarget>,
    form: NodeRef<leptos::html::Form>,
) -> impl IntoView {
    let NotificationsInfo {
        targets,
        may_manage,
        events,
    } = info;
    let none = targets.is_empty();
    view! {
        {none.then(|| view! { <p class="muted">"No one is notified of deploys here."</p> })}
        {targets.into_iter().map(|t| view! { <Target t may_manage delete /> }).collect_view()}
        {may_manage.then(|| view! {
            <details class="add-target">
                <summary>"Add a target"</summary>
                <ActionForm action=create node_ref=form attr:class="stacked-form" attr:id="notification-form">
                    <input type="hidden" name="app" value=app />
                    <input type="hidden" name="env" value=env.clone() />
                    <label>"Name "<input name="name" required placeholder="#deploys" /></label>
                    <label>"URL "<input name="url" type="url" required placeholder="https://hooks.slack.com/services/…" /></label>
                    <label>"Format "
                        <select name="format">
                            <option value="slack">"Slack (text + blocks)"</option>
                            <option value="generic">"Generic JSON, signed (HMAC-SHA256)"</option>
                        </select>
                    </label>
                    <label>"Secret (generic only) "<input name="secret" type="password" autocomplete="new-password" placeholder="16+ characters" /></label>
                    <label>"Events "<input name="events" required value="succeeded failed rolled_back interrupted" /></label>
                    <small class="muted">"Any of: "{events.join(", ")}</small>
                    <label>"For "
                        <select name="scope">
                            <option value="env">{format!("this environment ({env})")}</option>
                            <option value="app">"every environment of the application"</option>
                        </select>
                    </label>
                    <button type="submit">"Add target"</button>
                </ActionForm>
            </details>
        })}
    }
}

#[component]
fn Target(
    t: TargetInfo,
    may_manage: bool,
    delete: ServerAction<DeleteNotificationTarget>,
) -> impl IntoView {
    let signed = if t.signed { ", signed" } else { "" };
    let none = t.deliveries.is_empty();
    view! {
        <div class="target" data-target=t.id>
            <p>
                <strong>{t.name.clone()}</strong>" "
                <span class="muted">{format!("{} · {}{signed} · {}", t.url, t.format, t.scope)}</span>
            </p>
            <p class="muted">"Events: "{t.events.join(", ")}</p>
            {none.then(|| view! { <p class="muted">"Nothing sent yet."</p> })}
            {(!none).then(|| view! {
                <table class="deliveries">
                    <thead><tr><th>"Event"</th><th>"State"</th><th>"Attempts"</th><th>"Last answer"</th><th>"Queued"</th></tr></thead>
                    <tbody>
                        {t.deliveries.into_iter().map(|d| {
                            let answer = match (d.last_status, d.last_error) {
                                (_, Some(error)) => error,
                                (Some(status), None) => status.to_string(),
                                (None, None) => "—".to_owned(),
                            };
                            let state = d.state.clone();
                            view! {
                                <tr data-delivery=d.id data-state=state>
                                    <td>{d.event}</td>
                                    <td><span class=format!("badge delivery-{}", d.state)>{d.state.clone()}</span></td>
                                    <td>{d.attempts}</td>
                                    <td>{answer}</td>
                                    <td class="muted"><When at=d.created_at /></td>
                                </tr>
                            }
                        }).collect_view()}
                    </tbody>
                </table>
            })}
            {may_manage.then(|| view! {
                <ActionForm action=delete>
                    <input type="hidden" name="id" value=t.id.to_string() />
                    <ConfirmSubmit label="remove" confirm="Yes, remove it" kind="link">
                        {format!("Remove the target {}? Its delivery log goes with it.", t.name)}
                    </ConfirmSubmit>
                </ActionForm>
            })}
        </div>
    }
}
