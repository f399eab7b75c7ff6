//! Data that crosses the wire between server functions and the browser.
//! Timestamps are pre-formatted on the server so both sides render alike.

use serde::{Deserialize, Serialize};

mod changes;
mod env_form;
mod freeze;
mod notify;
mod timeline;
pub use changes::*;
pub use env_form::*;
pub use freeze::*;
pub use notify::*;
pub use timeline::*;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Me {
    pub login: String,
    pub role: String,
    /// What the role allows beyond reading (the server decides again on
    /// every action; this only keeps pages from offering the rest).
    pub may_register_builds: bool,
    pub may_manage_applications: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AppOverview {
    pub name: String,
    pub repository_url: Option<String>,
    pub environments: Vec<EnvSummary>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LockInfo {
    pub reason: String,
    pub locked_by: String,
    pub since: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EnvSummary {
    pub app: String,
    pub name: String,
    pub backend: String,
    /// "permanent" or "qa".
    pub kind: String,
    /// QA environments: when they are destroyed automatically.
    pub expires_at: Option<String>,
    /// Docker environments: the address the environment serves on.
    pub url: Option<String>,
    pub protected: bool,
    pub lock: Option<LockInfo>,
    /// The freeze window in force over it, and the next one.
    pub freeze: FreezeState,
    /// The deploy request pending there: its number and why it waits.
    pub pending: Option<(i64, String)>,
    pub live: Option<ReleaseInfo>,
    pub last_job: Option<JobSummary>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReleaseInfo {
    pub id: i64,
    pub release_key: String,
    pub build_id: i64,
    pub commit_sha: String,
    pub branch: String,
    pub message: String,
    pub kind: String,
    pub state: String,
    pub released_by: String,
    pub released_at: Option<String>,
    pub created_at: String,
    pub job_id: i64,
    pub job_state: String,
    /// Who approved it, comma-separated (none: it needed no approval).
    pub approved_by: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct JobSummary {
    pub id: i64,
    pub kind: String,
    pub state: String,
    pub requested_by: String,
    pub created_at: String,
    pub error: Option<String>,
}

/// A build registered from the form: new, or the commit's existing build
/// (same artifact), which changed nothing.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Registration {
    pub build: BuildInfo,
    pub created: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BuildInfo {
    pub id: i64,
    pub commit_sha: String,
    pub branch: String,
    pub message: String,
    pub author: String,
    pub artifact: String,
    pub registered_by: String,
    pub created_at: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VarInfo {
    pub name: String,
    pub value: String,
    pub secret: bool,
}

/// The keys one host offered to a key scan, for an admin to compare and pin.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScannedKeys {
    pub host: String,
    pub known_hosts: Vec<String>,
    pub fingerprints: Vec<String>,
    pub error: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EnvDetail {
    pub summary: EnvSummary,
    pub settings: EnvForm,
    pub vars: Vec<VarInfo>,
    pub releases: Vec<ReleaseInfo>,
    pub builds: Vec<BuildInfo>,
    pub recent_jobs: Vec<JobSummary>,
    /// The latest job failed or stopped mid-way: some hosts may not run the
    /// live release, which may then be restored (rolled back to).
    pub unsettled: bool,
    /// The newest audit row about it when this was read (see
    /// `components::changes`).
    pub activity: i64,
    /// What the person looking may do here, so the page offers only that.
    pub may: MayHere,
    /// The freeze windows over it: its own and its application's.
    pub freeze_windows: Vec<FreezeWindowInfo>,
    /// Its latest deploy requests, newest first (the waiting one among them).
    pub requests: Vec<RequestInfo>,
    /// The environments that take builds from this one (Promote).
    pub promotes_to: Vec<String>,
}

/// What the signed-in person may do on one environment (the server decides
/// again on every action; this only keeps the page from offering the rest).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct MayHere {
    /// Why they may not deploy, roll back, lock or cancel here (None: they may).
    pub deploy_refused: Option<String>,
    /// Edit settings and variables, break remote locks (admins).
    pub manage: bool,
    /// Make and remove freeze windows, and deploy through one with a
    /// reason (admins).
    pub manage_freezes: bool,
}

/// What one host of a dnf environment has installed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HostVersionInfo {
    pub host: String,
    pub installed: Vec<String>,
    /// "live", "released earlier", "drift", "not installed" or "unknown".
    pub status: String,
    pub drift: bool,
    pub error: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HostInfo {
    pub host: String,
    pub phase: String,
    pub step: String,
    pub done: i64,
    pub total: i64,
    pub state: String,
    pub error: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EventLine {
    pub seq: i64,
    pub ts: String,
    pub host: Option<String>,
    pub level: String,
    pub text: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct JobDetail {
    pub summary: JobSummary,
    pub app: String,
    pub env: String,
    pub build: BuildInfo,
    pub release_key: Option<String>,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    pub duration: Option<String>,
    pub hosts: Vec<HostInfo>,
    pub events: Vec<EventLine>,
    /// The log goes on after `events`: the page reads the rest from the stream.
    pub more_events: bool,
    /// Whether the signed-in person may cancel it (while it runs).
    pub may_cancel: bool,
    /// Who asked it to stop, while it has not yet.
    pub cancel_requested_by: Option<String>,
    /// The request it was started from: its number and who approved it.
    pub request_id: Option<i64>,
    pub approved_by: Option<String>,
    /// An interrupted job someone let go: who, when, why.
    pub abandoned: Option<Abandoned>,
    /// Whether the reader may deploy on its environment (and so resume it).
    pub may_deploy: bool,
    /// The interrupted job this one finishes.
    pub resumes: Option<i64>,
    /// The job that finishes this interrupted one.
    pub resumed_by: Option<i64>,
    /// For an interrupted job still waiting for someone, when the reader
    /// may deploy: the release live before it, which Roll back restores.
    pub restore: Option<RestoreTarget>,
    /// For an interrupted job: the job that ran on its environment after it.
    pub later_job: Option<i64>,
}

/// The release an interrupted job's hosts go back to.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RestoreTarget {
    pub release_id: i64,
    pub release_key: String,
    pub commit_sha: String,
    pub branch: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Abandoned {
    pub by: String,
    pub at: String,
    pub reason: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BuildsPage {
    pub app: String,
    pub apps: Vec<String>,
    pub builds: Vec<BuildInfo>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AuditRow {
    pub seq: i64,
    pub ts: String,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub environment: Option<String>,
    /// The details object's fields, values as text (strings unquoted).
    pub details: Vec<(String, String)>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AuditPage {
    pub rows: Vec<AuditRow>,
    /// Cursor for the next (older) page.
    pub next_before: Option<i64>,
    pub actions: Vec<String>,
}

/// Progress as carried in a `progress` event's text.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProgressPayload {
    pub phase: String,
    pub step: String,
    pub done: i64,
    pub total: i64,
    pub state: String,
    pub error: Option<String>,
}

pub fn short_sha(sha: &str) -> &str {
    sha.get(..8).unwrap_or(sha)
}

/// Pinned host keys after a scan: the scanned hosts' lines replace theirs;
/// every other host's pinned lines stay (one that was down, or not scanned,
/// keeps its key). A line's first field names its host.
pub fn merge_known_hosts(pinned: &str, scanned: &[String]) -> String {
    let host = |line: &str| line.split_whitespace().next().map(str::to_owned);
    let rescanned: std::collections::HashSet<String> =
        scanned.iter().filter_map(|l| host(l)).collect();
    pinned
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .filter(|line| host(line).is_some_and(|h| !rescanned.contains(&h)))
        .map(str::to_owned)
        .chain(scanned.iter().cloned())
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::merge_known_hosts;

    #[test]
    fn a_scan_replaces_the_scanned_hosts_keys_and_keeps_the_others() {
        let pinned = "[10.0.0.1]:22 ssh-ed25519 OLD1\n[10.0.0.2]:22 ssh-ed25519 KEEP2\n\n";
        let scanned = vec![
            "[10.0.0.1]:22 ssh-ed25519 NEW1".to_owned(),
            "[10.0.0.3]:22 ssh-ed25519 NEW3".to_owned(),
        ];
        assert_eq!(
            merge_known_hosts(pinned, &scanned),
            "[10.0.0.2]:22 ssh-ed25519 KEEP2\n[10.0.0.1]:22 ssh-ed25519 NEW1\n[10.0.0.3]:22 ssh-ed25519 NEW3"
        );
        assert_eq!(merge_known_hosts("", &scanned), scanned.join("\n"));
    }
}

/// An identity provider on the login page.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LoginProvider {
    pub id: String,
    pub name: String,
}

/// The configured providers, provided by the server as context.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LoginProviders(pub Vec<LoginProvider>);

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UserRow {
    pub login: String,
    pub display_name: String,
    pub role: String,
    pub groups: Vec<String>,
    pub last_login_at: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TokenRow {
    pub id: i64,
    pub name: String,
    pub owner: String,
    pub scopes: String,
    /// Where it may act: "everywhere", or the applications and environments it names.
    pub limited_to: String,
    pub created_at: String,
    pub expires_at: Option<String>,
    pub last_used_at: Option<String>,
    /// "active", "expired" or "revoked".
    pub status: String,
}

/// A token just made: the secret is shown this once.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CreatedToken {
    pub id: i64,
    pub secret: String,
}

/// One step of "what will run".
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PlanStep {
    pub phase: String,
    pub target: String,
    pub action: String,
}

/// What pressing Deploy (or Rollback) made: a job that starts now, or a
/// request that waits (for a running job, or for its time).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Deployed {
    Job(i64),
    Waiting(Box<RequestInfo>),
}

/// A deploy or rollback request, as the pages show it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RequestInfo {
    pub id: i64,
    pub app: String,
    pub env: String,
    pub kind: String,
    pub build_id: i64,
    pub commit_sha: String,
    pub branch: String,
    pub requested_by: String,
    /// "waiting", "started", "superseded", "cancelled" or "failed".
    pub state: String,
    pub not_before: Option<String>,
    /// Why it waits, or how it ended.
    pub note: Option<String>,
    pub job_id: Option<i64>,
    pub created_at: String,
    /// Awaiting approval: when it expires.
    pub expires_at: Option<String>,
    /// Its approvals and rejections, oldest first.
    pub answers: Vec<AnswerInfo>,
    /// Whether the one looking may approve or reject it.
    pub may_answer: bool,
    /// Awaiting approval, but the one looking may not answer it: why.
    pub why_not: Option<String>,
}

/// An approval or rejection of a request.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AnswerInfo {
    pub approver: String,
    /// "approved" or "rejected".
    pub decision: String,
    pub comment: String,
    pub at: String,
}

/// One week of an environment's DORA metrics, as the Insight page draws it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WeekRow {
    /// The Monday it starts, `2026-11-02`.
    pub week: String,
    pub deployments: u32,
    pub lead_time_hours: Option<f64>,
    /// 0-100.
    pub failure_rate_percent: Option<f64>,
    pub time_to_restore_minutes: Option<f64>,
}
