//! Settings of a `dnf` environment, validated before they are saved.

use std::path::{Component, PathBuf};

use serde::{Deserialize, Serialize};

use super::package::is_package_name;
use super::ssh::SshConfig;
use crate::error::InvalidInput;

fn default_parallelism() -> u32 {
    10
}
fn default_port() -> u16 {
    22
}
fn default_connect_timeout() -> u64 {
    10
}

/// Most extra options an environment may pass to the package manager.
const MAX_EXTRA_OPTIONS: usize = 20;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DnfConfig {
    /// The rpm package this environment runs (builds are versions of it).
    pub package: String,
    /// The repository's id on the hosts, and where it is served.
    pub repo_id: String,
    pub repo_url: String,
    /// The machines to install on.
    pub target: DnfTarget,
    /// Run `dnf`/`rpm` through `sudo -n` (the remote user is not root).
    #[serde(default)]
    pub sudo: bool,
    #[serde(default)]
    pub package_manager: PackageManager,
    /// Long options added to every package-manager command (`--nogpgcheck`,
    /// `--setopt=…`, `--enablerepo=…` for dependencies), each passed quoted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extra_options: Vec<String>,
    /// Manage an installroot instead of `/` (containers, chroots): `dnf
    /// --installroot` and `rpm --root`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub install_root: Option<PathBuf>,
    /// How many hosts install at once.
    #[serde(default = "default_parallelism")]
    pub parallelism: u32,
}

/// Where the package is installed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum DnfTarget {
    /// The machine Slipway runs on, as a single host.
    Local,
    /// A fleet reached over SSH, exactly as the `ssh` backend reaches it.
    Ssh(SshHosts),
}

/// The connection settings of an SSH fleet (the `ssh` backend's transport).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SshHosts {
    /// The hosts, listed; or empty, and discovered when each job starts
    /// from `hosts_command` or `hosts_file`, as the `ssh` backend does.
    #[serde(default)]
    pub hosts: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hosts_command: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hosts_file: Option<PathBuf>,
    pub user: String,
    #[serde(default = "default_port")]
    pub port: u16,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity_file: Option<PathBuf>,
    /// Pinned host keys, `known_hosts` format; other keys are refused.
    pub known_hosts: String,
    #[serde(default = "default_connect_timeout")]
    pub connect_timeout_secs: u64,
}

impl SshHosts {
    /// The settings the SSH transport reads. It only uses the connection
    /// fields; the release-directory fields are inert placeholders here.
    pub fn transport_config(&self, parallelism: u32) -> SshConfig {
        SshConfig {
            hosts: self.hosts.clone(),
            hosts_command: self.hosts_command.clone(),
            hosts_file: self.hosts_file.clone(),
            user: self.user.clone(),
            port: self.port,
            identity_file: self.identity_file.clone(),
            known_hosts: self.known_hosts.clone(),
            deploy_path: PathBuf::from("/nonexistent/slipway-dnf"),
            parallelism,
            keep_releases: super::DEFAULT_KEEP_RELEASES,
            before_switch: None,
            after_switch: None,
            health_check: None,
            health_timeout_secs: super::DEFAULT_HEALTH_TIMEOUT_SECS,
            connect_timeout_secs: self.connect_timeout_secs,
            // dnf and rpm get `sudo -n` from the dnf plan itself.
            sudo: false,
            fetch_from: None,
        }
    }
}

/// The command that drives packages: `dnf`, or `yum` where that is its
/// name (yum 4 on EL 8+ is dnf and takes the same options).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PackageManager {
    #[default]
    Dnf,
    Yum,
}

impl PackageManager {
    pub fn command(self) -> &'static str {
        match self {
            PackageManager::Dnf => "dnf",
            PackageManager::Yum => "yum",
        }
    }

    pub fn parse(raw: &str) -> Result<Self, InvalidInput> {
        match raw.trim() {
            "dnf" | "" => Ok(PackageManager::Dnf),
            "yum" => Ok(PackageManager::Yum),
            other => Err(InvalidInput::new(
                "package_manager",
                format!("{other:?}: choose dnf or yum"),
            )),
        }
    }
}

/// A repository id: letters, digits, `.`, `_`, `-` (no leading `-`).
fn is_repo_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 100
        && !id.starts_with('-')
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

/// One extra option: a long option (`--x` or `--x=value`), printable, no
/// commas or spaces in the name part.
fn check_extra_option(option: &str) -> Result<(), InvalidInput> {
    let name = option.split_once('=').map_or(option, |(name, _)| name);
    let name_ok = name.len() > 2
        && name.starts_with("--")
        && name[2..]
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !name_ok || option.len() > 500 || option.chars().any(char::is_control) {
        return Err(InvalidInput::new(
            "extra_options",
            format!("{option:?}: each extra option is a long option like --nogpgcheck or --setopt=name=value"),
        ));
    }
    Ok(())
}

