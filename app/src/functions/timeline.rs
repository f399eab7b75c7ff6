//! The release timeline page's data.

use leptos::prelude::*;

use crate::error::AppError;
use crate::model::TimelineInfo;

/// Columns of each lane: one mark per column at most.
pub const COLUMNS: u32 = 240;

/// Releases across environments (of `app`, or all when empty) over the
/// span `zoom` names (day, week or quarter; empty: week).
#[server(prefix = "/fn", endpoint = "get_timeline")]
pub async fn get_timeline(app: String, zoom: String) -> Result<TimelineInfo, AppError> {
    use super::context::{actor, engine};
    use super::convert::when;
    use crate::model::{LaneInfo, MarkInfo, TickInfo};
    use engine::domain::timeline::Zoom;
    let zoom = match zoom.trim() {
        "" => Zoom::Week,
        raw => Zoom::parse(raw).ok_or_else(|| {
            let shown: String = raw.chars().take(40).collect();
            AppError::invalid(format!("zoom: day, week or quarter, not {shown:?}"))
        })?,
    };
    let (engine, actor) = (engine()?, actor().await?);
    let app = app.trim().to_owned();
    let timeline = engine
        .timeline(
            &actor,
            (!app.is_empty()).then_some(app.as_str()),
            zoom,
            COLUMNS,
        )
        .await?;
    let applications = engine
        .applications(&actor)
        .await?
        .into_iter()
        .map(|a| a.name)
        .collect();
    let span = (timeline.to - timeline.from).num_seconds().max(1) as f64;
    let mut ticks = Vec::new();
    let step = zoom.tick_every();
    // Ticks on whole steps (midnights, three-hour marks), counted back from now.
    let first = match zoom {
        Zoom::Day => timeline.from.date_naive().and_hms_opt(0, 0, 0),
        _ => timeline
            .from
            .date_naive()
            .succ_opt()
            .and_then(|d| d.and_hms_opt(0, 0, 0)),
    }
    .map(|t| t.and_utc())
    .unwrap_or(timeline.from);
    let mut tick = first;
    while tick <= timeline.to {
        if tick >= timeline.from {
            ticks.push(TickInfo {
                at: (tick - timeline.from).num_seconds() as f64 / span,
                label: match zoom {
                    Zoom::Day => tick.format("%H:%M").to_string(),
                    Zoom::Week => tick.format("%a %d").to_string(),
                    Zoom::Quarter => tick.format("%b %d").to_string(),
                },
            });
        }
        tick += step;
    }
    Ok(TimelineInfo {
        zoom: zoom.as_str().to_owned(),
        app,
        applications,
        from: when(timeline.from),
        to: when(timeline.to),
        columns: timeline.columns,
        releases: timeline.releases,
        ticks,
        lanes: timeline
            .lanes
            .into_iter()
            .map(|lane| LaneInfo {
                marks: lane
                    .marks
                    .into_iter()
                    .map(|m| MarkInfo {
                        column: m.column,
                        outcome: m.outcome.as_str().to_owned(),
                        releases: m.releases,
                        job_id: m.job_id,
                        title: if m.releases == 1 {
                            format!(
                                "{}: {} at {} (job #{})",
                                lane.environment,
                                m.outcome.as_str().replace('_', " "),
                                when(m.at),
                                m.job_id
                            )
                        } else {
                            format!(
                                "{}: {} releases, the worst {}, the last at {} (job #{})",
                                lane.environment,
                                m.releases,
                                m.outcome.as_str().replace('_', " "),
                                when(m.at),
                                m.job_id
                            )
                        },
                    })
                    .collect(),
                environment: lane.environment,
            })
            .collect(),
    })
}
