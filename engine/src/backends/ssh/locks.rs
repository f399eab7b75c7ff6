//! Breaking stale deploy locks on a fleet (a Slipway that died mid-job, or
//! a hand deploy that never finished). Admin-only and audited by the caller.

use super::plan::{self, ReleaseLayout};
use super::transport::{Connection, SshWorkspace, Stdin};
use super::SshConfig;

/// What was found on one host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LockReport {
    pub host: String,
    /// The lock's note (`job N by X from slipway … since T`), if there was a lock.
    pub held_by: Option<String>,
    pub error: Option<String>,
}

/// Removes the deploy lock on every host and reports who held it.
pub async fn break_locks(config: &SshConfig) -> Result<Vec<LockReport>, String> {
    let addrs = super::hosts::resolve(config)
        .await
        .map_err(|e| format!("hosts from {}: {e}", super::hosts::describe(config)))?;
    let workspace = SshWorkspace::create(config, 0)
        .map_err(|e| format!("cannot prepare the ssh client: {e}"))?;
    let layout = ReleaseLayout {
        deploy_path: config.deploy_path.clone(),
        // Breaking a lock claims nothing.
        environment: String::new(),
        release_key: String::new(),
        job_id: 0,
    };
    let script = plan::release_step(config.sudo, plan::break_lock(&layout));
    let reports = futures::future::join_all(addrs.iter().map(|addr| {
        let (workspace, script) = (&workspace, &script);
        async move {
            let host = addr.to_string();
            let conn = match Connection::open(workspace, config, addr).await {
                Ok(conn) => conn,
                Err(e) => {
                    return LockReport {
                        host,
                        held_by: None,
                        error: Some(e.to_string()),
                    }
                }
            };
            let result = conn
                .run(
                    script,
                    Stdin::NONE,
                    std::time::Duration::from_secs(60),
                    &|_, _| {},
                )
                .await;
            conn.close().await;
            match result {
                Ok(out) if out.success => {
                    let held_by = out
                        .stdout
                        .iter()
                        .find_map(|l| l.strip_prefix("held: "))
                        .map(str::to_owned);
                    LockReport {
                        host,
                        held_by,
                        error: None,
                    }
                }
                Ok(out) => LockReport {
                    host,
                    held_by: None,
                    error: Some(out.reason()),
                },
                Err(e) => LockReport {
                    host,
                    held_by: None,
                    error: Some(e.to_string()),
                },
            }
        }
    }))
    .await;
    Ok(reports)
}
