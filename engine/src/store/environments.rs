//! Environments, their locks and their variables.

use crate::store::{on_pool, on_tx, Done};
use sqlx::types::Json;

use super::tx::audit;
use super::tx::environments::{
    insert_environment, EnvironmentRow, NewEnvironmentRow, SELECT_ENVIRONMENT,
};
use super::{tx, Store};
use crate::audit::{actions, AuditRecord};
use crate::auth::{DeployPolicy, Principal};
use crate::domain::BackendConfig;
use crate::domain::{
    AppName, Application, EnvName, EnvVar, Environment, EnvironmentKind, Job, JobEvent,
};
use crate::error::{Error, InvalidInput, Result};
use crate::time;

/// What a user sets when creating or editing an environment.
#[derive(Clone, Debug)]
pub struct EnvironmentSpec {
    pub name: EnvName,
    pub config: BackendConfig,
    pub protection: DeployPolicy,
}

impl Store {
    pub async fn environments(&self) -> Result<Vec<Environment>> {
        let rows: Vec<EnvironmentRow> = on_pool!(self, pool => sqlx::query_as(&format!(
            "{SELECT_ENVIRONMENT} WHERE e.destroyed_at IS NULL ORDER BY a.name, e.name"
        ))
        .fetch_all(pool)
        .await)?;
        Ok(rows.into_iter().map(Environment::from).collect())
    }

    pub async fn environment(&self, app: &AppName, env: &EnvName) -> Result<Environment> {
        let row: Option<EnvironmentRow> = on_pool!(self, pool => sqlx::query_as(&format!(
            "{SELECT_ENVIRONMENT} WHERE a.name = $1 AND e.name = $2 AND e.destroyed_at IS NULL"
        ))
        .bind(app.as_str())
        .bind(env.as_str())
        .fetch_optional(pool)
        .await)?;
        row.map(Environment::from)
            .ok_or_else(|| Error::not_found(format!("environment {app}/{env}")))
    }

    pub async fn environment_by_id(&self, id: i64) -> Result<Environment> {
        let row: Option<EnvironmentRow> = on_pool!(self, pool => sqlx::query_as(&format!("{SELECT_ENVIRONMENT} WHERE e.id = $1"))
                .bind(id)
                .fetch_optional(pool)
                .await)?;
        row.map(Environment::from)
            .ok_or_else(|| Error::not_found(format!("environment #{id}")))
    }

    /// Who besides admins may deploy to the environment when it is protected.
    pub async fn environment_deployers(&self, env_id: i64) -> Result<Vec<Principal>> {
        let rows: Vec<String> = on_pool!(self, pool => sqlx::query_scalar(
            "SELECT principal FROM environment_deployers WHERE environment_id = $1 ORDER BY principal",
        )
        .bind(env_id)
        .fetch_all(pool)
        .await)?;
        Ok(rows
            .iter()
            .filter_map(|raw| Principal::parse(raw).ok())
            .collect())
    }

    pub async fn create_environment(
        &self,
        actor: &str,
        app: &Application,
        spec: &EnvironmentSpec,
    ) -> Result<Environment> {
        let mut tx = self.write().await?;
        let id = insert_environment(
            &mut tx,
            app,
            &NewEnvironmentRow {
                name: &spec.name,
                kind: EnvironmentKind::Permanent,
                config: &spec.config,
                protected: spec.protection.protected,
                expires_at: None,
            },
        )
        .await?;
        replace_deployers(&mut tx, id, &spec.protection.deployers).await?;
        set_deploy_rules(&mut tx, id, &spec.protection).await?;
        let path = format!("{}/{}", app.name, spec.name);
        audit::append(
            &mut tx,
            &AuditRecord::new(actor, actions::ENVIRONMENT_CREATED, format!("env/{path}"))
                .environment(&path)
                .details(serde_json::json!({
                    "config": spec.config,
                    "protected": spec.protection.protected,
                    "deployers": spec.protection.deployer_names(),
                    "auto_deploy": spec.protection.auto_deploy,
                    "previews": spec.protection.previews,
                    "queue_deploys": spec.protection.queue_deploys,
                    "approvals": spec.protection.approvals.rules_text(),
                    "promotes_from": spec.protection.promotes_from,
                })),
        )
        .await?;
        tx.commit().await?;
        self.environment_by_id(id).await
    }

