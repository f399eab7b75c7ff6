//! The hosts of a dnf environment: the local machine, or a fleet reached
//! through the SSH backend's transport (one multiplexed connection per
//! host, pinned host keys). Both run a shell script and stream its output.

use std::future::Future;
use std::time::Duration;

use futures::future::join_all;

use crate::backends::exec::{self, At, Reporter, RunsScripts, ShellError, ShellOptions};
use crate::backends::local::HOST_NAME;
use crate::backends::ssh::transport::{
    Connection, RemoteOutput, SshWorkspace, Stdin, TransportError,
};
use crate::backends::ssh::HostAddr;
use crate::domain::settings::dnf::{DnfConfig, DnfTarget};
use crate::domain::HostState;

pub use crate::backends::exec::Unreachable;

/// One host, connected.
pub struct Host {
    pub name: String,
    link: Link,
}

enum Link {
    Local,
    Ssh(Connection),
}

/// The hosts of one job (or one inventory), with what their connections need.
pub struct Hosts {
    // Field order: connections close before the workspace is removed.
    pub connected: Vec<Host>,
    _workspace: Option<SshWorkspace>,
}

/// The machines one job (or one inventory) addresses, resolved once: this
/// machine, or the fleet as listed or as its command or file says now.
pub enum Targets {
    Local,
    Fleet(Vec<HostAddr>),
}

impl Targets {
    pub async fn resolve(config: &DnfConfig) -> Result<Targets, String> {
        match &config.target {
            DnfTarget::Local => Ok(Targets::Local),
            DnfTarget::Ssh(ssh) => {
                let ssh = ssh.transport_config(config.parallelism);
                crate::backends::ssh::hosts::resolve(&ssh)
                    .await
                    .map(Targets::Fleet)
                    .map_err(|e| {
                        format!(
                            "hosts from {}: {e}",
                            crate::backends::ssh::hosts::describe(&ssh)
                        )
                    })
            }
        }
    }

    /// The names progress bars and reports use, in order.
    pub fn names(&self) -> Vec<String> {
        match self {
            Targets::Local => vec![HOST_NAME.to_owned()],
            Targets::Fleet(addrs) => addrs.iter().map(ToString::to_string).collect(),
        }
    }
}

impl Hosts {
    /// Connects to every target (at most `parallelism` at once), journaling
    /// each as it connects when `report` is given. Hosts that cannot be
    /// reached are returned apart; nothing has run anywhere yet.
    pub async fn connect(
        report: Option<&Reporter<'_>>,
        config: &DnfConfig,
        targets: &Targets,
        session_id: i64,
    ) -> Result<(Hosts, Vec<Unreachable>), String> {
        let (ssh, addrs) = match (&config.target, targets) {
            (DnfTarget::Ssh(ssh), Targets::Fleet(addrs)) => {
                (ssh.transport_config(config.parallelism), addrs)
            }
            _ => {
                if let Some(report) = report {
                    let at = At::new("connect", "connected", 1);
                    report
                        .journal(HOST_NAME, at, HostState::Running, None)
                        .await;
                }
                let hosts = Hosts {
                    connected: vec![Host {
                        name: HOST_NAME.to_owned(),
                        link: Link::Local,
                    }],
                    _workspace: None,
                };
                return Ok((hosts, Vec::new()));
            }
        };
        let workspace = SshWorkspace::create(&ssh, session_id)
            .map_err(|e| format!("cannot prepare the ssh client: {e}"))?;
        let (connections, unreachable) = exec::connect_fleet(report, &workspace, &ssh, addrs).await;
        let connected = connections
            .into_iter()
            .map(|conn| Host {
                name: conn.addr.to_string(),
                link: Link::Ssh(conn),
            })
            .collect();
        Ok((
            Hosts {
                connected,
                _workspace: Some(workspace),
            },
            unreachable,
        ))
    }

    pub async fn close(self) {
        let Hosts {
            connected,
            _workspace,
        } = self;
        join_all(connected.into_iter().map(Host::close)).await;
    }
}

impl Host {
    /// Runs `script` with `sh` on the host; `on_line(is_stderr, line)` sees
    /// the output as it arrives.
    pub async fn run(
        &self,
        script: &str,
        timeout: Duration,
        on_line: &(dyn Fn(bool, &str) + Sync),
    ) -> Result<RemoteOutput, TransportError> {
        match &self.link {
            Link::Ssh(conn) => conn.run(script, Stdin::NONE, timeout, on_line).await,
            Link::Local => run_local(script, timeout, on_line).await,
        }
    }

    async fn close(self) {
        if let Link::Ssh(conn) = self.link {
            conn.close().await;
        }
    }
}

impl RunsScripts for Host {
    fn run_script(
        &self,
        script: &str,
        _stdin: Stdin<'_>,
        timeout: Duration,
        on_line: &(dyn Fn(bool, &str) + Sync),
    ) -> impl Future<Output = Result<RemoteOutput, TransportError>> {
        self.run(script, timeout, on_line)
    }
}

/// Runs `script` on this machine with a clean environment (plus `PATH`).
async fn run_local(
    script: &str,
    timeout: Duration,
    on_line: &(dyn Fn(bool, &str) + Sync),
) -> Result<RemoteOutput, TransportError> {
    exec::run_sh(script, ShellOptions::default(), timeout, None, on_line)
        .await
        .map_err(|e| match e {
            ShellError::Timeout(secs) => TransportError::Timeout(secs),
            ShellError::Start(e) | ShellError::Wait(e) => TransportError::Io(e),
            ShellError::Cancelled(why) => TransportError::Ssh(why),
        })
}
