//! Freeze windows: times when deploys are refused, one-off or recurring,
//! each told in its own IANA time zone. Pure: the caller says what time it is.

use std::str::FromStr;

use chrono::{
    DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc, Weekday,
};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::error::InvalidInput;

/// The longest a recurring window may last: a week (a longer one never ends).
const MAX_RECURRING_MINUTES: u32 = 7 * 24 * 60;
/// How many back-to-back recurrences are joined into one period.
const MAX_CHAINED: usize = 64;
const MAX_NAME: usize = 200;

/// When a window is in force.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum FreezeSchedule {
    /// From one instant to another.
    Once {
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    },
    /// On the given weekdays from `start` to `end` wall-clock time in the
    /// window's zone; an `end` at or before `start` is on the next day.
    Weekly {
        days: Vec<Weekday>,
        start: NaiveTime,
        end: NaiveTime,
    },
    /// Starting at each match of a five-field cron expression (in the
    /// window's zone), for `minutes`.
    Cron { expression: String, minutes: u32 },
}

/// One stretch of time a window freezes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct FreezePeriod {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

/// A freeze window as Slipway keeps it.
#[derive(Clone, Debug)]
pub struct FreezeWindow {
    pub id: i64,
    pub application_id: i64,
    pub application: String,
    /// The environment it freezes; `None`: every environment of the application.
    pub environment: Option<String>,
    pub rule: FreezeRule,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
}

impl FreezeWindow {
    /// Whether it freezes the environment named `env` of its application.
    pub fn covers(&self, env: &str) -> bool {
        self.environment.as_deref().is_none_or(|name| name == env)
    }

    /// What it covers, as messages name it: `app/env` or `app (all environments)`.
    pub fn scope(&self) -> String {
        match &self.environment {
            Some(env) => format!("{}/{env}", self.application),
            None => format!("{} (all environments)", self.application),
        }
    }
}

/// A window in force, with the period that is under way.
#[derive(Clone, Debug)]
pub struct ActiveFreeze {
    pub window: FreezeWindow,
    pub period: FreezePeriod,
}

impl ActiveFreeze {
    /// When it ends, in the window's zone and in UTC: "2026-12-24 18:00 Europe/Berlin (17:00 UTC)".
    pub fn ends(&self) -> String {
        describe_instant(self.period.end, self.window.rule.zone)
    }
}

/// An instant in a zone, with UTC beside it unless the zone is UTC.
pub fn describe_instant(at: DateTime<Utc>, zone: Tz) -> String {
    let local = at.with_timezone(&zone).format("%Y-%m-%d %H:%M");
    if zone == Tz::UTC {
        return format!("{local} UTC");
    }
    format!("{local} {zone} ({} UTC)", at.format("%Y-%m-%d %H:%M"))
}

/// Of the windows given, the one in force at `now` that ends last.
pub fn in_force(windows: &[FreezeWindow], now: DateTime<Utc>) -> Option<ActiveFreeze> {
    windows
        .iter()
        .filter_map(|window| {
            window.rule.active_at(now).map(|period| ActiveFreeze {
                window: window.clone(),
                period,
            })
        })
        .max_by_key(|active| active.period.end)
}

/// Of the windows given, the one that starts next after `now`.
pub fn upcoming(windows: &[FreezeWindow], now: DateTime<Utc>) -> Option<ActiveFreeze> {
    windows
        .iter()
        .filter_map(|window| {
            window.rule.next_after(now).map(|period| ActiveFreeze {
                window: window.clone(),
                period,
            })
        })
        .min_by_key(|next| next.period.start)
}

/// A window as it is defined, checked: the zone is known, the cron parses,
/// the times make sense.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FreezeRule {
    pub name: String,
    pub schedule: FreezeSchedule,
    pub zone: Tz,
    /// Rollbacks are refused too (by default they are allowed).
    pub blocks_rollbacks: bool,
}

