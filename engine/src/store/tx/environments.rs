//! Environment rows: how they are read and how one is inserted, shared by
//! permanent and QA environments.

use crate::store::on_tx;
use chrono::{DateTime, Utc};
use sqlx::types::Json;

use crate::domain::{
    Application, ApprovalPolicy, BackendConfig, EnvName, Environment, EnvironmentKind,
    EnvironmentLock,
};
use crate::error::{Error, Result};
use crate::store::{is_unique_violation, Tx};
use crate::time;

#[derive(sqlx::FromRow)]
pub(crate) struct EnvironmentRow {
    id: i64,
    application_id: i64,
    application: String,
    name: String,
    kind: EnvironmentKind,
    config: Json<BackendConfig>,
    protected: bool,
    auto_deploy: Option<String>,
    previews: Option<String>,
    queue_deploys: bool,
    approvals: Option<Json<ApprovalPolicy>>,
    promotes_from: Option<String>,
    lock_reason: Option<String>,
    locked_by: Option<String>,
    locked_at: Option<DateTime<Utc>>,
    expires_at: Option<DateTime<Utc>>,
    destroyed_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<EnvironmentRow> for Environment {
    fn from(row: EnvironmentRow) -> Self {
        let lock = match (row.lock_reason, row.locked_by, row.locked_at) {
            (Some(reason), Some(locked_by), Some(since)) => Some(EnvironmentLock {
                reason,
                locked_by,
                since,
            }),
            _ => None,
        };
        Environment {
            id: row.id,
            application_id: row.application_id,
            application: row.application,
            name: row.name,
            kind: row.kind,
            config: row.config.0,
            protected: row.protected,
            // Written only once parsed; one that no longer parses matches nothing.
            auto_deploy: row
                .auto_deploy
                .and_then(|p| crate::domain::BranchPattern::parse(&p).ok()),
            previews: row
                .previews
                .and_then(|p| crate::domain::BranchPattern::parse(&p).ok()),
            queue_deploys: row.queue_deploys,
            approvals: row.approvals.map(|json| json.0).unwrap_or_default(),
            // Written only once parsed; one that no longer parses is kept as
            // no rule rather than refusing every deploy.
            promotes_from: row
                .promotes_from
                .and_then(|name| EnvName::parse(&name).ok()),
            lock,
            expires_at: row.expires_at,
            destroyed_at: row.destroyed_at,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

pub(crate) const SELECT_ENVIRONMENT: &str =
    "SELECT e.id, e.application_id, a.name AS application, e.name, e.kind,
        e.config, e.protected, e.auto_deploy, e.previews, e.queue_deploys, e.approvals, e.promotes_from, e.lock_reason, e.locked_by, e.locked_at, e.expires_at, e.destroyed_at,
        e.created_at, e.updated_at
     FROM environments e JOIN applications a ON a.id = e.application_id";

/// The columns a new environment row starts with.
pub(crate) struct NewEnvironmentRow<'a> {
    pub name: &'a EnvName,
    pub kind: EnvironmentKind,
    pub config: &'a BackendConfig,
    pub protected: bool,
    pub expires_at: Option<DateTime<Utc>>,
}

/// Inserts an environment; a taken name is a clear conflict. Returns its id.
pub(crate) async fn insert_environment(
    tx: &mut Tx,
    app: &Application,
    new: &NewEnvironmentRow<'_>,
) -> Result<i64> {
    let now = time::now();
    let inserted = on_tx!(tx => sqlx::query_scalar::<_, i64>(
        "INSERT INTO environments (application_id, name, kind, backend, config, protected, expires_at, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
    )
    .bind(app.id)
    .bind(new.name.as_str())
    .bind(new.kind)
    .bind(new.config.backend_name())
    .bind(Json(new.config))
    .bind(new.protected)
    .bind(new.expires_at)
    .bind(now)
    .bind(now)
    .fetch_one(&mut *tx)
    .await);
    match inserted {
        Ok(id) => Ok(id),
        Err(e) if is_unique_violation(&e) => Err(Error::Conflict(format!(
            "application {} already has an environment named {}",
            app.name, new.name
        ))),
        Err(e) => Err(e.into()),
    }
}

/// The environment `id`, read inside the caller's transaction.
pub(crate) async fn environment_in(conn: &mut Tx, id: i64) -> Result<Environment> {
    let row: Option<EnvironmentRow> = on_tx!(conn => sqlx::query_as(&format!("{SELECT_ENVIRONMENT} WHERE e.id = $1"))
            .bind(id)
            .fetch_optional(&mut *conn)
            .await)?;
    row.map(Environment::from)
        .ok_or_else(|| Error::not_found(format!("environment #{id}")))
}

/// What approvals of a deploy to the environment are for: its settings,
/// approval rules and variables as they are now (secret values only as
/// digests), hashed. Any change gives another digest.
pub(crate) async fn settings_digest(conn: &mut Tx, env_id: i64) -> Result<String> {
    use sha2::{Digest, Sha256};
    let (config, approvals): (String, Option<String>) = on_tx!(conn => sqlx::query_as("SELECT CAST(config AS TEXT), CAST(approvals AS TEXT) FROM environments WHERE id = $1")
            .bind(env_id)
            .fetch_one(&mut *conn)
            .await)?;
    // A secret by its keyed digest: its sealed text changes with each
    // sealing, its plaintext is not for here.
    let vars: Vec<(String, String, bool)> = on_tx!(conn => sqlx::query_as(
        "SELECT name, CASE WHEN secret THEN COALESCE(value_digest, value) ELSE value END, secret
         FROM env_vars WHERE environment_id = $1 ORDER BY name",
    )
    .bind(env_id)
    .fetch_all(&mut *conn)
    .await)?;
    let mut hash = Sha256::new();
    for part in [config.as_str(), approvals.as_deref().unwrap_or("")] {
        hash.update(part.len().to_le_bytes());
        hash.update(part.as_bytes());
    }
    for (name, value, secret) in vars {
        for part in [
            name.as_str(),
            value.as_str(),
            if secret { "secret" } else { "plain" },
        ] {
            hash.update(part.len().to_le_bytes());
            hash.update(part.as_bytes());
        }
    }
    Ok(hex::encode(hash.finalize()))
}

/// The environment's settings (its backend settings and rules, each a
/// `name = value`) and variables (secret values only as digests) as they
/// are now: what a job is queued with, to say later what else changed.
pub(crate) async fn settings_snapshot(
    conn: &mut Tx,
    env_id: i64,
) -> Result<crate::domain::snapshot::SettingsSnapshot> {
    use crate::domain::snapshot::{SettingsSnapshot, VarSnapshot};
    let env = environment_in(&mut *conn, env_id).await?;
    let mut snapshot = SettingsSnapshot::default();
    snapshot.add_settings(
        "",
        &serde_json::to_value(&env.config).unwrap_or(serde_json::Value::Null),
    );
    let rules = serde_json::json!({
        "protected": env.protected,
        "auto_deploy": env.auto_deploy.as_ref().map(ToString::to_string),
        "previews": env.previews.as_ref().map(ToString::to_string),
        "queue_deploys": env.queue_deploys,
        "approvals": env.approvals.is_required().then(|| env.approvals.rules_text()),
        "prevent_self_review": env.approvals.prevent_self_review,
        "approval_wait_minutes": env.approvals.wait_minutes,
        "approval_expire_hours": env.approvals.expire_hours,
        "promotes_from": env.promotes_from.as_ref().map(ToString::to_string),
    });
    snapshot.add_settings("rules", &rules);
    let vars: Vec<(String, String, bool, Option<String>)> = on_tx!(conn => sqlx::query_as(
        "SELECT name, value, secret, value_digest FROM env_vars WHERE environment_id = $1 ORDER BY name",
    )
    .bind(env_id)
    .fetch_all(&mut *conn)
    .await)?;
    for (name, value, secret, digest) in vars {
        let kept = if secret {
            // The keyed digest (the sealed text, were there none).
            VarSnapshot::Secret {
                digest: digest.unwrap_or(value),
            }
        } else {
            VarSnapshot::Plain { value }
        };
        snapshot.variables.insert(name, kept);
    }
    Ok(snapshot)
}
