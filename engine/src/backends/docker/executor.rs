//! Runs a blue-green release on a docker environment:
//!
//! 1. **Stage**: check the image is on the engine, start the release's
//!    container beside the live one (or restart the kept one, for a
//!    rollback), and wait until it is healthy. On failure or timeout the new
//!    container is removed; the live one never stopped serving.
//! 2. **Switch**: point the environment's nginx at the new container and
//!    reload it gracefully; confirm through the proxy that the new release
//!    answers; let the old workers drain; stop the old container (kept for
//!    rollback) and prune beyond keep-N.
//!
//! Progress is journaled per "host": the release's container and the proxy.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use tracing::{info_span, Instrument};

use super::containers::{pull_image, start_container, undo_start, Started};
use super::daemon::{Daemon, DaemonError};
use super::health::{confirm_switch, wait_healthy};
use super::plan::{self, EnvIdentity, ProxyLayout};
use super::proxy::{process_alive, Proxy};
use super::{DockerConfig, ImageRef};
use crate::backends::exec::{At, Reporter};
use crate::backends::{JobContext, ReleaseSpec, RunFailure};
use crate::domain::{EventLevel, HostState};

pub(super) const PROXY_HOST: &str = "proxy";
const CONTAINER_STEPS: i64 = 3;
const PROXY_STEPS: i64 = 4;
pub(super) const STOP_GRACE_SECS: i32 = 10;

/// One docker release as it runs.
pub(super) struct DockerRelease<'a> {
    pub config: &'a DockerConfig,
    pub identity: EnvIdentity,
    pub ctx: &'a JobContext<'a>,
    pub spec: &'a ReleaseSpec<'a>,
    /// The release's container, as progress names it.
    pub container: String,
    /// Journals the container's steps.
    pub staging: Reporter<'a>,
    /// Journals the proxy's steps.
    pub switching: Reporter<'a>,
}

pub(super) fn failed(e: impl std::fmt::Display) -> RunFailure {
    RunFailure::Failed(e.to_string())
}

/// The traffic switch's address.
pub fn listen_addr(config: &DockerConfig) -> Result<SocketAddr, RunFailure> {
    let ip = config.publish_ip().map_err(|e| failed(e.message))?;
    Ok(SocketAddr::new(ip, config.publish_port))
}

/// The docker backend's entry: stages the release's container, then
/// switches traffic to it.
pub async fn release(
    config: &DockerConfig,
    ctx: &JobContext<'_>,
    spec: &ReleaseSpec<'_>,
) -> Result<(), RunFailure> {
    let identity = EnvIdentity::new(ctx.application, ctx.environment);
    let container = identity.container_name(spec.release_key);
    let report = Reporter::new(ctx.emitter, CONTAINER_STEPS);
    let run = DockerRelease {
        config,
        identity,
        ctx,
        spec,
        container,
        staging: report,
        switching: report.with_total(PROXY_STEPS),
    };
    let span = info_span!("docker_release", job_id = ctx.job_id, release = %spec.release_key);
    async {
        let image = ImageRef::parse(spec.artifact).map_err(|e| failed(e.message))?;
        let listen = listen_addr(config)?;
        let (daemon, started, port) = stage(&run, &image).await?;
        if let Some(reason) = ctx.cancel.reason() {
            undo_start(&run, &daemon, &started).await;
            return Err(RunFailure::Cancelled(reason));
        }
        switch(&run, &daemon, &started, listen, port).await
    }
    .instrument(span)
    .await
}

/// Journals a container step as running (or done).
async fn container_step(run: &DockerRelease<'_>, step: &str, done: i64, state: HostState) {
    let at = At::new("stage", step, done);
    run.staging.journal(&run.container, at, state, None).await;
}

/// Starts the release's container and waits until it is healthy: the
/// engine, the container and its published port.
async fn stage(
    run: &DockerRelease<'_>,
    image: &ImageRef,
) -> Result<(Daemon, Started, u16), RunFailure> {
    let container = run.container.as_str();
    container_step(run, "connect", 0, HostState::Running).await;
    let waiting = At::new("switch", "waiting", 0);
    run.switching
        .journal(PROXY_HOST, waiting, HostState::Pending, None)
        .await;
    let daemon = match Daemon::connect(run.config).await {
        Ok(d) => d,
        Err(e) => return Err(fail_host(run, At::new("stage", "connect", 0), e).await),
    };
    // A deploy pulls (a tag may have moved); a rollback (or a resumed
    // job) uses the image the engine still has, so it works while the
    // registry is down.
    let have_it = run.spec.reuses_release && daemon.image_id(image.as_str()).await.is_ok();
    if let (Some(repository), false) = (&run.config.image_repository, have_it) {
        if let Err(e) = pull_image(run, &daemon, image, repository).await {
            return Err(fail_host(run, At::new("stage", "pull", 0), e).await);
        }
    }
    if !have_it {
        if let Err(e) = daemon.image_id(image.as_str()).await {
            return Err(fail_host(run, At::new("stage", "image", 0), e).await);
        }
    }
    container_step(run, "start", 1, HostState::Running).await;
    let started = match start_container(run, &daemon, image).await {
        Ok(s) => s,
        Err(e) => return Err(fail_host(run, At::new("stage", "start", 1), e).await),
    };
    container_step(run, "health", 2, HostState::Running).await;
    let port = match wait_healthy(run, &daemon, started.id()).await {
        Ok(port) => port,
        Err(failure) => {
            undo_start(run, &daemon, &started).await;
            let (msg, state) = match &failure {
                RunFailure::Cancelled(why) => (why.clone(), HostState::Cancelled),
                RunFailure::Failed(why) => (why.clone(), HostState::Failed),
            };
            let at = At::new("stage", "health", 2);
            run.staging.journal(container, at, state, Some(&msg)).await;
            not_switched(run).await;
            return Err(failure);
        }
    };
    container_step(run, "healthy", 3, HostState::Succeeded).await;
    log(
        run,
        Some(container),
        &format!("healthy on 127.0.0.1:{port}"),
    )
    .await;
    Ok((daemon, started, port))
}