    pub async fn update_environment(
        &self,
        actor: &str,
        env: &Environment,
        config: &BackendConfig,
        protection: &DeployPolicy,
    ) -> Result<Environment> {
        let before = self.environment_deployers(env.id).await?;
        let mut tx = self.write().await?;
        on_tx!(tx => sqlx::query("UPDATE environments SET backend = $1, config = $2, protected = $3, updated_at = $4 WHERE id = $5")
            .bind(config.backend_name())
            .bind(Json(config))
            .bind(protection.protected)
            .bind(time::now())
            .bind(env.id)
            .execute(&mut *tx)
            .await.map(Done::from))?;
        audit::append(
            &mut tx,
            &AuditRecord::new(
                actor,
                actions::ENVIRONMENT_UPDATED,
                format!("env/{}", env.path()),
            )
            .environment(env.path())
            .details(serde_json::json!({
                "before": {
                    "config": env.config,
                    "protected": env.protected,
                    "deployers": before.iter().map(|p| p.to_string()).collect::<Vec<_>>(),
                    "auto_deploy": env.auto_deploy,
                    "previews": env.previews,
                    "queue_deploys": env.queue_deploys,
                    "approvals": env.approvals.rules_text(),
                    "promotes_from": env.promotes_from,
                },
                "after": {
                    "config": config,
                    "protected": protection.protected,
                    "deployers": protection.deployer_names(),
                    "auto_deploy": protection.auto_deploy,
                    "previews": protection.previews,
                    "queue_deploys": protection.queue_deploys,
                    "approvals": protection.approvals.rules_text(),
                    "promotes_from": protection.promotes_from,
                },
            })),
        )
        .await?;
        replace_deployers(&mut tx, env.id, &protection.deployers).await?;
        set_deploy_rules(&mut tx, env.id, protection).await?;
        tx.commit().await?;
        self.environment_by_id(env.id).await
    }

