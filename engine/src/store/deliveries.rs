//! Webhook deliveries acted on, so a replayed or redelivered one is not:
//! by the forge's delivery id, and by the body's digest (the id is not
//! signed; the body is).

use super::Store;
use crate::domain::AppName;
use crate::error::Result;
use crate::store::{on_pool, Done};
use crate::time;
use crate::webhooks::{DeliveryId, Forge};

impl Store {
    /// Records `delivery` of a body with digest `body_digest`; `false` if
    /// either was recorded before (for this application).
    pub async fn first_delivery(
        &self,
        forge: Forge,
        delivery: &DeliveryId,
        app: &AppName,
        body_digest: &str,
    ) -> Result<bool> {
        let inserted = on_pool!(self, pool => sqlx::query(
            "INSERT INTO webhook_deliveries (forge, delivery_id, application, received_at, body_digest)
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
        )
        .bind(forge.name())
        .bind(delivery.as_str())
        .bind(app.as_str())
        .bind(time::now())
        .bind(body_digest)
        .execute(pool)
        .await.map(Done::from))?;
        Ok(inserted.rows_affected() == 1)
    }

    /// Forgets `delivery`, which could not be acted on: the forge may send
    /// it again.
    pub async fn forget_delivery(&self, forge: Forge, delivery: &DeliveryId) -> Result<()> {
        on_pool!(self, pool => sqlx::query("DELETE FROM webhook_deliveries WHERE forge = $1 AND delivery_id = $2")
            .bind(forge.name())
            .bind(delivery.as_str())
            .execute(pool)
            .await.map(Done::from))?;
        Ok(())
    }
}
