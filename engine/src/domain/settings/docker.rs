//! Settings of a `docker` environment, validated before they are saved.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::error::InvalidInput;

pub const DEFAULT_ENDPOINT: &str = "unix:///var/run/docker.sock";

fn default_endpoint() -> String {
    DEFAULT_ENDPOINT.to_owned()
}
fn default_publish_address() -> String {
    "127.0.0.1".to_owned()
}
fn default_health_path() -> Option<String> {
    Some("/".to_owned())
}
fn default_health_interval_ms() -> u64 {
    500
}
fn default_keep() -> u32 {
    3
}
fn default_drain() -> u64 {
    10
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DockerConfig {
    /// The Docker Engine API: `unix:///path/to.sock` or `http://host:port`.
    #[serde(default = "default_endpoint")]
    pub endpoint: String,
    /// Where the environment's images come from (`registry[:port]/path`).
    /// When set, a build's image must be in this repository and is pulled
    /// from its registry before it starts; when not, it must already be on
    /// the engine.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_repository: Option<String>,
    /// The port the application listens on inside its container.
    pub container_port: u16,
    /// Where the environment's traffic switch (nginx) listens.
    #[serde(default = "default_publish_address")]
    pub publish_address: String,
    pub publish_port: u16,
    /// A Docker network for the containers; Slipway creates (and labels) it
    /// when missing. Default: `slipway-<app>-<env>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<String>,
    /// HTTP health check: a path answered with 2xx when healthy.
    #[serde(default = "default_health_path")]
    pub health_path: Option<String>,
    /// Or a command run inside the container with `sh -c` (exit 0 = healthy).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_command: Option<String>,
    #[serde(default = "default_health_interval_ms")]
    pub health_interval_ms: u64,
    #[serde(default = "crate::domain::settings::default_health_timeout")]
    pub health_timeout_secs: u64,
    /// Stopped containers kept for an instant rollback (besides the live one).
    #[serde(default = "default_keep")]
    pub keep_containers: u32,
    /// How long the old container keeps serving requests already in flight.
    #[serde(default = "default_drain")]
    pub drain_timeout_secs: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_mb: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpus: Option<f64>,
}

/// How Slipway reaches the engine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Endpoint {
    Unix(String),
    Http(String),
}

impl DockerConfig {
    /// A config with the defaults, for a given container and published port.
    pub fn new(container_port: u16, publish_port: u16) -> Self {
        Self {
            endpoint: default_endpoint(),
            image_repository: None,
            container_port,
            publish_address: default_publish_address(),
            publish_port,
            network: None,
            health_path: default_health_path(),
            health_command: None,
            health_interval_ms: default_health_interval_ms(),
            health_timeout_secs: crate::domain::settings::default_health_timeout(),
            keep_containers: default_keep(),
            drain_timeout_secs: default_drain(),
            memory_mb: None,
            cpus: None,
        }
    }

    pub fn endpoint(&self) -> Result<Endpoint, InvalidInput> {
        let raw = self.endpoint.trim();
        let bad = || {
            InvalidInput::new(
                "endpoint",
                "the Docker endpoint is unix:///absolute/path.sock or http://host:port",
            )
        };
        if let Some(path) = raw.strip_prefix("unix://") {
            let ok = path.starts_with('/')
                && !path.contains("..")
                && !path.chars().any(char::is_control);
            return if ok {
                Ok(Endpoint::Unix(path.to_owned()))
            } else {
                Err(bad())
            };
        }
        if let Some(rest) = raw
            .strip_prefix("http://")
            .or_else(|| raw.strip_prefix("tcp://"))
        {
            let url = url::Url::parse(&format!("http://{rest}")).map_err(|_| bad())?;
            let ok = url.host_str().is_some()
                && url.port().is_some()
                && url.path() == "/"
                && url.query().is_none()
                && url.username().is_empty();
            return if ok {
                Ok(Endpoint::Http(format!("http://{rest}")))
            } else {
                Err(bad())
            };
        }
        Err(bad())
    }

