//! The notification outbox, written inside the transaction of what it
//! tells of: an audited action (or a job's start) and its deliveries
//! commit together, so no notice is lost and none is sent for what did
//! not happen. Sending is someone else's job (and masks any secret value
//! a notice's words may hold: they are not opened here).

use crate::store::Tx;
use crate::store::{on_tx, Done};

use crate::audit::AuditRecord;
use crate::domain::notify::{summary_of, Notice, NotifyEvent};
use crate::error::Result;
use crate::time;

/// Queues a notice of `record` for each target that chose its event, if
/// it is one a target can hear of.
pub(crate) async fn enqueue_for_audit(conn: &mut Tx, record: &AuditRecord) -> Result<()> {
    let Some(event) = NotifyEvent::of_audit(record.action, &record.details) else {
        return Ok(());
    };
    let Some(path) = record.environment.as_deref() else {
        return Ok(());
    };
    let number = |key: &str| record.details.get(key).and_then(serde_json::Value::as_i64);
    let target_id = |prefix: &str| {
        record
            .target
            .strip_prefix(prefix)
            .and_then(|id| id.parse::<i64>().ok())
    };
    let notice = Notice {
        event,
        environment: path.to_owned(),
        actor: record.actor.clone(),
        summary: summary_of(event, &record.actor, &record.details),
        job_id: target_id("job/"),
        request_id: target_id("request/").or_else(|| number("request")),
        build_id: number("build_id"),
        commit_sha: record
            .details
            .get("commit_sha")
            .and_then(|v| v.as_str())
            .map(str::to_owned),
        link: None,
        at: time::now(),
    };
    enqueue_for_environment(conn, path, notice).await
}

/// Queues `notice` for the targets of environment `path` (`app/env`) and
/// of its whole application that chose its event.
pub(crate) async fn enqueue_for_environment(
    conn: &mut Tx,
    path: &str,
    notice: Notice,
) -> Result<()> {
    let Some((app, env)) = path.split_once('/') else {
        return Ok(());
    };
    let scope: Option<(i64, i64)> = on_tx!(conn => sqlx::query_as(
        "SELECT e.application_id, e.id FROM environments e JOIN applications a ON a.id = e.application_id
         WHERE a.name = $1 AND e.name = $2",
    )
    .bind(app)
    .bind(env)
    .fetch_optional(&mut *conn)
    .await)?;
    let Some((application_id, environment_id)) = scope else {
        return Ok(());
    };
    enqueue(conn, application_id, Some(environment_id), notice).await
}

/// Queues `notice` for the targets of the application that chose its
/// event: those of environment `environment_id` and the application-wide
/// ones, or (`None`) all of them.
pub(crate) async fn enqueue(
    conn: &mut Tx,
    application_id: i64,
    environment_id: Option<i64>,
    notice: Notice,
) -> Result<()> {
    let targets: Vec<(i64, String)> = on_tx!(conn => sqlx::query_as(
        "SELECT id, events FROM notification_targets
         WHERE application_id = $1 AND ($2 IS NULL OR environment_id IS NULL OR environment_id = $3)",
    )
    .bind(application_id)
    .bind(environment_id)
    .bind(environment_id)
    .fetch_all(&mut *conn)
    .await)?;
    let event = notice.event.as_str();
    let chosen: Vec<i64> = targets
        .into_iter()
        .filter(|(_, events)| events.split_whitespace().any(|e| e == event))
        .map(|(id, _)| id)
        .collect();
    if chosen.is_empty() {
        return Ok(());
    }
    let body = sqlx::types::Json(&notice);
    let now = time::now();
    for target in chosen {
        on_tx!(conn => sqlx::query(
            "INSERT INTO notification_deliveries (target_id, event, body, state, next_attempt_at, created_at)
             VALUES ($1, $2, $3, 'pending', $4, $5)",
        )
        .bind(target)
        .bind(event)
        .bind(body)
        .bind(now)
        .bind(now)
        .execute(&mut *conn)
        .await.map(Done::from))?;
    }
    Ok(())
}
