//! Freeze windows: made and removed by admins, read by the pages and by
//! every path that queues a job (through [`super::tx::freezes`]).

use super::tx::audit;
use super::tx::freezes::{windows_over, FreezeRow, SELECT_WINDOW};
use super::Store;
use crate::audit::{actions, AuditRecord};
use crate::domain::{Application, Environment, FreezeRule, FreezeWindow};
use crate::error::{Error, Result};
use crate::store::{on_pool, on_tx, Done};
use crate::time;

impl Store {
    /// Adds a window over `env`, or over every environment of `app` when `env` is `None`.
    pub async fn create_freeze_window(
        &self,
        actor: &str,
        app: &Application,
        env: Option<&Environment>,
        rule: &FreezeRule,
    ) -> Result<FreezeWindow> {
        let mut tx = self.write().await?;
        let id: i64 = on_tx!(tx => sqlx::query_scalar(
            "INSERT INTO freeze_windows
                (application_id, environment_id, name, schedule, time_zone, blocks_rollbacks, created_by, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
        )
        .bind(app.id)
        .bind(env.map(|env| env.id))
        .bind(&rule.name)
        .bind(sqlx::types::Json(&rule.schedule))
        .bind(rule.zone.name())
        .bind(rule.blocks_rollbacks)
        .bind(actor)
        .bind(time::now())
        .fetch_one(&mut *tx)
        .await)?;
        let row: FreezeRow = on_tx!(tx => sqlx::query_as(&format!("{SELECT_WINDOW} WHERE f.id = $1"))
            .bind(id)
            .fetch_one(&mut *tx)
            .await)?;
        let window = FreezeWindow::from(row);
        let mut record = AuditRecord::new(actor, actions::FREEZE_CREATED, format!("freeze/{id}"))
            .details(serde_json::json!({
                "scope": window.scope(),
                "name": rule.name,
                "schedule": rule.schedule,
                "time_zone": rule.zone.name(),
                "blocks_rollbacks": rule.blocks_rollbacks,
            }));
        if let Some(env) = env {
            record = record.environment(env.path());
        }
        audit::append(&mut tx, &record).await?;
        tx.commit().await?;
        Ok(window)
    }

    /// Every window of an application, its environments' included.
    pub async fn freeze_windows(&self, application_id: i64) -> Result<Vec<FreezeWindow>> {
        let rows: Vec<FreezeRow> = on_pool!(self, pool => sqlx::query_as(&format!(
            "{SELECT_WINDOW} WHERE f.application_id = $1 ORDER BY f.id"
        ))
        .bind(application_id)
        .fetch_all(pool)
        .await)?;
        Ok(rows.into_iter().map(FreezeWindow::from).collect())
    }

    /// The windows over one environment: its own and its application's.
    pub async fn freeze_windows_over(&self, env: &Environment) -> Result<Vec<FreezeWindow>> {
        let mut conn = self.read().await?;
        windows_over(&mut conn, env.application_id, Some(env.id)).await
    }

    pub async fn delete_freeze_window(
        &self,
        actor: &str,
        app: &Application,
        id: i64,
    ) -> Result<FreezeWindow> {
        let mut tx = self.write().await?;
        let row: Option<FreezeRow> = on_tx!(tx => sqlx::query_as(&format!(
            "{SELECT_WINDOW} WHERE f.id = $1 AND f.application_id = $2"
        ))
        .bind(id)
        .bind(app.id)
        .fetch_optional(&mut *tx)
        .await)?;
        let window = FreezeWindow::from(
            row.ok_or_else(|| Error::not_found(format!("freeze window #{id} of {}", app.name)))?,
        );
        on_tx!(tx => sqlx::query("DELETE FROM freeze_windows WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await.map(Done::from))?;
        let mut record = AuditRecord::new(actor, actions::FREEZE_DELETED, format!("freeze/{id}"))
            .details(serde_json::json!({ "scope": window.scope(), "name": window.rule.name }));
        if let Some(env) = &window.environment {
            record = record.environment(format!("{}/{env}", app.name));
        }
        audit::append(&mut tx, &record).await?;
        tx.commit().await?;
        Ok(window)
    }
}
