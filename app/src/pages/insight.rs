//! DORA metrics of an environment, or of an application's environments
//! together: four weekly charts, the numbers behind them, and what each
//! one means.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;
use leptos_router::hooks::use_params_map;

use crate::components::chart::BarChart;
use crate::components::errors::ErrorBox;
use crate::functions::insight::get_insight;
use crate::model::WeekRow;

const WEEKS: u32 = 12;

#[component]
pub fn InsightPage() -> impl IntoView {
    let params = use_params_map();
    let app = move || params.read().get("app").unwrap_or_default();
    // None: the application's environments together.
    let env = move || params.read().get("env");
    let weeks = Resource::new(
        move || (app(), env()),
        |(app, env)| get_insight(app, env.unwrap_or_default(), WEEKS.to_string()),
    );
    let scope = move || match env() {
        Some(env) => format!("{}/{env}", app()),
        None => format!("{} (every permanent environment)", app()),
    };
    view! {
        <Title text=move || format!("Insight · {}", scope()) />
        <h1>
            {move || match env() {
                Some(env) => view! {
                    <A href=format!("/apps/{}/envs/{env}", app())>{format!("{}/{env}", app())}</A>
                }
                .into_any(),
                None => view! { <span>{scope()}</span> }.into_any(),
            }}
            " · DORA metrics"
        </h1>
        <p class="muted insight-scope">
            {move || match env() {
                Some(_) => view! {
                    "This environment alone; "
                    <A href=format!("/apps/{}/insight", app())>"the whole application"</A>
                    " counts its permanent environments together."
                }
                .into_any(),
                None => view! {
                    "Its permanent environments together: deploys and failed deploys summed, medians over all of them; QA environments are left out."
                }
                .into_any(),
            }}
        </p>
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                match weeks.await {
                    Ok(rows) => view! { <Charts rows /> }.into_any(),
                    Err(e) => view! { <ErrorBox error=e /> }.into_any(),
                }
            })}
        </Suspense>
        <Definitions />
    }
}

#[component]
fn Charts(rows: Vec<WeekRow>) -> impl IntoView {
    let series = |pick: fn(&WeekRow) -> Option<f64>| -> Vec<(String, Option<f64>)> {
        rows.iter().map(|r| (r.week.clone(), pick(r))).collect()
    };
    let deployments = series(|r| Some(f64::from(r.deployments)));
    let lead = series(|r| r.lead_time_hours);
    let failures = series(|r| r.failure_rate_percent);
    let restore = series(|r| r.time_to_restore_minutes);
    let shown = |v: Option<f64>, unit: &str| {
        v.map(|v| format!("{v:.1} {unit}"))
            .unwrap_or_else(|| "—".to_owned())
    };
    view! {
        <section class="card charts">
            <BarChart title="Deployments per week" unit="deploys" values=deployments class="deployments" />
            <BarChart title="Lead time for changes (median)" unit="h" values=lead class="lead-time" />
            <BarChart title="Change failure rate" unit="%" values=failures class="failure-rate" />
            <BarChart title="Time to restore (median)" unit="min" values=restore class="time-to-restore" />
        </section>
        <section class="card">
            <h2>"The numbers"</h2>
            <table class="dora">
                <thead>
                    <tr>
                        <th>"Week of"</th>
                        <th>"Deploys"</th>
                        <th>"Lead time"</th>
                        <th>"Change failure rate"</th>
                        <th>"Time to restore"</th>
                    </tr>
                </thead>
                <tbody>
                    {rows.iter().rev().map(|r| view! {
                        <tr data-week=r.week.clone()>
                            <td>{r.week.clone()}</td>
                            <td>{r.deployments}</td>
                            <td>{shown(r.lead_time_hours, "h")}</td>
                            <td>{shown(r.failure_rate_percent, "%")}</td>
                            <td>{shown(r.time_to_restore_minutes, "min")}</td>
                        </tr>
                    }).collect_view()}
                </tbody>
            </table>
            <p class="muted">"Also as JSON and CSV: "<code>"GET /api/apps/<app>/envs/<env>/dora"</code>" (an environment) or "<code>"GET /api/apps/<app>/dora"</code>" (the application), and "<code>"…/dora.csv"</code>"."</p>
        </section>
    }
}

#[component]
fn Definitions() -> impl IntoView {
    view! {
        <section class="card definitions">
            <h2>"What they mean"</h2>
            <dl>
                <dt>"Deployments"</dt>
                <dd>"Deploys that went live in the week (Monday to Sunday, UTC). Rollbacks are not deploys."</dd>
                <dt>"Lead time"</dt>
                <dd>"From the build's commit time (as CI or the forge said) to its deploy going live; the week's median."</dd>
                <dt>"Change failure rate"</dt>
                <dd>"The share of the week's deploys followed — within 24 hours and before the next deploy went live — by a failed or interrupted deploy or rollback, or by a rollback."</dd>
                <dt>"Time to restore"</dt>
                <dd>"From a failure (a failed job's end, or a rolled-back deploy going live) to the next release going live; the week's median, by the week the failure began."</dd>
            </dl>
        </section>
    }
}
