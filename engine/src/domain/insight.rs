//! DORA metrics from an environment's release history, week by week. Pure:
//! the caller reads the facts; this counts them.
//!
//! Definitions (stated on the page, tested here by hand-computed weeks):
//! - **Deployment frequency**: deploys that went live (rollbacks are not
//!   deploys), by the week they went live.
//! - **Lead time for changes**: from the build's commit time to the moment
//!   its deploy went live; the week's median.
//! - **Change failure rate**: of the week's deploys, the share followed —
//!   within the failure window and before the next deploy went live — by a
//!   failed or interrupted deploy or rollback, or by a rollback.
//! - **Time to restore**: from a failure (a failed or interrupted job's end,
//!   or a deploy later rolled back: its going live) to the next release that
//!   went live there; the week's median, by the week the failure began.

use chrono::{DateTime, Datelike, Duration, NaiveTime, Utc};
use serde::Serialize;

/// A release that went live.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LiveRelease {
    pub released_at: DateTime<Utc>,
    /// When the build's commit was made, if known.
    pub committed_at: Option<DateTime<Utc>>,
    /// A rollback (or restore), not a deploy.
    pub rollback: bool,
}

/// The facts of one environment over a period, oldest first.
#[derive(Clone, Debug, Default)]
pub struct History {
    pub releases: Vec<LiveRelease>,
    /// When deploy or rollback jobs there failed or were interrupted.
    pub failures: Vec<DateTime<Utc>>,
}

/// One week's figures (weeks start on Monday, UTC).
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct WeekMetrics {
    pub week_start: DateTime<Utc>,
    pub deployments: u32,
    /// Median, in seconds; none without a deploy whose commit time is known.
    pub lead_time_secs: Option<i64>,
    /// Deploys followed by a failure; none without a deploy.
    pub failed_deployments: u32,
    pub change_failure_rate: Option<f64>,
    /// Median, in seconds; none without a failure restored.
    pub time_to_restore_secs: Option<i64>,
}

/// The Monday 00:00 UTC that starts `at`'s week.
pub fn week_of(at: DateTime<Utc>) -> DateTime<Utc> {
    let day = at.date_naive() - Duration::days(i64::from(at.weekday().num_days_from_monday()));
    day.and_time(NaiveTime::MIN).and_utc()
}

/// The figures for every week from `from`'s to `to`'s, oldest first.
/// `failure_window`: how long after a deploy a failure counts against it.
///
/// Sorts once and then finds each week's releases, each deploy's next
/// deploy and each failure's restore by binary search: O(n log n), so a
/// quarter of a busy environment's history costs milliseconds.
pub fn weekly(
    history: &History,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    failure_window: Duration,
) -> Vec<WeekMetrics> {
    let mut releases = history.releases.clone();
    releases.sort_by_key(|r| r.released_at);
    let mut failures = history.failures.clone();
    failures.sort_unstable();
    let rollbacks: Vec<DateTime<Utc>> = releases
        .iter()
        .filter(|r| r.rollback)
        .map(|r| r.released_at)
        .collect();
    let next_deploys = next_deploy_times(&releases);
    let failed: Vec<bool> = releases
        .iter()
        .zip(&next_deploys)
        .map(|(r, &next)| {
            !r.rollback && followed_by_failure(r, next, &failures, &rollbacks, failure_window)
        })
        .collect();
    let mut incidents = incidents(&releases, &failures);
    incidents.sort_unstable_by_key(|&(began, _)| began);

    let mut weeks = Vec::new();
    let mut start = week_of(from);
    while start <= to {
        let end = start + Duration::weeks(1);
        let first = releases.partition_point(|r| r.released_at < start);
        let last = releases.partition_point(|r| r.released_at < end);
        let deploys: Vec<usize> = (first..last).filter(|&i| !releases[i].rollback).collect();
        let leads: Vec<i64> = deploys
            .iter()
            .filter_map(|&i| {
                let r = &releases[i];
                r.committed_at
                    .map(|c| (r.released_at - c).num_seconds().max(0))
            })
            .collect();
        let failed_deploys = deploys.iter().filter(|&&i| failed[i]).count() as u32;
        let first = incidents.partition_point(|&(began, _)| began < start);
        let last = incidents.partition_point(|&(began, _)| began < end);
        let restores: Vec<i64> = incidents[first..last]
            .iter()
            .map(|&(began, restored)| (restored - began).num_seconds())
            .collect();
        weeks.push(WeekMetrics {
            week_start: start,
            deployments: deploys.len() as u32,
            lead_time_secs: median(leads),
            failed_deployments: failed_deploys,
            change_failure_rate: (!deploys.is_empty())
                .then(|| f64::from(failed_deploys) / deploys.len() as f64),
            time_to_restore_secs: median(restores),
        });
        start = end;
    }
    weeks
}

/// For each release (sorted), when the next deploy after it went live.
fn next_deploy_times(releases: &[LiveRelease]) -> Vec<Option<DateTime<Utc>>> {
    let mut next = None;
    let mut out = vec![None; releases.len()];
    for (i, release) in releases.iter().enumerate().rev() {
        out[i] = next;
        if !release.rollback {
            next = Some(release.released_at);
        }
    }
    out
}

