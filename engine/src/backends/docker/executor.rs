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
use std::path::Path;
use std::time::{Duration, Instant};

use tracing::{info_span, Instrument};

use super::daemon::{Daemon, DaemonError};
use super::plan::{self, ContainerRequest, EnvIdentity, ProxyLayout, RELEASE_HEADER};
use super::proxy::{process_alive, Proxy};
use super::{DockerConfig, ImageRef};
use crate::backends::RunFailure;
use crate::jobs::{CancelSignal, EventEmitter, EventLevel};
use crate::store::jobs::HostProgress;

const PROXY_HOST: &str = "proxy";
const CONTAINER_STEPS: i64 = 3;
const PROXY_STEPS: i64 = 4;
const STOP_GRACE_SECS: i32 = 10;

pub struct DockerRelease<'a> {
    pub config: &'a DockerConfig,
    pub identity: EnvIdentity,
    pub image: &'a str,
    pub release_key: String,
    pub build_id: i64,
    pub job_id: i64,
    pub is_rollback: bool,
    /// Release keys that must survive pruning (the rollback target).
    pub protect: Vec<String>,
    /// Variables passed to the container (the environment's and Slipway's).
    pub env: Vec<(String, String)>,
    /// [`plan::vars_digest`] of the environment's own variables.
    pub vars_digest: String,
    pub emitter: &'a EventEmitter,
    pub cancel: CancelSignal,
    /// Where Slipway keeps per-environment proxy files.
    pub state_dir: &'a Path,
}

fn failed(e: impl std::fmt::Display) -> RunFailure {
    RunFailure::Failed(e.to_string())
}

/// The traffic switch's address.
pub fn listen_addr(config: &DockerConfig) -> Result<SocketAddr, RunFailure> {
    let ip = config.publish_ip().map_err(|e| failed(e.message))?;
    Ok(SocketAddr::new(ip, config.publish_port))
}

fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(2))
        .pool_max_idle_per_host(0)
        .build()
        .unwrap_or_default()
}