impl FreezeRule {
    pub fn new(
        name: &str,
        schedule: FreezeSchedule,
        zone: Tz,
        blocks_rollbacks: bool,
    ) -> Result<Self, InvalidInput> {
        let name = name.trim();
        if name.is_empty() {
            return Err(InvalidInput::new(
                "name",
                "give the window a name or reason",
            ));
        }
        if name.chars().count() > MAX_NAME {
            return Err(InvalidInput::new(
                "name",
                format!("at most {MAX_NAME} characters"),
            ));
        }
        check_schedule(&schedule)?;
        Ok(Self {
            name: name.to_owned(),
            schedule,
            zone,
            blocks_rollbacks,
        })
    }

    /// The period in force at `now`, if any (back-to-back recurrences joined).
    pub fn active_at(&self, now: DateTime<Utc>) -> Option<FreezePeriod> {
        let started = self.latest_start_at_or_before(now)?;
        let period = self.period_from(started)?;
        (period.end > now).then(|| self.chain(period))
    }

    /// The next period that starts after `now`.
    pub fn next_after(&self, now: DateTime<Utc>) -> Option<FreezePeriod> {
        let start = self.first_start_after(now)?;
        self.period_from(start).map(|period| self.chain(period))
    }

    fn latest_start_at_or_before(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match &self.schedule {
            FreezeSchedule::Once { from, .. } => (*from <= now).then_some(*from),
            FreezeSchedule::Weekly { days, start, .. } => self
                .weekly_starts(days, *start, now, -1)
                .find(|start| *start <= now),
            FreezeSchedule::Cron { expression, .. } => cron(expression)
                .ok()?
                .find_previous_occurrence(&now.with_timezone(&self.zone), true)
                .ok()
                .map(|start| start.with_timezone(&Utc)),
        }
    }

    fn first_start_after(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match &self.schedule {
            FreezeSchedule::Once { from, .. } => (*from > now).then_some(*from),
            FreezeSchedule::Weekly { days, start, .. } => self
                .weekly_starts(days, *start, now, 1)
                .find(|start| *start > now),
            FreezeSchedule::Cron { expression, .. } => cron(expression)
                .ok()?
                .find_next_occurrence(&now.with_timezone(&self.zone), false)
                .ok()
                .map(|start| start.with_timezone(&Utc)),
        }
    }

    /// A weekly window's starts on the nine days from `now`'s local date,
    /// going back (`step` -1) or ahead (`step` 1).
    fn weekly_starts<'a>(
        &'a self,
        days: &'a [Weekday],
        start: NaiveTime,
        now: DateTime<Utc>,
        step: i64,
    ) -> impl Iterator<Item = DateTime<Utc>> + 'a {
        let today = now.with_timezone(&self.zone).date_naive();
        (0..=8)
            .filter_map(move |n| today.checked_add_signed(Duration::days(n * step)))
            .filter(|date| days.contains(&date.weekday()))
            .filter_map(move |date| self.local(date, start))
    }

    /// The period that begins at `start`, one of this window's starts.
    fn period_from(&self, start: DateTime<Utc>) -> Option<FreezePeriod> {
        let end = match &self.schedule {
            FreezeSchedule::Once { to, .. } => *to,
            FreezeSchedule::Weekly {
                start: from, end, ..
            } => {
                let local_start = start.with_timezone(&self.zone).date_naive();
                let day = if end <= from {
                    local_start.succ_opt()?
                } else {
                    local_start
                };
                self.local(day, *end)?
            }
            FreezeSchedule::Cron { minutes, .. } => start + Duration::minutes(i64::from(*minutes)),
        };
        Some(FreezePeriod { start, end })
    }

    /// Joins the recurrences that start before `period` ends.
    fn chain(&self, mut period: FreezePeriod) -> FreezePeriod {
        let mut last_start = period.start;
        for _ in 0..MAX_CHAINED {
            let Some(next) = self
                .first_start_after(last_start)
                .filter(|start| *start <= period.end)
                .and_then(|start| self.period_from(start))
            else {
                break;
            };
            last_start = next.start;
            period.end = period.end.max(next.end);
        }
        period
    }

    /// `date` at wall-clock `time` in the window's zone: the earlier of a
    /// repeated hour, the first minute after a skipped one.
    fn local(&self, date: NaiveDate, time: NaiveTime) -> Option<DateTime<Utc>> {
        let wall = NaiveDateTime::new(date, time);
        (0..=180)
            .map(|minutes| wall + Duration::minutes(minutes))
            .find_map(|wall| self.zone.from_local_datetime(&wall).earliest())
            .map(|at| at.with_timezone(&Utc))
    }
}

