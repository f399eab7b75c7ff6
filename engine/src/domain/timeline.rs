//! The release timeline: each release a mark on its environment's lane,
//! coloured by how it ended. A lane has a fixed number of columns; the
//! releases that fall in one column make one mark, shown as the worst of
//! their outcomes (a failure is never hidden behind a success), with how
//! many there were and a link to the newest.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{JobKind, JobState, ReleaseState};

/// How much time the timeline spans, ending now.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Zoom {
    Day,
    Week,
    Quarter,
}

impl Zoom {
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "day" => Some(Zoom::Day),
            "week" => Some(Zoom::Week),
            "quarter" => Some(Zoom::Quarter),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Zoom::Day => "day",
            Zoom::Week => "week",
            Zoom::Quarter => "quarter",
        }
    }

    pub fn span(self) -> chrono::Duration {
        match self {
            Zoom::Day => chrono::Duration::hours(24),
            Zoom::Week => chrono::Duration::days(7),
            Zoom::Quarter => chrono::Duration::days(91),
        }
    }

    /// Where the time axis is labelled: every few hours, each day, each
    /// week.
    pub fn tick_every(self) -> chrono::Duration {
        match self {
            Zoom::Day => chrono::Duration::hours(3),
            Zoom::Week => chrono::Duration::days(1),
            Zoom::Quarter => chrono::Duration::weeks(1),
        }
    }
}

/// The timeline between `from` and `to`.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Timeline {
    pub zoom: Zoom,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// Columns per lane.
    pub columns: u32,
    pub lanes: Vec<Lane>,
    /// How many releases it shows.
    pub releases: usize,
}

/// How a release ended, as the timeline colours it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    // In rising order of what a column shows first.
    Superseded,
    Running,
    Live,
    RolledBack,
    Interrupted,
    Failed,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Superseded => "superseded",
            Outcome::Running => "running",
            Outcome::Live => "live",
            Outcome::RolledBack => "rolled_back",
            Outcome::Interrupted => "interrupted",
            Outcome::Failed => "failed",
        }
    }

    /// The outcome whose place in the order above is `rank` (0-5); out of
    /// range reads as the worst.
    pub fn from_rank(rank: i64) -> Self {
        match rank {
            0 => Outcome::Superseded,
            1 => Outcome::Running,
            2 => Outcome::Live,
            3 => Outcome::RolledBack,
            4 => Outcome::Interrupted,
            _ => Outcome::Failed,
        }
    }

    /// A release's outcome: its job's end, its state, and whether the
    /// release after it on the environment was a rollback (which took it
    /// away).
    pub fn of(state: ReleaseState, job: JobState, next_kind: Option<JobKind>) -> Self {
        match (job, state) {
            (JobState::Interrupted, _) => Outcome::Interrupted,
            (JobState::Failed | JobState::Cancelled, _) | (_, ReleaseState::Failed) => {
                Outcome::Failed
            }
            (_, ReleaseState::Live) => Outcome::Live,
            (_, ReleaseState::Pending) => Outcome::Running,
            (_, ReleaseState::Superseded) if next_kind == Some(JobKind::Rollback) => {
                Outcome::RolledBack
            }
            (_, ReleaseState::Superseded) => Outcome::Superseded,
        }
    }
}

/// One release placed on the timeline.
#[derive(Clone, Debug)]
pub struct TimelineRelease {
    pub environment: String,
    pub at: DateTime<Utc>,
    pub outcome: Outcome,
    pub job_id: i64,
}

/// One mark: the releases of a lane that fell in one column.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Mark {
    pub column: u32,
    pub outcome: Outcome,
    pub releases: u32,
    /// The newest release's job.
    pub job_id: i64,
    pub at: DateTime<Utc>,
}

/// An environment's lane.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Lane {
    /// `app/env`.
    pub environment: String,
    pub marks: Vec<Mark>,
}

