//! Settings of an `ssh` environment, validated before they are saved.

use std::fmt;
use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::InvalidInput;

fn default_port() -> u16 {
    22
}
fn default_parallelism() -> u32 {
    10
}
fn default_connect_timeout() -> u64 {
    10
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SshConfig {
    /// `host` or `host:port`, one per target (empty when discovered).
    #[serde(default)]
    pub hosts: Vec<String>,
    /// Discover the hosts at job start from this command's output (run with
    /// `sh -c` on the Slipway server), one host per line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hosts_command: Option<String>,
    /// Discover the hosts at job start from this file, one host per line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hosts_file: Option<PathBuf>,
    pub user: String,
    #[serde(default = "default_port")]
    pub port: u16,
    /// Private key to authenticate with; the agent is used when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity_file: Option<PathBuf>,
    /// Pinned host keys, in `known_hosts` format. Hosts whose key is not
    /// here (or differs) are refused.
    pub known_hosts: String,
    /// Absolute directory on every host holding `releases/` and `current`.
    pub deploy_path: PathBuf,
    /// How many hosts stage at once. The switch runs on all hosts together.
    #[serde(default = "default_parallelism")]
    pub parallelism: u32,
    #[serde(default = "crate::domain::settings::default_keep")]
    pub keep_releases: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before_switch: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after_switch: Option<String>,
    /// A command run in `current` on every host after the switch; exit 0 = healthy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_check: Option<String>,
    #[serde(default = "crate::domain::settings::default_health_timeout")]
    pub health_timeout_secs: u64,
    #[serde(default = "default_connect_timeout")]
    pub connect_timeout_secs: u64,
    /// Run the release's own steps (lock, unpack, switch, prune) as root
    /// through `sudo -n`, for a deploy path the remote user cannot write.
    /// Hooks and the health check run as the remote user (they can use
    /// `sudo` themselves, e.g. `sudo service php-fpm reload`).
    #[serde(default)]
    pub sudo: bool,
    /// The URL the hosts reach this Slipway at (e.g. `http://10.0.0.5:3000`).
    /// When set, each host fetches the release archive from Slipway over
    /// HTTP and checks its sha256 before unpacking, instead of Slipway
    /// uploading it over every SSH connection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fetch_from: Option<String>,
}

/// A validated host and port.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct HostAddr {
    pub host: String,
    pub port: u16,
}

impl fmt::Display for HostAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.port == 22 {
            f.write_str(&self.host)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

impl HostAddr {
    /// `host` or `host:port`: letters, digits, '.', '-' (no leading '-').
    pub fn parse(raw: &str, default_port: u16) -> Result<Self, InvalidInput> {
        let raw = raw.trim();
        let (host, port) = match raw.rsplit_once(':') {
            Some((host, port)) => {
                let port = port.parse::<u16>().ok().filter(|p| *p > 0).ok_or_else(|| {
                    InvalidInput::new(
                        "hosts",
                        format!("{raw:?}: the port is not a number 1-65535"),
                    )
                })?;
                (host, port)
            }
            None => (raw, default_port),
        };
        let valid = !host.is_empty()
            && host.len() <= 253
            && !host.starts_with('-')
            && !host.starts_with('.')
            && host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-');
        if !valid {
            return Err(InvalidInput::new(
                "hosts",
                format!("{raw:?} is not a host name: use letters, digits, '.' and '-', optionally ':port'"),
            ));
        }
        Ok(Self {
            host: host.to_ascii_lowercase(),
            port,
        })
    }
}

impl SshConfig {
    pub fn host_addrs(&self) -> Result<Vec<HostAddr>, InvalidInput> {
        let mut addrs = Vec::with_capacity(self.hosts.len());
        for raw in &self.hosts {
            let addr = HostAddr::parse(raw, self.port)?;
            if addrs.contains(&addr) {
                return Err(InvalidInput::new(
                    "hosts",
                    format!("{addr} is listed twice"),
                ));
            }
            addrs.push(addr);
        }
        Ok(addrs)
    }

