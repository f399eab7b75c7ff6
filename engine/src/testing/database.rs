//! Which database a test runs on: SQLite in the test's own directory by
//! default; with `SLIPWAY_TEST_DATABASE=postgres`, a fresh PostgreSQL
//! database per test on the cluster `SLIPWAY_TEST_POSTGRES` names (an
//! admin URL; `scripts/test` starts one with `scripts/postgres`).

use sqlx::Connection;

/// The admin URL of the PostgreSQL cluster tests may use.
pub const POSTGRES_VAR: &str = "SLIPWAY_TEST_POSTGRES";
/// `postgres` runs the store's tests on PostgreSQL.
pub const DATABASE_VAR: &str = "SLIPWAY_TEST_DATABASE";

/// True when the store's tests run on PostgreSQL.
pub fn on_postgres() -> bool {
    std::env::var(DATABASE_VAR).is_ok_and(|v| v == "postgres")
}

/// A database URL of its own for one test: `dir/slipway.db`, or a new,
/// empty PostgreSQL database.
pub async fn fresh_url(dir: &std::path::Path) -> String {
    if !on_postgres() {
        return format!("sqlite://{}/slipway.db", dir.display());
    }
    match std::env::var(POSTGRES_VAR) {
        Ok(admin) if !admin.is_empty() => fresh_postgres(&admin).await,
        _ => panic!("{DATABASE_VAR}=postgres needs {POSTGRES_VAR}: a cluster's admin URL (scripts/postgres start DIR prints one)"),
    }
}

/// Creates a database with a random name on the cluster at `admin_url`
/// and returns its URL.
pub async fn fresh_postgres(admin_url: &str) -> String {
    let name = format!("t_{}", hex::encode(rand::random::<[u8; 8]>()));
    let mut admin = sqlx::PgConnection::connect(admin_url)
        .await
        .unwrap_or_else(|e| panic!("connect to the test cluster {admin_url}: {e}"));
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut admin)
        .await
        .unwrap_or_else(|e| panic!("create database {name}: {e}"));
    let _ = admin.close().await;
    match admin_url.rsplit_once('/') {
        Some((server, _)) => format!("{server}/{name}"),
        None => panic!("{POSTGRES_VAR} is not a URL ending in a database name: {admin_url}"),
    }
}

/// Runs `$body` with `$pool` bound to the driver's pool inside a
/// [`crate::store::Pool`]: a test's own SQL, written once with `$N`
/// placeholders, on whichever database the test runs.
#[macro_export]
macro_rules! on_test_pool {
    ($store_pool:expr, $pool:ident => $body:expr) => {
        match $store_pool {
            $crate::store::Pool::Sqlite($pool) => $body,
            $crate::store::Pool::Postgres($pool) => $body,
        }
    };
}
