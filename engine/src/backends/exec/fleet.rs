//! Work across a fleet: at most `limit` hosts at once, results in order.

use std::future::Future;

use futures::future::join_all;
use tokio::sync::Semaphore;
use tracing::{info_span, Instrument};

use super::report::{At, Reporter};
use crate::backends::ssh::transport::{Connection, SshWorkspace};
use crate::backends::ssh::{HostAddr, SshConfig};
use crate::domain::{EventLevel, HostState};

/// Runs `work` for every item, at most `limit` at once, and returns the
/// results in the items' order.
pub async fn each_limited<T, R, Fut>(
    items: impl IntoIterator<Item = T>,
    limit: usize,
    work: impl Fn(T) -> Fut,
) -> Vec<R>
where
    Fut: Future<Output = R>,
{
    let permits = Semaphore::new(limit.max(1));
    let permits = &permits;
    join_all(items.into_iter().map(|item| {
        let task = work(item);
        async move {
            // The semaphore is never closed, so a permit always comes.
            let _permit = permits.acquire().await;
            task.await
        }
    }))
    .await
}

/// A host that could not be reached.
#[derive(Debug)]
pub struct Unreachable {
    pub name: String,
    pub error: String,
}

/// Opens one multiplexed connection per host, at most `config.parallelism`
/// at once, journaling each as it connects or fails (when `report` is given). Hosts that cannot be
/// reached are returned apart, in order; nothing has run anywhere yet.
pub async fn connect_fleet(
    report: Option<&Reporter<'_>>,
    workspace: &SshWorkspace,
    config: &SshConfig,
    addrs: &[HostAddr],
) -> (Vec<Connection>, Vec<Unreachable>) {
    let results = each_limited(addrs, config.parallelism as usize, |addr| async move {
        let name = addr.to_string();
        let opened = Connection::open(workspace, config, addr)
            .instrument(info_span!("host_step", host = %name, step = "connect"))
            .await;
        match opened {
            Ok(conn) => {
                if let Some(report) = report {
                    let at = At::new("connect", "connected", 1);
                    report.journal(&name, at, HostState::Running, None).await;
                }
                Ok(conn)
            }
            Err(e) => {
                let error = e.to_string();
                if let Some(report) = report {
                    report.log(Some(&name), EventLevel::Error, &error).await;
                    let at = At::new("connect", "connect", 0);
                    report
                        .journal(&name, at, HostState::Failed, Some(&error))
                        .await;
                }
                Err(Unreachable { name, error })
            }
        }
    })
    .await;
    let mut connected = Vec::new();
    let mut unreachable = Vec::new();
    for result in results {
        match result {
            Ok(conn) => connected.push(conn),
            Err(down) => unreachable.push(down),
        }
    }
    (connected, unreachable)
}