pub async fn release(run: DockerRelease<'_>) -> Result<(), RunFailure> {
    let span = info_span!("docker_release", job_id = run.job_id, release = %run.release_key);
    async move {
        let container = run.identity.container_name(&run.release_key);
        let image = ImageRef::parse(run.image).map_err(|e| failed(e.message))?;
        let listen = listen_addr(run.config)?;
        let step = |step: &'static str, done: i64, state: &'static str| {
            let container = container.clone();
            let run = &run;
            async move {
                journal(
                    run,
                    &container,
                    "stage",
                    step,
                    done,
                    CONTAINER_STEPS,
                    state,
                    None,
                )
                .await;
            }
        };
        step("connect", 0, "running").await;
        journal(
            &run,
            PROXY_HOST,
            "switch",
            "waiting",
            0,
            PROXY_STEPS,
            "pending",
            None,
        )
        .await;
        let daemon = match Daemon::connect(run.config).await {
            Ok(d) => d,
            Err(e) => {
                return fail_host(&run, &container, "stage", "connect", 0, CONTAINER_STEPS, e).await
            }
        };
        // A deploy pulls (a tag may have moved); a rollback uses the image
        // the engine still has, so it works while the registry is down.
        let have_it = run.is_rollback && daemon.image_id(image.as_str()).await.is_ok();
        if let (Some(repository), false) = (&run.config.image_repository, have_it) {
            if let Err(e) = pull_image(&run, &daemon, &container, &image, repository).await {
                return fail_host(&run, &container, "stage", "pull", 0, CONTAINER_STEPS, e).await;
            }
        }
        if !have_it {
            if let Err(e) = daemon.image_id(image.as_str()).await {
                return fail_host(&run, &container, "stage", "image", 0, CONTAINER_STEPS, e).await;
            }
        }
        step("start", 1, "running").await;
        let started = match start_container(&run, &daemon, &container, &image).await {
            Ok(s) => s,
            Err(e) => {
                return fail_host(&run, &container, "stage", "start", 1, CONTAINER_STEPS, e).await
            }
        };
        step("health", 2, "running").await;
        let port = match wait_healthy(&run, &daemon, started.id()).await {
            Ok(port) => port,
            Err(failure) => {
                undo_start(&run, &daemon, &started).await;
                let (msg, state) = match &failure {
                    RunFailure::Cancelled(why) => (why.clone(), "cancelled"),
                    RunFailure::Failed(why) => (why.clone(), "failed"),
                };
                journal(
                    &run,
                    &container,
                    "stage",
                    "health",
                    2,
                    CONTAINER_STEPS,
                    state,
                    Some(&msg),
                )
                .await;
                journal(
                    &run,
                    PROXY_HOST,
                    "switch",
                    "not switched",
                    0,
                    PROXY_STEPS,
                    "skipped",
                    None,
                )
                .await;
                return Err(failure);
            }
        };
        step("healthy", 3, "succeeded").await;
        log(
            &run,
            Some(&container),
            &format!("healthy on 127.0.0.1:{port}"),
        )
        .await;
        if let Some(reason) = run.cancel.reason() {
            undo_start(&run, &daemon, &started).await;
            return Err(RunFailure::Cancelled(reason));
        }

        // ---- switch ----
        journal(
            &run,
            PROXY_HOST,
            "switch",
            "switch",
            0,
            PROXY_STEPS,
            "running",
            None,
        )
        .await;
        let proxy = Proxy::new(ProxyLayout::new(run.state_dir, &run.identity));
        let old_workers = proxy.workers();
        let backend = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port);
        let switch_started = Instant::now();
        let switched = proxy
            .switch(
                listen,
                run.config.drain_timeout_secs,
                backend,
                &run.release_key,
            )
            .await;
        let confirmed = match switched {
            Ok(switched) => match confirm_switch(run.config, listen, &run.release_key).await {
                Ok(()) => Ok(()),
                Err(why) => {
                    // nginx took the switch but the new container does not
                    // answer through it: traffic goes back before the new
                    // container is removed, so the old one keeps serving.
                    match proxy.switch_back(switched).await {
                        Ok(()) => log(&run, Some(PROXY_HOST), "traffic switched back").await,
                        Err(e) => warn(&run, &format!("could not switch traffic back: {e}")).await,
                    }
                    Err(why)
                }
            },
            Err(e) => Err(e.to_string()),
        };
        if let Err(why) = confirmed {
            undo_start(&run, &daemon, &started).await;
            let why = format!("the traffic switch failed: {why}");
            journal(
                &run,
                PROXY_HOST,
                "switch",
                "switch",
                0,
                PROXY_STEPS,
                "failed",
                Some(&why),
            )
            .await;
            return Err(RunFailure::Failed(why));
        }
        let switch_ms = switch_started.elapsed().as_millis();
        log(
            &run,
            Some(PROXY_HOST),
            &format!(
                "traffic switched to {} on {listen} in {switch_ms} ms",
                run.release_key
            ),
        )
        .await;

        journal(
            &run,
            PROXY_HOST,
            "switch",
            "drain",
            1,
            PROXY_STEPS,
            "running",
            None,
        )
        .await;
        let drain_deadline =
            Instant::now() + Duration::from_secs(run.config.drain_timeout_secs + 5);
        while old_workers.iter().any(|pid| process_alive(*pid)) && Instant::now() < drain_deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }

        journal(
            &run,
            PROXY_HOST,
            "switch",
            "stop old",
            2,
            PROXY_STEPS,
            "running",
            None,
        )
        .await;
        // Traffic has moved: from here on, a failure is a warning, never a
        // failed job (the database must record the release that serves).
        let existing = match daemon.containers(&run.identity).await {
            Ok(existing) => existing,
            Err(e) => {
                warn(
                    &run,
                    &format!("could not list the old containers to stop them: {e}"),
                )
                .await;
                Vec::new()
            }
        };
        for old in existing
            .iter()
            .filter(|c| c.running && c.id != started.id())
        {
            match daemon.stop(&old.id, STOP_GRACE_SECS).await {
                Ok(()) => {
                    log(
                        &run,
                        Some(PROXY_HOST),
                        &format!("stopped {} (kept for rollback)", old.release_key),
                    )
                    .await
                }
                Err(e) => warn(&run, &format!("could not stop {}: {e}", old.release_key)).await,
            }
        }

        journal(
            &run,
            PROXY_HOST,
            "switch",
            "prune",
            3,
            PROXY_STEPS,
            "running",
            None,
        )
        .await;
        let existing = match daemon.containers(&run.identity).await {
            Ok(existing) => existing,
            Err(e) => {
                warn(
                    &run,
                    &format!("could not list the containers to prune: {e}"),
                )
                .await;
                Vec::new()
            }
        };
        for old in plan::containers_to_prune(
            &existing,
            run.config.keep_containers,
            &run.release_key,
            &run.protect,
        ) {
            match daemon.remove(&old.id).await {
                Ok(()) => {
                    log(
                        &run,
                        Some(PROXY_HOST),
                        &format!(
                            "removed {} (beyond keep {})",
                            old.release_key, run.config.keep_containers
                        ),
                    )
                    .await
                }
                Err(e) => warn(&run, &format!("could not remove {}: {e}", old.release_key)).await,
            }
        }
        journal(
            &run,
            PROXY_HOST,
            "switch",
            "done",
            PROXY_STEPS,
            PROXY_STEPS,
            "succeeded",
            None,
        )
        .await;
        Ok(())
    }
    .instrument(span)
    .await
}

