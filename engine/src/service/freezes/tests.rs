use chrono::Weekday;

use super::{weekdays, FreezeKind, FreezeRequest};
use crate::domain::FreezeSchedule;

fn request(kind: FreezeKind) -> FreezeRequest {
    FreezeRequest {
        name: "release party".into(),
        environment: None,
        kind,
        from: None,
        to: None,
        days: None,
        start: None,
        end: None,
        cron: None,
        minutes: None,
        time_zone: "Europe/Berlin".into(),
        blocks_rollbacks: false,
    }
}

#[test]
fn weekdays_read_as_lists_and_ranges() {
    use Weekday::*;
    assert_eq!(weekdays("Sat,Sun").expect("valid"), vec![Sat, Sun]);
    assert_eq!(
        weekdays("mon-wed, fri").expect("valid"),
        vec![Mon, Tue, Wed, Fri]
    );
    assert_eq!(
        weekdays("Fri-Mon").expect("valid"),
        vec![Mon, Fri, Sat, Sun]
    );
    assert!(weekdays("Funday").is_err());
    assert!(weekdays("").is_err());
}

#[test]
fn a_one_off_window_reads_wall_clock_times_in_its_zone() {
    let mut once = request(FreezeKind::Once);
    once.from = Some("2026-12-20T18:00".into());
    once.to = Some("2027-01-04T08:00:00Z".into());
    let rule = once.rule().expect("valid");
    let FreezeSchedule::Once { from, to } = rule.schedule else {
        panic!("a one-off window");
    };
    assert_eq!(from.to_rfc3339(), "2026-12-20T17:00:00+00:00");
    assert_eq!(to.to_rfc3339(), "2027-01-04T08:00:00+00:00");
}

#[test]
fn missing_or_malformed_parts_name_their_field() {
    let field = |request: FreezeRequest| request.rule().expect_err("refused").field;
    assert_eq!(field(request(FreezeKind::Once)), "from");
    let mut skipped = request(FreezeKind::Once);
    skipped.from = Some("2026-03-29T02:30".into());
    skipped.to = Some("2026-03-29T05:00".into());
    assert_eq!(field(skipped), "from");
    let mut weekly = request(FreezeKind::Weekly);
    weekly.days = Some("Sat".into());
    weekly.start = Some("25:00".into());
    assert_eq!(field(weekly), "start");
    let mut cron = request(FreezeKind::Cron);
    cron.cron = Some("0 18 * * 5".into());
    assert_eq!(field(cron), "minutes");
    let mut zone = request(FreezeKind::Cron);
    zone.time_zone = "<script>".into();
    assert_eq!(field(zone), "time_zone");
}
