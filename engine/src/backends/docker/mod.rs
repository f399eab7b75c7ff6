//! The `docker` backend: blue-green releases of container images behind a
//! per-environment nginx, with instant rollback to kept containers.
//!
//! ```text
//! 127.0.0.1:<publish_port>  nginx (Slipway's, per environment)
//!                             └─ upstream → 127.0.0.1:<ephemeral> → container :<container_port>
//! containers: slipway-<app>-<env>-<release-key>, labelled slipway.*
//! ```

mod config;
pub mod daemon;
pub mod executor;
mod image;
pub mod plan;
pub mod proxy;

pub use config::{DockerConfig, Endpoint, DEFAULT_ENDPOINT};
pub use executor::{destroy, release, DockerDestroy, DockerRelease};
pub use image::ImageRef;
pub use plan::EnvIdentity;