pub fn parse_zone(raw: &str) -> Result<Tz, InvalidInput> {
    Tz::from_str(raw.trim()).map_err(|_| {
        InvalidInput::new(
            "time_zone",
            format!(
                "{:?} is not an IANA time zone (such as Europe/Berlin or UTC)",
                shorten(raw)
            ),
        )
    })
}

fn check_schedule(schedule: &FreezeSchedule) -> Result<(), InvalidInput> {
    match schedule {
        FreezeSchedule::Once { from, to } if to <= from => Err(InvalidInput::new(
            "to",
            "the window must end after it starts",
        )),
        FreezeSchedule::Once { .. } => Ok(()),
        FreezeSchedule::Weekly { days, .. } if days.is_empty() => {
            Err(InvalidInput::new("days", "choose at least one weekday"))
        }
        FreezeSchedule::Weekly { .. } => Ok(()),
        FreezeSchedule::Cron {
            expression,
            minutes,
        } => {
            cron(expression)?;
            if *minutes == 0 || *minutes > MAX_RECURRING_MINUTES {
                return Err(InvalidInput::new(
                    "minutes",
                    format!("between 1 and {MAX_RECURRING_MINUTES} minutes"),
                ));
            }
            Ok(())
        }
    }
}

/// A five-field cron expression (minute hour day-of-month month weekday).
fn cron(expression: &str) -> Result<croner::Cron, InvalidInput> {
    let invalid = |why: String| {
        InvalidInput::new(
            "cron",
            format!(
                "{:?} is not a five-field cron expression (minute hour day month weekday): {why}",
                shorten(expression)
            ),
        )
    };
    if expression.split_whitespace().count() != 5 {
        return Err(invalid("it needs exactly five fields".into()));
    }
    croner::Cron::from_str(expression.trim()).map_err(|e| invalid(e.to_string()))
}

/// At most 60 characters of something a user sent, for an error message.
fn shorten(raw: &str) -> String {
    raw.chars().take(60).collect()
}

pub fn weekday_name(day: Weekday) -> &'static str {
    match day {
        Weekday::Mon => "Mon",
        Weekday::Tue => "Tue",
        Weekday::Wed => "Wed",
        Weekday::Thu => "Thu",
        Weekday::Fri => "Fri",
        Weekday::Sat => "Sat",
        Weekday::Sun => "Sun",
    }
}

impl FreezeSchedule {
    /// How the schedule reads on a page: "once 2026-12-20 18:00 → 2027-01-04 08:00",
    /// "Fri, Sat 18:00–06:00", "cron `0 18 * * 5` for 720 min".
    pub fn describe(&self, zone: Tz) -> String {
        let at = |t: &DateTime<Utc>| t.with_timezone(&zone).format("%Y-%m-%d %H:%M").to_string();
        match self {
            FreezeSchedule::Once { from, to } => format!("{} → {}", at(from), at(to)),
            FreezeSchedule::Weekly { days, start, end } => {
                let days: Vec<_> = days.iter().map(|day| weekday_name(*day)).collect();
                format!(
                    "every {} {}–{}",
                    days.join(", "),
                    start.format("%H:%M"),
                    end.format("%H:%M")
                )
            }
            FreezeSchedule::Cron {
                expression,
                minutes,
            } => format!("cron {expression} for {minutes} min"),
        }
    }
}

#[cfg(test)]
mod tests;
