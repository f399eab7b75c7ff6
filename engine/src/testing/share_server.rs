//! Lent release archives served over HTTP on loopback, the way the Slipway
//! server's `/artifacts/{token}` route serves them, for engine tests and
//! benchmarks that run the engine without the server.

use std::net::SocketAddr;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use crate::runtime::shares::ArtifactShares;

/// What the server does to the bytes it serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Serve {
    Faithfully,
    /// Flips the last byte: a download corrupted on the way.
    Corrupted,
}

pub struct ShareServer {
    /// What an ssh environment's `fetch_from` names.
    pub base_url: String,
    task: tokio::task::JoinHandle<()>,
}

#[derive(Clone)]
struct Lent {
    shares: ArtifactShares,
    serve: Serve,
}

impl ShareServer {
    pub async fn start(shares: ArtifactShares, serve: Serve) -> Self {
        let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .expect("bind a loopback port");
        let addr = listener.local_addr().expect("a bound address");
        let app = Router::new()
            .route("/artifacts/{token}", get(lent))
            .with_state(Lent { shares, serve });
        let task = tokio::spawn(async move {
            axum::serve(listener, app)
                .await
                .expect("serve lent artifacts");
        });
        Self {
            base_url: format!("http://{addr}"),
            task,
        }
    }
}

impl Drop for ShareServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn lent(State(lent): State<Lent>, Path(token): Path<String>) -> Response {
    let Some(file) = lent.shares.file(&token) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    match tokio::fs::read(&file).await {
        Ok(mut bytes) => {
            if lent.serve == Serve::Corrupted {
                if let Some(last) = bytes.last_mut() {
                    *last ^= 0xff;
                }
            }
            bytes.into_response()
        }
        Err(_) => StatusCode::NOT_FOUND.into_response(),
    }
}
