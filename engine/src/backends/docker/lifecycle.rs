//! A docker environment's life outside releases: put back as its history
//! says when Slipway starts, and removed whole when it is destroyed.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use super::daemon::{Daemon, DaemonError};
use super::executor::{failed, listen_addr, PROXY_HOST};
use super::plan::{self, EnvIdentity, ProxyLayout};
use super::proxy::Proxy;
use super::DockerConfig;
use crate::backends::exec::{At, Reporter};
use crate::backends::{JobContext, RunFailure};
use crate::domain::{EventLevel, HostState};

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

/// Removes everything Slipway created for the environment: its labelled
/// containers and networks, and its proxy (stopped, files removed).
pub async fn destroy(config: &DockerConfig, ctx: &JobContext<'_>) -> Result<(), RunFailure> {
    let identity = EnvIdentity::new(ctx.application, ctx.environment);
    let emitter = ctx.emitter;
    let report = Reporter::new(emitter, 3);
    let journal = |step: &'static str, done: i64, state: HostState, error: Option<String>| {
        let at = At::new("destroy", step, done);
        async move {
            report
                .journal(PROXY_HOST, at, state, error.as_deref())
                .await
        }
    };
    journal("proxy", 0, HostState::Running, None).await;
    let proxy = Proxy::new(ProxyLayout::new(ctx.state_dir, &identity));
    if let Err(e) = proxy
        .remove(Duration::from_secs(config.drain_timeout_secs + 5))
        .await
    {
        journal("proxy", 0, HostState::Failed, Some(e.to_string())).await;
        return Err(failed(e));
    }
    emitter
        .note(
            Some(PROXY_HOST),
            EventLevel::Info,
            "proxy stopped and its files removed",
        )
        .await;
    journal("containers", 1, HostState::Running, None).await;
    let outcome: Result<(), DaemonError> = async {
        let daemon = Daemon::connect(config).await?;
        for container in daemon.containers(&identity).await? {
            daemon.remove(&container.id).await?;
            emitter
                .note(
                    None,
                    EventLevel::Info,
                    &format!("removed container of release {}", container.release_key),
                )
                .await;
        }
        journal("networks", 2, HostState::Running, None).await;
        for network in daemon.labelled_networks(&identity).await? {
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
            journal("done", 3, HostState::Succeeded, None).await;
            Ok(())
        }
        Err(e) => {
            journal("containers", 1, HostState::Failed, Some(e.to_string())).await;
            Err(failed(e))
        }
    }
}
