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
    weekly_across(std::slice::from_ref(history), from, to, failure_window)
}

/// [`weekly`] for several environments taken together (an application's):
/// each environment's deploys, failures and restores are found in its own
/// history, then a week counts them all — deploys and failed deploys
/// summed, medians over every environment's lead times and restores.
pub fn weekly_across(
    histories: &[History],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    failure_window: Duration,
) -> Vec<WeekMetrics> {
    let mut weeks: Vec<WeekSamples> = Vec::new();
    for history in histories {
        let samples = week_samples(history, from, to, failure_window);
        if weeks.is_empty() {
            weeks = samples;
            continue;
        }
        for (week, more) in weeks.iter_mut().zip(samples) {
            week.deployments += more.deployments;
            week.failed_deployments += more.failed_deployments;
            week.leads.extend(more.leads);
            week.restores.extend(more.restores);
        }
    }
    if weeks.is_empty() {
        weeks = week_samples(&History::default(), from, to, failure_window);
    }
    weeks.into_iter().map(WeekSamples::metrics).collect()
}

/// What one environment contributes to a week.
struct WeekSamples {
    week_start: DateTime<Utc>,
    deployments: u32,
    failed_deployments: u32,
    /// Lead times of the week's deploys whose commit time is known, in seconds.
    leads: Vec<i64>,
    /// Times to restore of the failures that began that week, in seconds.
    restores: Vec<i64>,
}

impl WeekSamples {
    fn metrics(self) -> WeekMetrics {
        WeekMetrics {
            week_start: self.week_start,
            deployments: self.deployments,
            lead_time_secs: median(self.leads),
            failed_deployments: self.failed_deployments,
            change_failure_rate: (self.deployments > 0)
                .then(|| f64::from(self.failed_deployments) / f64::from(self.deployments)),
            time_to_restore_secs: median(self.restores),
        }
    }
}

/// One environment's samples for every week from `from`'s to `to`'s.
fn week_samples(
    history: &History,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    failure_window: Duration,
) -> Vec<WeekSamples> {
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
        let failed_deployments = deploys.iter().filter(|&&i| failed[i]).count() as u32;
        let first = incidents.partition_point(|&(began, _)| began < start);
        let last = incidents.partition_point(|&(began, _)| began < end);
        let restores: Vec<i64> = incidents[first..last]
            .iter()
            .map(|&(began, restored)| (restored - began).num_seconds())
            .collect();
        weeks.push(WeekSamples {
            week_start: start,
            deployments: deploys.len() as u32,
            failed_deployments,
            leads,
            restores,
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

    #[test]
    fn an_application_counts_its_environments_together_each_in_its_own_history() {
        // Staging: deploys Mon 10:00 (lead 1 h) and Tue 10:00 (lead 5 h); a
        // job fails Tue 11:00 and a deploy restores it Wed 11:00 (lead 2 h).
        let staging = History {
            releases: vec![deploy(10, 1), deploy(34, 5), deploy(59, 2)],
            failures: vec![at(35)],
        };
        // Production: one deploy Thu 10:00 (lead 7 h) rolled back at 10:30.
        let production = History {
            releases: vec![
                deploy(82, 7),
                LiveRelease {
                    released_at: at(82) + Duration::minutes(30),
                    committed_at: None,
                    rollback: true,
                },
            ],
            failures: Vec::new(),
        };
        let weeks = weekly_across(&[staging, production], at(0), at(100), Duration::hours(24));
        assert_eq!(weeks.len(), 1);
        let week = &weeks[0];
        assert_eq!(week.deployments, 4);
        // Tuesday's staging deploy (failed job) and production's (rolled
        // back); production's rollback says nothing of staging.
        assert_eq!(week.failed_deployments, 2);
        assert_eq!(week.change_failure_rate, Some(0.5));
        assert_eq!(
            week.lead_time_secs,
            Some(3 * 3600 + 1800),
            "median of 1, 2, 5, 7 h"
        );
        // Restores: staging 24 h (Tue 11:00 -> Wed 11:00), production 30 min.
        assert_eq!(week.time_to_restore_secs, Some((24 * 3600 + 30 * 60) / 2));
        // One environment alone is what `weekly` says of it.
        let alone = weekly_across(
            std::slice::from_ref(&History::default()),
            at(0),
            at(0),
            Duration::hours(1),
        );
        assert_eq!(
            alone,
            weekly(&History::default(), at(0), at(0), Duration::hours(1))
        );
        assert_eq!(weekly_across(&[], at(0), at(0), Duration::hours(1)), alone);
    }
}
