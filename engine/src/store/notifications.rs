//! Notification targets (who is told of what), and their deliveries: the
//! outbox rows a sender claims, sends and records the outcome of.

use crate::store::{on_pool, on_tx, Done};
use chrono::{DateTime, Utc};
use serde::Serialize;

use super::tx::{audit, notifications};
use super::Store;
use crate::audit::{actions, AuditRecord};
use crate::domain::notify::{Notice, NotifyEvent, NotifyFormat, TargetUrl};
use crate::domain::{Application, Environment, FreezeWindow};
use crate::error::{Error, Result};
use crate::time;

/// A target as the pages and the API show it: its URL only as scheme and
/// host, its secret only as whether it has one.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct NotificationTarget {
    pub id: i64,
    pub application: String,
    /// `None`: every environment of the application.
    pub environment: Option<String>,
    pub name: String,
    pub url: String,
    pub format: NotifyFormat,
    pub signed: bool,
    pub events: Vec<NotifyEvent>,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct TargetRow {
    id: i64,
    application: String,
    environment: Option<String>,
    name: String,
    url: String,
    format: NotifyFormat,
    signed: bool,
    events: String,
    created_by: String,
    created_at: DateTime<Utc>,
}

impl From<TargetRow> for NotificationTarget {
    fn from(row: TargetRow) -> Self {
        NotificationTarget {
            id: row.id,
            application: row.application,
            environment: row.environment,
            name: row.name,
            // Written only once parsed; one that no longer parses shows as such.
            url: TargetUrl::parse(&row.url)
                .map(|u| u.shown())
                .unwrap_or_else(|_| "(unreadable URL)".to_owned()),
            format: row.format,
            signed: row.signed,
            events: row
                .events
                .split_whitespace()
                .filter_map(NotifyEvent::parse)
                .collect(),
            created_by: row.created_by,
            created_at: row.created_at,
        }
    }
}

const SELECT_TARGET: &str =
    "SELECT t.id, a.name AS application, e.name AS environment, t.name, t.url, t.format,
        t.secret IS NOT NULL AS signed, t.events, t.created_by, t.created_at
     FROM notification_targets t JOIN applications a ON a.id = t.application_id
     LEFT JOIN environments e ON e.id = t.environment_id";

/// A target to make, already checked.
#[derive(Debug)]
pub struct NewTarget {
    pub name: String,
    pub url: TargetUrl,
    pub format: NotifyFormat,
    /// The HMAC key of a generic target.
    pub secret: Option<String>,
    pub events: Vec<NotifyEvent>,
}

/// One delivery as the delivery log shows it.
#[derive(Clone, Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Delivery {
    pub id: i64,
    pub target_id: i64,
    pub event: String,
    /// pending, delivered or failed (gave up).
    pub state: String,
    pub attempts: i64,
    pub last_status: Option<i64>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub next_attempt_at: DateTime<Utc>,
    pub delivered_at: Option<DateTime<Utc>>,
}

/// A delivery claimed to be sent now, with what sending needs.
#[derive(Debug)]
pub struct DueDelivery {
    pub id: i64,
    pub attempts: i64,
    pub notice: Notice,
    pub url: TargetUrl,
    pub format: NotifyFormat,
    pub secret: Option<String>,
}

#[derive(sqlx::FromRow)]
struct DueRow {
    id: i64,
    attempts: i64,
    body: sqlx::types::Json<Notice>,
    url: String,
    format: NotifyFormat,
    secret: Option<String>,
}

/// How one attempt ended.
#[derive(Debug)]
pub enum Attempt {
    Delivered {
        status: u16,
    },
    /// Tried again at `next`.
    Retry {
        status: Option<u16>,
        error: String,
        next: DateTime<Utc>,
    },
    /// No attempts left.
    GaveUp {
        status: Option<u16>,
        error: String,
    },
}