/// Pulls the build's image from the environment's registry, streaming what
/// the engine reports into the job log. Only images of the environment's
/// own repository are pulled.
async fn pull_image(
    run: &DockerRelease<'_>,
    daemon: &Daemon,
    container: &str,
    image: &ImageRef,
    repository: &str,
) -> Result<(), DaemonError> {
    if image.repository() != Some(repository) {
        return Err(DaemonError::Invalid(format!(
            "the build's image {image} is not from this environment's repository {repository}"
        )));
    }
    journal(
        run,
        container,
        "stage",
        "pull",
        0,
        CONTAINER_STEPS,
        "running",
        None,
    )
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
enum Started {
    /// Created by this job: removed again.
    Created(String),
    /// A kept, stopped container this job started: stopped again.
    Restarted(String),
    /// Already running (the live release, restored after a failed job):
    /// left running, since it serves.
    AlreadyRunning(String),
}

impl Started {
    fn id(&self) -> &str {
        match self {
            Started::Created(id) | Started::Restarted(id) | Started::AlreadyRunning(id) => id,
        }
    }
}

async fn start_container(
    run: &DockerRelease<'_>,
    daemon: &Daemon,
    name: &str,
    image: &ImageRef,
) -> Result<Started, DaemonError> {
    let existing = daemon.containers(&run.identity).await?;
    if let Some(kept) = existing.iter().find(|c| c.release_key == run.release_key) {
        if kept.running {
            log(run, Some(name), "the container is already running").await;
            return Ok(Started::AlreadyRunning(kept.id.clone()));
        }
        if kept.vars_digest.as_deref() == Some(run.vars_digest.as_str()) {
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
    } else if run.is_rollback {
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
        release_key: &run.release_key,
        build_id: run.build_id,
        job_id: run.job_id,
        env: run.env.clone(),
        vars_digest: &run.vars_digest,
    });
    let id = daemon.create(name, body).await?;
    if let Err(e) = daemon.start(&id).await {
        let _ = daemon.remove(&id).await;
        return Err(e);
    }
    log(run, Some(name), &format!("started from {image}")).await;
    Ok(Started::Created(id))
}

async fn undo_start(run: &DockerRelease<'_>, daemon: &Daemon, started: &Started) {
    let name = run.identity.container_name(&run.release_key);
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
        Ok(()) => log(run, Some(&name), done).await,
        Err(e) => warn(run, &format!("could not clean up {name}: {e}")).await,
    }
}

