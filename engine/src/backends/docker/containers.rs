//! The release's container: pulled, started beside the live one (or the
//! kept one restarted), and undone again when the release does not go live.

use tracing::{info_span, Instrument};

use super::daemon::{Daemon, DaemonError};
use super::executor::{log, warn, DockerRelease, STOP_GRACE_SECS};
use super::plan::{self, ContainerRequest};
use super::ImageRef;
use crate::backends::exec::At;
use crate::domain::HostState;

/// Pulls the build's image from the environment's registry, streaming what
/// the engine reports into the job log. Only images of the environment's
/// own repository are pulled.
pub(super) async fn pull_image(
    run: &DockerRelease<'_>,
    daemon: &Daemon,
    image: &ImageRef,
    repository: &str,
) -> Result<(), DaemonError> {
    let container = run.container.as_str();
    if image.repository() != Some(repository) {
        return Err(DaemonError::Invalid(format!(
            "the build's image {image} is not from this environment's repository {repository}"
        )));
    }
    let at = At::new("stage", "pull", 0);
    run.staging
        .journal(container, at, HostState::Running, None)
        .await;
    log(run, Some(container), &format!("pulling {image}")).await;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    let pulled = async {
        let result = daemon
            .pull(image.as_str(), |line| {
                let _ = tx.send(line);
            })
            .await;
        drop(tx);
        result
    };
    let forward = async {
        while let Some(line) = rx.recv().await {
            log(run, Some(container), &line).await;
        }
    };
    let (pulled, ()) = tokio::join!(
        pulled
            .instrument(info_span!("host_step", host = %container, phase = "stage", step = "pull")),
        forward
    );
    pulled
}

/// The container this release serves from, and what undoing its start means.
pub(super) enum Started {
    /// Created by this job: removed again.
    Created(String),
    /// A kept, stopped container this job started: stopped again.
    Restarted(String),
    /// Already running (the live release, restored after a failed job):
    /// left running, since it serves.
    AlreadyRunning(String),
}

impl Started {
    pub(super) fn id(&self) -> &str {
        match self {
            Started::Created(id) | Started::Restarted(id) | Started::AlreadyRunning(id) => id,
        }
    }
}

pub(super) async fn start_container(
    run: &DockerRelease<'_>,
    daemon: &Daemon,
    image: &ImageRef,
) -> Result<Started, DaemonError> {
    let name = run.container.as_str();
    let existing = daemon.containers(&run.identity).await?;
    if let Some(kept) = existing
        .iter()
        .find(|c| c.release_key == run.spec.release_key)
    {
        if kept.running {
            log(run, Some(name), "the container is already running").await;
            return Ok(Started::AlreadyRunning(kept.id.clone()));
        }
        if kept.vars_digest.as_deref() == Some(run.spec.vars_digest.as_str()) {
            log(run, Some(name), "restarting the kept container").await;
            daemon.start(&kept.id).await?;
            return Ok(Started::Restarted(kept.id.clone()));
        }
        // Started again it would bring back old values (a rotated secret).
        log(
            run,
            Some(name),
            "the environment's variables changed since the kept container was made: recreating it from its image",
        )
        .await;
        daemon.remove(&kept.id).await?;
    } else if run.spec.reuses_release {
        log(
            run,
            Some(name),
            "the kept container was pruned: recreating it from its image",
        )
        .await;
    }
    let network = run.identity.network_name(run.config);
    if daemon.ensure_network(&network, &run.identity).await? {
        log(run, None, &format!("created network {network}")).await;
    }
    let body = plan::container_body(&ContainerRequest {
        identity: &run.identity,
        config: run.config,
        image,
        release_key: run.spec.release_key,
        build_id: run.spec.build_id,
        job_id: run.ctx.job_id,
        env: run.spec.vars.clone(),
        vars_digest: &run.spec.vars_digest,
    });
    let id = daemon.create(name, body).await?;
    if let Err(e) = daemon.start(&id).await {
        let _ = daemon.remove(&id).await;
        return Err(e);
    }
    log(run, Some(name), &format!("started from {image}")).await;
    Ok(Started::Created(id))
}

pub(super) async fn undo_start(run: &DockerRelease<'_>, daemon: &Daemon, started: &Started) {
    let name = run.container.as_str();
    let (result, done) = match started {
        Started::Created(id) => (
            daemon.remove(id).await,
            "removed the new container; the live one keeps serving",
        ),
        Started::Restarted(id) => (
            daemon.stop(id, STOP_GRACE_SECS).await,
            "stopped the kept container again; the live one keeps serving",
        ),
        Started::AlreadyRunning(_) => (Ok(()), "left the running container as it was"),
    };
    match result {
        Ok(()) => log(run, Some(name), done).await,
        Err(e) => warn(run, &format!("could not clean up {name}: {e}")).await,
    }
}
