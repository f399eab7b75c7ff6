//! Approvals: approvers approve or reject a request awaiting approval; the
//! last approval a rule needs lets it wait its turn as any request does.
//! A request whose settings changed is voided, one not approved in time
//! expires.

use crate::store::{on_pool, on_tx, Done, Tx};
use chrono::{Duration, Utc};
use sqlx::types::Json;

use super::tx::audit;
use super::tx::environments::environment_in;
use super::tx::requests::{approvals_void, end_request, request_in, VOIDED_BY_CHANGE};
use super::{is_unique_violation, Store};
use crate::audit::{actions, AuditRecord};
use crate::domain::{ApprovalRecord, Approver, DeployRequest, Environment, RequestState};
use crate::error::{Error, Result};
use crate::time;

/// An approver's answer to a request.
pub struct Decision<'a> {
    pub request_id: i64,
    pub approver: &'a Approver,
    pub approve: bool,
    pub comment: &'a str,
}

impl Store {
    /// Records an approval or rejection, inside one transaction with its
    /// audit row: refused to the requester, to whoever registered the
    /// build where self-review is prevented, and to anyone no rule names.
    /// A request found expired or voided ends so, and the answer says why.
    pub async fn decide_request(&self, decision: &Decision<'_>) -> Result<DeployRequest> {
        let mut tx = self.write().await?;
        let request = request_in(&mut tx, decision.request_id).await?;
        if request.state != RequestState::AwaitingApproval {
            return Err(Error::Conflict(format!(
                "request #{} is {}: there is nothing to approve",
                request.id,
                request.state.as_str().replace('_', " ")
            )));
        }
        if let Some(stale) = end_if_stale(&mut tx, &request).await? {
            tx.commit().await?;
            return Err(Error::Conflict(format!(
                "request #{}: {}",
                request.id, stale.note
            )));
        }
        let env = environment_in(&mut tx, request.environment_id).await?;
        let registered_by: String = on_tx!(tx => sqlx::query_scalar("SELECT registered_by FROM builds WHERE id = $1")
                .bind(request.build_id)
                .fetch_one(&mut *tx)
                .await)?;
        let login = decision.approver.login.as_str();
        let policy = &env.approvals;
        if login == request.requested_by {
            return Err(Error::Forbidden(format!(
                "you asked for request #{}: someone else must approve or reject it",
                request.id
            )));
        }
        if policy.prevent_self_review && login == registered_by {
            return Err(Error::Forbidden(format!(
                "you registered build #{}, and {} prevents self-review: someone else must approve it",
                request.build_id,
                env.path()
            )));
        }
        if !policy.names(decision.approver) {
            return Err(Error::Forbidden(format!(
                "no approval rule of {} names you (it asks for: {})",
                env.path(),
                policy.rules_text().replace('\n', "; ")
            )));
        }
        let decided = on_tx!(tx => sqlx::query(
            "INSERT INTO approvals (request_id, approver, groups, decision, comment, created_at)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(request.id)
        .bind(login)
        .bind(Json(&decision.approver.groups))
        .bind(if decision.approve {
            "approved"
        } else {
            "rejected"
        })
        .bind(decision.comment)
        .bind(time::now())
        .execute(&mut *tx)
        .await.map(Done::from));
        match decided {
            Ok(_) => {}
            Err(e) if is_unique_violation(&e) => {
                return Err(Error::Conflict(format!(
                    "you answered request #{} already",
                    request.id
                )))
            }
            Err(e) => return Err(e.into()),
        }
        let action = if decision.approve {
            actions::REQUEST_APPROVED
        } else {
            actions::REQUEST_REJECTED
        };
        audit::append(
            &mut tx,
            &AuditRecord::new(login, action, format!("request/{}", request.id))
                .environment(&request.environment)
                .details(serde_json::json!({
                    "comment": decision.comment,
                    "requested_by": request.requested_by,
                    "build_id": request.build_id,
                })),
        )
        .await?;
        if !decision.approve {
            let note = format!("rejected by {login}: {}", decision.comment);
            on_tx!(tx => sqlx::query("UPDATE deploy_requests SET state = 'rejected', note = $1, ended_at = $2 WHERE id = $3")
                .bind(note)
                .bind(time::now())
                .bind(request.id)
                .execute(&mut *tx)
                .await.map(Done::from))?;
        } else {
            advance(&mut tx, &request, &env).await?;
        }
        let request = request_in(&mut tx, request.id).await?;
        tx.commit().await?;
        Ok(request)
    }

    /// The approvals and rejections of these requests, oldest first.
    pub async fn approvals_of(&self, request_ids: &[i64]) -> Result<Vec<ApprovalRecord>> {
        if request_ids.is_empty() {
            return Ok(Vec::new());
        }
        Ok(on_pool!(self,
            sqlite pool => sqlx::query_as(
                "SELECT request_id, approver, decision, comment, created_at FROM approvals
                 WHERE request_id IN (SELECT value FROM json_each($1)) ORDER BY id",
            )
            .bind(Json(request_ids))
            .fetch_all(pool)
            .await,
            postgres pool => sqlx::query_as(
                "SELECT request_id, approver, decision, comment, created_at FROM approvals
                 WHERE request_id = ANY($1) ORDER BY id",
            )
            .bind(request_ids)
            .fetch_all(pool)
            .await
        )?)
    }

    /// Ends the requests awaiting approval that expired or whose
    /// environment's settings changed since they were asked for.
    pub async fn settle_awaiting_requests(&self) -> Result<()> {
        let awaiting: Vec<i64> = on_pool!(self, pool => sqlx::query_scalar("SELECT id FROM deploy_requests WHERE state = 'awaiting_approval'")
                .fetch_all(pool)
                .await)?;
        for id in awaiting {
            // Read first: the write lock is taken only for one that ends.
            let mut conn = self.read().await?;
            let request = request_in(&mut conn, id).await?;
            if staleness(&mut conn, &request).await?.is_none() {
                continue;
            }
            drop(conn);
            let mut tx = self.write().await?;
            let request = request_in(&mut tx, id).await?;
            if request.state != RequestState::AwaitingApproval {
                continue;
            }
            if end_if_stale(&mut tx, &request).await?.is_some() {
                tx.commit().await?;
            }
        }
        Ok(())
    }
}

/// How a request's approvals stopped counting.
struct Stale {
    state: RequestState,
    note: String,
    action: &'static str,
}

/// Ends `request` as expired or voided where its approvals stopped
/// counting (inside the caller's transaction), saying how.
async fn end_if_stale(tx: &mut Tx, request: &DeployRequest) -> Result<Option<Stale>> {
    let stale = staleness(&mut *tx, request).await?;
    if let Some(stale) = &stale {
        end_request(
            &mut *tx,
            request,
            stale.state,
            &stale.note,
            stale.action,
            None,
        )
        .await?;
    }
    Ok(stale)
}

async fn staleness(tx: &mut Tx, request: &DeployRequest) -> Result<Option<Stale>> {
    if request.expires_at.is_some_and(|at| at <= time::now()) {
        return Ok(Some(Stale {
            state: RequestState::Expired,
            note: "expired: not approved in time; request it again".to_owned(),
            action: actions::REQUEST_EXPIRED,
        }));
    }
    if approvals_void(&mut *tx, request).await? {
        return Ok(Some(Stale {
            state: RequestState::Voided,
            note: VOIDED_BY_CHANGE.to_owned(),
            action: actions::REQUEST_VOIDED,
        }));
    }
    Ok(None)
}

/// After an approval: what is still missing, or — every rule met — the
/// request waits its turn (after the wait timer, if any).
async fn advance(tx: &mut Tx, request: &DeployRequest, env: &Environment) -> Result<()> {
    let given: Vec<(String, Json<Vec<String>>)> = on_tx!(tx => sqlx::query_as(
        "SELECT approver, groups FROM approvals WHERE request_id = $1 AND decision = 'approved' ORDER BY id",
    )
    .bind(request.id)
    .fetch_all(&mut *tx)
    .await)?;
    let approvers: Vec<crate::domain::Approver> = given
        .into_iter()
        .map(|(login, groups)| crate::domain::Approver {
            login,
            groups: groups.0,
        })
        .collect();
    let missing = env.approvals.missing(&approvers);
    if !missing.is_empty() {
        on_tx!(tx => sqlx::query("UPDATE deploy_requests SET note = $1 WHERE id = $2")
            .bind(format!("awaiting approval: {}", missing.join("; ")))
            .bind(request.id)
            .execute(&mut *tx)
            .await.map(Done::from))?;
        return Ok(());
    }
    let names: Vec<&str> = approvers.iter().map(|a| a.login.as_str()).collect();
    let wait = Duration::minutes(i64::from(env.approvals.wait_minutes));
    let not_before = match (request.not_before, wait > Duration::zero()) {
        (at, false) => at,
        (Some(at), true) => Some(at.max(time::now() + wait)),
        (None, true) => Some(time::now() + wait),
    };
    let mut note = format!("approved by {}", names.join(", "));
    if let Some(at) = not_before.filter(|at| *at > time::now()) {
        note.push_str(&format!(
            "; starts at {}",
            at.with_timezone(&Utc).format("%Y-%m-%d %H:%M UTC")
        ));
    }
    on_tx!(tx => sqlx::query(
        "UPDATE deploy_requests SET state = 'waiting', not_before = $1, note = $2 WHERE id = $3",
    )
    .bind(not_before)
    .bind(note)
    .bind(request.id)
    .execute(&mut *tx)
    .await.map(Done::from))?;
    Ok(())
}
