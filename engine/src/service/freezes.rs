//! Freeze windows: admins make and remove them; everyone reads what is in
//! force and what comes next. Deploys meet them as they are queued.

use chrono::{DateTime, NaiveDateTime, NaiveTime, TimeZone, Utc, Weekday};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::auth::{Actor, Permission};
use crate::domain::{self, ActiveFreeze, FreezeRule, FreezeSchedule, FreezeWindow};
use crate::error::{InvalidInput, Result};
use crate::time;

use super::Engine;

const MAX_OVERRIDE_REASON: usize = 500;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum FreezeKind {
    Once,
    Weekly,
    Cron,
}

/// A freeze window to make, as it arrives from the form or the API. Times
/// without an offset are wall-clock times in `time_zone`.
#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FreezeRequest {
    /// What people see when a deploy is refused: the reason for the freeze.
    pub name: String,
    /// The environment it freezes; none: every environment of the application.
    #[serde(default)]
    pub environment: Option<String>,
    pub kind: FreezeKind,
    /// `once`: from, e.g. `2026-12-20T18:00` (in `time_zone`) or RFC 3339.
    #[serde(default)]
    pub from: Option<String>,
    /// `once`: to.
    #[serde(default)]
    pub to: Option<String>,
    /// `weekly`: days, e.g. `Sat,Sun` or `Mon-Fri`.
    #[serde(default)]
    pub days: Option<String>,
    /// `weekly`: start time `HH:MM`.
    #[serde(default)]
    pub start: Option<String>,
    /// `weekly`: end time `HH:MM`; at or before start: the next day.
    #[serde(default)]
    pub end: Option<String>,
    /// `cron`: five fields (minute hour day month weekday), e.g. `0 18 * * 5`.
    #[serde(default)]
    pub cron: Option<String>,
    /// `cron`: how long each freeze lasts, in minutes.
    #[serde(default)]
    pub minutes: Option<u32>,
    /// An IANA zone, e.g. `Europe/Berlin`.
    pub time_zone: String,
    /// Refuse rollbacks too (by default they go through).
    #[serde(default)]
    pub blocks_rollbacks: bool,
}

/// What is in force over an environment now, and what comes next.
#[derive(Clone, Debug, Default)]
pub struct FreezeStatus {
    pub active: Option<ActiveFreeze>,
    pub upcoming: Option<ActiveFreeze>,
}

impl FreezeStatus {
    pub fn of(windows: &[FreezeWindow], now: DateTime<Utc>) -> Self {
        let active = domain::in_force(windows, now);
        let after = active.as_ref().map_or(now, |active| active.period.end);
        Self {
            upcoming: domain::upcoming(windows, after),
            active,
        }
    }
}

impl FreezeRequest {
    /// The window it asks for, checked.
    pub fn rule(&self) -> Result<FreezeRule, InvalidInput> {
        let zone = domain::parse_zone(&self.time_zone)?;
        let schedule = match self.kind {
            FreezeKind::Once => FreezeSchedule::Once {
                from: instant("from", self.from.as_deref(), zone)?,
                to: instant("to", self.to.as_deref(), zone)?,
            },
            FreezeKind::Weekly => FreezeSchedule::Weekly {
                days: weekdays(self.days.as_deref().unwrap_or_default())?,
                start: clock("start", self.start.as_deref())?,
                end: clock("end", self.end.as_deref())?,
            },
            FreezeKind::Cron => FreezeSchedule::Cron {
                expression: required("cron", self.cron.as_deref())?.to_owned(),
                minutes: self.minutes.ok_or_else(|| {
                    InvalidInput::new("minutes", "say how long each freeze lasts")
                })?,
            },
        };
        FreezeRule::new(&self.name, schedule, zone, self.blocks_rollbacks)
    }
}

impl Engine {
    /// Every freeze window of an application, its environments' included.
    pub async fn freeze_windows(&self, actor: &Actor, app: &str) -> Result<Vec<FreezeWindow>> {
        actor.require(Permission::Read)?;
        let app = self.find_application(app).await?;
        self.store.freeze_windows(app.id).await
    }

    /// What freezes an environment now and next.
    pub async fn freeze_status(&self, actor: &Actor, app: &str, env: &str) -> Result<FreezeStatus> {
        actor.require(Permission::Read)?;
        let env = self.find_environment(app, env).await?;
        let windows = self.store.freeze_windows_over(&env).await?;
        Ok(FreezeStatus::of(&windows, time::now()))
    }