    /// Deletes an environment that has never run a job. Environments with a
    /// history are kept: their releases are part of the record.
    pub async fn delete_environment(&self, actor: &str, env: &Environment) -> Result<()> {
        let mut tx = self.write().await?;
        let jobs: i64 = on_tx!(tx => sqlx::query_scalar("SELECT COUNT(*) FROM jobs WHERE environment_id = $1")
            .bind(env.id)
            .fetch_one(&mut *tx)
            .await)?;
        if jobs > 0 {
            return Err(Error::Conflict(format!(
                "environment {} has a release history ({jobs} jobs) and cannot be deleted",
                env.path()
            )));
        }
        on_tx!(tx => sqlx::query("DELETE FROM environments WHERE id = $1")
            .bind(env.id)
            .execute(&mut *tx)
            .await.map(Done::from))?;
        audit::append(
            &mut tx,
            &AuditRecord::new(
                actor,
                actions::ENVIRONMENT_DELETED,
                format!("env/{}", env.path()),
            )
            .environment(env.path()),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Locks the environment and cancels its deploys and rollbacks that
    /// have not started (the lock says they must wait; starting one after
    /// it would not). Returns those jobs' closing events, to publish.
    pub async fn lock_environment(
        &self,
        actor: &str,
        env: &Environment,
        reason: &str,
    ) -> Result<Vec<JobEvent>> {
        let mut tx = self.write().await?;
        let changed = on_tx!(tx => sqlx::query(
            "UPDATE environments SET lock_reason = $1, locked_by = $2, locked_at = $3 WHERE id = $4 AND locked_at IS NULL",
        )
        .bind(reason)
        .bind(actor)
        .bind(time::now())
        .bind(env.id)
        .execute(&mut *tx)
        .await.map(Done::from))?
        .rows_affected();
        if changed == 0 {
            return Err(Error::Conflict(format!(
                "environment {} is already locked",
                env.path()
            )));
        }
        audit::append(
            &mut tx,
            &AuditRecord::new(
                actor,
                actions::ENVIRONMENT_LOCKED,
                format!("env/{}", env.path()),
            )
            .environment(env.path())
            .details(serde_json::json!({ "reason": reason })),
        )
        .await?;
        let waiting: Vec<Job> = on_tx!(tx => sqlx::query_as(
            "SELECT * FROM jobs WHERE environment_id = $1 AND state = 'queued' AND kind IN ('deploy', 'rollback')",
        )
        .bind(env.id)
        .fetch_all(&mut *tx)
        .await)?;
        let mut events = Vec::new();
        for job in &waiting {
            let (_, closing) = tx::jobs::cancel_queued(
                &mut tx,
                job,
                actor,
                &env.path(),
                &format!("cancelled before it started: {actor} locked the environment ({reason})"),
                serde_json::json!({ "while": "queued", "reason": "environment locked" }),
            )
            .await?;
            events.extend(closing);
        }
        tx.commit().await?;
        Ok(events)
    }

    pub async fn unlock_environment(&self, actor: &str, env: &Environment) -> Result<()> {
        let mut tx = self.write().await?;
        let changed = on_tx!(tx => sqlx::query(
            "UPDATE environments SET lock_reason = NULL, locked_by = NULL, locked_at = NULL
             WHERE id = $1 AND locked_at IS NOT NULL",
        )
        .bind(env.id)
        .execute(&mut *tx)
        .await.map(Done::from))?
        .rows_affected();
        if changed == 0 {
            return Err(Error::Conflict(format!(
                "environment {} is not locked",
                env.path()
            )));
        }
        let (reason, locked_by) = env
            .lock
            .as_ref()
            .map(|l| (Some(l.reason.clone()), Some(l.locked_by.clone())))
            .unwrap_or((None, None));
        audit::append(
            &mut tx,
            &AuditRecord::new(
                actor,
                actions::ENVIRONMENT_UNLOCKED,
                format!("env/{}", env.path()),
            )
            .environment(env.path())
            .details(serde_json::json!({ "was_locked_by": locked_by, "reason": reason })),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The environment's variables, secrets opened: what a job runs with.
    /// A secret that does not open with this store's key is an error that
    /// names it, never a value passed on.
    pub async fn env_vars(&self, env: &Environment) -> Result<Vec<EnvVar>> {
        let mut vars = self.env_vars_sealed(env.id).await?;
        let mut unreadable = Vec::new();
        let mut reason = String::new();
        for var in vars.iter_mut().filter(|v| v.secret) {
            match self
                .secret_key()
                .open(&crate::secrets::var_context(env.id, &var.name), &var.value)
            {
                Ok(plain) => var.value = plain,
                Err(e) => {
                    unreadable.push(var.name.clone());
                    reason = e.to_string();
                }
            }
        }
        if !unreadable.is_empty() {
            return Err(Error::SecretsUnreadable {
                environment: env.path(),
                names: unreadable.join(", "),
                reason,
            });
        }
        Ok(vars)
    }

    /// The variables as stored: secret values sealed (for listing them
    /// masked, which needs no key).
    pub async fn env_vars_sealed(&self, env_id: i64) -> Result<Vec<EnvVar>> {
        Ok(on_pool!(self, pool => sqlx::query_as(
            "SELECT name, value, secret FROM env_vars WHERE environment_id = $1 ORDER BY name",
        )
        .bind(env_id)
        .fetch_all(pool)
        .await)?)
    }

    /// Sets a variable. A secret is never overwritten by a plain value: it
    /// cannot be read back, so that would lose it by accident (the upsert
    /// itself refuses, so no other write can slip in between).
    pub async fn set_env_var(&self, actor: &str, env: &Environment, var: &EnvVar) -> Result<()> {
        // A secret is stored sealed, with a keyed digest to compare it by.
        let (stored, digest) = if var.secret {
            let context = crate::secrets::var_context(env.id, &var.name);
            (
                self.secret_key().seal(&context, &var.value),
                Some(self.secret_key().digest(&context, &var.value)),
            )
        } else {
            (var.value.clone(), None)
        };
        let mut tx = self.write().await?;
        let written = on_tx!(tx => sqlx::query(
            "INSERT INTO env_vars (environment_id, name, value, secret, value_digest) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (environment_id, name) DO UPDATE SET value = excluded.value, secret = excluded.secret,
                 value_digest = excluded.value_digest
             WHERE NOT env_vars.secret OR excluded.secret",
        )
        .bind(env.id)
        .bind(&var.name)
        .bind(&stored)
        .bind(var.secret)
        .bind(digest)
        .execute(&mut *tx)
        .await.map(Done::from))?
        .rows_affected();
        if written == 0 {
            return Err(InvalidInput::new(
                "secret",
                format!(
                    "{} is a secret: set it again as a secret, or remove it first to make it a plain variable",
                    var.name
                ),
            )
            .into());
        }
        // A secret's value never reaches the audit log.
        let value = if var.secret {
            None
        } else {
            Some(var.value.as_str())
        };
        audit::append(
            &mut tx,
            &AuditRecord::new(
                actor,
                actions::ENV_VAR_SET,
                format!("env/{}/vars/{}", env.path(), var.name),
            )
            .environment(env.path())
            .details(serde_json::json!({ "name": var.name, "secret": var.secret, "value": value })),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn delete_env_var(&self, actor: &str, env: &Environment, name: &str) -> Result<()> {
        let mut tx = self.write().await?;
        let deleted = on_tx!(tx => sqlx::query("DELETE FROM env_vars WHERE environment_id = $1 AND name = $2")
            .bind(env.id)
            .bind(name)
            .execute(&mut *tx)
            .await.map(Done::from))?
            .rows_affected();
        if deleted == 0 {
            return Err(Error::not_found(format!(
                "variable {name} in {}",
                env.path()
            )));
        }
        audit::append(
            &mut tx,
            &AuditRecord::new(
                actor,
                actions::ENV_VAR_DELETED,
                format!("env/{}/vars/{name}", env.path()),
            )
            .environment(env.path())
            .details(serde_json::json!({ "name": name })),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}

/// Which branches deploy to the environment by themselves, which get a
/// preview copy of it, and whether deploys wait for a running job.
async fn set_deploy_rules(tx: &mut super::Tx, env_id: i64, policy: &DeployPolicy) -> Result<()> {
    let approvals = policy
        .approvals
        .is_required()
        .then_some(Json(&policy.approvals));
    on_tx!(tx => sqlx::query(
        "UPDATE environments SET auto_deploy = $1, previews = $2, queue_deploys = $3, approvals = $4,
            promotes_from = $5
         WHERE id = $6",
    )
    .bind(policy.auto_deploy.as_ref().map(|p| p.as_str()))
    .bind(policy.previews.as_ref().map(|p| p.as_str()))
    .bind(policy.queue_deploys)
    .bind(approvals)
    .bind(policy.promotes_from.as_ref().map(|name| name.as_str()))
    .bind(env_id)
    .execute(&mut *tx)
    .await.map(Done::from))?;
    Ok(())
}

async fn replace_deployers(tx: &mut super::Tx, env_id: i64, deployers: &[Principal]) -> Result<()> {
    on_tx!(tx => sqlx::query("DELETE FROM environment_deployers WHERE environment_id = $1")
        .bind(env_id)
        .execute(&mut *tx)
        .await.map(Done::from))?;
    for principal in deployers {
        on_tx!(tx => sqlx::query("INSERT INTO environment_deployers (environment_id, principal) VALUES ($1, $2)")
            .bind(env_id)
            .bind(principal.to_string())
            .execute(&mut *tx)
            .await.map(Done::from))?;
    }
    Ok(())
}
