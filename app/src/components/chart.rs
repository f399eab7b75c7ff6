//! A bar chart drawn as SVG on the server: it shows before hydration and
//! prints. One bar per value; a missing value leaves a gap with a dash.

use leptos::prelude::*;

const WIDTH: f64 = 480.0;
const HEIGHT: f64 = 140.0;
const TOP: f64 = 4.0;
const BOTTOM: f64 = 1.0;

#[component]
pub fn BarChart(
    /// What it shows, e.g. "Deployments per week".
    #[prop(into)]
    title: String,
    /// A unit for the tooltips, e.g. "h".
    #[prop(into)]
    unit: String,
    /// `(label, value)` per bar, in order.
    values: Vec<(String, Option<f64>)>,
    /// A class for the chart (which metric it is).
    #[prop(into)]
    class: String,
) -> impl IntoView {
    let max = values
        .iter()
        .filter_map(|(_, v)| *v)
        .fold(0.0_f64, f64::max)
        .max(1e-9);
    let slot = WIDTH / values.len().max(1) as f64;
    let plot = HEIGHT - TOP - BOTTOM;
    let first = values.first().map(|(l, _)| l.clone()).unwrap_or_default();
    let last = values.last().map(|(l, _)| l.clone()).unwrap_or_default();
    let top_label = format!("{} {unit}", round(max));
    let bars = values
        .into_iter()
        .enumerate()
        .map(|(i, (label, value))| {
            let x = i as f64 * slot + slot * 0.15;
            let width = slot * 0.7;
            match value {
                Some(value) => {
                    let height = (value / max * plot).max(if value > 0.0 { 1.5 } else { 0.0 });
                    let y = TOP + plot - height;
                    let tip = format!("week of {label}: {} {unit}", round(value));
                    view! {
                        <rect class="bar" data-week=label x=fmt(x) y=fmt(y) width=fmt(width) height=fmt(height)>
                            <title>{tip}</title>
                        </rect>
                    }
                    .into_any()
                }
                None => {
                    let y = TOP + plot - 1.0;
                    view! {
                        <rect class="gap" data-week=label x=fmt(x) y=fmt(y) width=fmt(width) height="1">
                            <title>{format!("week of {label}: none")}</title>
                        </rect>
                    }
                    .into_any()
                }
            }
        })
        .collect_view();
    let view_box = format!("0 0 {WIDTH} {HEIGHT}");
    let class = format!("chart {class}");
    let baseline = fmt(TOP + plot);
    view! {
        <figure class=class>
            <figcaption>{title.clone()}" "<span class="muted top">"up to "{top_label}</span></figcaption>
            <svg viewBox=view_box role="img" aria-label=title preserveAspectRatio="none">
                <line class="axis" x1="0" x2=fmt(WIDTH) y1=baseline.clone() y2=baseline />
                {bars}
            </svg>
            <div class="span muted"><span>{first}</span><span>{last}</span></div>
        </figure>
    }
}

fn fmt(value: f64) -> String {
    format!("{value:.1}")
}

fn round(value: f64) -> String {
    if value >= 10.0 {
        format!("{value:.0}")
    } else {
        format!("{value:.1}")
    }
}