/// Places `releases` (any order) between `from` and `to` on lanes of
/// `columns` columns, one lane per environment (sorted by name); releases
/// outside the span are left out.
pub fn lanes(
    releases: &[TimelineRelease],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    columns: u32,
) -> Vec<Lane> {
    use std::collections::BTreeMap;
    let span = (to - from).num_milliseconds().max(1);
    let mut by_lane: BTreeMap<&str, BTreeMap<u32, Mark>> = BTreeMap::new();
    for release in releases.iter().filter(|r| r.at >= from && r.at <= to) {
        let offset = (release.at - from).num_milliseconds();
        let column = (offset * i64::from(columns) / span)
            .min(i64::from(columns) - 1)
            .max(0) as u32;
        let lane = by_lane.entry(release.environment.as_str()).or_default();
        lane.entry(column)
            .and_modify(|mark| {
                mark.releases += 1;
                mark.outcome = mark.outcome.max(release.outcome);
                if release.at >= mark.at {
                    mark.at = release.at;
                    mark.job_id = release.job_id;
                }
            })
            .or_insert(Mark {
                column,
                outcome: release.outcome,
                releases: 1,
                job_id: release.job_id,
                at: release.at,
            });
    }
    by_lane
        .into_iter()
        .map(|(environment, marks)| Lane {
            environment: environment.to_owned(),
            marks: marks.into_values().collect(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(hour: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 1, hour, 0, 0)
            .single()
            .unwrap_or_default()
    }

    fn release(env: &str, hour: u32, outcome: Outcome, job: i64) -> TimelineRelease {
        TimelineRelease {
            environment: env.into(),
            at: at(hour),
            outcome,
            job_id: job,
        }
    }

    #[test]
    fn outcomes_follow_the_job_the_state_and_what_came_next() {
        use JobState as J;
        use ReleaseState as R;
        let deploy = Some(JobKind::Deploy);
        let rollback = Some(JobKind::Rollback);
        assert_eq!(Outcome::of(R::Live, J::Succeeded, None), Outcome::Live);
        assert_eq!(
            Outcome::of(R::Superseded, J::Succeeded, deploy),
            Outcome::Superseded
        );
        assert_eq!(
            Outcome::of(R::Superseded, J::Succeeded, rollback),
            Outcome::RolledBack
        );
        assert_eq!(Outcome::of(R::Failed, J::Failed, None), Outcome::Failed);
        assert_eq!(
            Outcome::of(R::Pending, J::Interrupted, None),
            Outcome::Interrupted
        );
        assert_eq!(Outcome::of(R::Pending, J::Running, None), Outcome::Running);
    }

    #[test]
    fn ranks_follow_the_order() {
        for (rank, outcome) in [
            Outcome::Superseded,
            Outcome::Running,
            Outcome::Live,
            Outcome::RolledBack,
            Outcome::Interrupted,
            Outcome::Failed,
        ]
        .into_iter()
        .enumerate()
        {
            assert_eq!(Outcome::from_rank(rank as i64), outcome);
        }
    }

    #[test]
    fn a_column_shows_its_worst_outcome_and_links_the_newest() {
        let releases = [
            release("shop/production", 1, Outcome::Superseded, 1),
            release("shop/production", 2, Outcome::Failed, 2),
            release("shop/production", 3, Outcome::Superseded, 3),
            release("shop/production", 20, Outcome::Live, 4),
            release("shop/staging", 5, Outcome::RolledBack, 5),
            // Outside the span.
            release("shop/staging", 23, Outcome::Live, 6),
        ];
        // 0:00-22:00 in 2 columns of 11 hours.
        let lanes = lanes(&releases, at(0), at(22), 2);
        assert_eq!(lanes.len(), 2);
        assert_eq!(lanes[0].environment, "shop/production");
        let production: Vec<_> = lanes[0]
            .marks
            .iter()
            .map(|m| (m.column, m.outcome, m.releases, m.job_id))
            .collect();
        assert_eq!(
            production,
            [(0, Outcome::Failed, 3, 3), (1, Outcome::Live, 1, 4)]
        );
        assert_eq!(lanes[1].marks.len(), 1);
        assert_eq!(lanes[1].marks[0].outcome, Outcome::RolledBack);
    }
}
