//! The Docker Engine API, through `bollard`, reduced to what a release
//! needs. Every listing is filtered by Slipway's labels.

use std::collections::HashMap;

use bollard::errors::Error as BollardError;
use bollard::models::{ContainerCreateBody, NetworkCreateRequest};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, CreateImageOptionsBuilder, ListContainersOptionsBuilder,
    ListNetworksOptionsBuilder, RemoveContainerOptionsBuilder, StopContainerOptionsBuilder,
};
use bollard::Docker;

use super::plan::{EnvIdentity, Existing, LABEL_RELEASE, LABEL_VARS};
use super::DockerConfig;
use crate::domain::settings::docker::Endpoint;

const API_TIMEOUT_SECS: u64 = 120;

#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error("cannot reach the Docker engine at {endpoint}: {source}")]
    Unreachable {
        endpoint: String,
        source: BollardError,
    },
    #[error("the image {0} is not on the Docker engine: load it there, or set the environment's image repository so Slipway pulls it")]
    ImageMissing(String),
    #[error("could not pull {image} from its registry: {source}")]
    Pull { image: String, source: BollardError },
    #[error("Docker engine: {0}")]
    Api(#[from] BollardError),
    #[error("{0}")]
    Invalid(String),
}

pub struct Daemon {
    docker: Docker,
}

fn status_of(e: &BollardError) -> Option<u16> {
    match e {
        BollardError::DockerResponseServerError { status_code, .. } => Some(*status_code),
        _ => None,
    }
}

impl Daemon {
    /// Connects and agrees on an API version (Debian's engine speaks 1.41).
    pub async fn connect(config: &DockerConfig) -> Result<Self, DaemonError> {
        let endpoint = config
            .endpoint()
            .map_err(|e| DaemonError::Invalid(e.to_string()))?;
        let unreachable = |source| DaemonError::Unreachable {
            endpoint: config.endpoint.clone(),
            source,
        };
        let docker = match &endpoint {
            Endpoint::Unix(path) => {
                Docker::connect_with_unix(path, API_TIMEOUT_SECS, bollard::API_DEFAULT_VERSION)
            }
            Endpoint::Http(url) => {
                Docker::connect_with_http(url, API_TIMEOUT_SECS, bollard::API_DEFAULT_VERSION)
            }
        }
        .map_err(unreachable)?;
        let docker = docker.negotiate_version().await.map_err(unreachable)?;
        Ok(Self { docker })
    }

    /// Pulls `image` from its registry, telling `on_status` each step the
    /// engine reports once (not every progress tick).
    pub async fn pull(
        &self,
        image: &str,
        mut on_status: impl FnMut(String),
    ) -> Result<(), DaemonError> {
        use futures::StreamExt as _;
        let options = CreateImageOptionsBuilder::default()
            .from_image(image)
            .build();
        let mut stream = self.docker.create_image(Some(options), None, None);
        let mut last = String::new();
        while let Some(info) = stream.next().await {
            let info = info.map_err(|e| DaemonError::Pull {
                image: image.to_owned(),
                source: e,
            })?;
            let Some(status) = info.status else { continue };
            let line = match info.id {
                Some(id) if !status.starts_with("Pulling from") => format!("{id}: {status}"),
                _ => status,
            };
            let ticking = line.ends_with(": Downloading") || line.ends_with(": Extracting");
            if !ticking && line != last {
                on_status(line.clone());
                last = line;
            }
        }
        Ok(())
    }

