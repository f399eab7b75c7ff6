//! Migrations keep existing data: the `jobs` table is rebuilt to allow the
//! `create`/`destroy` kinds, with its rows, references and indexes intact.

use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};

#[tokio::test]
async fn the_jobs_rebuild_keeps_rows_references_and_the_one_active_job_rule() {
    let dir = tempfile::tempdir().unwrap();
    let options = SqliteConnectOptions::new()
        .filename(dir.path().join("old.db"))
        .create_if_missing(true)
        .foreign_keys(true);
    let pool = SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(options)
        .await
        .unwrap();
    let mut migrator = sqlx::migrate!("../migrations/sqlite");
    let all = migrator.migrations.to_vec();
    migrator.migrations = all[..1].to_vec().into();
    migrator.run(&pool).await.unwrap();
    sqlx::raw_sql(
        "INSERT INTO applications (id, name, created_at) VALUES (1, 'shop', 't');
         INSERT INTO environments (id, application_id, name, backend, config, created_at, updated_at)
             VALUES (1, 1, 'production', 'local', '{}', 't', 't');
         INSERT INTO builds (id, application_id, commit_sha, branch, message, author, artifact, registered_by, created_at)
             VALUES (1, 1, 'abc', 'main', 'm', 'a', '/x.tar.gz', 'u', 't');
         INSERT INTO jobs (id, kind, environment_id, build_id, requested_by, state, created_at)
             VALUES (7, 'deploy', 1, 1, 'u', 'succeeded', 't');
         INSERT INTO releases (id, environment_id, build_id, job_id, release_key, kind, state, released_by, created_at)
             VALUES (1, 1, 1, 7, 'k', 'deploy', 'live', 'u', 't');
         INSERT INTO job_events (job_id, seq, ts, level, text) VALUES (7, 1, 't', 'info', 'hello');",
    )
    .execute(&pool)
    .await
    .unwrap();

    sqlx::migrate!("../migrations/sqlite")
        .run(&pool)
        .await
        .unwrap();

    let kind: String = sqlx::query_scalar("SELECT kind FROM jobs WHERE id = 7")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(kind, "deploy");
    let broken: Vec<(String, i64, String, i64)> = sqlx::query_as("PRAGMA foreign_key_check")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert!(broken.is_empty(), "{broken:?}");
    let fk: bool = sqlx::query_scalar("PRAGMA foreign_keys")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(fk, "foreign keys are back on");
    // New kinds are accepted, unknown ones refused, and one active job per environment still holds.
    sqlx::query("INSERT INTO jobs (kind, environment_id, build_id, requested_by, state, created_at) VALUES ('destroy', 1, 1, 'u', 'queued', 't')")
        .execute(&pool)
        .await
        .unwrap();
    assert!(sqlx::query("INSERT INTO jobs (kind, environment_id, build_id, requested_by, state, created_at) VALUES ('create', 1, 1, 'u', 'queued', 't')")
        .execute(&pool)
        .await
        .is_err());
    assert!(sqlx::query("INSERT INTO jobs (kind, environment_id, build_id, requested_by, state, created_at) VALUES ('explode', 1, 1, 'u', 'failed', 't')")
        .execute(&pool)
        .await
        .is_err());
    // Children still reference the rebuilt table.
    assert!(sqlx::query(
        "INSERT INTO job_events (job_id, seq, ts, level, text) VALUES (999, 1, 't', 'info', 'x')"
    )
    .execute(&pool)
    .await
    .is_err());
}
