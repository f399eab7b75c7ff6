//! What a deploy changes, before it runs and after: the commits between
//! the live build and the target, and the settings and variables that
//! differ from the live release's.

use serde::Serialize;
use tracing::Instrument;

use crate::auth::{Actor, Permission};
use crate::domain::changes::{commit_link_template, CommitRange, CommitSource, Direction};
use crate::domain::snapshot::{SettingsSnapshot, SnapshotDiff};
use crate::domain::{AppName, Application, Build, CommitSha, Environment, Job, JobKind};
use crate::error::Result;
use crate::store::commits::{CommitNote, CommitOrigin};
use crate::webhooks::Push;

use super::Engine;

/// What deploying a build (or what a job did) changes.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct ReleaseChanges {
    /// The build live before (none: the first release).
    pub live_build: Option<Build>,
    pub target_build: Build,
    pub commits: CommitRange,
    /// `None` when there is nothing to compare with: nothing was live, or
    /// the live release is older than snapshots.
    pub settings: Option<SnapshotDiff>,
}

impl Engine {
    /// What deploying build `build_id` to `app/env` would change.
    pub async fn deploy_changes(
        &self,
        actor: &Actor,
        app: &str,
        env: &str,
        build_id: i64,
    ) -> Result<ReleaseChanges> {
        actor.require(Permission::Read)?;
        let env = self.find_environment(app, env).await?;
        let target = self.build_of(&env, build_id).await?;
        let live = self.store.live_release(env.id).await?;
        let (live_build, live_snapshot) = match &live {
            Some(release) => (
                Some(self.store.build(release.build_id).await?),
                self.store.job_snapshot(release.job_id).await?,
            ),
            None => (None, None),
        };
        let now = self.store.current_snapshot(env.id).await?;
        self.changes(&env, live_build, target, live_snapshot, Some(now))
            .await
    }

    /// What job `job_id` changed (or is changing): from the release live
    /// when it was queued to its build.
    pub async fn job_changes(&self, actor: &Actor, job_id: i64) -> Result<ReleaseChanges> {
        actor.require(Permission::Read)?;
        let job: Job = self.store.job(job_id).await?;
        let env = self.store.environment_by_id(job.environment_id).await?;
        let target = self.store.build(job.build_id).await?;
        let before = match (job.kind, job.release_id) {
            (JobKind::Deploy | JobKind::Rollback, Some(release)) => {
                self.store.release_before(env.id, release).await?
            }
            _ => None,
        };
        let (live_build, live_snapshot) = match &before {
            Some(release) => (
                Some(self.store.build(release.build_id).await?),
                self.store.job_snapshot(release.job_id).await?,
            ),
            None => (None, None),
        };
        let snapshot = self.store.job_snapshot(job.id).await?;
        self.changes(&env, live_build, target, live_snapshot, snapshot)
            .await
    }

    async fn changes(
        &self,
        env: &Environment,
        live_build: Option<Build>,
        target: Build,
        before: Option<SettingsSnapshot>,
        after: Option<SettingsSnapshot>,
    ) -> Result<ReleaseChanges> {
        let app = self.store.application_by_id(env.application_id).await?;
        let commits = self
            .commit_range(&app, live_build.as_ref(), &target)
            .await?;
        let settings = match (before, after) {
            (Some(before), Some(after)) => Some(after.diff_from(&before)),
            _ => None,
        };
        Ok(ReleaseChanges {
            live_build,
            target_build: target,
            commits,
            settings,
        })
    }

    /// The commits between `from` and `to`: from the mirror when it holds
    /// both (fetching once more if it lacks one), else from the commit
    /// lists CI and webhooks sent.
    async fn commit_range(
        &self,
        app: &Application,
        from: Option<&Build>,
        to: &Build,
    ) -> Result<CommitRange> {
        let Some(from) = from.filter(|from| from.commit_sha != to.commit_sha) else {
            return Ok(CommitRange::empty(
                from.map(|b| b.commit_sha.clone()),
                to.commit_sha.clone(),
            ));
        };
        let link_template = app.repository_url.as_deref().and_then(commit_link_template);
        let mut range = match self.mirror_range(app, from, to).await {
            Some(range) => range,
            None => self.registered_range(app, from, to).await?,
        };
        range.link_template = link_template;
        Ok(range)
    }

    async fn mirror_range(
        &self,
        app: &Application,
        from: &Build,
        to: &Build,
    ) -> Option<CommitRange> {
        let url = app.repository_url.as_deref()?;
        let name = AppName::parse(&app.name).ok()?;
        let (from_sha, to_sha) = (
            CommitSha::parse(&from.commit_sha).ok()?,
            CommitSha::parse(&to.commit_sha).ok()?,
        );
        let holds_both = || async {
            Ok::<_, crate::git::GitError>(
                self.mirrors.has(&name, &from_sha).await?
                    && self.mirrors.has(&name, &to_sha).await?,
            )
        };
        let read = async {
            if !holds_both().await? {
                self.mirrors.fetch_for_reader(&name, url).await?;
                if !holds_both().await? {
                    return Ok(None);
                }
            }
            let limit = CommitRange::LISTED;
            let (commits, total) = self
                .mirrors
                .range(&name, Some(&from_sha), &to_sha, limit)
                .await?;
            if total > 0 {
                return Ok(Some((Direction::Adds, commits, total)));
            }
            let (commits, total) = self
                .mirrors
                .range(&name, Some(&to_sha), &from_sha, limit)
                .await?;
            Ok::<_, crate::git::GitError>(Some((Direction::Removes, commits, total)))
        };
        match read.await {
            Ok(Some((direction, commits, total))) => Some(CommitRange {
                from_sha: Some(from.commit_sha.clone()),
                to_sha: to.commit_sha.clone(),
                direction,
                commits,
                total,
                source: CommitSource::Mirror,
                complete: true,
                link_template: None,
            }),
            Ok(None) => None,
            Err(e) => {
                tracing::warn!(app = %app.name, error = %e, "repository mirror unreadable");
                None
            }
        }
    }