fn check_url(raw: &str) -> Result<(), InvalidInput> {
    let refuse = |why: &str| InvalidInput::new("repo_url", format!("{raw:?}: {why}"));
    let url = url::Url::parse(raw).map_err(|e| refuse(&e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https" | "file") {
        return Err(refuse("use an http, https or file URL"));
    }
    // Settings are shown to every viewer and the URL appears in job logs:
    // give hosts repository credentials in their own dnf configuration.
    if !url.username().is_empty() || url.password().is_some() {
        return Err(InvalidInput::new(
            "repo_url",
            "the repository URL holds credentials, which every viewer would see: \
             configure them on the hosts (a .repo file or dnf variables) instead",
        ));
    }
    // `--repofrompath=id,url` splits at the comma.
    if raw.len() > 2000 || raw.contains([',', ' ']) || raw.chars().any(char::is_control) {
        return Err(refuse("no spaces or commas, at most 2000 characters"));
    }
    Ok(())
}

impl DnfConfig {
    pub fn validate(&self) -> Result<(), InvalidInput> {
        if !is_package_name(&self.package) {
            return Err(InvalidInput::new(
                "package",
                "a package name is letters, digits and . _ + - (not starting with - or .)",
            ));
        }
        if !is_repo_id(&self.repo_id) {
            return Err(InvalidInput::new(
                "repo_id",
                "a repository id is letters, digits, '.', '_' and '-'",
            ));
        }
        check_url(&self.repo_url)?;
        if self.extra_options.len() > MAX_EXTRA_OPTIONS {
            return Err(InvalidInput::new(
                "extra_options",
                format!("at most {MAX_EXTRA_OPTIONS} extra options"),
            ));
        }
        for option in &self.extra_options {
            check_extra_option(option)?;
        }
        if let Some(root) = &self.install_root {
            let ok = root.is_absolute()
                && root.parent().is_some()
                && !root.components().any(|c| matches!(c, Component::ParentDir))
                && root
                    .to_str()
                    .is_some_and(|s| !s.chars().any(char::is_control));
            if !ok {
                return Err(InvalidInput::new(
                    "install_root",
                    "the install root must be an absolute path, not '/', without '..'",
                ));
            }
        }
        if !(1..=200).contains(&self.parallelism) {
            return Err(InvalidInput::new(
                "parallelism",
                "install on 1-200 hosts at once",
            ));
        }
        match &self.target {
            DnfTarget::Local => Ok(()),
            DnfTarget::Ssh(ssh) => ssh.transport_config(self.parallelism).validate(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> DnfConfig {
        DnfConfig {
            package: "shop".into(),
            repo_id: "slipway-shop".into(),
            repo_url: "http://127.0.0.1:3000/repo/shop/".into(),
            target: DnfTarget::Local,
            sudo: false,
            package_manager: PackageManager::Dnf,
            extra_options: vec![
                "--nogpgcheck".into(),
                "--setopt=install_weak_deps=False".into(),
            ],
            install_root: None,
            parallelism: 10,
        }
    }

    #[test]
    fn a_sound_config_passes_and_round_trips_as_json() {
        let config = sample();
        config.validate().unwrap();
        let json = serde_json::to_string(&config).unwrap();
        assert_eq!(serde_json::from_str::<DnfConfig>(&json).unwrap(), config);
    }

    #[test]
    fn hostile_settings_are_refused() {
        type Change = Box<dyn Fn(&mut DnfConfig)>;
        let cases: Vec<(&str, Change)> = vec![
            ("package", Box::new(|c| c.package = "shop;id".into())),
            ("package", Box::new(|c| c.package = "-shop".into())),
            ("repo_id", Box::new(|c| c.repo_id = "a b".into())),
            ("repo_id", Box::new(|c| c.repo_id = "-x".into())),
            ("repo_url", Box::new(|c| c.repo_url = "ftp://x/".into())),
            ("repo_url", Box::new(|c| c.repo_url = "http://x/a,b".into())),
            ("repo_url", Box::new(|c| c.repo_url = "not a url".into())),
            (
                "repo_url",
                Box::new(|c| c.repo_url = "https://ci:s3cret@repo.example/shop/".into()),
            ),
            (
                "extra_options",
                Box::new(|c| c.extra_options = vec!["install".into()]),
            ),
            (
                "extra_options",
                Box::new(|c| c.extra_options = vec!["-y".into()]),
            ),
            (
                "extra_options",
                Box::new(|c| c.extra_options = vec!["--x;id".into()]),
            ),
            (
                "extra_options",
                Box::new(|c| c.extra_options = vec!["--setopt=a\nb".into()]),
            ),
            (
                "install_root",
                Box::new(|c| c.install_root = Some("/".into())),
            ),
            (
                "install_root",
                Box::new(|c| c.install_root = Some("rel".into())),
            ),
            ("parallelism", Box::new(|c| c.parallelism = 0)),
            (
                "hosts",
                Box::new(|c| {
                    c.target = DnfTarget::Ssh(SshHosts {
                        hosts: vec!["-oProxyCommand=id".into()],
                        hosts_command: None,
                        hosts_file: None,
                        user: "deploy".into(),
                        port: 22,
                        identity_file: None,
                        known_hosts: "x ssh-ed25519 AAAA".into(),
                        connect_timeout_secs: 10,
                    })
                }),
            ),
        ];
        for (field, change) in cases {
            let mut config = sample();
            change(&mut config);
            let err = config.validate().expect_err(field);
            assert_eq!(err.field, field, "{err}");
        }
    }
}
