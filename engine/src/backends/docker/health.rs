//! Is the new release healthy: its container answering its health check,
//! and then the proxy serving it.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::daemon::Daemon;
use super::executor::{failed, DockerRelease};
use super::plan::RELEASE_HEADER;
use super::DockerConfig;
use crate::backends::RunFailure;

fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(2))
        .pool_max_idle_per_host(0)
        .build()
        .unwrap_or_default()
}

/// Waits until the container answers its health check; its published port.
pub(super) async fn wait_healthy(
    run: &DockerRelease<'_>,
    daemon: &Daemon,
    id: &str,
) -> Result<u16, RunFailure> {
    let config = run.config;
    let deadline = Instant::now() + Duration::from_secs(config.health_timeout_secs);
    let client = http_client();
    let mut last = String::from("no answer yet");
    loop {
        if let Some(reason) = run.ctx.cancel.reason() {
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
                    let mut cancel = run.ctx.cancel.clone();
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
pub(super) async fn confirm_switch(
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