    async fn registered_range(
        &self,
        app: &Application,
        from: &Build,
        to: &Build,
    ) -> Result<CommitRange> {
        let mut direction = Direction::Adds;
        let mut found = self
            .store
            .registered_range(app.id, Some(&from.commit_sha), &to.commit_sha)
            .await?;
        if found.commits.is_empty() {
            let back = self
                .store
                .registered_range(app.id, Some(&to.commit_sha), &from.commit_sha)
                .await?;
            if !back.commits.is_empty() {
                direction = Direction::Removes;
                found = back;
            }
        }
        let total = found.commits.len();
        found.commits.truncate(CommitRange::LISTED);
        Ok(CommitRange {
            from_sha: Some(from.commit_sha.clone()),
            to_sha: to.commit_sha.clone(),
            direction,
            commits: found.commits,
            total,
            source: CommitSource::Registered,
            complete: found.complete,
            link_template: None,
        })
    }

    /// Brings `app`'s mirror up to date in the background, if it names a
    /// repository. Nothing waits for it; a failure is logged (the URL
    /// without credentials) and the next change list falls back.
    pub(super) fn refresh_mirror(&self, app: &Application) {
        let Some(url) = app.repository_url.clone() else {
            return;
        };
        let Ok(name) = AppName::parse(&app.name) else {
            return;
        };
        let mirrors = self.mirrors.clone();
        let span = tracing::info_span!("mirror_refresh", app = %name);
        tokio::spawn(
            async move {
                if let Err(e) = mirrors.fetch(&name, &url).await {
                    tracing::warn!(error = %e, "repository mirror not fetched");
                }
            }
            .instrument(span),
        );
    }

    /// Keeps the commits CI sent with a build (`notes`, oldest first),
    /// and the build's own commit, for when the mirror lacks them.
    pub(super) async fn record_build_commits(
        &self,
        app: &Application,
        build: &Build,
        mut notes: Vec<CommitNote>,
    ) -> Result<()> {
        let Ok(sha) = CommitSha::parse(&build.commit_sha) else {
            return Ok(());
        };
        if !notes.iter().any(|n| n.sha == sha) {
            let parent = notes.last().map(|n| vec![n.sha.clone()]);
            notes.push(CommitNote {
                sha,
                parents: parent,
                author: build.author.clone(),
                committed_at: build.committed_at,
                subject: crate::domain::changes::subject_of(&build.message),
            });
        }
        self.store
            .record_commits(app.id, &notes, CommitOrigin::Ci)
            .await
    }

    /// A push webhook's commits, kept for change lists; and the mirror is
    /// fetched. The webhook's signature is the credential, checked by the
    /// caller. Returns how many commits were kept.
    pub async fn pushed(&self, app: &str, push: &Push) -> Result<usize> {
        let app = self.find_application(app).await?;
        let notes = push_notes(push)?;
        self.store
            .record_commits(app.id, &notes, CommitOrigin::Webhook)
            .await?;
        self.refresh_mirror(&app);
        Ok(notes.len())
    }
}

/// The most commits one push may describe.
const MAX_PUSHED: usize = 2_000;

/// A push's commits, oldest first, each the parent of the next; the first
/// one's parent is the branch's commit before the push (unknown for a new
/// branch). A list is not a graph: a merge's other parents are not known.
fn push_notes(push: &Push) -> Result<Vec<CommitNote>> {
    if push.commits.len() > MAX_PUSHED {
        return Err(crate::InvalidInput::new(
            "commits",
            format!("at most {MAX_PUSHED} commits in one push"),
        )
        .into());
    }
    let mut listed: Vec<_> = push
        .commits
        .iter()
        .map(|c| {
            let at = c
                .timestamp
                .as_deref()
                .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                .map(|t| t.with_timezone(&chrono::Utc));
            (c, at)
        })
        .collect();
    // GitHub lists them oldest first; GitLab too, but say it by time.
    listed.sort_by_key(|(_, at)| *at);
    let mut parent = (!push.created_branch())
        .then(|| CommitSha::parse(&push.before).ok())
        .flatten();
    let mut notes = Vec::with_capacity(listed.len());
    for (commit, at) in listed {
        let sha = CommitSha::parse(&commit.id)?;
        notes.push(CommitNote {
            sha: sha.clone(),
            parents: parent.replace(sha).map(|p| vec![p]),
            author: commit
                .author
                .name
                .chars()
                .filter(|c| !c.is_control())
                .take(200)
                .collect(),
            committed_at: at,
            subject: crate::domain::changes::subject_of(&commit.message),
        });
    }
    Ok(notes)
}
