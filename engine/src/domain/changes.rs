//! What a deploy changes: the commits between what is live and what goes
//! live, and where that list came from.

use chrono::{DateTime, Utc};
use serde::Serialize;

/// One commit, as a change list shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Commit {
    pub sha: String,
    /// Its parents' shas; `None` when whoever told Slipway did not say.
    pub parents: Option<Vec<String>>,
    pub author: String,
    pub committed_at: Option<DateTime<Utc>>,
    /// The first line of its message.
    pub subject: String,
}

/// Whether the commits come with the target, or go with the live build
/// (a rollback, or a deploy of an older build).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    Adds,
    Removes,
}

/// Where a change list came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CommitSource {
    /// Slipway's mirror of the repository, walked locally.
    Mirror,
    /// The commit lists CI sent with builds and push webhooks carried:
    /// the mirror could not be read, or lacks one of the commits.
    Registered,
    /// Nothing to list: the same commit, or nothing live yet.
    Nothing,
}

impl CommitSource {
    pub fn describe(self) -> &'static str {
        match self {
            CommitSource::Mirror => "from the repository mirror",
            CommitSource::Registered => {
                "from the commit lists CI and push webhooks sent (no repository mirror holds these commits)"
            }
            CommitSource::Nothing => "nothing to compare",
        }
    }
}

/// The commits between two builds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct CommitRange {
    pub from_sha: Option<String>,
    pub to_sha: String,
    pub direction: Direction,
    /// Newest first, at most [`CommitRange::LISTED`].
    pub commits: Vec<Commit>,
    /// How many there are in all (more than `commits` holds when long).
    pub total: usize,
    pub source: CommitSource,
    /// The list may miss commits: the registered lists do not reach back
    /// to the live build.
    pub complete: bool,
    /// Where one commit can be read, `{sha}` standing for its sha.
    pub link_template: Option<String>,
}

impl CommitRange {
    /// How many commits a range lists.
    pub const LISTED: usize = 200;

    /// A range with nothing in it (`from` and `to` are the same commit, or
    /// nothing was live).
    pub fn empty(from_sha: Option<String>, to_sha: String) -> Self {
        CommitRange {
            from_sha,
            to_sha,
            direction: Direction::Adds,
            commits: Vec::new(),
            total: 0,
            source: CommitSource::Nothing,
            complete: true,
            link_template: None,
        }
    }
}

/// Whether `url` names a repository Slipway may mirror: an http(s), git,
/// ssh or file URL, or an absolute path on this machine; never one with a
/// password in it (it would be shown and logged).
pub fn check_repository_url(url: &str) -> Result<(), String> {
    if url.len() > 500 || url.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err("at most 500 characters, with no spaces or control characters".into());
    }
    if url.starts_with('/') {
        return Ok(());
    }
    let parsed = url::Url::parse(url).map_err(|_| {
        "an http(s)://, git://, ssh:// or file:// URL, or an absolute path".to_owned()
    })?;
    if !matches!(parsed.scheme(), "http" | "https" | "git" | "ssh" | "file") {
        return Err(format!(
            "the {} scheme is not one Slipway fetches from: use http(s), git, ssh or file",
            parsed.scheme()
        ));
    }
    if parsed.host_str().is_some_and(|host| host.starts_with('-'))
        || parsed.username().starts_with('-')
    {
        return Err("a host or user starting with '-' would be read as an option".into());
    }
    if parsed.password().is_some() {
        return Err(
            "no password in the URL (it would be shown): use an ssh URL with a deploy key".into(),
        );
    }
    Ok(())
}

/// Where a commit of the repository at `url` can be read in a browser,
/// `{sha}` standing for the sha: GitHub, GitLab and most forges answer
/// `<repo>/commit/<sha>` (GitLab also `/-/commit/`). Only for http(s)
/// URLs, without credentials.
pub fn commit_link_template(url: &str) -> Option<String> {
    let parsed = url::Url::parse(url).ok()?;
    if !matches!(parsed.scheme(), "http" | "https")
        || !parsed.username().is_empty()
        || parsed.password().is_some()
    {
        return None;
    }
    let base = url.trim_end_matches('/');
    let base = base.strip_suffix(".git").unwrap_or(base);
    let gitlab = parsed.host_str().is_some_and(|h| h.contains("gitlab"));
    Some(if gitlab {
        format!("{base}/-/commit/{{sha}}")
    } else {
        format!("{base}/commit/{{sha}}")
    })
}

/// The first line of a commit message, trimmed, at most 200 characters.
pub fn subject_of(message: &str) -> String {
    let line = message.lines().next().unwrap_or("").trim();
    let mut subject: String = line.chars().filter(|c| !c.is_control()).take(200).collect();
    if line.chars().count() > 200 {
        subject.push('…');
    }
    subject
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_follow_the_forge() {
        assert_eq!(
            commit_link_template("https://github.com/acme/shop.git").as_deref(),
            Some("https://github.com/acme/shop/commit/{sha}")
        );
        assert_eq!(
            commit_link_template("https://gitlab.example/acme/shop").as_deref(),
            Some("https://gitlab.example/acme/shop/-/commit/{sha}")
        );
        assert_eq!(commit_link_template("git://127.0.0.1/shop.git"), None);
        assert_eq!(commit_link_template("/srv/git/shop.git"), None);
        assert_eq!(
            commit_link_template("https://user:pw@github.com/acme/shop"),
            None
        );
    }

    #[test]
    fn repository_urls_are_ones_git_may_fetch() {
        for good in [
            "https://github.com/acme/shop.git",
            "git://127.0.0.1:9418/shop.git",
            "ssh://git@git.example/shop.git",
            "file:///srv/git/shop.git",
            "/srv/git/shop.git",
        ] {
            assert_eq!(check_repository_url(good), Ok(()), "{good}");
        }
        for bad in [
            "ext::sh -c touch% /tmp/pwned",
            "-uhack",
            "https://ci:secret@git.example/shop.git",
            "shop.git",
            "https://x/a b",
            "ssh://-oProxyCommand=touch%20x/repo",
        ] {
            assert!(check_repository_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_subject_is_the_first_plain_line() {
        assert_eq!(subject_of("Fix it\n\nBecause."), "Fix it");
        assert_eq!(subject_of("  tabs\there  "), "tabshere");
        assert_eq!(subject_of(&"x".repeat(300)).chars().count(), 201);
    }
}
