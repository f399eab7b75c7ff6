//! Deploy requests: those pending everywhere (the Requests page), approve
//! or reject one, withdraw one.

use leptos::prelude::*;

use crate::error::AppError;
use crate::model::RequestInfo;

/// Every pending request (awaiting approval or waiting), oldest first.
#[server(prefix = "/fn", endpoint = "get_requests")]
pub async fn get_requests() -> Result<Vec<RequestInfo>, AppError> {
    use super::context::{actor, engine};
    let (engine, actor) = (engine()?, actor().await?);
    let views = engine.pending_requests(&actor).await?;
    Ok(views.iter().map(super::convert::request_view).collect())
}

/// Approves (`decision` "approve") or rejects ("reject") a request, with a comment.
#[server(prefix = "/fn", endpoint = "answer_request")]
pub async fn answer_request(id: String, decision: String, comment: String) -> Result<(), AppError> {
    use super::context::{actor, engine, number};
    let id = number("id", &id)?;
    let approve = match decision.as_str() {
        "approve" => true,
        "reject" => false,
        _ => return Err(AppError::invalid("decision: approve or reject")),
    };
    let (engine, actor) = (engine()?, actor().await?);
    engine.decide_request(&actor, id, approve, &comment).await?;
    Ok(())
}

/// Withdraws a deploy request that has not started.
#[server(prefix = "/fn", endpoint = "cancel_request")]
pub async fn cancel_request(id: String) -> Result<(), AppError> {
    use super::context::{actor, engine, number};
    let id = number("id", &id)?;
    let (engine, actor) = (engine()?, actor().await?);
    engine.cancel_request(&actor, id).await?;
    Ok(())
}
