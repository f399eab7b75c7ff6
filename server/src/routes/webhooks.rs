//! `POST /hooks/{github|gitlab}/{app}`: push webhooks. Verified over the
//! raw body before it is parsed (a refusal is audited, rate-limited); a
//! delivery must name itself, and a body is acted on once whatever id it
//! comes with. A deleted branch takes its branch preview with it; a push
//! keeps its commits for change lists.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use engine::audit::{actions, AuditRecord, ANONYMOUS_ACTOR};
use engine::domain::AppName;
use engine::webhooks::{self, DeliveryId, Forge, WebhookError, WebhookEvent};
use engine::BranchDeleted;
use serde_json::json;

use crate::error::ApiError;
use crate::state::AppState;

#[tracing::instrument(name = "webhook", skip(state, headers, body))]
pub async fn receive(
    State(state): State<AppState>,
    Path((forge, app)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let Some(forge) = Forge::parse(&forge) else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("no webhooks from {forge:?}: use /hooks/github/<app> or /hooks/gitlab/<app>"),
        ));
    };
    let Some(secret) = &state.webhook_secret else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "webhooks are off: start Slipway with SLIPWAY_WEBHOOK_SECRET set",
        ));
    };
    let app_name = AppName::parse(&app).map_err(engine::Error::from)?;
    let secret = secret.for_application(&app_name);
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if let Err(e) = webhooks::verify(forge, &secret, header(forge.signature_header()), &body) {
        tracing::warn!(error = %e, "webhook refused");
        audit_refused(&state, forge, &app_name, &e).await;
        return Err(ApiError::new(StatusCode::UNAUTHORIZED, e.to_string()));
    }
    let event = header(forge.event_header())
        .ok_or(WebhookError::MissingEvent(forge.event_header()))
        .and_then(|event| webhooks::parse(forge, event, &body))
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let delivery = DeliveryId::parse(forge, header(forge.delivery_header()))
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    // A signed body sent again (a replay, a redelivery, under any id) is
    // not acted on twice.
    let store = state.engine.store();
    let digest = webhooks::body_digest(&body);
    if !store
        .first_delivery(forge, &delivery, &app_name, &digest)
        .await?
    {
        return Ok(Json(json!({
            "result": format!(
                "delivery {} was handled already (this delivery, or this very body)",
                delivery.as_str()
            ),
        }))
        .into_response());
    }
    let acted = act(&state, forge, &app, event).await;
    if acted.is_err() {
        store.forget_delivery(forge, &delivery).await?;
    }
    acted
}

/// Records a webhook refused for its signature, as failed sign-ins are
/// recorded: one by one up to a limit a minute.
async fn audit_refused(state: &AppState, forge: Forge, app: &AppName, error: &WebhookError) {
    use crate::access::throttle::{Admit, FAILED_LOGINS_PER_MINUTE};
    let mut details = json!({
        "forge": forge.name(),
        "application": app.as_str(),
        "reason": error.to_string(),
    });
    match state.refused_webhooks.admit() {
        Admit::Record => {}
        Admit::RecordLast => {
            details["note"] = format!(
                "more than {FAILED_LOGINS_PER_MINUTE} refused webhooks this minute: \
                 the rest of this minute's are counted in the server log, not recorded one by one"
            )
            .into();
        }
        Admit::Skip => return,
    }
    let record = AuditRecord::new(
        ANONYMOUS_ACTOR,
        actions::WEBHOOK_REFUSED,
        format!("hooks/{}/{}", forge.name(), app.as_str()),
    )
    .details(details);
    if let Err(e) = state.engine.store().audit_only(&record).await {
        tracing::error!(error = %e, "could not record a refused webhook");
    }
}

/// Does what a verified, new delivery says.
async fn act(
    state: &AppState,
    forge: Forge,
    app: &str,
    event: WebhookEvent,
) -> Result<Response, ApiError> {
    match event {
        WebhookEvent::Ping => Ok(Json(json!({ "result": "pong" })).into_response()),
        WebhookEvent::Pushed(push) => {
            let kept = state.engine.pushed(app, &push).await?;
            Ok(Json(json!({
                "result": format!("push to {}: {kept} commit(s) noted; the repository mirror is being fetched", push.branch),
            }))
            .into_response())
        }
        WebhookEvent::Ignored(what) => Ok(Json(json!({
            "result": format!("nothing to do for a {what}"),
        }))
        .into_response()),
        WebhookEvent::BranchDeleted(branch) => {
            let deleted = state
                .engine
                .branch_deleted(forge.actor(), app, &branch)
                .await?;
            Ok(match deleted {
                BranchDeleted::Destroying(job) => (
                    StatusCode::ACCEPTED,
                    Json(json!({
                        "result": format!("branch {branch} deleted: destroying its preview"),
                        "job": job.id,
                    })),
                )
                    .into_response(),
                BranchDeleted::AfterJob {
                    environment,
                    job_id,
                } => (
                    StatusCode::ACCEPTED,
                    Json(json!({
                        "result": format!(
                            "branch {branch} deleted: {environment} is destroyed once job #{job_id} ends"
                        ),
                    })),
                )
                    .into_response(),
                BranchDeleted::NoPreview => Json(json!({
                    "result": format!("branch {branch} deleted: it has no preview"),
                }))
                .into_response(),
            })
        }
    }
}
