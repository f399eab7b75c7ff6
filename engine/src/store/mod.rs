//! Every SQL statement Slipway runs lives under this module.
//!
//! SQLite (WAL mode, foreign keys on, a busy timeout) or PostgreSQL, behind
//! one [`Pool`] (see [`db`]). Writes run in transactions that take the write
//! lock up front, so concurrent writers queue instead of failing half-way.
//! An action and its audit row commit together.

pub mod applications;
pub mod approvals;
pub mod audit;
pub mod builds;
pub mod checkpoints;
pub mod commits;
pub mod db;
pub mod deliveries;
pub mod environments;
pub mod events;
pub mod freezes;
pub mod history;
pub mod insight;
pub mod jobs;
pub mod login_flows;
pub mod notifications;
pub mod qa;
pub mod releases;
pub mod requests;
pub mod resume;
pub mod secrets;
pub(crate) mod tx;
pub mod users;

pub(crate) use db::{on_pool, on_tx, Done};
pub use db::{Dialect, Leadership, Pool, Tx};

use crate::error::Result;

/// The database handle, and the key secret values are sealed with. Cheap
/// to clone.
#[derive(Clone, Debug)]
pub struct Store {
    pool: Pool,
    secrets: std::sync::Arc<crate::secrets::SecretKey>,
}

impl Store {
    /// Opens the database at `url` (an SQLite file, created if needed, or
    /// `postgres://…`), applies migrations, and seals any secret stored
    /// before sealing existed.
    pub async fn open(url: &str, secrets: crate::secrets::SecretKey) -> Result<Self> {
        let store = Self {
            pool: Pool::connect(url).await?,
            secrets: std::sync::Arc::new(secrets),
        };
        store.seal_plaintext_secrets().await?;
        Ok(store)
    }

    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// A write transaction that takes the write lock up front.
    pub async fn write(&self) -> Result<Tx> {
        self.pool.write().await
    }

    /// The time leases are measured against: this machine's clock on
    /// SQLite (one machine), the database server's on PostgreSQL, which
    /// replicas with clocks apart share.
    pub async fn clock(&self) -> Result<chrono::DateTime<chrono::Utc>> {
        Ok(match self.pool() {
            Pool::Sqlite(_) => crate::time::now(),
            Pool::Postgres(pool) => {
                sqlx::query_scalar("SELECT date_trunc('microseconds', clock_timestamp())")
                    .fetch_one(pool)
                    .await?
            }
        })
    }

    /// A transaction for reads that must agree with each other.
    pub async fn read(&self) -> Result<Tx> {
        self.pool.read().await
    }
}

/// True when `err` is a UNIQUE constraint violation.
pub(crate) fn is_unique_violation(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(db) if db.is_unique_violation())
}