impl Store {
    pub async fn create_notification_target(
        &self,
        actor: &str,
        app: &Application,
        env: Option<&Environment>,
        new: &NewTarget,
    ) -> Result<NotificationTarget> {
        let mut tx = self.write().await?;
        let events: Vec<&str> = new.events.iter().map(|e| e.as_str()).collect();
        let id: i64 = on_tx!(tx => sqlx::query_scalar(
            "INSERT INTO notification_targets (application_id, environment_id, name, url, format, secret, events, created_by, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
        )
        .bind(app.id)
        .bind(env.map(|e| e.id))
        .bind(&new.name)
        .bind(new.url.reveal())
        .bind(new.format)
        .bind(&new.secret)
        .bind(events.join(" "))
        .bind(actor)
        .bind(time::now())
        .fetch_one(&mut *tx)
        .await)?;
        let mut record = AuditRecord::new(
            actor,
            actions::NOTIFICATION_TARGET_CREATED,
            format!("notification_target/{id}"),
        )
        .details(serde_json::json!({
            "application": app.name,
            "name": new.name,
            "url": new.url.shown(),
            "format": new.format.as_str(),
            "signed": new.secret.is_some(),
            "events": events,
        }));
        if let Some(env) = env {
            record = record.environment(env.path());
        }
        audit::append(&mut tx, &record).await?;
        let target: TargetRow = on_tx!(tx => sqlx::query_as(&format!("{SELECT_TARGET} WHERE t.id = $1"))
            .bind(id)
            .fetch_one(&mut *tx)
            .await)?;
        tx.commit().await?;
        Ok(target.into())
    }

    pub async fn notification_target(&self, id: i64) -> Result<NotificationTarget> {
        let row: Option<TargetRow> = on_pool!(self, pool => sqlx::query_as(&format!("{SELECT_TARGET} WHERE t.id = $1"))
            .bind(id)
            .fetch_optional(pool)
            .await)?;
        row.map(Into::into)
            .ok_or_else(|| Error::not_found(format!("notification target #{id}")))
    }

