//! `GET /audit.csv`: the audit log (with the page's filters) as CSV.

use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Extension;
use engine::auth::{Actor, Permission};
use engine::store::audit::AuditFilter;
use serde::Deserialize;

use crate::error::ApiError;
use crate::state::AppState;

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct AuditQuery {
    actor: String,
    action: String,
    environment: String,
    since: String,
    until: String,
}

pub async fn export(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    Query(q): Query<AuditQuery>,
) -> Result<Response, ApiError> {
    actor.require(Permission::Read)?;
    let filter = AuditFilter::from_query(
        &q.actor,
        &q.action,
        &q.environment,
        &q.since,
        &q.until,
        None,
    )
    .map_err(|e| ApiError::bad_request(e.to_string()))?;
    // Streamed a page at a time: memory stays flat however long the log,
    // and the first byte leaves before the second page is read.
    let header = futures::stream::once(async {
        Ok::<_, engine::error::Error>(axum::body::Bytes::from_static(HEADER.as_bytes()))
    });
    let pages = futures::stream::try_unfold(Some(filter), move |filter| {
        let state = state.clone();
        let actor = actor.clone();
        async move {
            let Some(mut filter) = filter else {
                return Ok(None);
            };
            let rows = state.engine.audit_page(&actor, &filter, PAGE).await?;
            let Some(last) = rows.last() else {
                return Ok(None);
            };
            filter.before_seq = Some(last.seq);
            let next = (rows.len() as i64 == PAGE).then_some(filter);
            Ok(Some((axum::body::Bytes::from(csv_lines(&rows)), next)))
        }
    });
    let body = axum::body::Body::from_stream(futures::StreamExt::inspect(
        futures::StreamExt::chain(header, pages),
        |chunk| {
            if let Err(e) = chunk {
                tracing::warn!(error = %e, "audit CSV export cut short");
            }
        },
    ));
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"slipway-audit.csv\"",
            ),
        ],
        body,
    )
        .into_response())
}

const HEADER: &str = "seq,time,actor,action,target,environment,details,hash\n";
/// Rows per database read.
const PAGE: i64 = 1000;

fn csv_lines(rows: &[engine::domain::AuditEntry]) -> String {
    let mut csv = String::with_capacity(rows.len() * 256);
    for row in rows {
        let fields = [
            row.seq.to_string(),
            engine::time::to_rfc3339(row.ts),
            row.actor.clone(),
            row.action.clone(),
            row.target.clone(),
            row.environment.clone().unwrap_or_default(),
            row.details.clone(),
            row.hash.clone(),
        ];
        let line: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
        csv.push_str(&line.join(","));
        csv.push('\n');
    }
    csv
}

/// Quotes a CSV field, and defuses spreadsheet formulas.
fn csv_field(value: &str) -> String {
    let value = if value.starts_with(['=', '+', '-', '@']) {
        format!("'{value}")
    } else {
        value.to_owned()
    };
    format!("\"{}\"", value.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    use super::csv_field;

    #[test]
    fn fields_are_quoted_and_formulas_defused() {
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("=cmd()"), "\"'=cmd()\"");
    }
}