    pub fn validate(&self) -> Result<(), InvalidInput> {
        let sources = [
            !self.hosts.is_empty(),
            self.hosts_command.is_some(),
            self.hosts_file.is_some(),
        ];
        if sources.iter().filter(|s| **s).count() != 1 {
            return Err(InvalidInput::new(
                "hosts",
                "list the hosts, or discover them with a command or from a file (one of the three)",
            ));
        }
        if self.hosts.len() > super::MAX_HOSTS {
            return Err(InvalidInput::new("hosts", "list 1-1000 hosts"));
        }
        self.host_addrs()?;
        if let Some(command) = &self.hosts_command {
            if command.trim().is_empty() || command.len() > 4000 {
                return Err(InvalidInput::new(
                    "hosts_command",
                    "a command must be 1-4000 characters",
                ));
            }
        }
        if let Some(file) = &self.hosts_file {
            if !file.is_absolute() {
                return Err(InvalidInput::new(
                    "hosts_file",
                    "the hosts file must be an absolute path",
                ));
            }
        }
        let user_ok = !self.user.is_empty()
            && self.user.len() <= 32
            && !self.user.starts_with('-')
            && self
                .user
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
        if !user_ok {
            return Err(InvalidInput::new(
                "user",
                "a user name is letters, digits, '_', '-' and '.'",
            ));
        }
        let path = &self.deploy_path;
        let path_ok = path.is_absolute()
            && path.parent().is_some()
            && !path.components().any(|c| matches!(c, Component::ParentDir))
            && path
                .to_str()
                .is_some_and(|s| !s.chars().any(char::is_control));
        if !path_ok {
            return Err(InvalidInput::new(
                "deploy_path",
                "the deploy path must be an absolute path, not '/', without '..'",
            ));
        }
        if let Some(key) = &self.identity_file {
            check_identity_file(key)?;
        }
        if self.known_hosts.trim().is_empty() {
            return Err(InvalidInput::new(
                "known_hosts",
                "pin the hosts' keys (known_hosts lines, e.g. from ssh-keyscan): unknown keys are refused",
            ));
        }
        if !(1..=200).contains(&self.parallelism) {
            return Err(InvalidInput::new(
                "parallelism",
                "stage on 1-200 hosts at once",
            ));
        }
        if !(1..=120).contains(&self.connect_timeout_secs)
            || !(1..=600).contains(&self.health_timeout_secs)
        {
            return Err(InvalidInput::new(
                "timeouts",
                "connect timeout 1-120 s, health timeout 1-600 s",
            ));
        }
        if let Some(base) = &self.fetch_from {
            check_fetch_base(base)?;
        }
        super::validate_release_settings(
            self.keep_releases,
            &[
                ("before_switch", &self.before_switch),
                ("after_switch", &self.after_switch),
                ("health_check", &self.health_check),
            ],
        )
    }
}

/// `fetch_from` is a plain http(s) base URL: no credentials, query or fragment.
fn check_fetch_base(raw: &str) -> Result<(), InvalidInput> {
    let refuse = |why: &str| {
        InvalidInput::new(
            "fetch_from",
            format!(
                "{raw:?} {why}: give the URL the hosts reach Slipway at, e.g. http://10.0.0.5:3000"
            ),
        )
    };
    let url = url::Url::parse(raw).map_err(|_| refuse("is not a URL"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(refuse("is not an http(s) URL"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(refuse("holds credentials"));
    }
    if url.query().is_some() || url.fragment().is_some() || raw.chars().any(char::is_whitespace) {
        return Err(refuse("has a query, a fragment or spaces"));
    }
    Ok(())
}

/// The key file goes into the generated `ssh_config` as a quoted value:
/// an absolute path with no quote, `%` token or control character, so it
/// cannot end the value or add a directive (`ProxyCommand`, say).
fn check_identity_file(key: &Path) -> Result<(), InvalidInput> {
    let plain = key
        .to_str()
        .is_some_and(|s| !s.chars().any(|c| c.is_control() || c == '"' || c == '%'));
    if key.is_absolute() && plain {
        Ok(())
    } else {
        Err(InvalidInput::new(
            "identity_file",
            "the key file must be an absolute path without quotes, '%' or control characters",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_file_cannot_smuggle_ssh_config_directives() {
        assert!(check_identity_file(Path::new("/etc/slipway/deploy key")).is_ok());
        for bad in [
            "keys/deploy",
            "/k\"\n  ProxyCommand touch /tmp/owned",
            "/k\nProxyCommand id",
            "/home/%u/key",
        ] {
            assert!(check_identity_file(Path::new(bad)).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn hostile_host_names_are_refused() {
        for bad in [
            "-oProxyCommand=id",
            "a;b",
            "$(id)",
            "`id`",
            "a b",
            "a\nb",
            "host:0",
            "host:99999",
            ".x",
            "",
        ] {
            assert!(HostAddr::parse(bad, 22).is_err(), "{bad:?}");
        }
        assert_eq!(
            HostAddr::parse("Web-1.example.com", 22).unwrap().host,
            "web-1.example.com"
        );
        assert_eq!(HostAddr::parse("127.0.0.1:2201", 22).unwrap().port, 2201);
    }

    #[test]
    fn fetch_from_is_a_plain_http_base_url() {
        for good in [
            "http://10.0.0.5:3000",
            "https://deploy.example.com/slipway/",
        ] {
            assert!(check_fetch_base(good).is_ok(), "{good:?}");
        }
        for bad in [
            "10.0.0.5:3000",
            "file:///etc/passwd",
            "ftp://host/",
            "http://user:pw@host/",
            "http://host/?a=1",
            "http://host/#x",
            "http://host/$(id)/ x",
            "http://",
        ] {
            assert!(check_fetch_base(bad).is_err(), "{bad:?}");
        }
    }
}
