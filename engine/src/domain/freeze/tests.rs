use chrono::{DateTime, NaiveTime, Utc, Weekday};

use super::{parse_zone, FreezePeriod, FreezeRule, FreezeSchedule};

fn utc(at: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(at)
        .expect("a test instant")
        .with_timezone(&Utc)
}

fn time(at: &str) -> NaiveTime {
    NaiveTime::parse_from_str(at, "%H:%M").expect("a test time")
}

fn zone(name: &str) -> chrono_tz::Tz {
    parse_zone(name).expect("a test zone")
}

fn weekly(days: &[Weekday], start: &str, end: &str, zone: &str) -> FreezeRule {
    let schedule = FreezeSchedule::Weekly {
        days: days.to_vec(),
        start: time(start),
        end: time(end),
    };
    FreezeRule::new("weekend", schedule, self::zone(zone), false).expect("a valid window")
}

fn period(start: &str, end: &str) -> FreezePeriod {
    FreezePeriod {
        start: utc(start),
        end: utc(end),
    }
}

#[test]
fn a_one_off_window_is_in_force_from_its_start_until_its_end() {
    let schedule = FreezeSchedule::Once {
        from: utc("2026-12-20T18:00:00Z"),
        to: utc("2027-01-04T08:00:00Z"),
    };
    let rule = FreezeRule::new("holidays", schedule, zone("UTC"), false).expect("valid");
    assert_eq!(rule.active_at(utc("2026-12-20T17:59:59Z")), None);
    assert_eq!(
        rule.next_after(utc("2026-12-20T17:59:59Z")),
        Some(period("2026-12-20T18:00:00Z", "2027-01-04T08:00:00Z"))
    );
    assert!(rule.active_at(utc("2026-12-20T18:00:00Z")).is_some());
    assert_eq!(rule.active_at(utc("2027-01-04T08:00:00Z")), None);
    assert_eq!(rule.next_after(utc("2027-01-04T08:00:00Z")), None);
}

#[test]
fn a_weekly_window_keeps_its_wall_clock_time_across_a_daylight_saving_change() {
    // Berlin moves from CET (UTC+1) to CEST (UTC+2) on 2026-03-29.
    let rule = weekly(&[Weekday::Fri], "18:00", "06:00", "Europe/Berlin");
    assert_eq!(
        rule.active_at(utc("2026-03-27T17:30:00Z")),
        Some(period("2026-03-27T17:00:00Z", "2026-03-28T05:00:00Z"))
    );
    // The same UTC instant a week later is 18:30 in Berlin: frozen; 16:30 UTC
    // the week before was 17:30 there: not.
    assert_eq!(rule.active_at(utc("2026-03-27T16:30:00Z")), None);
    assert_eq!(
        rule.active_at(utc("2026-04-03T16:30:00Z")),
        Some(period("2026-04-03T16:00:00Z", "2026-04-04T04:00:00Z"))
    );
    assert_eq!(
        rule.next_after(utc("2026-03-28T12:00:00Z")),
        Some(period("2026-04-03T16:00:00Z", "2026-04-04T04:00:00Z"))
    );
}

#[test]
fn a_window_over_the_skipped_hour_is_an_hour_shorter_in_absolute_time() {
    let rule = weekly(&[Weekday::Sun], "01:00", "04:00", "Europe/Berlin");
    assert_eq!(
        rule.active_at(utc("2026-03-29T01:30:00Z")),
        Some(period("2026-03-29T00:00:00Z", "2026-03-29T02:00:00Z"))
    );
    assert_eq!(rule.active_at(utc("2026-03-29T02:00:00Z")), None);
}

#[test]
fn a_start_inside_the_skipped_hour_begins_when_the_clock_resumes() {
    let rule = weekly(&[Weekday::Sun], "02:30", "05:00", "Europe/Berlin");
    assert_eq!(
        rule.next_after(utc("2026-03-28T12:00:00Z")),
        Some(period("2026-03-29T01:00:00Z", "2026-03-29T03:00:00Z"))
    );
}

#[test]
fn a_cron_window_starts_at_each_match_in_its_zone_and_lasts_its_minutes() {
    let schedule = FreezeSchedule::Cron {
        expression: "0 18 * * 5".into(),
        minutes: 60,
    };
    let rule = FreezeRule::new("friday", schedule, zone("America/New_York"), true).expect("valid");
    // New York moved to daylight time on 2026-03-08: 18:00 EST is 23:00 UTC, EDT 22:00.
    assert_eq!(
        rule.next_after(utc("2026-03-06T12:00:00Z")),
        Some(period("2026-03-06T23:00:00Z", "2026-03-07T00:00:00Z"))
    );
    assert_eq!(
        rule.next_after(utc("2026-03-07T12:00:00Z")),
        Some(period("2026-03-13T22:00:00Z", "2026-03-13T23:00:00Z"))
    );
    assert!(rule.active_at(utc("2026-03-13T22:59:00Z")).is_some());
    assert_eq!(rule.active_at(utc("2026-03-13T23:00:00Z")), None);
}

#[test]
fn overlapping_recurrences_read_as_one_period() {
    let schedule = FreezeSchedule::Cron {
        expression: "0 */2 * * *".into(),
        minutes: 150,
    };
    let rule = FreezeRule::new("busy", schedule, zone("UTC"), false).expect("valid");
    let active = rule.active_at(utc("2026-06-01T00:10:00Z")).expect("frozen");
    assert!(active.end >= utc("2026-06-02T00:00:00Z"), "{active:?}");
}

#[test]
fn bad_zones_crons_and_times_are_refused_naming_the_field() {
    let cron = |expression: &str, minutes| FreezeSchedule::Cron {
        expression: expression.into(),
        minutes,
    };
    let field =
        |rule: Result<FreezeRule, crate::error::InvalidInput>| rule.expect_err("refused").field;
    assert_eq!(
        parse_zone("Mars/Olympus").expect_err("refused").field,
        "time_zone"
    );
    assert_eq!(
        field(FreezeRule::new(
            "x",
            cron("0 18 * * 5 *", 60),
            zone("UTC"),
            false
        )),
        "cron"
    );
    assert_eq!(
        field(FreezeRule::new(
            "x",
            cron("0 25 * * 5", 60),
            zone("UTC"),
            false
        )),
        "cron"
    );
    assert_eq!(
        field(FreezeRule::new(
            "x",
            cron("$(reboot)", 60),
            zone("UTC"),
            false
        )),
        "cron"
    );
    assert_eq!(
        field(FreezeRule::new(
            "x",
            cron("0 18 * * 5", 0),
            zone("UTC"),
            false
        )),
        "minutes"
    );
    assert_eq!(
        field(FreezeRule::new(
            " ",
            cron("0 18 * * 5", 1),
            zone("UTC"),
            false
        )),
        "name"
    );
    let backwards = FreezeSchedule::Once {
        from: utc("2026-12-20T18:00:00Z"),
        to: utc("2026-12-20T18:00:00Z"),
    };
    assert_eq!(
        field(FreezeRule::new("x", backwards, zone("UTC"), false)),
        "to"
    );
    let no_days = FreezeSchedule::Weekly {
        days: vec![],
        start: time("18:00"),
        end: time("19:00"),
    };
    assert_eq!(
        field(FreezeRule::new("x", no_days, zone("UTC"), false)),
        "days"
    );
}
