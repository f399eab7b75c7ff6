//! What a deploy changes, as the deploy form and the job page show it.

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CommitInfo {
    pub sha: String,
    pub author: String,
    pub committed_at: Option<String>,
    pub subject: String,
    /// Where the forge shows it, if the repository URL says.
    pub link: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SettingDiff {
    pub name: String,
    pub before: Option<String>,
    pub after: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VarDiff {
    pub name: String,
    /// "added", "removed" or "changed".
    pub change: String,
    /// A secret shows no value, only that it changed.
    pub secret: bool,
    pub before: Option<String>,
    pub after: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChangesInfo {
    /// The build live before (none: the first release).
    pub from_build: Option<i64>,
    pub from_sha: Option<String>,
    pub to_build: i64,
    pub to_sha: String,
    /// The commits go away (a rollback, or an older build).
    pub removes: bool,
    /// Newest first; at most a couple of hundred.
    pub commits: Vec<CommitInfo>,
    pub total: usize,
    /// "mirror", "registered" or "nothing", and the words for it.
    pub source: String,
    pub source_note: String,
    /// There may be commits the list misses.
    pub complete: bool,
    /// `None`: nothing to compare the settings with.
    pub settings: Option<Vec<SettingDiff>>,
    pub variables: Option<Vec<VarDiff>>,
}