/// Waits until the container answers its health check; its published port.
async fn wait_healthy(
    run: &DockerRelease<'_>,
    daemon: &Daemon,
    id: &str,
) -> Result<u16, RunFailure> {
    let config = run.config;
    let deadline = Instant::now() + Duration::from_secs(config.health_timeout_secs);
    let client = http_client();
    let mut last = String::from("no answer yet");
    loop {
        if let Some(reason) = run.cancel.reason() {
            return Err(RunFailure::Cancelled(reason));
        }
        let state = daemon
            .state(id, config.container_port)
            .await
            .map_err(failed)?;
        if !state.running {
            return Err(RunFailure::Failed(format!(
                "the new container exited (code {}) before it was healthy",
                state.exit_code.unwrap_or(-1)
            )));
        }
        if let Some(port) = state.host_port {
            let healthy = match (&config.health_path, &config.health_command) {
                (Some(path), _) => {
                    let url = format!("http://127.0.0.1:{port}{path}");
                    match client.get(&url).send().await {
                        Ok(r) if r.status().is_success() => true,
                        Ok(r) => {
                            last = format!("GET {path} answered {}", r.status());
                            false
                        }
                        Err(e) => {
                            last = format!("GET {path} failed: {e}");
                            false
                        }
                    }
                }
                (None, Some(command)) => {
                    // A command that never ends (a curl with no time limit
                    // against an app that never answers) must not hold the
                    // job past its deadline or a cancel.
                    let mut cancel = run.cancel.clone();
                    let left = deadline.saturating_duration_since(Instant::now());
                    tokio::select! {
                        reason = cancel.fired() => return Err(RunFailure::Cancelled(reason)),
                        exec = tokio::time::timeout(left, daemon.exec(id, command)) => match exec {
                            Ok(Ok(0)) => true,
                            Ok(Ok(code)) => {
                                last = format!("the health command exited {code}");
                                false
                            }
                            Ok(Err(e)) => {
                                last = e.to_string();
                                false
                            }
                            Err(_) => {
                                last = "the health command was still running".to_owned();
                                false
                            }
                        },
                    }
                }
                (None, None) => true,
            };
            if healthy {
                return Ok(port);
            }
        }
        if Instant::now() >= deadline {
            return Err(RunFailure::Failed(format!(
                "the new container was not healthy within {} s ({last}); traffic was not switched",
                config.health_timeout_secs
            )));
        }
        tokio::time::sleep(Duration::from_millis(config.health_interval_ms)).await;
    }
}

/// Asks through the proxy until the new release answers.
async fn confirm_switch(
    config: &DockerConfig,
    listen: SocketAddr,
    release_key: &str,
) -> Result<(), String> {
    let client = http_client();
    let path = config.health_path.as_deref().unwrap_or("/");
    let url = format!("http://{listen}{path}");
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut last;
    loop {
        match client.get(&url).send().await {
            // nginx's own answers when the upstream refuses or stalls: they
            // carry the new release's header too, but nothing of it answered.
            Ok(r) if matches!(r.status().as_u16(), 502 | 504) => {
                last = format!("nginx could not reach the new container ({})", r.status());
            }
            Ok(r) => {
                let answered = r
                    .headers()
                    .get(RELEASE_HEADER)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned();
                if answered == release_key {
                    return Ok(());
                }
                last = format!("release {answered:?} still answers");
            }
            Err(e) => last = e.to_string(),
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "the proxy on {listen} did not serve the new release within 10 s ({last})"
            ));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// What reconciling found and did for one environment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reconciled {
    /// The live container runs and the proxy sends traffic to it.
    InPlace,
    /// Something had stopped (after a reboot, or by hand) and was set right.
    Repaired(String),
}

/// Puts a docker environment back the way its release history says it is:
/// the live release's container running, and the proxy running and pointed
/// at its (possibly new) published port. Finds the container by its labels;
/// touches nothing else. Run when Slipway starts.
pub async fn reconcile(
    config: &DockerConfig,
    identity: &EnvIdentity,
    live_release: &str,
    state_dir: &Path,
) -> Result<Reconciled, String> {
    let daemon = Daemon::connect(config).await.map_err(|e| e.to_string())?;
    let containers = daemon
        .containers(identity)
        .await
        .map_err(|e| e.to_string())?;
    let live = containers
        .iter()
        .find(|c| c.release_key == live_release)
        .ok_or_else(|| format!("the live release {live_release} has no container: deploy or roll back to restore it"))?;
    let mut repaired = Vec::new();
    if !live.running {
        daemon.start(&live.id).await.map_err(|e| e.to_string())?;
        repaired.push(format!("started the container of {live_release}"));
    }
    let port = daemon
        .state(&live.id, config.container_port)
        .await
        .map_err(|e| e.to_string())?
        .host_port
        .ok_or("the live container publishes no port")?;
    let backend = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port);
    let proxy = Proxy::new(ProxyLayout::new(state_dir, identity));
    let wanted = plan::upstream_conf(backend, live_release);
    let current = std::fs::read_to_string(proxy.layout.upstream()).unwrap_or_default();
    if proxy.running_pid().is_none() || current != wanted {
        let listen = listen_addr(config).map_err(|e| e.to_string())?;
        proxy
            .switch(listen, config.drain_timeout_secs, backend, live_release)
            .await
            .map_err(|e| e.to_string())?;
        repaired.push(format!("pointed the proxy on {listen} at 127.0.0.1:{port}"));
    }
    Ok(if repaired.is_empty() {
        Reconciled::InPlace
    } else {
        Reconciled::Repaired(repaired.join("; "))
    })
}

