//! Freeze windows as rows, and the check a job passes as it is queued,
//! inside the queueing transaction.

use crate::store::{on_tx, Tx};
use chrono::{DateTime, Utc};
use sqlx::types::Json;

use super::audit;
use crate::audit::{actions, AuditRecord};
use crate::domain::{self, ActiveFreeze, FreezeRule, FreezeSchedule, FreezeWindow, JobKind};
use crate::error::{Error, Result};
use crate::time;

pub(crate) const SELECT_WINDOW: &str = "SELECT f.id, f.application_id, a.name AS application,
        e.name AS environment, f.name, f.schedule, f.time_zone, f.blocks_rollbacks,
        f.created_by, f.created_at
    FROM freeze_windows f
    JOIN applications a ON a.id = f.application_id
    LEFT JOIN environments e ON e.id = f.environment_id";

#[derive(sqlx::FromRow)]
pub(crate) struct FreezeRow {
    id: i64,
    application_id: i64,
    application: String,
    environment: Option<String>,
    name: String,
    schedule: Json<FreezeSchedule>,
    time_zone: String,
    blocks_rollbacks: bool,
    created_by: String,
    created_at: DateTime<Utc>,
}

impl From<FreezeRow> for FreezeWindow {
    fn from(row: FreezeRow) -> Self {
        // Written only once checked; a zone the time-zone data no longer
        // knows reads as UTC rather than freezing nothing.
        let zone = domain::parse_zone(&row.time_zone).unwrap_or(chrono_tz::Tz::UTC);
        FreezeWindow {
            id: row.id,
            application_id: row.application_id,
            application: row.application,
            environment: row.environment,
            rule: FreezeRule {
                name: row.name,
                schedule: row.schedule.0,
                zone,
                blocks_rollbacks: row.blocks_rollbacks,
            },
            created_by: row.created_by,
            created_at: row.created_at,
        }
    }
}

/// The windows over an environment: its own and its application's.
/// `environment_id` `None`: an environment not created yet (only the application's).
pub(crate) async fn windows_over(
    tx: &mut Tx,
    application_id: i64,
    environment_id: Option<i64>,
) -> Result<Vec<FreezeWindow>> {
    let rows: Vec<FreezeRow> = on_tx!(tx => sqlx::query_as(&format!(
        "{SELECT_WINDOW} WHERE f.application_id = $1
         AND (f.environment_id IS NULL OR f.environment_id = $2) ORDER BY f.id"
    ))
    .bind(application_id)
    .bind(environment_id)
    .fetch_all(&mut *tx)
    .await)?;
    Ok(rows.into_iter().map(FreezeWindow::from).collect())
}

/// Where a job meets the freeze windows over its environment.
pub(crate) struct FreezeCheck<'a> {
    pub actor: &'a str,
    /// `app/env`, for messages and the audit row.
    pub environment: &'a str,
    pub application_id: i64,
    pub environment_id: Option<i64>,
    pub kind: JobKind,
    /// An admin's reason to go through a freeze (checked by the caller's role).
    pub override_reason: Option<&'a str>,
}

/// Refuses a job while a window is in force over its environment, unless
/// it is a rollback the window allows or an admin overrides it with a
/// reason, which is audited here as a break-glass.
pub(crate) async fn check_not_frozen(tx: &mut Tx, check: &FreezeCheck<'_>) -> Result<()> {
    if check.kind == JobKind::Destroy {
        return Ok(());
    }
    let windows: Vec<FreezeWindow> =
        windows_over(&mut *tx, check.application_id, check.environment_id)
            .await?
            .into_iter()
            .filter(|window| check.kind != JobKind::Rollback || window.rule.blocks_rollbacks)
            .collect();
    let Some(active) = domain::in_force(&windows, time::now()) else {
        return Ok(());
    };
    match check.override_reason {
        None => Err(refusal(check, &active)),
        Some(reason) => audit_override(tx, check, &active, reason).await,
    }
}

fn refusal(check: &FreezeCheck<'_>, active: &ActiveFreeze) -> Error {
    Error::Frozen {
        environment: check.environment.to_owned(),
        window: active.window.rule.name.clone(),
        ends: active.ends(),
        what: match check.kind {
            JobKind::Rollback => "rollbacks are",
            JobKind::Create => "new environments are",
            _ => "deploys are",
        },
    }
}

async fn audit_override(
    tx: &mut Tx,
    check: &FreezeCheck<'_>,
    active: &ActiveFreeze,
    reason: &str,
) -> Result<()> {
    audit::append(
        tx,
        &AuditRecord::new(
            check.actor,
            actions::FREEZE_OVERRIDDEN,
            format!("freeze/{}", active.window.id),
        )
        .environment(check.environment)
        .details(serde_json::json!({
            "window": active.window.rule.name,
            "window_id": active.window.id,
            "ends_at": time::to_rfc3339(active.period.end),
            "job_kind": check.kind,
            "reason": reason,
        })),
    )
    .await?;
    Ok(())
}
