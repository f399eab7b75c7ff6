//! The `docker` backend: blue-green releases of container images behind a
//! per-environment nginx, with instant rollback to kept containers.
//!
//! ```text
//! 127.0.0.1:<publish_port>  nginx (Slipway's, per environment)
//!                             └─ upstream → 127.0.0.1:<ephemeral> → container :<container_port>
//! containers: slipway-<app>-<env>-<release-key>, labelled slipway.*
//! ```

mod containers;
pub mod daemon;
mod executor;
mod health;
mod lifecycle;
pub mod plan;
pub mod proxy;

pub use crate::domain::settings::docker::{DockerConfig, Endpoint, DEFAULT_ENDPOINT};
pub use crate::domain::settings::ImageRef;
pub use executor::{listen_addr, release};
pub use lifecycle::{destroy, reconcile, Reconciled};
pub use plan::EnvIdentity;

/// A free port on the environment's published address for a new QA
/// environment's traffic switch: one nothing listens on now and no other
/// docker environment is configured for (`taken`), since an environment
/// whose nginx is not running (never deployed, or not yet reconciled after
/// a restart) still owns its port.
pub fn free_port(config: &DockerConfig, taken: &[u16]) -> Result<u16, crate::error::Error> {
    let ip = config.publish_ip()?;
    for _ in 0..100 {
        let port = std::net::TcpListener::bind((ip, 0))?.local_addr()?.port();
        if !taken.contains(&port) {
            return Ok(port);
        }
    }
    Err(crate::error::Error::Conflict(format!(
        "no free port on {ip} for a new QA environment"
    )))
}

/// The address people open to reach the environment.
pub fn public_url(config: &DockerConfig) -> String {
    match config.publish_ip() {
        Ok(std::net::IpAddr::V6(ip)) => format!("http://[{ip}]:{}/", config.publish_port),
        _ => format!(
            "http://{}:{}/",
            config.publish_address.trim(),
            config.publish_port
        ),
    }
}