/// What a destroy job needs.
pub struct DockerDestroy<'a> {
    pub config: &'a DockerConfig,
    pub identity: EnvIdentity,
    pub emitter: &'a EventEmitter,
    pub state_dir: &'a Path,
}

/// Removes everything Slipway created for the environment: its labelled
/// containers and networks, and its proxy (stopped, files removed).
pub async fn destroy(run: DockerDestroy<'_>) -> Result<(), RunFailure> {
    let emitter = run.emitter;
    let journal = |step: &'static str, done: i64, state: &'static str, error: Option<String>| async move {
        emitter
            .journal(&HostProgress {
                host: PROXY_HOST,
                phase: "destroy",
                step,
                steps_done: done,
                steps_total: 3,
                state,
                error: error.as_deref(),
            })
            .await;
    };
    journal("proxy", 0, "running", None).await;
    let proxy = Proxy::new(ProxyLayout::new(run.state_dir, &run.identity));
    if let Err(e) = proxy
        .remove(Duration::from_secs(run.config.drain_timeout_secs + 5))
        .await
    {
        journal("proxy", 0, "failed", Some(e.to_string())).await;
        return Err(failed(e));
    }
    emitter
        .note(
            Some(PROXY_HOST),
            EventLevel::Info,
            "proxy stopped and its files removed",
        )
        .await;
    journal("containers", 1, "running", None).await;
    let outcome: Result<(), DaemonError> = async {
        let daemon = Daemon::connect(run.config).await?;
        for container in daemon.containers(&run.identity).await? {
            daemon.remove(&container.id).await?;
            emitter
                .note(
                    None,
                    EventLevel::Info,
                    &format!("removed container of release {}", container.release_key),
                )
                .await;
        }
        journal("networks", 2, "running", None).await;
        for network in daemon.labelled_networks(&run.identity).await? {
            daemon.remove_network(&network).await?;
            emitter
                .note(
                    None,
                    EventLevel::Info,
                    &format!("removed network {network}"),
                )
                .await;
        }
        Ok(())
    }
    .await;
    match outcome {
        Ok(()) => {
            journal("done", 3, "succeeded", None).await;
            Ok(())
        }
        Err(e) => {
            journal("containers", 1, "failed", Some(e.to_string())).await;
            Err(failed(e))
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn journal(
    run: &DockerRelease<'_>,
    host: &str,
    phase: &str,
    step: &str,
    done: i64,
    total: i64,
    state: &str,
    error: Option<&str>,
) {
    run.emitter
        .journal(&HostProgress {
            host,
            phase,
            step,
            steps_done: done,
            steps_total: total,
            state,
            error,
        })
        .await;
}

async fn fail_host(
    run: &DockerRelease<'_>,
    host: &str,
    phase: &str,
    step: &str,
    done: i64,
    total: i64,
    error: DaemonError,
) -> Result<(), RunFailure> {
    let why = error.to_string();
    journal(run, host, phase, step, done, total, "failed", Some(&why)).await;
    journal(
        run,
        PROXY_HOST,
        "switch",
        "not switched",
        0,
        PROXY_STEPS,
        "skipped",
        None,
    )
    .await;
    Err(RunFailure::Failed(why))
}

async fn log(run: &DockerRelease<'_>, host: Option<&str>, text: &str) {
    run.emitter.note(host, EventLevel::Info, text).await;
}

async fn warn(run: &DockerRelease<'_>, text: &str) {
    run.emitter.note(None, EventLevel::Warn, text).await;
}
