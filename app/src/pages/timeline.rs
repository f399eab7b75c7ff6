//! The release timeline: environments down, time across, each release a
//! mark coloured by how it ended, linking to its job. Drawn as SVG on the
//! server, so it shows before hydration and prints; zoom and the
//! application filter are plain links and a GET form.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::components::errors::ErrorBox;
use crate::functions::timeline::get_timeline;
use crate::model::{LaneInfo, TimelineInfo};

const WIDTH: f64 = 1000.0;
const LABEL: f64 = 190.0;
const AXIS: f64 = 22.0;
const LANE: f64 = 24.0;

/// Outcomes in the order the legend lists them.
const OUTCOMES: [(&str, &str); 6] = [
    ("live", "live"),
    ("superseded", "superseded"),
    ("failed", "failed"),
    ("rolled_back", "rolled back"),
    ("interrupted", "interrupted"),
    ("running", "running"),
];

#[component]
pub fn TimelinePage() -> impl IntoView {
    let query = use_query_map();
    let app = move || query.read().get("app").unwrap_or_default();
    let zoom = move || query.read().get("zoom").unwrap_or_default();
    let timeline = Resource::new(
        move || (app(), zoom()),
        |(app, zoom)| get_timeline(app, zoom),
    );
    view! {
        <Title text="Release timeline" />
        <h1>"Release timeline"</h1>
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                match timeline.await {
                    Ok(info) => view! { <TimelineView info /> }.into_any(),
                    Err(e) => view! { <ErrorBox error=e /> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn TimelineView(info: TimelineInfo) -> impl IntoView {
    let TimelineInfo {
        zoom,
        app,
        applications,
        from,
        to,
        columns,
        lanes,
        ticks,
        releases,
    } = info;
    let zoom_link = |to_zoom: &'static str| {
        let mut href = format!("/timeline?zoom={to_zoom}");
        if !app.is_empty() {
            href.push_str(&format!("&app={}", urlencoding(&app)));
        }
        let class = if zoom == to_zoom { "tab active" } else { "tab" };
        view! { <a href=href class=class data-zoom=to_zoom>{to_zoom}</a> }
    };
    let height = AXIS + LANE * lanes.len().max(1) as f64 + 4.0;
    let plot = WIDTH - LABEL;
    let column = plot / f64::from(columns.max(1));
    let axis = ticks
        .into_iter()
        .map(|t| {
            let x = LABEL + t.at * plot;
            view! {
                <line class="tick" x1=fmt(x) x2=fmt(x) y1=fmt(AXIS - 4.0) y2=fmt(height) />
                <text class="tick-label" x=fmt(x + 2.0) y="14">{t.label}</text>
            }
        })
        .collect_view();
    let empty = lanes.is_empty();
    let rows = lanes
        .into_iter()
        .enumerate()
        .map(|(i, lane)| view! { <LaneRow lane y=AXIS + LANE * i as f64 column /> })
        .collect_view();
    view! {
        <section class="card timeline">
            <div class="timeline-controls">
                <div class="tabs">{zoom_link("day")}{zoom_link("week")}{zoom_link("quarter")}</div>
                <form method="get" action="/timeline" class="inline-form">
                    <input type="hidden" name="zoom" value=zoom.clone() />
                    <select name="app" id="timeline-app">
                        <option value="" selected=app.is_empty()>"All applications"</option>
                        {applications.into_iter().map(|name| {
                            let selected = name == app;
                            view! { <option value=name.clone() selected=selected>{name.clone()}</option> }
                        }).collect_view()}
                    </select>
                    <button type="submit">"Show"</button>
                </form>
            </div>
            <p class="muted">{format!("{releases} releases from {from} to {to}.")}</p>
            <svg class="timeline-chart" viewBox=format!("0 0 {WIDTH} {}", fmt(height)) role="img"
                aria-label="Releases per environment over time" data-releases=releases>
                {axis}
                {rows}
            </svg>
            {empty.then(|| view! { <p class="muted">"No releases in this span."</p> })}
            <ul class="legend">
                {OUTCOMES.into_iter().map(|(outcome, label)| view! {
                    <li><span class=format!("swatch outcome-{outcome}")></span>{label}</li>
                }).collect_view()}
            </ul>
        </section>
    }
}

#[component]
fn LaneRow(lane: LaneInfo, y: f64, column: f64) -> impl IntoView {
    let LaneInfo { environment, marks } = lane;
    let width = column.max(2.0);
    let marks = marks
        .into_iter()
        .map(|m| {
            let x = LABEL + f64::from(m.column) * column;
            let href = format!("/jobs/{}", m.job_id);
            let class = format!("mark outcome-{}", m.outcome);
            view! {
                <a href=href>
                    <rect class=class data-outcome=m.outcome.clone() data-job=m.job_id data-releases=m.releases
                        x=fmt(x) y=fmt(y + 4.0) width=fmt(width) height=fmt(LANE - 8.0) rx="1.5">
                        <title>{m.title}</title>
                    </rect>
                </a>
            }
        })
        .collect_view();
    let label = environment.clone();
    view! {
        <g class="lane" data-environment=environment>
            <line class="lane-line" x1=fmt(LABEL) x2=fmt(WIDTH) y1=fmt(y + LANE / 2.0) y2=fmt(y + LANE / 2.0) />
            <text class="lane-label" x="4" y=fmt(y + LANE / 2.0 + 4.0)>{label}</text>
            {marks}
        </g>
    }
}

fn fmt(value: f64) -> String {
    format!("{value:.1}")
}

/// An application name in a query string (names are letters, digits and
/// dashes; anything else is escaped anyway).
fn urlencoding(raw: &str) -> String {
    raw.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b == b'-' || b == b'_' {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}
