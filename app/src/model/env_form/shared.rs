//! The form's parts that several backends share, and how its text reads.

use serde::{Deserialize, Serialize};

/// Who may deploy, and what deploys by itself.
#[derive(Clone, Debug, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct AccessForm {
    #[serde(with = "super::checkbox")]
    pub protected: bool,
    /// Besides admins, who may deploy when protected: `user:<login>`, `group:<provider>:<name>`.
    pub deployers: String,
    /// Builds of branches matching this deploy here as they are registered (empty: none).
    pub auto_deploy: String,
    /// Builds of branches matching this each get a QA environment copying this one (empty: none).
    pub previews: String,
    /// A deploy that meets a running job waits for it instead of being refused.
    #[serde(default, with = "super::checkbox")]
    pub queue_deploys: bool,
    /// Approval rules, one per line: `<N> of <user:… group:…>` (empty: none).
    pub approvals: String,
    /// Whoever registered the build may not approve its deploy either.
    #[serde(default, with = "super::checkbox")]
    pub prevent_self_review: bool,
    /// Minutes to wait after the last approval.
    pub approval_wait_minutes: String,
    /// Hours a request waits for approvals before it expires.
    pub approval_expire_hours: String,
    /// Take builds only from this environment (those that went live there); empty: any build.
    pub promotes_from: String,
}

/// Where releases go and what runs around the switch (local and ssh; docker
/// keeps only the count, as stopped containers).
#[derive(Clone, Debug, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ReleaseForm {
    pub target_dir: String,
    pub keep_releases: String,
    pub before_switch: String,
    pub after_switch: String,
}

/// How a new release is checked before it counts as live.
#[derive(Clone, Debug, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct HealthForm {
    /// "none", "command" or "http".
    pub health_kind: String,
    pub health_command: String,
    pub health_url: String,
    pub health_timeout_secs: String,
}

/// The hosts a fleet (ssh, dnf) is reached on.
#[derive(Clone, Debug, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct HostsForm {
    /// One host (or host:port) per line.
    pub hosts: String,
    /// Or discover the hosts at job start from a command or a file.
    pub hosts_command: String,
    pub hosts_file: String,
    pub user: String,
    pub port: String,
    pub identity_file: String,
    pub known_hosts: String,
    pub parallelism: String,
}

impl HostsForm {
    /// The listed hosts, one per non-empty line.
    pub fn listed(&self) -> Vec<String> {
        lines(&self.hosts)
    }
}

/// A textarea's non-empty lines, trimmed.
pub fn lines(raw: &str) -> Vec<String> {
    raw.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .map(str::to_owned)
        .collect()
}

#[cfg(feature = "ssr")]
pub use server::*;

#[cfg(feature = "ssr")]
mod server {
    use std::path::{Path, PathBuf};

    use engine::auth::DeployPolicy;
    use engine::backends::dnf::SshHosts;
    use engine::InvalidInput;

    use super::*;

    /// A field that holds a number, or what to enter instead.
    pub fn number<T: std::str::FromStr>(
        field: &'static str,
        raw: &str,
        what: &str,
    ) -> Result<T, InvalidInput> {
        raw.trim()
            .parse()
            .map_err(|_| InvalidInput::new(field, format!("enter {what}")))
    }

    /// A field that may be left empty.
    pub fn optional(raw: &str) -> Option<String> {
        Some(raw.trim().to_owned()).filter(|s| !s.is_empty())
    }

    pub fn shown(path: Option<&PathBuf>) -> String {
        path.map(|p| p.display().to_string()).unwrap_or_default()
    }

    pub const PORT: &str = "a port number 1-65535";

    impl AccessForm {
        pub fn policy(&self) -> Result<DeployPolicy, InvalidInput> {
            let policy = DeployPolicy::parse(
                self.protected,
                &self.deployers,
                &self.auto_deploy,
                &self.previews,
            )?;
            let wait = match self.approval_wait_minutes.trim() {
                "" => 0,
                raw => number("approval_wait_minutes", raw, "a number of minutes")?,
            };
            let expire = match self.approval_expire_hours.trim() {
                "" => engine::auth::DEFAULT_EXPIRE_HOURS,
                raw => number("approval_expire_hours", raw, "a number of hours")?,
            };
            let approvals = engine::auth::ApprovalPolicy::parse(
                &self.approvals,
                self.prevent_self_review,
                wait,
                expire,
            )?;
            let promotes_from = match self.promotes_from.trim() {
                "" => None,
                name => Some(
                    engine::domain::EnvName::parse(name)
                        .map_err(|e| InvalidInput::new("promotes_from", e.message))?,
                ),
            };
            Ok(DeployPolicy {
                queue_deploys: self.queue_deploys,
                approvals,
                promotes_from,
                ..policy
            })
        }