    /// The application's targets: its own and its environments'.
    pub async fn notification_targets(&self, app: &Application) -> Result<Vec<NotificationTarget>> {
        let rows: Vec<TargetRow> = on_pool!(self, pool => sqlx::query_as(&format!(
            "{SELECT_TARGET} WHERE t.application_id = $1 ORDER BY t.id"
        ))
        .bind(app.id)
        .fetch_all(pool)
        .await)?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    /// Deletes a target and its delivery log.
    pub async fn delete_notification_target(&self, actor: &str, id: i64) -> Result<()> {
        let mut tx = self.write().await?;
        let target: Option<TargetRow> = on_tx!(tx => sqlx::query_as(&format!("{SELECT_TARGET} WHERE t.id = $1"))
            .bind(id)
            .fetch_optional(&mut *tx)
            .await)?;
        let target: NotificationTarget = target
            .map(Into::into)
            .ok_or_else(|| Error::not_found(format!("notification target #{id}")))?;
        on_tx!(tx => sqlx::query("DELETE FROM notification_deliveries WHERE target_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await.map(Done::from))?;
        on_tx!(tx => sqlx::query("DELETE FROM notification_targets WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await.map(Done::from))?;
        let mut record = AuditRecord::new(
            actor,
            actions::NOTIFICATION_TARGET_DELETED,
            format!("notification_target/{id}"),
        )
        .details(serde_json::json!({
            "application": target.application,
            "name": target.name,
            "url": target.url,
        }));
        if let Some(env) = &target.environment {
            record = record.environment(format!("{}/{env}", target.application));
        }
        audit::append(&mut tx, &record).await?;
        tx.commit().await?;
        Ok(())
    }

    /// A target's newest deliveries, newest first.
    pub async fn deliveries(&self, target_id: i64, limit: i64) -> Result<Vec<Delivery>> {
        Ok(on_pool!(self, pool => sqlx::query_as(
            "SELECT id, target_id, event, state, attempts, last_status, last_error, created_at, next_attempt_at, delivered_at
             FROM notification_deliveries WHERE target_id = $1 ORDER BY id DESC LIMIT $2",
        )
        .bind(target_id)
        .bind(limit.clamp(1, 500))
        .fetch_all(pool)
        .await)?)
    }

    /// Claims up to `limit` pending deliveries whose time has come: each is
    /// put off until `hold_until` (so no other sender takes it while it is
    /// sent) and returned with what sending needs.
    pub async fn claim_due_deliveries(
        &self,
        hold_until: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<DueDelivery>> {
        let mut tx = self.write().await?;
        let rows: Vec<DueRow> = on_tx!(tx => sqlx::query_as(
            "SELECT d.id, d.attempts, d.body, t.url, t.format, t.secret
             FROM notification_deliveries d JOIN notification_targets t ON t.id = d.target_id
             WHERE d.state = 'pending' AND d.next_attempt_at <= $1
             ORDER BY d.next_attempt_at, d.id LIMIT $2",
        )
        .bind(time::now())
        .bind(limit)
        .fetch_all(&mut *tx)
        .await)?;
        for row in &rows {
            on_tx!(tx => sqlx::query("UPDATE notification_deliveries SET next_attempt_at = $1 WHERE id = $2")
                .bind(hold_until)
                .bind(row.id)
                .execute(&mut *tx)
                .await.map(Done::from))?;
        }
        tx.commit().await?;
        Ok(rows
            .into_iter()
            .filter_map(|row| {
                // A URL that no longer parses is sent nowhere (and stays pending).
                let url = TargetUrl::parse(&row.url).ok()?;
                Some(DueDelivery {
                    id: row.id,
                    attempts: row.attempts,
                    notice: row.body.0,
                    url,
                    format: row.format,
                    secret: row.secret,
                })
            })
            .collect())
    }

    /// Records how an attempt at delivery `id` ended.
    pub async fn record_attempt(&self, id: i64, attempt: &Attempt) -> Result<()> {
        let now = time::now();
        let (state, status, error, next, delivered) = match attempt {
            Attempt::Delivered { status } => ("delivered", Some(*status), None, now, Some(now)),
            Attempt::Retry {
                status,
                error,
                next,
            } => ("pending", *status, Some(error.as_str()), *next, None),
            Attempt::GaveUp { status, error } => {
                ("failed", *status, Some(error.as_str()), now, None)
            }
        };
        let mut tx = self.write().await?;
        on_tx!(tx => sqlx::query(
            "UPDATE notification_deliveries SET state = $1, attempts = attempts + 1, last_status = $2,
                 last_error = $3, next_attempt_at = $4, delivered_at = $5
             WHERE id = $6",
        )
        .bind(state)
        .bind(status.map(i64::from))
        .bind(error)
        .bind(next)
        .bind(delivered)
        .bind(id)
        .execute(&mut *tx)
        .await.map(Done::from))?;
        tx.commit().await?;
        Ok(())
    }

    /// Tells the targets of the window's scope that its period starting at
    /// `start` began, once: `false` when it was told already.
    pub async fn announce_freeze(
        &self,
        window: &FreezeWindow,
        start: DateTime<Utc>,
        ends: &str,
    ) -> Result<bool> {
        let mut tx = self.write().await?;
        let first = on_tx!(tx => sqlx::query(
            "INSERT INTO freeze_announcements (window_id, period_start) VALUES ($1, $2)
             ON CONFLICT DO NOTHING",
        )
        .bind(window.id)
        .bind(start)
        .execute(&mut *tx)
        .await.map(Done::from))?
        .rows_affected()
            == 1;
        if first {
            let environment_id: Option<i64> = match &window.environment {
                Some(name) => on_tx!(tx => sqlx::query_scalar(
                        "SELECT id FROM environments WHERE application_id = $1 AND name = $2",
                    )
                    .bind(window.application_id)
                    .bind(name)
                    .fetch_optional(&mut *tx)
                    .await)?,
                None => None,
            };
            let notice = Notice {
                event: NotifyEvent::FreezeStarted,
                environment: window.scope(),
                actor: window.created_by.clone(),
                summary: format!(
                    "deploys are frozen by \u{201c}{}\u{201d} until {ends}",
                    window.rule.name
                ),
                job_id: None,
                request_id: None,
                build_id: None,
                commit_sha: None,
                link: None,
                at: start,
            };
            notifications::enqueue(&mut tx, window.application_id, environment_id, notice).await?;
        }
        tx.commit().await?;
        Ok(first)
    }

    /// The secret values of environment `path` (`app/env`), opened, for
    /// masking what is sent; none for a scope that is not one environment.
    pub async fn secret_values_of(&self, path: &str) -> Result<Vec<String>> {
        let Some((app, env)) = path.split_once('/') else {
            return Ok(Vec::new());
        };
        let (Ok(app), Ok(env)) = (
            crate::domain::AppName::parse(app),
            crate::domain::EnvName::parse(env),
        ) else {
            return Ok(Vec::new());
        };
        let env = match self.environment(&app, &env).await {
            Ok(env) => env,
            Err(Error::NotFound(_)) => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        Ok(self
            .env_vars(&env)
            .await?
            .into_iter()
            .filter(|v| v.secret)
            .map(|v| v.value)
            .collect())
    }
}
