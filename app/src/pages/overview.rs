use leptos::prelude::*;

use crate::components::when::When;
use leptos_meta::Title;
use leptos_router::components::A;

use crate::components::allowed::IfAllowed;
use crate::components::changes::ChangedNotice;
use crate::components::errors::{ActionError, ErrorBox};
use crate::components::freeze::FreezeBadge;
use crate::components::state::StateBadge;
use crate::functions::overview::{get_overview, CreateApplication};
use crate::model::{short_sha, AppOverview, EnvSummary};

#[component]
pub fn OverviewPage() -> impl IntoView {
    let create_app = ServerAction::<CreateApplication>::new();
    let refresh = RwSignal::new(0_usize);
    let overview = Resource::new(
        move || create_app.version().get() + refresh.get(),
        |_| get_overview(),
    );
    // The overview does not say what it read after: the first answer is.
    let nothing_shown: Signal<Option<i64>> = Signal::stored(None);
    view! {
        <Title text="Environments" />
        <h1>"Environments"</h1>
        <ChangedNotice environment=None shown=nothing_shown refresh auto=true />
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                match overview.await {
                    Ok(apps) if apps.is_empty() => view! { <p>"No applications yet."</p> }.into_any(),
                    Ok(apps) => apps.into_iter().map(|app| view! { <AppSection app /> }).collect_view().into_any(),
                    Err(e) => view! { <ErrorBox error=e /> }.into_any(),
                }
            })}
        </Suspense>
        <IfAllowed allows=|me| me.may_manage_applications>
        <details class="card">
            <summary>"New application"</summary>
            <ActionForm action=create_app attr:class="inline-form">
                <label>"Name " <input name="name" required placeholder="shop" /></label>
                <label>"Repository URL " <input name="repository_url" placeholder="https://git.example/shop.git" /></label>
                <button type="submit">"Create application"</button>
            </ActionForm>
            <ActionError value=create_app.value() />
        </details>
        </IfAllowed>
    }
}

#[component]
fn AppSection(app: AppOverview) -> impl IntoView {
    let new_env = format!("/apps/{}/new-env", app.name);
    let builds = format!("/builds?app={}", app.name);
    let insight = format!("/apps/{}/insight", app.name);
    view! {
        <section class="card app" data-app=app.name.clone()>
            <h2>
                {app.name.clone()}
                <small>
                    <A href=builds>"builds"</A>
                    " · "
                    <A href=insight attr:class="app-insight">"DORA metrics"</A>
                    " · "
                    <A href=new_env>"new environment"</A>
                </small>
            </h2>
            <table class="envs">
                <thead>
                    <tr>
                        <th>"Environment"</th>
                        <th>"Live build"</th>
                        <th>"Released by"</th>
                        <th>"When"</th>
                        <th>"Last job"</th>
                        <th>"Lock · freeze"</th>
                    </tr>
                </thead>
                <tbody>
                    {app.environments.into_iter().map(|env| view! { <EnvRow env /> }).collect_view()}
                </tbody>
            </table>
        </section>
    }
}

#[component]
fn EnvRow(env: EnvSummary) -> impl IntoView {
    let href = format!("/apps/{}/envs/{}", env.app, env.name);
    let name = env.name.clone();
    let row_id = env.name.clone();
    view! {
        <tr data-env=row_id>
            <td>
                <A href=href>{name}</A>
                " "
                <span class="muted">{env.backend.clone()}</span>
                {env.protected.then(|| view! { " " <span class="badge protected">"protected"</span> })}
            </td>
            {match env.live.clone() {
                Some(live) => view! {
                    <td>
                        <code>{short_sha(&live.commit_sha).to_owned()}</code>
                        " "
                        <span class="branch">{live.branch.clone()}</span>
                        " "
                        <span class="muted">{live.message.clone()}</span>
                    </td>
                    <td>{live.released_by.clone()}</td>
                    <td>{live.released_at.clone().map(|at| view! { <When at /> })}</td>
                }.into_any(),
                None => view! { <td class="muted">"nothing released yet"</td><td></td><td></td> }.into_any(),
            }}
            <td>
                {env.last_job.clone().map(|job| {
                    let href = format!("/jobs/{}", job.id);
                    view! { <A href=href>"#"{job.id}" "{job.kind.clone()}</A> " " <StateBadge state=job.state.clone() /> }
                })}
            </td>
            <td>
                {env.lock.clone().map(|lock| view! {
                    <span class="badge locked" title=lock.reason.clone()>
                        "🔒 "{lock.locked_by.clone()}" since "{lock.since.clone()}": "{lock.reason.clone()}
                    </span>
                })}
                " "
                <FreezeBadge freeze=env.freeze.clone() />
                {env.pending.clone().map(|(id, why)| view! {
                    " " <A href="/requests" attr:class="badge pending-request" attr:title=why>"⏳ request #"{id}" pending"</A>
                })}
            </td>
        </tr>
    }
}