/// Points the proxy at the new container and confirms it answers there,
/// then retires the old containers. A failed switch puts traffic back.
async fn switch(
    run: &DockerRelease<'_>,
    daemon: &Daemon,
    started: &Started,
    listen: SocketAddr,
    port: u16,
) -> Result<(), RunFailure> {
    let release_key = run.spec.release_key;
    proxy_step(run, "switch", 0).await;
    let proxy = Proxy::new(ProxyLayout::new(run.ctx.state_dir, &run.identity));
    let old_workers = proxy.workers();
    let backend = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port);
    let switch_started = Instant::now();
    let switched = proxy
        .switch(listen, run.config.drain_timeout_secs, backend, release_key)
        .await;
    let confirmed = match switched {
        Ok(switched) => match confirm_switch(run.config, listen, release_key).await {
            Ok(()) => Ok(()),
            Err(why) => {
                // nginx took the switch but the new container does not
                // answer through it: traffic goes back before the new
                // container is removed, so the old one keeps serving.
                match proxy.switch_back(switched).await {
                    Ok(()) => log(run, Some(PROXY_HOST), "traffic switched back").await,
                    Err(e) => warn(run, &format!("could not switch traffic back: {e}")).await,
                }
                Err(why)
            }
        },
        Err(e) => Err(e.to_string()),
    };
    if let Err(why) = confirmed {
        undo_start(run, daemon, started).await;
        let why = format!("the traffic switch failed: {why}");
        let at = At::new("switch", "switch", 0);
        run.switching
            .journal(PROXY_HOST, at, HostState::Failed, Some(&why))
            .await;
        return Err(RunFailure::Failed(why));
    }
    let switch_ms = switch_started.elapsed().as_millis();
    let text = format!("traffic switched to {release_key} on {listen} in {switch_ms} ms");
    log(run, Some(PROXY_HOST), &text).await;

    proxy_step(run, "drain", 1).await;
    let drain_deadline = Instant::now() + Duration::from_secs(run.config.drain_timeout_secs + 5);
    while old_workers.iter().any(|pid| process_alive(*pid)) && Instant::now() < drain_deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    retire_old(run, daemon, started).await;
    let at = At::new("switch", "done", PROXY_STEPS);
    run.switching
        .journal(PROXY_HOST, at, HostState::Succeeded, None)
        .await;
    Ok(())
}

/// Journals a proxy step as running.
async fn proxy_step(run: &DockerRelease<'_>, step: &str, done: i64) {
    let at = At::new("switch", step, done);
    run.switching
        .journal(PROXY_HOST, at, HostState::Running, None)
        .await;
}

/// Stops the containers traffic left (kept for rollback) and removes those
/// beyond keep-N. Traffic has moved: from here on, a failure is a warning,
/// never a failed job (the database must record the release that serves).
async fn retire_old(run: &DockerRelease<'_>, daemon: &Daemon, started: &Started) {
    proxy_step(run, "stop old", 2).await;
    let existing = match daemon.containers(&run.identity).await {
        Ok(existing) => existing,
        Err(e) => {
            let text = format!("could not list the old containers to stop them: {e}");
            warn(run, &text).await;
            Vec::new()
        }
    };
    for old in existing
        .iter()
        .filter(|c| c.running && c.id != started.id())
    {
        match daemon.stop(&old.id, STOP_GRACE_SECS).await {
            Ok(()) => {
                let text = format!("stopped {} (kept for rollback)", old.release_key);
                log(run, Some(PROXY_HOST), &text).await
            }
            Err(e) => warn(run, &format!("could not stop {}: {e}", old.release_key)).await,
        }
    }

    proxy_step(run, "prune", 3).await;
    let existing = match daemon.containers(&run.identity).await {
        Ok(existing) => existing,
        Err(e) => {
            warn(run, &format!("could not list the containers to prune: {e}")).await;
            Vec::new()
        }
    };
    let keep = run.config.keep_containers;
    for old in plan::containers_to_prune(&existing, keep, run.spec.release_key, &run.spec.protect) {
        match daemon.remove(&old.id).await {
            Ok(()) => {
                let text = format!("removed {} (beyond keep {keep})", old.release_key);
                log(run, Some(PROXY_HOST), &text).await
            }
            Err(e) => warn(run, &format!("could not remove {}: {e}", old.release_key)).await,
        }
    }
}

/// Records that staging failed on the container; the proxy was not switched.
async fn fail_host(run: &DockerRelease<'_>, at: At<'_>, error: DaemonError) -> RunFailure {
    let why = error.to_string();
    run.staging
        .journal(&run.container, at, HostState::Failed, Some(&why))
        .await;
    not_switched(run).await;
    RunFailure::Failed(why)
}

async fn not_switched(run: &DockerRelease<'_>) {
    let at = At::new("switch", "not switched", 0);
    run.switching
        .journal(PROXY_HOST, at, HostState::Skipped, None)
        .await;
}

pub(super) async fn log(run: &DockerRelease<'_>, host: Option<&str>, text: &str) {
    run.staging.log(host, EventLevel::Info, text).await;
}

pub(super) async fn warn(run: &DockerRelease<'_>, text: &str) {
    run.staging.log(None, EventLevel::Warn, text).await;
}
