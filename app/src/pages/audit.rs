use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;
use leptos_router::hooks::use_query_map;

use crate::components::errors::ErrorBox;
use crate::functions::audit::get_audit;
use crate::model::AuditPage;
use crate::urls::encode_query_value;

#[derive(Clone, Debug, PartialEq, Default)]
struct Filters {
    actor: String,
    action: String,
    environment: String,
    since: String,
    until: String,
    /// The keyset cursor as the address has it (the server says if it is not a number).
    before: Option<String>,
}

impl Filters {
    fn query_string(&self, before: Option<i64>) -> String {
        let mut parts = Vec::new();
        for (k, v) in [
            ("actor", &self.actor),
            ("action", &self.action),
            ("environment", &self.environment),
            ("since", &self.since),
            ("until", &self.until),
        ] {
            if !v.is_empty() {
                parts.push(format!("{k}={}", encode_query_value(v)));
            }
        }
        if let Some(b) = before {
            parts.push(format!("before={b}"));
        }
        parts.join("&")
    }
}

#[component]
pub fn AuditLogPage() -> impl IntoView {
    let query = use_query_map();
    let filters = move || {
        let q = query.read();
        let get = |k: &str| q.get(k).unwrap_or_default();
        Filters {
            actor: get("actor"),
            action: get("action"),
            environment: get("environment"),
            since: get("since"),
            until: get("until"),
            before: q.get("before"),
        }
    };
    let page = Resource::new(filters, |f| {
        get_audit(f.actor, f.action, f.environment, f.since, f.until, f.before)
    });
    view! {
        <Title text="Audit log" />
        <h1>"Audit log"</h1>
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                let f = filters();
                match page.await {
                    Ok(page) => view! { <AuditView page f /> }.into_any(),
                    Err(e) => view! { <ErrorBox error=e /> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn AuditView(page: AuditPage, f: Filters) -> impl IntoView {
    let csv = format!("/audit.csv?{}", f.query_string(None));
    let older = page
        .next_before
        .map(|b| format!("/audit?{}", f.query_string(Some(b))));
    let newest = f
        .before
        .as_ref()
        .map(|_| format!("/audit?{}", f.query_string(None)));
    view! {
        <form method="get" action="/audit" class="card filters">
            <label>"Actor " <input name="actor" value=f.actor.clone() /></label>
            <label>
                "Action "
                <select name="action">
                    <option value="">"any"</option>
                    {page.actions.iter().map(|a| view! {
                        <option value=a.clone() selected=*a == f.action>{a.clone()}</option>
                    }).collect_view()}
                </select>
            </label>
            <label>"Environment " <input name="environment" value=f.environment.clone() placeholder="app/env" /></label>
            <label>"From " <input type="date" name="since" value=f.since.clone() /></label>
            <label>"To " <input type="date" name="until" value=f.until.clone() /></label>
            <button type="submit">"Filter"</button>
            <a href=csv class="button" rel="external" download="audit.csv">"Export CSV"</a>
        </form>
        <table class="audit">
            <thead>
                <tr><th>"#"</th><th class="ts">"Time"</th><th>"Actor"</th><th>"Action"</th><th>"Target"</th><th>"Environment"</th><th>"Details"</th></tr>
            </thead>
            <tbody>
                {page.rows.is_empty().then(|| view! {
                    <tr class="empty"><td colspan="7" class="muted">
                        "No entries match these filters (an environment is named app/env, e.g. demo/demo)."
                    </td></tr>
                })}
                {page.rows.into_iter().map(|r| view! {
                    <tr data-action=r.action.clone()>
                        <td>{r.seq}</td>
                        <td class="ts">{r.ts.clone()}</td>
                        <td>{r.actor.clone()}</td>
                        <td><code>{r.action.clone()}</code></td>
                        <td>{r.target.clone()}</td>
                        <td>{r.environment.clone().unwrap_or_default()}</td>
                        <td class="details">{r.details.into_iter().map(|(name, value)| view! {
                            <span class="detail">
                                {(!name.is_empty()).then(|| view! { <span class="detail-name">{name}": "</span> })}
                                <code>{value}</code>
                            </span>
                        }).collect_view()}</td>
                    </tr>
                }).collect_view()}
            </tbody>
        </table>
        <p class="pager">
            {newest.map(|href| view! { <A href=href>"« newest"</A> " " })}
            {older.map(|href| view! { <A href=href>"older »"</A> })}
        </p>
    }
}
