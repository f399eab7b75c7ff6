//! Deploy request rows: how one is read and how one ends, inside the
//! caller's transaction.

use crate::audit::{AuditRecord, SYSTEM_ACTOR};
use crate::domain::{DeployRequest, RequestState};
use crate::error::{Error, Result};
use crate::store::{on_tx, Done, Tx};
use crate::time;

pub(crate) const SELECT_REQUEST: &str =
    "SELECT r.id, r.environment_id, a.name || '/' || e.name AS environment,
        r.build_id, b.commit_sha, b.branch, r.kind, r.rollback_to, r.requested_by, r.state,
        r.not_before, r.note, r.job_id, r.expires_at, r.created_at, r.ended_at, r.freeze_override,
        r.settings_digest
    FROM deploy_requests r
    JOIN environments e ON e.id = r.environment_id
    JOIN applications a ON a.id = e.application_id
    JOIN builds b ON b.id = r.build_id";

pub(crate) async fn request_in(conn: &mut Tx, id: i64) -> Result<DeployRequest> {
    on_tx!(conn => sqlx::query_as(&format!("{SELECT_REQUEST} WHERE r.id = $1"))
        .bind(id)
        .fetch_optional(&mut *conn)
        .await)?
    .ok_or_else(|| Error::not_found(format!("deploy request #{id}")))
}

/// Ends a pending request as `state`, saying why, with its audit row
/// (`action`, by `actor`; Slipway's own when none).
pub(crate) async fn end_request(
    conn: &mut Tx,
    request: &DeployRequest,
    state: RequestState,
    note: &str,
    action: &'static str,
    actor: Option<&str>,
) -> Result<()> {
    on_tx!(conn => sqlx::query("UPDATE deploy_requests SET state = $1, note = $2, ended_at = $3 WHERE id = $4")
        .bind(state)
        .bind(note)
        .bind(time::now())
        .bind(request.id)
        .execute(&mut *conn)
        .await.map(Done::from))?;
    super::audit::append(
        &mut *conn,
        &AuditRecord::new(
            actor.unwrap_or(SYSTEM_ACTOR),
            action,
            format!("request/{}", request.id),
        )
        .environment(&request.environment)
        .details(serde_json::json!({ "why": note, "requested_by": request.requested_by })),
    )
    .await?;
    Ok(())
}

/// Whether the environment's settings, approval rules or variables
/// changed since `request` was asked for (its approvals then count for
/// nothing). A request that needed no approval is never void.
pub(crate) async fn approvals_void(conn: &mut Tx, request: &DeployRequest) -> Result<bool> {
    let Some(approved_for) = &request.settings_digest else {
        return Ok(false);
    };
    Ok(*approved_for
        != super::environments::settings_digest(&mut *conn, request.environment_id).await?)
}

/// Why a request's approvals no longer count after a settings change.
pub(crate) const VOIDED_BY_CHANGE: &str =
    "voided: the environment's settings, approval rules or variables changed after it was requested; request it again";
