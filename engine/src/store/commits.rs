//! Commits Slipway was told about (with a build by CI, or by a push
//! webhook), and the walk through them that stands in for the repository
//! mirror when it lacks a commit; and the settings snapshots jobs keep.

use crate::store::{on_pool, on_tx, Done};
use std::collections::{HashSet, VecDeque};

use chrono::{DateTime, Utc};

use super::Store;
use crate::domain::changes::Commit;
use crate::domain::snapshot::SettingsSnapshot;
use crate::domain::CommitSha;
use crate::error::Result;

/// How far a walk through registered commits goes before it stops.
const WALK_LIMIT: usize = 5_000;

/// One commit as CI or a webhook described it, already checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommitNote {
    pub sha: CommitSha,
    /// `None`: the sender did not say.
    pub parents: Option<Vec<CommitSha>>,
    pub author: String,
    pub committed_at: Option<DateTime<Utc>>,
    pub subject: String,
}

/// Who described the commits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CommitOrigin {
    Ci,
    Webhook,
}

impl CommitOrigin {
    fn as_str(self) -> &'static str {
        match self {
            CommitOrigin::Ci => "ci",
            CommitOrigin::Webhook => "webhook",
        }
    }
}

/// Commits a walk found, and whether it reached everything it had to.
#[derive(Clone, Debug, Default)]
pub struct RegisteredRange {
    /// Newest first.
    pub commits: Vec<Commit>,
    /// A commit on the way was never described, or its parents were not
    /// given: there may be more.
    pub complete: bool,
}

#[derive(sqlx::FromRow)]
struct CommitRow {
    sha: String,
    parents: Option<String>,
    author: String,
    committed_at: Option<DateTime<Utc>>,
    subject: String,
}

impl From<CommitRow> for Commit {
    fn from(row: CommitRow) -> Self {
        Commit {
            sha: row.sha,
            parents: row
                .parents
                .map(|p| p.split_whitespace().map(str::to_owned).collect()),
            author: row.author,
            committed_at: row.committed_at,
            subject: row.subject,
        }
    }
}

impl Store {
    /// Keeps what was said about each commit; a commit described again
    /// keeps its first description, gaining parents if it had none.
    pub async fn record_commits(
        &self,
        application_id: i64,
        notes: &[CommitNote],
        origin: CommitOrigin,
    ) -> Result<()> {
        let mut tx = self.write().await?;
        for note in notes {
            let parents = note.parents.as_ref().map(|parents| {
                parents
                    .iter()
                    .map(CommitSha::as_str)
                    .collect::<Vec<_>>()
                    .join(" ")
            });
            on_tx!(tx => sqlx::query(
                "INSERT INTO commits (application_id, sha, parents, author, committed_at, subject, source)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)
                 ON CONFLICT (application_id, sha) DO UPDATE SET parents = COALESCE(commits.parents, excluded.parents)",
            )
            .bind(application_id)
            .bind(note.sha.as_str())
            .bind(parents)
            .bind(&note.author)
            .bind(note.committed_at)
            .bind(&note.subject)
            .bind(origin.as_str())
            .execute(&mut *tx)
            .await.map(Done::from))?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn registered_commit(&self, application_id: i64, sha: &str) -> Result<Option<Commit>> {
        let row: Option<CommitRow> = on_pool!(self, pool => sqlx::query_as(
            "SELECT sha, parents, author, committed_at, subject FROM commits WHERE application_id = $1 AND sha = $2",
        )
        .bind(application_id)
        .bind(sha)
        .fetch_optional(pool)
        .await)?;
        Ok(row.map(Commit::from))
    }

    /// The registered commits reachable from `to` and not from `from`
    /// (following the parents each was registered with), newest first.
    pub async fn registered_range(
        &self,
        application_id: i64,
        from: Option<&str>,
        to: &str,
    ) -> Result<RegisteredRange> {
        // What `from` already has, as far as the registered commits tell.
        let mut behind = HashSet::new();
        if let Some(from) = from {
            let mut queue = VecDeque::from([from.to_owned()]);
            while let Some(sha) = queue.pop_front() {
                if behind.len() >= WALK_LIMIT || !behind.insert(sha.clone()) {
                    continue;
                }
                if let Some(commit) = self.registered_commit(application_id, &sha).await? {
                    queue.extend(commit.parents.unwrap_or_default());
                }
            }
        }
        let mut range = RegisteredRange {
            commits: Vec::new(),
            complete: true,
        };
        let mut seen = HashSet::new();
        let mut queue = VecDeque::from([to.to_owned()]);
        while let Some(sha) = queue.pop_front() {
            if behind.contains(&sha) || !seen.insert(sha.clone()) {
                continue;
            }
            if seen.len() > WALK_LIMIT {
                range.complete = false;
                break;
            }
            match self.registered_commit(application_id, &sha).await? {
                Some(commit) => {
                    match &commit.parents {
                        Some(parents) => queue.extend(parents.iter().cloned()),
                        None => range.complete = false,
                    }
                    range.commits.push(commit);
                }
                None => range.complete = false,
            }
        }
        // A walk through lists has no order of its own but time.
        range
            .commits
            .sort_by_key(|c| std::cmp::Reverse(c.committed_at));
        Ok(range)
    }

    /// The settings snapshot job `job_id` was queued with, if it kept one
    /// (jobs from before snapshots did not).
    pub async fn job_snapshot(&self, job_id: i64) -> Result<Option<SettingsSnapshot>> {
        let mut conn = self.read().await?;
        super::tx::jobs::queued_snapshot(&mut conn, job_id).await
    }

    /// The environment's settings and variables as they are now.
    pub async fn current_snapshot(&self, env_id: i64) -> Result<SettingsSnapshot> {
        let mut conn = self.read().await?;
        super::tx::environments::settings_snapshot(&mut conn, env_id).await
    }

    /// The release that was live on the environment before release
    /// `release_id` was made (what that job replaced), if any.
    pub async fn release_before(
        &self,
        env_id: i64,
        release_id: i64,
    ) -> Result<Option<crate::domain::Release>> {
        super::tx::releases::released_before(&mut self.read().await?, env_id, release_id).await
    }
}
