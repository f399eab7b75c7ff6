//! Freeze windows: engine records → wire types, and the form → a request.

use chrono::{DateTime, Utc};
use engine::domain::{describe_instant, ActiveFreeze, FreezeWindow};
use engine::{FreezeKind, FreezeRequest, FreezeStatus};

use crate::error::AppError;
use crate::model::{FreezeForm, FreezeInfo, FreezeState, FreezeWindowInfo};

pub fn freeze_state(status: &FreezeStatus, now: DateTime<Utc>) -> FreezeState {
    FreezeState {
        active: status
            .active
            .as_ref()
            .map(|freeze| freeze_info(freeze, freeze.period.end, now)),
        upcoming: status
            .upcoming
            .as_ref()
            .map(|freeze| freeze_info(freeze, freeze.period.start, now)),
    }
}

/// `counts_to`: the instant its countdown reaches zero.
fn freeze_info(freeze: &ActiveFreeze, counts_to: DateTime<Utc>, now: DateTime<Utc>) -> FreezeInfo {
    let zone = freeze.window.rule.zone;
    FreezeInfo {
        window_id: freeze.window.id,
        name: freeze.window.rule.name.clone(),
        starts: describe_instant(freeze.period.start, zone),
        ends: describe_instant(freeze.period.end, zone),
        seconds_left: (counts_to - now).num_seconds().max(0),
        blocks_rollbacks: freeze.window.rule.blocks_rollbacks,
    }
}

pub fn freeze_window(window: &FreezeWindow) -> FreezeWindowInfo {
    FreezeWindowInfo {
        id: window.id,
        name: window.rule.name.clone(),
        scope: window.scope(),
        schedule: window.rule.schedule.describe(window.rule.zone),
        blocks_rollbacks: window.rule.blocks_rollbacks,
        created_by: window.created_by.clone(),
        created_at: super::when(window.created_at),
    }
}

/// The form as the engine's request, made on the page of `env`.
pub fn freeze_request(form: FreezeForm, env: &str) -> Result<FreezeRequest, AppError> {
    let kind = match form.kind.as_str() {
        "once" => FreezeKind::Once,
        "weekly" => FreezeKind::Weekly,
        "cron" => FreezeKind::Cron,
        _ => return Err(AppError::invalid("kind: choose once, weekly or cron")),
    };
    let given = |text: String| Some(text).filter(|t| !t.trim().is_empty());
    let minutes = match given(form.minutes) {
        None => None,
        Some(raw) => Some(crate::functions::context::number("minutes", &raw)?),
    };
    Ok(FreezeRequest {
        name: form.name,
        environment: (form.scope != "app").then(|| env.to_owned()),
        kind,
        from: given(form.from),
        to: given(form.to),
        days: given(form.days),
        start: given(form.start),
        end: given(form.end),
        cron: given(form.cron),
        minutes,
        time_zone: form.time_zone,
        blocks_rollbacks: form.blocks_rollbacks,
    })
}