    /// The image's id, or a clear error when the engine does not have it.
    pub async fn image_id(&self, image: &str) -> Result<String, DaemonError> {
        match self.docker.inspect_image(image).await {
            Ok(inspect) => Ok(inspect.id.unwrap_or_default()),
            Err(e) if status_of(&e) == Some(404) => {
                Err(DaemonError::ImageMissing(image.to_owned()))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Creates the environment's network unless it exists. `true` if created.
    pub async fn ensure_network(
        &self,
        name: &str,
        identity: &EnvIdentity,
    ) -> Result<bool, DaemonError> {
        match self.docker.inspect_network(name, None).await {
            Ok(_) => Ok(false),
            Err(e) if status_of(&e) == Some(404) => {
                self.docker
                    .create_network(NetworkCreateRequest {
                        name: name.to_owned(),
                        driver: Some("bridge".to_owned()),
                        labels: Some(identity.labels()),
                        ..Default::default()
                    })
                    .await?;
                Ok(true)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Networks carrying this environment's labels.
    pub async fn labelled_networks(
        &self,
        identity: &EnvIdentity,
    ) -> Result<Vec<String>, DaemonError> {
        let filters = HashMap::from([("label", identity.label_filters())]);
        let networks = self
            .docker
            .list_networks(Some(
                ListNetworksOptionsBuilder::default()
                    .filters(&filters)
                    .build(),
            ))
            .await?;
        Ok(networks.into_iter().filter_map(|n| n.name).collect())
    }

    pub async fn remove_network(&self, name: &str) -> Result<(), DaemonError> {
        match self.docker.remove_network(name).await {
            Ok(()) => Ok(()),
            Err(e) if status_of(&e) == Some(404) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Every container of the environment, running or not.
    pub async fn containers(&self, identity: &EnvIdentity) -> Result<Vec<Existing>, DaemonError> {
        let filters = HashMap::from([("label", identity.label_filters())]);
        let options = ListContainersOptionsBuilder::default()
            .all(true)
            .filters(&filters)
            .build();
        let listed = self.docker.list_containers(Some(options)).await?;
        Ok(listed
            .into_iter()
            .filter_map(|c| {
                let labels = c.labels.as_ref()?;
                let release_key = labels.get(LABEL_RELEASE)?.clone();
                let vars_digest = labels.get(LABEL_VARS).cloned();
                Some(Existing {
                    vars_digest,
                    id: c.id?,
                    release_key,
                    created: c.created.unwrap_or_default(),
                    running: matches!(
                        c.state,
                        Some(bollard::models::ContainerSummaryStateEnum::RUNNING)
                            | Some(bollard::models::ContainerSummaryStateEnum::RESTARTING)
                    ),
                })
            })
            .collect())
    }

    pub async fn create(
        &self,
        name: &str,
        body: ContainerCreateBody,
    ) -> Result<String, DaemonError> {
        let options = CreateContainerOptionsBuilder::default().name(name).build();
        Ok(self.docker.create_container(Some(options), body).await?.id)
    }

    pub async fn start(&self, id: &str) -> Result<(), DaemonError> {
        match self.docker.start_container(id, None).await {
            Ok(()) => Ok(()),
            Err(e) if status_of(&e) == Some(304) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    pub async fn stop(&self, id: &str, grace_secs: i32) -> Result<(), DaemonError> {
        let options = StopContainerOptionsBuilder::default().t(grace_secs).build();
        match self.docker.stop_container(id, Some(options)).await {
            Ok(()) => Ok(()),
            Err(e) if matches!(status_of(&e), Some(304) | Some(404)) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    pub async fn remove(&self, id: &str) -> Result<(), DaemonError> {
        let options = RemoveContainerOptionsBuilder::default().force(true).build();
        match self.docker.remove_container(id, Some(options)).await {
            Ok(()) => Ok(()),
            Err(e) if status_of(&e) == Some(404) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Whether the container runs, its exit code if not, and the loopback
    /// port its `container_port` is published on.
    pub async fn state(
        &self,
        id: &str,
        container_port: u16,
    ) -> Result<ContainerState, DaemonError> {
        let inspect = self.docker.inspect_container(id, None).await?;
        let state = inspect.state.unwrap_or_default();
        let port = inspect
            .network_settings
            .and_then(|n| n.ports)
            .and_then(|ports| {
                ports
                    .get(&format!("{container_port}/tcp"))
                    .cloned()
                    .flatten()
            })
            .and_then(|bindings| {
                bindings
                    .into_iter()
                    .find_map(|b| b.host_port.and_then(|p| p.parse::<u16>().ok()))
            });
        Ok(ContainerState {
            running: state.running.unwrap_or(false),
            exit_code: state.exit_code,
            host_port: port,
        })
    }

    /// Runs `sh -c command` in the container; its exit code.
    pub async fn exec(&self, id: &str, command: &str) -> Result<i64, DaemonError> {
        use bollard::exec::{CreateExecOptions, StartExecOptions};
        let exec = self
            .docker
            .create_exec(
                id,
                CreateExecOptions::<String> {
                    cmd: Some(vec!["sh".into(), "-c".into(), command.to_owned()]),
                    attach_stdout: Some(false),
                    attach_stderr: Some(false),
                    ..Default::default()
                },
            )
            .await?;
        self.docker
            .start_exec(
                &exec.id,
                Some(StartExecOptions {
                    detach: true,
                    ..Default::default()
                }),
            )
            .await?;
        loop {
            let inspect = self.docker.inspect_exec(&exec.id).await?;
            if inspect.running != Some(true) {
                return Ok(inspect.exit_code.unwrap_or(-1));
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }
}

#[derive(Clone, Debug)]
pub struct ContainerState {
    pub running: bool,
    pub exit_code: Option<i64>,
    pub host_port: Option<u16>,
}
