//! The hosts of a dnf environment: the local machine, or a fleet reached
//! through the SSH backend's transport (one multiplexed connection per
//! host, pinned host keys). Both run a shell script and stream its output.

use std::process::Stdio;
use std::time::Duration;

use futures::future::join_all;
use tokio::sync::Semaphore;

use super::config::{DnfConfig, DnfTarget};
use crate::backends::local::HOST_NAME;
use crate::backends::ssh::transport::{
    Connection, RemoteOutput, SshWorkspace, Stdin, TransportError,
};
use crate::backends::ssh::HostAddr;

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

/// A host that could not be reached.
#[derive(Debug)]
pub struct Unreachable {
    pub name: String,
    pub error: String,
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
    /// Connects to every target (at most `parallelism` at once). Hosts that
    /// cannot be reached are returned apart; nothing has run anywhere yet.
    pub async fn connect(
        config: &DnfConfig,
        targets: &Targets,
        session_id: i64,
    ) -> Result<(Hosts, Vec<Unreachable>), String> {
        let (ssh, addrs) = match (&config.target, targets) {
            (DnfTarget::Ssh(ssh), Targets::Fleet(addrs)) => {
                (ssh.transport_config(config.parallelism), addrs)
            }
            _ => {
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
        let limit = Semaphore::new(config.parallelism as usize);
        let results = join_all(addrs.iter().map(|addr| {
            let (limit, workspace, ssh) = (&limit, &workspace, &ssh);
            async move {
                let _permit = limit.acquire().await;
                let name = addr.to_string();
                match Connection::open(workspace, ssh, addr).await {
                    Ok(conn) => Ok(Host {
                        name,
                        link: Link::Ssh(conn),
                    }),
                    Err(e) => Err(Unreachable {
                        name,
                        error: e.to_string(),
                    }),
                }
            }
        }))
        .await;
        let mut connected = Vec::new();
        let mut unreachable = Vec::new();
        for result in results {
            match result {
                Ok(host) => connected.push(host),
                Err(down) => unreachable.push(down),
            }
        }
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

/// Runs `script` on this machine with a clean environment (plus `PATH`).
async fn run_local(
    script: &str,
    timeout: Duration,
    on_line: &(dyn Fn(bool, &str) + Sync),
) -> Result<RemoteOutput, TransportError> {
    let mut child = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(script)
        .env_clear()
        .env(
            "PATH",
            std::env::var_os("PATH").unwrap_or_else(|| "/usr/sbin:/usr/bin:/sbin:/bin".into()),
        )
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    let work = async {
        let read_out = crate::backends::ssh::transport::read_lines(stdout, false, on_line);
        let read_err = crate::backends::ssh::transport::read_lines(stderr, true, on_line);
        let (stdout, stderr) = tokio::join!(read_out, read_err);
        let status = child.wait().await?;
        Ok(RemoteOutput {
            success: status.success(),
            code: status.code(),
            stdout,
            stderr,
        })
    };
    tokio::time::timeout(timeout, work)
        .await
        .map_err(|_| TransportError::Timeout(timeout.as_secs()))?
}
