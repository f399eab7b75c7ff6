//! The notification outbox, written inside the transaction of what it
//! tells of: an audited action (or a job's start) and its deliveries
//! commit together, so no notice is lost and none is sent for what did
//! not happen. Sending is someone else's job.

use sqlx::SqliteConnection;

use crate::audit::AuditRecord;
use crate::domain::notify::{summary_of, Notice, NotifyEvent};
use crate::error::Result;
use crate::time;

/// What stands in for a secret value found in a notice.
const MASK: &str = "••••••";

/// Queues a notice of `record` for each target that chose its event, if
/// it is one a target can hear of.
pub(crate) async fn enqueue_for_audit(
    conn: &mut SqliteConnection,
    record: &AuditRecord,
) -> Result<()> {
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
    conn: &mut SqliteConnection,
    path: &str,
    notice: Notice,
) -> Result<()> {
    let Some((app, env)) = path.split_once('/') else {
        return Ok(());
    };
    let scope: Option<(i64, i64)> = sqlx::query_as(
        "SELECT e.application_id, e.id FROM environments e JOIN applications a ON a.id = e.application_id
         WHERE a.name = ? AND e.name = ?",
    )
    .bind(app)
    .bind(env)
    .fetch_optional(&mut *conn)
    .await?;
    let Some((application_id, environment_id)) = scope else {
        return Ok(());
    };
    enqueue(conn, application_id, Some(environment_id), notice).await
}

/// Queues `notice` for the targets of the application that chose its
/// event: those of environment `environment_id` and the application-wide
/// ones, or (`None`) all of them.
pub(crate) async fn enqueue(
    conn: &mut SqliteConnection,
    application_id: i64,
    environment_id: Option<i64>,
    mut notice: Notice,
) -> Result<()> {
    let targets: Vec<(i64, String)> = sqlx::query_as(
        "SELECT id, events FROM notification_targets
         WHERE application_id = ? AND (? IS NULL OR environment_id IS NULL OR environment_id = ?)",
    )
    .bind(application_id)
    .bind(environment_id)
    .bind(environment_id)
    .fetch_all(&mut *conn)
    .await?;
    let event = notice.event.as_str();
    let chosen: Vec<i64> = targets
        .into_iter()
        .filter(|(_, events)| events.split_whitespace().any(|e| e == event))
        .map(|(id, _)| id)
        .collect();
    if chosen.is_empty() {
        return Ok(());
    }
    mask_secrets(conn, application_id, environment_id, &mut notice).await?;
    let body = sqlx::types::Json(&notice);
    let now = time::now();
    for target in chosen {
        sqlx::query(
            "INSERT INTO notification_deliveries (target_id, event, body, state, next_attempt_at, created_at)
             VALUES (?, ?, ?, 'pending', ?, ?)",
        )
        .bind(target)
        .bind(event)
        .bind(body)
        .bind(now)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Replaces any secret variable's value (of the environment, or of every
/// environment of the application) that appears in the notice's words: a
/// hook's error may have printed one.
async fn mask_secrets(
    conn: &mut SqliteConnection,
    application_id: i64,
    environment_id: Option<i64>,
    notice: &mut Notice,
) -> Result<()> {
    let secrets: Vec<String> = sqlx::query_scalar(
        "SELECT v.value FROM env_vars v JOIN environments e ON e.id = v.environment_id
         WHERE v.secret = 1 AND e.application_id = ? AND (? IS NULL OR e.id = ?)",
    )
    .bind(application_id)
    .bind(environment_id)
    .bind(environment_id)
    .fetch_all(&mut *conn)
    .await?;
    for secret in secrets.iter().filter(|s| s.len() >= 3) {
        for text in [&mut notice.summary, &mut notice.actor] {
            if text.contains(secret.as_str()) {
                *text = text.replace(secret.as_str(), MASK);
            }
        }
    }
    Ok(())
}
