//! Release insight: DORA metrics per environment and per application,
//! week by week, and the release timeline.

use chrono::{DateTime, Duration, Utc};

use crate::auth::{Actor, Permission};
use crate::domain::insight::{self, WeekMetrics};
use crate::domain::timeline::{Timeline, Zoom};
use crate::domain::EnvironmentKind;
use crate::error::{InvalidInput, Result};

use crate::store::history::PastRelease;

use super::Engine;

/// Weeks a chart may cover: about two years.
const MAX_WEEKS: u32 = 104;
/// The longest failure window: a month.
const MAX_WINDOW_HOURS: u32 = 30 * 24;

/// The weeks a DORA question covers, ending now, and its failure window.
struct DoraSpan {
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    window: Duration,
}

impl DoraSpan {
    fn new(weeks: u32, failure_window_hours: u32) -> Result<Self> {
        if !(1..=MAX_WEEKS).contains(&weeks) {
            return Err(InvalidInput::new("weeks", format!("1 to {MAX_WEEKS} weeks")).into());
        }
        if !(1..=MAX_WINDOW_HOURS).contains(&failure_window_hours) {
            return Err(InvalidInput::new(
                "failure_window_hours",
                format!("1 to {MAX_WINDOW_HOURS} hours"),
            )
            .into());
        }
        let to = crate::time::now();
        Ok(Self {
            from: insight::week_of(to) - Duration::weeks(i64::from(weeks) - 1),
            to,
            window: Duration::hours(i64::from(failure_window_hours)),
        })
    }
}

impl Engine {
    /// The last `weeks` weeks (this one included) of `app/env`: deploys,
    /// lead time, change failure rate (a failure within
    /// `failure_window_hours` of a deploy counts against it) and time to
    /// restore.
    pub async fn dora(
        &self,
        actor: &Actor,
        app: &str,
        env: &str,
        weeks: u32,
        failure_window_hours: u32,
    ) -> Result<Vec<WeekMetrics>> {
        actor.require(Permission::Read)?;
        let span = DoraSpan::new(weeks, failure_window_hours)?;
        let env = self.find_environment(app, env).await?;
        let history = self.store.release_history(env.id, span.from).await?;
        Ok(insight::weekly(&history, span.from, span.to, span.window))
    }

    /// [`Engine::dora`] for every permanent environment of `app` taken
    /// together ([`insight::weekly_across`]); QA environments are left out.
    pub async fn dora_of_application(
        &self,
        actor: &Actor,
        app: &str,
        weeks: u32,
        failure_window_hours: u32,
    ) -> Result<Vec<WeekMetrics>> {
        actor.require(Permission::Read)?;
        let span = DoraSpan::new(weeks, failure_window_hours)?;
        let application = self.find_application(app).await?;
        let mut histories = Vec::new();
        for env in self.store.environments().await? {
            if env.application_id == application.id && env.kind == EnvironmentKind::Permanent {
                histories.push(self.store.release_history(env.id, span.from).await?);
            }
        }
        Ok(insight::weekly_across(
            &histories,
            span.from,
            span.to,
            span.window,
        ))
    }

    /// Every release across environments (of `app`, or of all) in the
    /// span `zoom` gives, ending now, on lanes of `columns` columns.
    pub async fn timeline(
        &self,
        actor: &Actor,
        app: Option<&str>,
        zoom: Zoom,
        columns: u32,
    ) -> Result<Timeline> {
        actor.require(Permission::Read)?;
        if !(10..=2000).contains(&columns) {
            return Err(InvalidInput::new("columns", "10 to 2000 columns").into());
        }
        let application = match app {
            Some(app) => Some(self.find_application(app).await?.id),
            None => None,
        };
        let to = crate::time::now();
        let from = to - zoom.span();
        let (lanes, releases) = self
            .store
            .timeline_lanes(application, from, to, columns)
            .await?;
        Ok(Timeline {
            zoom,
            from,
            to,
            columns,
            lanes,
            releases,
        })
    }

    /// Writes a release history made elsewhere into `app/env`, a new
    /// environment (admins; one audit row says so).
    pub async fn import_history(
        &self,
        actor: &Actor,
        app: &str,
        env: &str,
        history: &[PastRelease],
    ) -> Result<usize> {
        actor.require(Permission::ManageEnvironments)?;
        let env = self.find_environment(app, env).await?;
        let builds: std::collections::BTreeSet<i64> = history.iter().map(|p| p.build_id).collect();
        for build in builds {
            self.build_of(&env, build).await?;
        }
        self.store.import_history(&actor.login, &env, history).await
    }
}
