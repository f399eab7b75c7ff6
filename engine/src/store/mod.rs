//! Every SQL statement Slipway runs lives under this module.
//!
//! SQLite in WAL mode, foreign keys on, a busy timeout, and writes in
//! `BEGIN IMMEDIATE` transactions so that concurrent writers queue instead of
//! failing half-way. An action and its audit row commit together.

pub mod applications;
pub mod approvals;
pub mod audit;
pub mod builds;
pub mod checkpoints;
pub mod commits;
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

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Sqlite, SqlitePool, Transaction};

use crate::error::Result;

pub type Tx = Transaction<'static, Sqlite>;

/// The database handle, and the key secret values are sealed with. Cheap
/// to clone.
#[derive(Clone, Debug)]
pub struct Store {
    pool: SqlitePool,
    secrets: std::sync::Arc<crate::secrets::SecretKey>,
}

impl Store {
    /// Opens (creating if needed) the database at `url`, applies
    /// migrations, and seals any secret stored before sealing existed.
    pub async fn open(url: &str, secrets: crate::secrets::SecretKey) -> Result<Self> {
        if let Some(path) = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
        {
            let path = path.split('?').next().unwrap_or(path);
            if let Some(dir) = Path::new(path).parent() {
                if !dir.as_os_str().is_empty() {
                    std::fs::create_dir_all(dir)?;
                }
            }
        }
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(options)
            .await?;
        sqlx::migrate!("../migrations").run(&pool).await?;
        let store = Self {
            pool,
            secrets: std::sync::Arc::new(secrets),
        };
        store.seal_plaintext_secrets().await?;
        Ok(store)
    }

    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// A write transaction that takes the write lock up front.
    pub async fn write(&self) -> Result<Tx> {
        Ok(self.pool.begin_with("BEGIN IMMEDIATE").await?)
    }
}

/// True when `err` is a UNIQUE constraint violation.
pub(crate) fn is_unique_violation(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(db) if db.is_unique_violation())
}
