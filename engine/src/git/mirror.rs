//! One bare mirror per application, and the two things done with it:
//! fetching, and listing the commits one commit has that another lacks.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::process::Command;

use crate::domain::changes::{subject_of, Commit};
use crate::domain::{AppName, CommitSha};

/// How long a fetch may take before it is given up.
const FETCH_TIMEOUT: Duration = Duration::from_secs(120);
/// Someone waits for a change list: how long a fetch for it may take, and
/// how long to wait for one already running.
const READER_FETCH_TIMEOUT: Duration = Duration::from_secs(15);
const READER_WAIT: Duration = Duration::from_secs(10);
/// A reader does not fetch again this soon after a fetch that worked…
const AFTER_SUCCESS: Duration = Duration::from_secs(30);
/// …or after one that failed (an unreachable host would make every page
/// wait for its timeout).
const AFTER_FAILURE: Duration = Duration::from_secs(300);
/// How long reading the mirror may take.
const READ_TIMEOUT: Duration = Duration::from_secs(20);

#[derive(Debug, thiserror::Error)]
pub enum GitError {
    #[error("cannot run git: {0}")]
    Spawn(#[from] std::io::Error),
    #[error("git {what} took longer than {seconds} s")]
    TimedOut { what: &'static str, seconds: u64 },
    #[error("git {what} failed: {stderr}")]
    Failed { what: &'static str, stderr: String },
    #[error("git printed what Slipway cannot read: {0}")]
    Unreadable(String),
}

/// The mirrors under one directory, with one fetch at a time per mirror.
#[derive(Clone, Debug)]
pub struct Mirrors {
    root: PathBuf,
    /// Per mirror: one fetch at a time, and how the last one went.
    fetching: Arc<Mutex<HashMap<String, FetchSlot>>>,
}

/// One mirror's fetch turn, holding when its last fetch ended and whether
/// it worked.
type FetchSlot = Arc<tokio::sync::Mutex<Option<(Instant, bool)>>>;

impl Mirrors {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Mirrors {
            root: root.into(),
            fetching: Arc::default(),
        }
    }

    fn dir(&self, app: &AppName) -> PathBuf {
        self.root.join(format!("{}.git", app.as_str()))
    }

    fn fetch_lock(&self, app: &AppName) -> FetchSlot {
        let mut locks = self
            .fetching
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        locks.entry(app.as_str().to_owned()).or_default().clone()
    }

    /// Brings `app`'s mirror up to date with every branch of `url`, making
    /// it first if there is none. A fetch already running for the same
    /// mirror is waited for, not run alongside.
    #[tracing::instrument(name = "mirror_fetch", skip(self, url), fields(app = %app))]
    pub async fn fetch(&self, app: &AppName, url: &str) -> Result<(), GitError> {
        let slot = self.fetch_lock(app);
        let mut last = slot.lock().await;
        self.fetch_now(app, url, FETCH_TIMEOUT, &mut last).await
    }

    /// A fetch for someone waiting on a change list: waits a little for one
    /// already running, and fetches only if the last one is not recent
    /// (half a minute after one that worked, five after one that failed),
    /// with a short time limit. `Ok(false)`: it did not fetch.
    #[tracing::instrument(name = "mirror_fetch_for_reader", skip(self, url), fields(app = %app))]
    pub async fn fetch_for_reader(&self, app: &AppName, url: &str) -> Result<bool, GitError> {
        let slot = self.fetch_lock(app);
        let Ok(mut last) = tokio::time::timeout(READER_WAIT, slot.lock()).await else {
            return Ok(false);
        };
        let recent = last.is_some_and(|(at, worked)| {
            at.elapsed() < if worked { AFTER_SUCCESS } else { AFTER_FAILURE }
        });
        if recent {
            return Ok(false);
        }
        self.fetch_now(app, url, READER_FETCH_TIMEOUT, &mut last)
            .await
            .map(|()| true)
    }

    async fn fetch_now(
        &self,
        app: &AppName,
        url: &str,
        limit: Duration,
        last: &mut Option<(Instant, bool)>,
    ) -> Result<(), GitError> {
        let fetched = self.init_and_fetch(app, url, limit).await;
        *last = Some((Instant::now(), fetched.is_ok()));
        if fetched.is_ok() {
            tracing::info!("mirror fetched");
        }
        fetched
    }

    async fn init_and_fetch(
        &self,
        app: &AppName,
        url: &str,
        limit: Duration,
    ) -> Result<(), GitError> {
        let dir = self.dir(app);
        if !dir.join("HEAD").exists() {
            tokio::fs::create_dir_all(&self.root).await?;
            // The name is an application name: letters, digits, dashes.
            let name = format!("{}.git", app.as_str());
            run(
                "init",
                &self.root,
                &["init", "--bare", "--quiet", &name],
                READ_TIMEOUT,
            )
            .await?;
        }
        run(
            "fetch",
            &dir,
            &[
                "fetch",
                "--quiet",
                "--prune",
                "--no-tags",
                "--",
                url,
                "+refs/heads/*:refs/heads/*",
            ],
            limit,
        )
        .await?;
        Ok(())
    }

    /// Whether `app`'s mirror holds the commit `sha`.
    pub async fn has(&self, app: &AppName, sha: &CommitSha) -> Result<bool, GitError> {
        let dir = self.dir(app);
        if !dir.join("HEAD").exists() {
            return Ok(false);
        }
        let object = format!("{}^{{commit}}", sha.as_str());
        match run("cat-file", &dir, &["cat-file", "-e", &object], READ_TIMEOUT).await {
            Ok(_) => Ok(true),
            Err(GitError::Failed { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// The commits `to` has and `from` lacks (all of `to`'s history when
    /// `from` is `None`), newest first, at most `limit`, and how many there
    /// are in all. Both must be in the mirror ([`Mirrors::has`]).
    pub async fn range(
        &self,
        app: &AppName,
        from: Option<&CommitSha>,
        to: &CommitSha,
        limit: usize,
    ) -> Result<(Vec<Commit>, usize), GitError> {
        let dir = self.dir(app);
        let exclude = from.map(|sha| format!("^{}", sha.as_str()));
        let mut revs = vec![to.as_str()];
        revs.extend(exclude.as_deref());
        let count = format!("--max-count={limit}");
        let mut log_args = vec![
            "log",
            "--topo-order",
            "--format=%H%x1f%P%x1f%an%x1f%cI%x1f%s%x1e",
            &count,
        ];
        log_args.extend(&revs);
        log_args.push("--");
        let log = run("log", &dir, &log_args, READ_TIMEOUT).await?;
        let commits = parse_log(&log)?;
        let mut count_args = vec!["rev-list", "--count"];
        count_args.extend(&revs);
        count_args.push("--");
        let total = run("rev-list", &dir, &count_args, READ_TIMEOUT).await?;
        let total = total
            .trim()
            .parse()
            .map_err(|_| GitError::Unreadable(total.trim().to_owned()))?;
        Ok((commits, total))
    }
}

/// Reads `git log`'s records: sha, parents, author, commit time, subject,
/// separated by US, each ended by RS.
fn parse_log(log: &str) -> Result<Vec<Commit>, GitError> {
    log.split('\x1e')
        .map(str::trim)
        .filter(|record| !record.is_empty())
        .map(|record| {
            let fields: Vec<&str> = record.split('\x1f').collect();
            let [sha, parents, author, time, subject] = fields[..] else {
                return Err(GitError::Unreadable(record.chars().take(100).collect()));
            };
            Ok(Commit {
                sha: sha.to_owned(),
                parents: Some(parents.split_whitespace().map(str::to_owned).collect()),
                author: author.to_owned(),
                committed_at: chrono::DateTime::parse_from_rfc3339(time)
                    .ok()
                    .map(|t| t.with_timezone(&chrono::Utc)),
                subject: subject_of(subject),
            })
        })
        .collect()
}

/// Runs `git <args>` in `dir` and returns what it printed; never a shell,
/// never a prompt, only the transports a repository URL may name.
async fn run(
    what: &'static str,
    dir: &Path,
    args: &[&str],
    limit: Duration,
) -> Result<String, GitError> {
    let mut command = Command::new("git");
    command
        .current_dir(dir)
        .args(args)
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_ALLOW_PROTOCOL", "file:git:http:https:ssh")
        .env("GIT_SSH_COMMAND", "ssh -o BatchMode=yes")
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let output = tokio::time::timeout(limit, command.output())
        .await
        .map_err(|_| GitError::TimedOut {
            what,
            seconds: limit.as_secs(),
        })??;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    } else {
        let stderr = String::from_utf8_lossy(&output.stderr);
        Err(GitError::Failed {
            what,
            stderr: without_credentials(stderr.trim()),
        })
    }
}

/// `text` with any `scheme://user:password@` cut to `scheme://…@`: git
/// names the URL in its errors.
fn without_credentials(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for word in text.split_inclusive(char::is_whitespace) {
        match (word.find("://"), word.find('@')) {
            (Some(scheme), Some(at)) if scheme < at => {
                out.push_str(&word[..scheme + 3]);
                out.push('…');
                out.push_str(&word[at..]);
            }
            _ => out.push_str(word),
        }
    }
    out.chars().take(500).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_records_are_read() {
        let log = "aaa\x1fbbb ccc\x1fAda\x1f2026-12-01T10:00:00+01:00\x1fMerge it\x1e\n\
                   bbb\x1f\x1fBob\x1f2026-11-30T09:00:00Z\x1fFirst\x1e\n";
        let commits = parse_log(log).unwrap_or_default();
        assert_eq!(commits.len(), 2);
        assert_eq!(
            commits[0].parents.as_deref(),
            Some(&["bbb".to_owned(), "ccc".to_owned()][..])
        );
        assert_eq!(
            commits[0].committed_at.map(|t| t.to_rfc3339()),
            Some("2026-12-01T09:00:00+00:00".to_owned())
        );
        assert_eq!(commits[1].parents.as_deref(), Some(&[][..]));
        assert!(parse_log("only\x1ftwo\x1e").is_err());
    }

    #[test]
    fn errors_name_no_credentials() {
        assert_eq!(
            without_credentials(
                "fatal: unable to access 'https://ci:s3cret@git.example/x.git/': 403"
            ),
            "fatal: unable to access 'https://…@git.example/x.git/': 403"
        );
    }
}
