//! The environment page's freeze windows: listed for everyone; made and
//! removed by admins.

use leptos::prelude::*;

use crate::components::confirm::ConfirmSubmit;
use crate::components::errors::ActionError;
use crate::functions::freezes::{CreateFreezeWindow, DeleteFreezeWindow};
use crate::model::FreezeWindowInfo;

#[component]
pub fn FreezeCard(
    app: String,
    env: String,
    windows: Vec<FreezeWindowInfo>,
    /// Whether to offer making and removing windows.
    manage: bool,
    create: ServerAction<CreateFreezeWindow>,
    delete: ServerAction<DeleteFreezeWindow>,
) -> impl IntoView {
    if windows.is_empty() && !manage {
        return ().into_any();
    }
    let rows = windows
        .into_iter()
        .map(|w| {
            let app = app.clone();
            let question = format!(
                "Remove the freeze window \u{201c}{}\u{201d} ({})? Deploys it refuses go through at once.",
                w.name, w.scope
            );
            view! {
                <tr data-freeze=w.id>
                    <td class="freeze-name">{w.name.clone()}</td>
                    <td>{w.scope.clone()}</td>
                    <td>{w.schedule.clone()}</td>
                    <td>{if w.blocks_rollbacks { "refused" } else { "allowed" }}</td>
                    <td>{w.created_by.clone()}" "<span class="muted">{w.created_at.clone()}</span></td>
                    <td>
                        {manage.then(|| view! {
                            <ActionForm action=delete>
                                <input type="hidden" name="app" value=app />
                                <input type="hidden" name="id" value=w.id.to_string() />
                                <ConfirmSubmit label="remove" confirm="Yes, remove it" kind="link">{question}</ConfirmSubmit>
                            </ActionForm>
                        })}
                    </td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <section class="card freezes">
            <h2>"Freeze windows"</h2>
            <table>
                <thead>
                    <tr>
                        <th>"Name"</th>
                        <th>"Freezes"</th>
                        <th>"When"</th>
                        <th>"Rollbacks"</th>
                        <th>"Made by"</th>
                        <th></th>
                    </tr>
                </thead>
                <tbody>{rows}</tbody>
            </table>
            <ActionError value=delete.value() />
            {manage.then(|| view! { <NewFreezeForm app env create /> })}
        </section>
    }
    .into_any()
}

/// One form for the three kinds; the fields of the kind chosen are shown.
#[component]
fn NewFreezeForm(
    app: String,
    env: String,
    create: ServerAction<CreateFreezeWindow>,
) -> impl IntoView {
    let kind = RwSignal::new("once".to_owned());
    let shown = move |which: &'static str| move || kind.get() != which;
    let form = NodeRef::<leptos::html::Form>::new();
    Effect::new(move |_| {
        if let (Some(Ok(_)), Some(form)) = (create.value().get(), form.get()) {
            form.reset();
            kind.set("once".to_owned());
        }
    });
    view! {
        <details class="new-freeze">
            <summary>"New freeze window"</summary>
            <ActionForm action=create node_ref=form attr:class="freeze-form">
                <input type="hidden" name="app" value=app />
                <input type="hidden" name="env" value=env.clone() />
                <label>"Name (shown when a deploy is refused) "<input name="name" required placeholder="Holiday freeze" /></label>
                <label>"Freezes "
                    <select name="scope">
                        <option value="env">{format!("this environment ({env})")}</option>
                        <option value="app">"every environment of the application"</option>
                    </select>
                </label>
                <label>"Kind "
                    <select name="kind" on:change=move |ev| kind.set(event_target_value(&ev))>
                        <option value="once">"once: from – to"</option>
                        <option value="weekly">"weekly: days and times"</option>
                        <option value="cron">"cron: start times and a length"</option>
                    </select>
                </label>
                <fieldset class="freeze-once" class:hidden=shown("once")>
                    <label>"From "<input name="from" placeholder="2026-12-20T18:00" /></label>
                    <label>"To "<input name="to" placeholder="2027-01-04T09:00" /></label>
                </fieldset>
                <fieldset class="freeze-weekly" class:hidden=shown("weekly")>
                    <label>"Days "<input name="days" placeholder="Fri-Sun" /></label>
                    <label>"From "<input name="start" placeholder="16:00" /></label>
                    <label>"To "<input name="end" placeholder="09:00 (at or before From: the next day)" /></label>
                </fieldset>
                <fieldset class="freeze-cron" class:hidden=shown("cron")>
                    <label>"Cron "<input name="cron" placeholder="0 18 * * 5" /></label>
                    <label>"Minutes each "<input name="minutes" placeholder="900" /></label>
                </fieldset>
                <label>"Time zone "<input name="time_zone" required value="UTC" placeholder="Europe/Berlin" /></label>
                <label class="check"><input type="checkbox" name="blocks_rollbacks" />" refuse rollbacks too"</label>
                <button type="submit">"Make freeze window"</button>
            </ActionForm>
            <ActionError value=create.value() />
        </details>
    }
}
