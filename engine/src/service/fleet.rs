//! Operations on an SSH fleet outside a job: scanning host keys, and
//! breaking deploy locks left behind.

use crate::auth::{Actor, Permission};
use crate::backends::BackendConfig;
use crate::error::{Error, InvalidInput, Result};

use super::Engine;

impl Engine {
    /// The public keys the listed hosts (one `host[:port]` per line) offer,
    /// for an admin to compare and pin. Reads only; pins nothing.
    pub async fn scan_host_keys(
        &self,
        actor: &Actor,
        hosts: &str,
        default_port: u16,
    ) -> Result<Vec<crate::backends::ssh::keyscan::ScannedHost>> {
        const MAX_SCANNED: usize = 100;
        actor.require(Permission::ManageEnvironments)?;
        let addrs = crate::backends::ssh::hosts::parse_listing(hosts, default_port)?;
        if addrs.len() > MAX_SCANNED {
            return Err(InvalidInput::new(
                "hosts",
                format!("scan at most {MAX_SCANNED} hosts at once"),
            )
            .into());
        }
        Ok(crate::backends::ssh::keyscan::scan(&addrs).await)
    }

    /// Removes the deploy lock on every host of an SSH environment (stale
    /// locks of a job that died, or of a hand deploy). Admin-only, refused
    /// while Slipway itself runs a job there, and audited with who held them.
    pub async fn break_remote_locks(
        &self,
        actor: &Actor,
        app: &str,
        env: &str,
    ) -> Result<Vec<crate::backends::ssh::locks::LockReport>> {
        actor.require(Permission::ManageEnvironments)?;
        let env = self.find_environment(app, env).await?;
        let BackendConfig::Ssh(config) = &env.config else {
            return Err(InvalidInput::new(
                "backend",
                "only ssh environments have remote deploy locks",
            )
            .into());
        };
        if let Some(job) = self
            .store
            .jobs_for_environment(env.id, 1)
            .await?
            .into_iter()
            .find(|j| !j.state.is_finished())
        {
            return Err(Error::Busy {
                job_id: job.id,
                requested_by: job.requested_by,
                since: job.created_at,
            });
        }
        // Run to the end on its own task: a request dropped half-way (the
        // browser closed) must not break locks without recording it.
        let store = self.store.clone();
        let (config, actor_login) = (config.clone(), actor.login.clone());
        let reports = tokio::spawn(async move {
            let reports = crate::backends::ssh::locks::break_locks(&config)
                .await
                .map_err(|e| Error::Conflict(format!("could not reach the hosts: {e}")))?;
            let details: Vec<serde_json::Value> = reports
                .iter()
                .map(|r| serde_json::json!({ "host": r.host, "held_by": r.held_by, "error": r.error }))
                .collect();
            store
                .audit_only(
                    &crate::audit::AuditRecord::new(
                        &actor_login,
                        crate::audit::actions::REMOTE_LOCKS_BROKEN,
                        format!("env/{}", env.path()),
                    )
                    .environment(env.path())
                    .details(serde_json::json!({ "hosts": details })),
                )
                .await?;
            Ok::<_, Error>(reports)
        })
        .await
        .map_err(std::io::Error::other)??;
        Ok(reports)
    }
}
