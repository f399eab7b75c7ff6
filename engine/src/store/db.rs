//! The two databases Slipway runs on, behind one handle.
//!
//! SQLite is the embedded default; `postgres://…` selects PostgreSQL, which
//! several replicas can share. Statements are written once with `$N`
//! placeholders (both databases read them) and run through [`on_pool!`] or
//! [`on_tx!`], which expand the same statement for each driver, so each
//! runs monomorphic, without a dynamic layer. A statement whose SQL differs
//! is written for each database (`on_tx!(tx, sqlite => …, postgres => …)`).
//!
//! Writes serialise: SQLite takes its write lock up front (`BEGIN
//! IMMEDIATE`); PostgreSQL takes one transaction-scoped advisory lock, so
//! the checks an action makes (one active job per environment, the audit
//! chain's head) hold across replicas exactly as they hold on one machine.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, Postgres, Sqlite, SqlitePool, Transaction};

use crate::error::Result;

/// The advisory lock every PostgreSQL write transaction holds ("slipway" in
/// ASCII): writers queue on it as they queue on SQLite's write lock.
pub(crate) const WRITE_LOCK: i64 = 0x0073_6c69_7077_6179;

/// The channel a PostgreSQL write announces stored job events on:
/// `"<instance> <job> <first seq> <last seq>"`.
pub const EVENTS_CHANNEL: &str = "slipway_job_events";
/// The channel a cancel is announced on: `"<instance> <job> <login>"`.
pub const CANCELS_CHANNEL: &str = "slipway_job_cancels";

/// This process's name among the replicas sharing a database: a
/// notification it sent itself is not relayed back to it.
pub fn instance() -> &'static str {
    static INSTANCE: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    INSTANCE.get_or_init(|| hex::encode(rand::random::<[u8; 8]>()))
}

/// The advisory lock the leading replica holds for as long as it leads.
const LEAD_LOCK: i64 = WRITE_LOCK + 1;

/// Held by the one replica that does the periodic work.
#[derive(Debug)]
pub struct Leadership {
    /// The connection holding the lock (none on SQLite).
    connection: Option<sqlx::PgConnection>,
}

impl Leadership {
    /// Whether it still holds: the lock lives as long as its connection.
    pub async fn holds(&mut self) -> bool {
        match &mut self.connection {
            None => true,
            Some(connection) => sqlx::Connection::ping(connection).await.is_ok(),
        }
    }
}

/// Which database a URL selects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

impl Dialect {
    pub fn of_url(url: &str) -> Self {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Dialect::Postgres
        } else {
            Dialect::Sqlite
        }
    }
}

/// A connection pool on one of the two databases. Cheap to clone.
#[derive(Clone, Debug)]
pub enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

impl Pool {
    /// Connects to `url` (creating an SQLite file and its directory if
    /// needed) and brings the schema up to date.
    pub async fn connect(url: &str) -> Result<Self> {
        let pool = match Dialect::of_url(url) {
            Dialect::Sqlite => Pool::Sqlite(connect_sqlite(url).await?),
            Dialect::Postgres => Pool::Postgres(connect_postgres(url).await?),
        };
        pool.migrate().await?;
        Ok(pool)
    }

    pub fn dialect(&self) -> Dialect {
        match self {
            Pool::Sqlite(_) => Dialect::Sqlite,
            Pool::Postgres(_) => Dialect::Postgres,
        }
    }

    async fn migrate(&self) -> Result<()> {
        match self {
            Pool::Sqlite(pool) => sqlx::migrate!("../migrations/sqlite").run(pool).await?,
            Pool::Postgres(pool) => sqlx::migrate!("../migrations/postgres").run(pool).await?,
        }
        Ok(())
    }

    /// A write transaction holding the write lock from its first statement.
    pub async fn write(&self) -> Result<Tx> {
        Ok(match self {
            Pool::Sqlite(pool) => Tx::Sqlite(pool.begin_with("BEGIN IMMEDIATE").await?),
            Pool::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                sqlx::query("SELECT pg_advisory_xact_lock($1)")
                    .bind(WRITE_LOCK)
                    .execute(&mut *tx)
                    .await?;
                Tx::Postgres(tx)
            }
        })
    }

    /// A transaction for reads that must see one state of the database.
    pub async fn read(&self) -> Result<Tx> {
        Ok(match self {
            Pool::Sqlite(pool) => Tx::Sqlite(pool.begin().await?),
            Pool::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                    .execute(&mut *tx)
                    .await?;
                Tx::Postgres(tx)
            }
        })
    }

    /// Leadership of the periodic work (lease sweeps, QA expiry, due
    /// requests, the docker reconcile) if no other replica holds it: on
    /// PostgreSQL a session advisory lock on a connection of its own,
    /// released when the holder's connection closes (it stops, or dies);
    /// on SQLite always (one machine).
    pub async fn try_lead(&self) -> Result<Option<Leadership>> {
        match self {
            Pool::Sqlite(_) => Ok(Some(Leadership { connection: None })),
            Pool::Postgres(pool) => {
                let mut connection = pool.acquire().await?;
                let led: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
                    .bind(LEAD_LOCK)
                    .fetch_one(&mut *connection)
                    .await?;
                // Not led: the connection goes back to the pool holding nothing.
                // Led: it leaves the pool, so the lock lives exactly as long.
                Ok(led.then(|| Leadership {
                    connection: Some(connection.detach()),
                }))
            }
        }
    }

    pub async fn close(&self) {
        match self {
            Pool::Sqlite(pool) => pool.close().await,
            Pool::Postgres(pool) => pool.close().await,
        }
    }
}

