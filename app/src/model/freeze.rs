//! Freeze windows as the pages show them, and the form that makes one.

use serde::{Deserialize, Serialize};

/// A freeze period in force or coming, as the pages show it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FreezeInfo {
    pub window_id: i64,
    /// The window's name: the reason deploys are refused.
    pub name: String,
    /// When the period starts and ends, in the window's zone (and UTC).
    pub starts: String,
    pub ends: String,
    /// Seconds from when the page was read until it ends (in force) or
    /// starts (coming): what the countdown counts down from.
    pub seconds_left: i64,
    pub blocks_rollbacks: bool,
}

/// What freezes an environment now, and what comes next.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FreezeState {
    pub active: Option<FreezeInfo>,
    pub upcoming: Option<FreezeInfo>,
}

/// A freeze window over an environment, as its page lists it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FreezeWindowInfo {
    pub id: i64,
    pub name: String,
    /// `app/env`, or `app (all environments)`.
    pub scope: String,
    /// The schedule in words, in its zone.
    pub schedule: String,
    pub blocks_rollbacks: bool,
    pub created_by: String,
    pub created_at: String,
}

/// The new-freeze-window form, every field as typed. Which fields count
/// depends on `kind`; the engine reads only those.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FreezeForm {
    pub name: String,
    /// "env": the environment whose page it is made on; "app": every
    /// environment of the application.
    #[serde(default)]
    pub scope: String,
    /// "once", "weekly" or "cron".
    pub kind: String,
    #[serde(default)]
    pub from: String,
    #[serde(default)]
    pub to: String,
    #[serde(default)]
    pub days: String,
    #[serde(default)]
    pub start: String,
    #[serde(default)]
    pub end: String,
    #[serde(default)]
    pub cron: String,
    #[serde(default)]
    pub minutes: String,
    pub time_zone: String,
    #[serde(default, with = "super::env_form::checkbox")]
    pub blocks_rollbacks: bool,
}

/// "3d 4h", "2h 13m", "4m 05s": how long until `seconds` from now.
pub fn countdown(seconds: i64) -> String {
    let s = seconds.max(0);
    let (days, hours, minutes, secs) = (s / 86_400, s / 3_600 % 24, s / 60 % 60, s % 60);
    match () {
        _ if days > 0 => format!("{days}d {hours}h"),
        _ if hours > 0 => format!("{hours}h {minutes:02}m"),
        _ => format!("{minutes}m {secs:02}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::countdown;

    #[test]
    fn a_countdown_shows_the_two_largest_units() {
        assert_eq!(countdown(3 * 86_400 + 4 * 3_600 + 59), "3d 4h");
        assert_eq!(countdown(2 * 3_600 + 13 * 60 + 7), "2h 13m");
        assert_eq!(countdown(4 * 60 + 5), "4m 05s");
        assert_eq!(countdown(-3), "0m 00s");
    }
}