/// Whether `deploy` was followed, within `window` and before the next
/// deploy went live, by a failure or a rollback (both lists sorted).
fn followed_by_failure(
    deploy: &LiveRelease,
    next_deploy: Option<DateTime<Utc>>,
    failures: &[DateTime<Utc>],
    rollbacks: &[DateTime<Utc>],
    window: Duration,
) -> bool {
    let until = match next_deploy {
        Some(next) => next.min(deploy.released_at + window),
        None => deploy.released_at + window,
    };
    // The first time after the deploy went live, if it is within `until`.
    let any_within = |times: &[DateTime<Utc>]| {
        let after = times.partition_point(|&at| at <= deploy.released_at);
        times.get(after).is_some_and(|&at| at <= until)
    };
    any_within(failures) || any_within(rollbacks)
}

/// Each failure with when it was restored: a failed job until the next
/// release went live; a deploy that was rolled back, from its going live
/// until the rollback did. Unrestored failures are left out. `releases`
/// sorted.
fn incidents(
    releases: &[LiveRelease],
    failures: &[DateTime<Utc>],
) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
    let mut out: Vec<(DateTime<Utc>, DateTime<Utc>)> = failures
        .iter()
        .filter_map(|&failed| {
            let next = releases.partition_point(|r| r.released_at <= failed);
            releases.get(next).map(|r| (failed, r.released_at))
        })
        .collect();
    for pair in releases.windows(2) {
        if !pair[0].rollback && pair[1].rollback {
            out.push((pair[0].released_at, pair[1].released_at));
        }
    }
    out
}

fn median(mut values: Vec<i64>) -> Option<i64> {
    if values.is_empty() {
        return None;
    }
    values.sort_unstable();
    let mid = values.len() / 2;
    Some(if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    /// Monday 2026-11-02 plus `hours`.
    fn at(hours: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 2, 0, 0, 0).unwrap() + Duration::hours(hours)
    }

    fn deploy(hours: i64, committed_hours_before: i64) -> LiveRelease {
        LiveRelease {
            released_at: at(hours),
            committed_at: Some(at(hours) - Duration::hours(committed_hours_before)),
            rollback: false,
        }
    }

    #[test]
    fn a_week_with_five_deploys_and_one_failure_restored_after_forty_minutes() {
        // Mon 10:00, Tue 10:00, Wed 10:00, Thu 10:00, Fri 10:00; lead times
        // 1, 2, 3, 4 and 30 hours. At 12:00 on Wednesday, two hours after
        // Wednesday's deploy went live, a deploy job fails; the next release
        // (a rollback) goes live at 12:40.
        let mut history = History {
            releases: vec![
                deploy(10, 1),
                deploy(34, 2),
                deploy(58, 3),
                deploy(82, 4),
                deploy(106, 30),
            ],
            failures: vec![at(60)],
        };
        history.releases.push(LiveRelease {
            released_at: at(60) + Duration::minutes(40),
            committed_at: None,
            rollback: true,
        });
        let weeks = weekly(&history, at(0), at(100), Duration::hours(24));
        assert_eq!(weeks.len(), 1);
        let week = &weeks[0];
        assert_eq!(week.week_start, at(0));
        assert_eq!(week.deployments, 5, "the rollback is not a deploy");
        assert_eq!(
            week.lead_time_secs,
            Some(3 * 3600),
            "the median of 1, 2, 3, 4, 30 h"
        );
        // Wednesday's deploy is followed by the failure and by the rollback:
        // one failed deploy of five.
        assert_eq!(week.failed_deployments, 1);
        assert_eq!(week.change_failure_rate, Some(0.2));
        // Two incidents: the failed job (12:00 -> 12:40, 40 min) and the
        // rolled-back deploy (10:00 -> 12:40, 160 min): the median is 100 min.
        assert_eq!(week.time_to_restore_secs, Some(100 * 60));
    }

    #[test]
    fn a_failure_counts_only_within_the_window_and_before_the_next_deploy() {
        let history = History {
            releases: vec![deploy(10, 1), deploy(20, 1)],
            // 15 h after the first deploy, but after the second went live:
            // it counts against the second only; and one 30 h after the
            // second: outside a 24 h window.
            failures: vec![at(25), at(50)],
        };
        let week = &weekly(&history, at(0), at(0), Duration::hours(24))[0];
        assert_eq!(week.deployments, 2);
        assert_eq!(week.failed_deployments, 1);
        assert_eq!(week.change_failure_rate, Some(0.5));
        // Neither failure was followed by a release: nothing restored.
        assert_eq!(week.time_to_restore_secs, None);
    }

    #[test]
    fn weeks_without_deploys_have_no_rates_and_weeks_start_on_monday() {
        let sunday_night = at(6 * 24 + 23);
        assert_eq!(week_of(sunday_night), at(0));
        assert_eq!(week_of(at(7 * 24)), at(7 * 24));
        let weeks = weekly(&History::default(), at(0), at(15 * 24), Duration::hours(24));
        assert_eq!(weeks.len(), 3);
        assert!(weeks.iter().all(|w| w.deployments == 0
            && w.change_failure_rate.is_none()
            && w.lead_time_secs.is_none()));
    }
}