    pub async fn create_freeze_window(
        &self,
        actor: &Actor,
        app: &str,
        request: &FreezeRequest,
    ) -> Result<FreezeWindow> {
        actor.require(Permission::ManageFreezes)?;
        actor.require_reach_application(app)?;
        let rule = request.rule()?;
        let application = self.find_application(app).await?;
        let env = match request.environment.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(env) => Some(self.find_environment(app, env).await?),
        };
        self.store
            .create_freeze_window(&actor.login, &application, env.as_ref(), &rule)
            .await
    }

    pub async fn delete_freeze_window(
        &self,
        actor: &Actor,
        app: &str,
        id: i64,
    ) -> Result<FreezeWindow> {
        actor.require(Permission::ManageFreezes)?;
        actor.require_reach_application(app)?;
        let app = self.find_application(app).await?;
        self.store
            .delete_freeze_window(&actor.login, &app, id)
            .await
    }
}

/// An admin's reason to go through a freeze window: only admins may give
/// one, and it must say something. `None`: no override asked for.
pub(super) fn override_reason(actor: &Actor, reason: Option<&str>) -> Result<Option<String>> {
    let Some(reason) = reason else {
        return Ok(None);
    };
    actor.require(Permission::OverrideFreeze)?;
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(InvalidInput::new(
            "freeze_override",
            "give a reason to deploy through the freeze",
        )
        .into());
    }
    if reason.chars().count() > MAX_OVERRIDE_REASON {
        return Err(InvalidInput::new(
            "freeze_override",
            format!("at most {MAX_OVERRIDE_REASON} characters"),
        )
        .into());
    }
    Ok(Some(reason.to_owned()))
}

fn required<'a>(field: &'static str, raw: Option<&'a str>) -> Result<&'a str, InvalidInput> {
    match raw.map(str::trim) {
        Some(value) if !value.is_empty() => Ok(value),
        _ => Err(InvalidInput::new(field, "required for this kind of window")),
    }
}

/// RFC 3339, or a wall-clock `YYYY-MM-DDTHH:MM[:SS]` in `zone`.
fn instant(
    field: &'static str,
    raw: Option<&str>,
    zone: Tz,
) -> Result<DateTime<Utc>, InvalidInput> {
    let raw = required(field, raw)?;
    if let Ok(at) = DateTime::parse_from_rfc3339(raw) {
        return Ok(at.with_timezone(&Utc));
    }
    let wall = ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"]
        .iter()
        .find_map(|format| NaiveDateTime::parse_from_str(raw, format).ok())
        .ok_or_else(|| {
            InvalidInput::new(
                field,
                "a date and time such as 2026-12-20T18:00 (or RFC 3339)",
            )
        })?;
    zone.from_local_datetime(&wall)
        .earliest()
        .map(|at| at.with_timezone(&Utc))
        .ok_or_else(|| {
            InvalidInput::new(
                field,
                format!("{wall} does not exist in {zone} (the clocks skip it)"),
            )
        })
}

fn clock(field: &'static str, raw: Option<&str>) -> Result<NaiveTime, InvalidInput> {
    let raw = required(field, raw)?;
    ["%H:%M", "%H:%M:%S"]
        .iter()
        .find_map(|format| NaiveTime::parse_from_str(raw, format).ok())
        .ok_or_else(|| InvalidInput::new(field, "a time of day such as 18:00"))
}

/// `Sat,Sun`, `Mon-Fri`, `mon, wed-fri`.
fn weekdays(raw: &str) -> Result<Vec<Weekday>, InvalidInput> {
    let invalid = || {
        InvalidInput::new(
            "days",
            "weekdays such as Sat,Sun or Mon-Fri (Mon Tue Wed Thu Fri Sat Sun)",
        )
    };
    let day = |name: &str| name.trim().parse::<Weekday>().map_err(|_| invalid());
    let mut days = Vec::new();
    for part in raw.split(',').filter(|part| !part.trim().is_empty()) {
        match part.split_once('-') {
            None => days.push(day(part)?),
            Some((first, last)) => {
                let (mut at, last) = (day(first)?, day(last)?);
                days.push(at);
                while at != last {
                    at = at.succ();
                    days.push(at);
                }
            }
        }
    }
    days.sort_by_key(|day| day.num_days_from_monday());
    days.dedup();
    if days.is_empty() {
        return Err(invalid());
    }
    Ok(days)
}

#[cfg(test)]
mod tests;
