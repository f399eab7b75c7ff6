//! `slipway audit verify`: the hash chain holds after real activity, and a
//! row changed behind Slipway's back is named.

mod common;

use common::{cli, count, drop_audit_guards, open_db, TestServer};
use engine::store::Pool;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_verify_names_a_tampered_row() {
    let server = TestServer::start().await;
    let auth = server.login().await;
    let job_id = server.deploy(&auth, 1).await;
    let view = server.wait_job_finished(&auth, job_id).await;
    assert_eq!(view["job"]["state"], json!("succeeded"), "{view}");
    let data_dir = server.data_dir().to_path_buf();

    // Verified while the server is still running (WAL: readers are fine).
    let out = cli(&data_dir, &["audit", "verify"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "audit verify: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("audit log OK"), "{stdout}");

    let data = server.stop();

    let db = open_db(&data_dir).await;
    for action in ["login", "deploy.requested", "job.succeeded"] {
        assert_eq!(
            count(
                &db,
                &format!("SELECT COUNT(*) FROM audit_log WHERE action = '{action}'")
            )
            .await,
            1,
            "one {action} row"
        );
    }
    assert!(count(&db, "SELECT COUNT(*) FROM audit_log").await >= 3);

    // The log is append-only as long as its triggers stand…
    let refused = engine::on_test_pool!(&db, pool => sqlx::query("UPDATE audit_log SET details = '{}' WHERE seq = 3")
        .execute(pool)
        .await.map(|done| done.rows_affected()));
    assert!(refused.is_err(), "the no-update trigger refuses changes");
    let refused = engine::on_test_pool!(&db, pool => sqlx::query("DELETE FROM audit_log WHERE seq = 3")
        .execute(pool)
        .await.map(|done| done.rows_affected()));
    assert!(refused.is_err(), "the no-delete trigger refuses deletes");

    // …and someone with the file drops it and rewrites row 3.
    drop_audit_guards(&db).await;
    let tamper = match db {
        Pool::Sqlite(_) => {
            "UPDATE audit_log SET details = json_set(details, '$.tampered', 1) WHERE seq = 3"
        }
        Pool::Postgres(_) => {
            "UPDATE audit_log SET details = (details::JSONB || '{\"tampered\": 1}')::TEXT WHERE seq = 3"
        }
    };
    let changed = engine::on_test_pool!(&db, pool => sqlx::query(tamper)
        .execute(pool)
        .await
        .map(|done| done.rows_affected()))
    .unwrap();
    assert_eq!(changed, 1);
    db.close().await;

    let out = cli(&data_dir, &["audit", "verify"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(2),
        "stdout: {}\nstderr: {stderr}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(stderr.contains("audit log BROKEN at row 3:"), "{stderr}");
    drop(data);
}