        pub fn from_policy(policy: &DeployPolicy) -> Self {
            let pattern = |p: &Option<engine::domain::BranchPattern>| {
                p.as_ref().map(ToString::to_string).unwrap_or_default()
            };
            Self {
                protected: policy.protected,
                deployers: policy.deployer_names().join(", "),
                auto_deploy: pattern(&policy.auto_deploy),
                previews: pattern(&policy.previews),
                queue_deploys: policy.queue_deploys,
                approvals: policy.approvals.rules_text(),
                prevent_self_review: policy.approvals.prevent_self_review,
                approval_wait_minutes: policy.approvals.wait_minutes.to_string(),
                approval_expire_hours: policy.approvals.expire_hours.to_string(),
                promotes_from: policy
                    .promotes_from
                    .as_ref()
                    .map(ToString::to_string)
                    .unwrap_or_default(),
            }
        }
    }

    impl ReleaseForm {
        pub fn defaults() -> Self {
            Self {
                // No default directory: one per environment, which the form
                // cannot know before it is named (`/srv/<app>/` would hold them all).
                keep_releases: engine::backends::DEFAULT_KEEP_RELEASES.to_string(),
                ..Default::default()
            }
        }

        /// A release directory's settings, as local and ssh store them.
        pub fn of(
            target_dir: &Path,
            keep_releases: u32,
            before_switch: Option<&String>,
            after_switch: Option<&String>,
        ) -> Self {
            Self {
                target_dir: target_dir.display().to_string(),
                keep_releases: keep_releases.to_string(),
                before_switch: before_switch.cloned().unwrap_or_default(),
                after_switch: after_switch.cloned().unwrap_or_default(),
            }
        }

        pub fn keep(&self) -> Result<u32, InvalidInput> {
            number(
                "keep_releases",
                &self.keep_releases,
                "a whole number of releases to keep",
            )
        }
    }

    impl HealthForm {
        pub fn defaults() -> Self {
            Self {
                health_kind: "none".into(),
                health_timeout_secs: engine::backends::DEFAULT_HEALTH_TIMEOUT_SECS.to_string(),
                ..Default::default()
            }
        }

        pub fn timeout_secs(&self) -> Result<u64, InvalidInput> {
            number(
                "health_timeout_secs",
                &self.health_timeout_secs,
                "the health check's timeout as a whole number of seconds",
            )
        }
    }

    impl HostsForm {
        pub fn defaults() -> Self {
            Self {
                user: "deploy".into(),
                port: "22".into(),
                parallelism: "10".into(),
                ..Default::default()
            }
        }

        /// The hosts and how to reach them, as a fleet backend takes them.
        pub fn ssh_hosts(&self) -> Result<SshHosts, InvalidInput> {
            Ok(SshHosts {
                hosts: self.listed(),
                hosts_command: optional(&self.hosts_command),
                hosts_file: optional(&self.hosts_file).map(Into::into),
                user: self.user.trim().to_owned(),
                port: number("port", &self.port, PORT)?,
                identity_file: optional(&self.identity_file).map(Into::into),
                known_hosts: self.known_hosts.trim().to_owned(),
                connect_timeout_secs: 10,
            })
        }

        /// How many hosts a job works on at once.
        pub fn parallel(&self, doing: &str) -> Result<u32, InvalidInput> {
            number(
                "parallelism",
                &self.parallelism,
                &format!("how many hosts {doing} at once"),
            )
        }

        pub fn fill(&mut self, hosts: &SshHosts) {
            self.hosts = hosts.hosts.join("\n");
            self.hosts_command = hosts.hosts_command.clone().unwrap_or_default();
            self.hosts_file = shown(hosts.hosts_file.as_ref());
            self.user = hosts.user.clone();
            self.port = hosts.port.to_string();
            self.identity_file = shown(hosts.identity_file.as_ref());
            self.known_hosts = hosts.known_hosts.clone();
        }
    }
}