    pub fn publish_ip(&self) -> Result<IpAddr, InvalidInput> {
        self.publish_address.trim().parse().map_err(|_| {
            InvalidInput::new(
                "publish_address",
                "the published address is an IP address, e.g. 127.0.0.1",
            )
        })
    }

    pub fn validate(&self) -> Result<(), InvalidInput> {
        self.endpoint()?;
        self.publish_ip()?;
        if let Some(repository) = &self.image_repository {
            super::image::ImageRef::parse_repository(repository)?;
        }
        if self.container_port == 0 || self.publish_port == 0 {
            return Err(InvalidInput::new(
                "ports",
                "the container port and the published port are 1-65535",
            ));
        }
        if let Some(network) = &self.network {
            if !is_network_name(network) {
                return Err(InvalidInput::new(
                    "network",
                    "a network name is letters, digits, '_', '.' and '-' (at most 64), starting with a letter or digit",
                ));
            }
        }
        match (&self.health_path, &self.health_command) {
            (Some(_), Some(_)) => {
                return Err(InvalidInput::new(
                    "health",
                    "choose an HTTP path or a command for the health check, not both",
                ))
            }
            (Some(path), None) => {
                let ok = path.starts_with('/')
                    && path.len() <= 1000
                    && path.chars().all(|c| c.is_ascii_graphic());
                if !ok {
                    return Err(InvalidInput::new(
                        "health_path",
                        "the health path starts with '/' and has no spaces or control characters",
                    ));
                }
            }
            (None, Some(command)) => {
                if command.trim().is_empty() || command.len() > 4000 {
                    return Err(InvalidInput::new(
                        "health_command",
                        "a command must be 1-4000 characters",
                    ));
                }
            }
            (None, None) => {
                return Err(InvalidInput::new(
                    "health",
                    "set a health check (an HTTP path or a command): traffic only switches to a healthy container",
                ))
            }
        }
        if !(50..=60_000).contains(&self.health_interval_ms)
            || !(1..=600).contains(&self.health_timeout_secs)
        {
            return Err(InvalidInput::new(
                "timeouts",
                "health interval 50-60000 ms, health timeout 1-600 s",
            ));
        }
        if !(0..=300).contains(&self.drain_timeout_secs) {
            return Err(InvalidInput::new("drain_timeout_secs", "drain for 0-300 s"));
        }
        if !(1..=50).contains(&self.keep_containers) {
            return Err(InvalidInput::new(
                "keep_containers",
                "keep 1-50 stopped containers for rollback",
            ));
        }
        if self
            .memory_mb
            .is_some_and(|m| !(6..=1_048_576).contains(&m))
        {
            return Err(InvalidInput::new("memory_mb", "memory limit 6 MB - 1 TB"));
        }
        if self
            .cpus
            .is_some_and(|c| !c.is_finite() || !(0.01..=512.0).contains(&c))
        {
            return Err(InvalidInput::new("cpus", "CPU limit 0.01-512"));
        }
        Ok(())
    }
}

pub(crate) fn is_network_name(name: &str) -> bool {
    let mut chars = name.chars();
    (1..=64).contains(&name.len())
        && chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_validate_and_bad_values_are_refused() {
        let good = DockerConfig::new(80, 8080);
        good.validate().unwrap();
        assert_eq!(
            good.endpoint().unwrap(),
            Endpoint::Unix("/var/run/docker.sock".into())
        );

        let mut bad = good.clone();
        bad.endpoint = "ssh://host".into();
        assert!(bad.validate().is_err());
        let mut bad = good.clone();
        bad.publish_address = "localhost; rm".into();
        assert!(bad.validate().is_err());
        let mut bad = good.clone();
        bad.network = Some("-net".into());
        assert!(bad.validate().is_err());
        let mut bad = good.clone();
        bad.health_path = Some("/x y".into());
        assert!(bad.validate().is_err());
        let mut bad = good.clone();
        bad.health_path = None;
        assert!(bad.validate().is_err(), "a health check is required");
        let mut bad = good.clone();
        bad.cpus = Some(f64::NAN);
        assert!(bad.validate().is_err());
    }
}
