//! Webhook deliveries acted on, so a replayed or redelivered one is not:
//! by the forge's delivery id, and by the body's digest (the id is not
//! signed; the body is).

use super::Store;
use crate::domain::AppName;
use crate::error::Result;
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
        let inserted = sqlx::query(
            "INSERT INTO webhook_deliveries (forge, delivery_id, application, received_at, body_digest)
             VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
        )
        .bind(forge.name())
        .bind(delivery.as_str())
        .bind(app.as_str())
        .bind(time::now())
        .bind(body_digest)
        .execute(self.pool())
        .await?;
        Ok(inserted.rows_affected() == 1)
    }

    /// Forgets `delivery`, which could not be acted on: the forge may send
    /// it again.
    pub async fn forget_delivery(&self, forge: Forge, delivery: &DeliveryId) -> Result<()> {
        sqlx::query("DELETE FROM webhook_deliveries WHERE forge = ? AND delivery_id = ?")
            .bind(forge.name())
            .bind(delivery.as_str())
            .execute(self.pool())
            .await?;
        Ok(())
    }
}
