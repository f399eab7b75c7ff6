use leptos::prelude::*;

use crate::error::AppError;

use crate::model::AuditPage;

/// Audit rows, newest first, filtered; `before` is the keyset cursor.
#[server(prefix = "/fn", endpoint = "get_audit")]
pub async fn get_audit(
    actor_filter: String,
    action: String,
    environment: String,
    since: String,
    until: String,
    before: Option<String>,
) -> Result<AuditPage, AppError> {
    use super::context::{actor, engine, number};
    let before = match before.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(raw) => Some(number("before", raw)?),
    };
    let (engine, actor) = (engine()?, actor().await?);
    let filter = engine::store::audit::AuditFilter::from_query(
        &actor_filter,
        &action,
        &environment,
        &since,
        &until,
        before,
    )
    .map_err(|e| AppError::invalid(e.to_string()))?;
    const PAGE: i64 = 50;
    let rows = engine.audit_page(&actor, &filter, PAGE + 1).await?;
    let next_before = (rows.len() as i64 > PAGE).then(|| rows[PAGE as usize - 1].seq);
    Ok(AuditPage {
        rows: rows
            .iter()
            .take(PAGE as usize)
            .map(super::convert::audit)
            .collect(),
        next_before,
        actions: engine::audit::actions::ALL
            .iter()
            .map(|a| a.to_string())
            .collect(),
    })
}

/// The newest audit row about `environment` (`app/env`; absent: any
/// environment). A page that showed less tells the reader to refresh.
#[server(prefix = "/fn", endpoint = "latest_activity")]
pub async fn latest_activity(environment: Option<String>) -> Result<i64, AppError> {
    use super::context::{actor, engine};
    let (engine, actor) = (engine()?, actor().await?);
    Ok(engine
        .latest_activity(&actor, environment.as_deref())
        .await?)
}
