//! DORA metrics for the Insight page.

use leptos::prelude::*;

use crate::error::AppError;
use crate::model::WeekRow;

/// The last `weeks` weeks of `app/env` (a blank `env`: of the
/// application's permanent environments together), oldest first.
#[server(prefix = "/fn", endpoint = "get_insight")]
pub async fn get_insight(
    app: String,
    env: String,
    weeks: String,
) -> Result<Vec<WeekRow>, AppError> {
    use super::context::{actor, engine, number};
    let weeks: u32 = number("weeks", &weeks)?;
    let (engine, actor) = (engine()?, actor().await?);
    let rows = match env.trim() {
        "" => engine.dora_of_application(&actor, &app, weeks, 24).await?,
        env => engine.dora(&actor, &app, env, weeks, 24).await?,
    };
    Ok(rows
        .into_iter()
        .map(|w| WeekRow {
            week: w.week_start.format("%Y-%m-%d").to_string(),
            deployments: w.deployments,
            lead_time_hours: w.lead_time_secs.map(|s| s as f64 / 3600.0),
            failure_rate_percent: w.change_failure_rate.map(|r| r * 100.0),
            time_to_restore_minutes: w.time_to_restore_secs.map(|s| s as f64 / 60.0),
        })
        .collect())
}
