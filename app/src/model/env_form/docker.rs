//! A docker environment: blue-green containers behind an nginx of its own.

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct DockerForm {
    #[serde(rename = "docker_endpoint")]
    pub endpoint: String,
    /// Where images come from (empty: already on the engine).
    pub image_repository: String,
    pub container_port: String,
    pub publish_address: String,
    /// Empty for a new environment: there is no sensible default.
    pub publish_port: String,
    pub network: String,
    pub health_path: String,
    pub drain_timeout_secs: String,
    pub memory_mb: String,
    pub cpus: String,
}

#[cfg(feature = "ssr")]
pub use server::*;

#[cfg(feature = "ssr")]
mod server {
    use engine::backends::docker::{DockerConfig, DEFAULT_ENDPOINT};
    use engine::InvalidInput;

    use super::super::shared::{number, optional, PORT};
    use super::super::EnvForm;
    use super::DockerForm;

    impl DockerForm {
        pub fn defaults() -> Self {
            Self {
                endpoint: DEFAULT_ENDPOINT.into(),
                container_port: "80".into(),
                publish_address: "127.0.0.1".into(),
                health_path: "/".into(),
                drain_timeout_secs: "10".into(),
                ..Default::default()
            }
        }
    }

    pub fn config(form: &EnvForm) -> Result<DockerConfig, InvalidInput> {
        let docker = &form.docker;
        let mut config = DockerConfig::new(
            number("container_port", &docker.container_port, PORT)?,
            number("publish_port", &docker.publish_port, PORT)?,
        );
        if let Some(endpoint) = optional(&docker.endpoint) {
            config.endpoint = endpoint;
        }
        config.image_repository = optional(&docker.image_repository);
        if let Some(address) = optional(&docker.publish_address) {
            config.publish_address = address;
        }
        config.network = optional(&docker.network);
        (config.health_path, config.health_command) = match form.health.health_kind.trim() {
            "command" => (None, optional(&form.health.health_command)),
            _ => (optional(&docker.health_path), None),
        };
        config.health_timeout_secs = form.health.timeout_secs()?;
        config.keep_containers = form.release.keep()?;
        config.drain_timeout_secs = number(
            "drain_timeout_secs",
            &docker.drain_timeout_secs,
            "a whole number",
        )?;
        config.memory_mb = optional(&docker.memory_mb)
            .map(|m| number("memory_mb", &m, "a whole number"))
            .transpose()?;
        config.cpus = optional(&docker.cpus)
            .map(|c| number("cpus", &c, "a number of CPUs, e.g. 0.5"))
            .transpose()?;
        Ok(config)
    }

    pub fn fill(form: &mut EnvForm, config: &DockerConfig) {
        form.release.keep_releases = config.keep_containers.to_string();
        let health = &mut form.health;
        health.health_kind = if config.health_command.is_some() {
            "command"
        } else {
            "http"
        }
        .into();
        health.health_command = config.health_command.clone().unwrap_or_default();
        health.health_timeout_secs = config.health_timeout_secs.to_string();
        form.docker = DockerForm {
            endpoint: config.endpoint.clone(),
            image_repository: config.image_repository.clone().unwrap_or_default(),
            container_port: config.container_port.to_string(),
            publish_address: config.publish_address.clone(),
            publish_port: config.publish_port.to_string(),
            network: config.network.clone().unwrap_or_default(),
            health_path: config.health_path.clone().unwrap_or_default(),
            drain_timeout_secs: config.drain_timeout_secs.to_string(),
            memory_mb: config.memory_mb.map(|m| m.to_string()).unwrap_or_default(),
            cpus: config.cpus.map(|c| c.to_string()).unwrap_or_default(),
        };
    }
}