/// A transaction on either database; dropped without [`Tx::commit`], it
/// rolls back.
#[derive(Debug)]
pub enum Tx {
    Sqlite(Transaction<'static, Sqlite>),
    Postgres(Transaction<'static, Postgres>),
}

impl Tx {
    pub async fn commit(self) -> Result<()> {
        match self {
            Tx::Sqlite(tx) => tx.commit().await?,
            Tx::Postgres(tx) => tx.commit().await?,
        }
        Ok(())
    }

    /// Itself: lets [`on_tx!`] take an owned `Tx` and a `&mut Tx` alike.
    pub fn as_tx(&mut self) -> &mut Self {
        self
    }

    pub fn dialect(&self) -> Dialect {
        match self {
            Tx::Sqlite(_) => Dialect::Sqlite,
            Tx::Postgres(_) => Dialect::Postgres,
        }
    }
}

/// Runs one statement on the pool of `$store` (anything with a `pool()`
/// returning [`Pool`]); `$pool` names the driver's pool inside `$body`.
macro_rules! on_pool {
    ($store:expr, $pool:ident => $body:expr) => {
        on_pool!($store, sqlite $pool => $body, postgres $pool => $body)
    };
    ($store:expr, sqlite $pool:ident => $sqlite:expr, postgres $pg:ident => $postgres:expr) => {
        match $store.pool() {
            $crate::store::db::Pool::Sqlite($pool) => $sqlite,
            $crate::store::db::Pool::Postgres($pg) => $postgres,
        }
    };
}
pub(crate) use on_pool;

/// Runs one statement in the transaction `$tx` (a [`Tx`] or a `&mut Tx`);
/// inside `$body` the same name is the driver's connection.
macro_rules! on_tx {
    ($tx:ident => $body:expr) => {
        on_tx!($tx, sqlite => $body, postgres => $body)
    };
    ($tx:ident, sqlite => $sqlite:expr, postgres => $postgres:expr) => {
        match $tx.as_tx() {
            $crate::store::db::Tx::Sqlite(inner) => {
                #[allow(unused_mut)]
                let mut $tx: &mut ::sqlx::SqliteConnection = inner;
                $sqlite
            }
            $crate::store::db::Tx::Postgres(inner) => {
                #[allow(unused_mut)]
                let mut $tx: &mut ::sqlx::PgConnection = inner;
                $postgres
            }
        }
    };
}
pub(crate) use on_tx;

async fn connect_sqlite(url: &str) -> Result<SqlitePool> {
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
    Ok(SqlitePoolOptions::new()
        .max_connections(8)
        .connect_with(options)
        .await?)
}

async fn connect_postgres(url: &str) -> Result<PgPool> {
    let options = PgConnectOptions::from_str(url)?
        .application_name("slipway")
        // Times are compared and stored in UTC whatever the server's zone.
        .options([("timezone", "UTC")]);
    Ok(PgPoolOptions::new()
        .max_connections(16)
        .acquire_timeout(Duration::from_secs(10))
        .connect_with(options)
        .await?)
}

/// What a statement that returns no rows did, on either database.
#[derive(Clone, Copy, Debug)]
pub struct Done {
    rows_affected: u64,
}

impl Done {
    pub fn rows_affected(&self) -> u64 {
        self.rows_affected
    }
}

impl From<sqlx::sqlite::SqliteQueryResult> for Done {
    fn from(result: sqlx::sqlite::SqliteQueryResult) -> Self {
        Self {
            rows_affected: result.rows_affected(),
        }
    }
}

impl From<sqlx::postgres::PgQueryResult> for Done {
    fn from(result: sqlx::postgres::PgQueryResult) -> Self {
        Self {
            rows_affected: result.rows_affected(),
        }
    }
}
