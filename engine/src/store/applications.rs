//! Applications: the unit that owns environments and builds.

use super::tx::audit;
use super::{is_unique_violation, Store};
use crate::audit::{actions, AuditRecord};
use crate::domain::{AppName, Application};
use crate::error::{Error, Result};
use crate::store::{on_pool, on_tx};
use crate::time;

impl Store {
    pub async fn create_application(
        &self,
        actor: &str,
        name: &AppName,
        repository_url: Option<&str>,
    ) -> Result<Application> {
        let mut tx = self.write().await?;
        let inserted = on_tx!(tx => sqlx::query_as::<_, Application>(
            "INSERT INTO applications (name, repository_url, created_at) VALUES ($1, $2, $3) RETURNING *",
        )
        .bind(name.as_str())
        .bind(repository_url)
        .bind(time::now())
        .fetch_one(&mut *tx)
        .await);
        let app = match inserted {
            Ok(app) => app,
            Err(e) if is_unique_violation(&e) => {
                return Err(Error::Conflict(format!(
                    "an application named {name} already exists"
                )))
            }
            Err(e) => return Err(e.into()),
        };
        audit::append(
            &mut tx,
            &AuditRecord::new(actor, actions::APPLICATION_CREATED, format!("app/{name}"))
                .details(serde_json::json!({ "repository_url": repository_url })),
        )
        .await?;
        tx.commit().await?;
        Ok(app)
    }

    pub async fn applications(&self) -> Result<Vec<Application>> {
        Ok(
            on_pool!(self, pool => sqlx::query_as("SELECT * FROM applications ORDER BY name")
            .fetch_all(pool)
            .await)?,
        )
    }

    pub async fn application(&self, name: &AppName) -> Result<Application> {
        on_pool!(self, pool => sqlx::query_as("SELECT * FROM applications WHERE name = $1")
            .bind(name.as_str())
            .fetch_optional(pool)
            .await)?
        .ok_or_else(|| Error::not_found(format!("application {name}")))
    }

    pub async fn application_by_id(&self, id: i64) -> Result<Application> {
        on_pool!(self, pool => sqlx::query_as("SELECT * FROM applications WHERE id = $1")
            .bind(id)
            .fetch_optional(pool)
            .await)?
        .ok_or_else(|| Error::not_found(format!("application #{id}")))
    }
}
