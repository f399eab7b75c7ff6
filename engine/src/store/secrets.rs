//! Keeping secret variables sealed: sealing what was stored before sealing
//! existed, and sealing everything again under a new key.

use super::tx::audit;
use super::Store;
use crate::audit::{actions, AuditRecord, SYSTEM_ACTOR};
use crate::error::{Error, Result};
use crate::secrets::{is_sealed, var_context, SecretKey};
use crate::store::{on_pool, on_tx, Done};

#[derive(sqlx::FromRow)]
struct SecretRow {
    environment_id: i64,
    name: String,
    value: String,
}

const SELECT_SECRETS: &str =
    "SELECT environment_id, name, value FROM env_vars WHERE secret ORDER BY environment_id, name";

impl Store {
    /// The key this store seals with.
    pub(crate) fn secret_key(&self) -> &SecretKey {
        &self.secrets
    }

    /// Seals every secret still stored as plain text (written before
    /// sealing existed), in one transaction.
    pub(super) async fn seal_plaintext_secrets(&self) -> Result<()> {
        let mut tx = self.write().await?;
        let rows: Vec<SecretRow> =
            on_tx!(tx => sqlx::query_as(SELECT_SECRETS).fetch_all(&mut *tx).await)?;
        let mut sealed = 0;
        for row in rows.iter().filter(|r| !is_sealed(&r.value)) {
            let context = var_context(row.environment_id, &row.name);
            on_tx!(tx => sqlx::query(
                "UPDATE env_vars SET value = $1, value_digest = $2 WHERE environment_id = $3 AND name = $4",
            )
            .bind(self.secrets.seal(&context, &row.value))
            .bind(self.secrets.digest(&context, &row.value))
            .bind(row.environment_id)
            .bind(&row.name)
            .execute(&mut *tx)
            .await.map(Done::from))?;
            sealed += 1;
        }
        if sealed > 0 {
            audit::append(
                &mut tx,
                &AuditRecord::new(SYSTEM_ACTOR, actions::SECRETS_SEALED, "secrets")
                    .details(serde_json::json!({ "sealed": sealed })),
            )
            .await?;
            tracing::info!(sealed, "sealed secret variables stored as plain text");
        }
        tx.commit().await?;
        Ok(())
    }

    /// Every secret sealed again under `new` (and its digest made with it),
    /// in one transaction: all of them, or — when one does not open with
    /// this store's key — none, naming those that do not. Returns how many.
    pub async fn reseal_secrets(&self, actor: &str, new: &SecretKey) -> Result<usize> {
        let mut tx = self.write().await?;
        let rows: Vec<SecretRow> =
            on_tx!(tx => sqlx::query_as(SELECT_SECRETS).fetch_all(&mut *tx).await)?;
        let mut unreadable = Vec::new();
        let mut resealed = Vec::with_capacity(rows.len());
        for row in &rows {
            let context = var_context(row.environment_id, &row.name);
            match self.secrets.open(&context, &row.value) {
                Ok(plain) => resealed.push((
                    row,
                    new.seal(&context, &plain),
                    new.digest(&context, &plain),
                )),
                Err(e) => unreadable.push((row, e)),
            }
        }
        if let Some((_, e)) = unreadable.first() {
            let names: Vec<String> = unreadable
                .iter()
                .map(|(row, _)| format!("{} (environment #{})", row.name, row.environment_id))
                .collect();
            return Err(Error::SecretsUnreadable {
                environment: "this Slipway".to_owned(),
                names: names.join(", "),
                reason: e.to_string(),
            });
        }
        for (row, sealed, digest) in &resealed {
            on_tx!(tx => sqlx::query(
                "UPDATE env_vars SET value = $1, value_digest = $2 WHERE environment_id = $3 AND name = $4",
            )
            .bind(sealed)
            .bind(digest)
            .bind(row.environment_id)
            .bind(&row.name)
            .execute(&mut *tx)
            .await.map(Done::from))?;
        }
        audit::append(
            &mut tx,
            &AuditRecord::new(actor, actions::SECRET_KEY_ROTATED, "secrets")
                .details(serde_json::json!({ "resealed": resealed.len() })),
        )
        .await?;
        tx.commit().await?;
        Ok(resealed.len())
    }

    /// Whether the secrets stored open with this store's key (true when
    /// there are none): how an interrupted key rotation is settled.
    pub async fn secrets_open(&self) -> Result<bool> {
        let rows: Vec<SecretRow> = on_pool!(self, pool => sqlx::query_as(SELECT_SECRETS)
            .fetch_all(pool)
            .await)?;
        Ok(rows.iter().filter(|r| is_sealed(&r.value)).all(|row| {
            self.secrets
                .open(&var_context(row.environment_id, &row.name), &row.value)
                .is_ok()
        }))
    }
}
