//! Signed audit checkpoints with the real binary: the server signs the
//! chain's head as rows arrive and at shutdown, exports each checkpoint to
//! a file, and `slipway audit verify --public-key K --checkpoints FILE`
//! finds — against a copy of that file kept elsewhere — a chain cut short
//! and a chain rewritten with every hash recomputed (which the hash chain
//! alone cannot see), naming the row; a forged checkpoint is refused.

mod common;

use std::path::Path;

use common::{cli, drop_audit_guards, open_db, TestServer};
use engine::audit::{canonical_content, row_hash, StoredRow, GENESIS_HASH};
use serde_json::json;

fn run(data_dir: &Path, args: &[&str]) -> (Option<i32>, String, String) {
    let out = cli(data_dir, args);
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// What someone with write access to the file does: drops the triggers,
/// and rewrites every row's links so the chain holds again.
async fn recompute_hashes(db: &engine::store::Pool) {
    drop_audit_guards(db).await;
    let rows: Vec<StoredRow> = engine::on_test_pool!(db, pool => sqlx::query_as(
        "SELECT seq, ts, actor, action, target, environment, details, prev_hash, hash
         FROM audit_log ORDER BY seq",
    )
    .fetch_all(pool)
    .await)
    .unwrap();
    let mut prev = GENESIS_HASH.to_owned();
    for row in rows {
        let canonical = canonical_content(
            row.seq,
            &row.ts,
            &row.actor,
            &row.action,
            &row.target,
            row.environment.as_deref(),
            &row.details,
        );
        let hash = row_hash(&prev, &canonical);
        engine::on_test_pool!(db, pool => sqlx::query("UPDATE audit_log SET prev_hash = $1, hash = $2 WHERE seq = $3")
            .bind(&prev)
            .bind(&hash)
            .bind(row.seq)
            .execute(pool)
            .await.map(|done| done.rows_affected()))
            .unwrap();
        prev = hash;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkpoints_find_a_truncated_and_a_rewritten_chain() {
    let server = TestServer::start_with_env(&[("SLIPWAY_AUDIT_CHECKPOINT_ROWS", "2")]).await;
    let auth = server.login().await;
    let job = server.deploy(&auth, 1).await;
    let view = server.wait_job_finished(&auth, job).await;
    assert_eq!(view["job"]["state"], json!("succeeded"), "{view}");
    let data_dir = server.data_dir().to_path_buf();
    let export = data_dir.join("audit-checkpoints.jsonl");

    // Signed while the server runs, every 2 rows (checked every 2 s)…
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !std::fs::read_to_string(&export).is_ok_and(|t| !t.trim().is_empty()) {
        assert!(
            std::time::Instant::now() < deadline,
            "no checkpoint was exported"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    // …and served over the API in the export file's format.
    let served = server.get("/api/audit/checkpoints", &auth).await;
    assert_eq!(served.status, 200, "{}", served.text);
    let first: serde_json::Value =
        serde_json::from_str(served.text.lines().next().unwrap_or_default()).unwrap();
    assert!(
        first["signature"].as_str().is_some_and(|s| s.len() == 128),
        "{first}"
    );
    // …and once more at shutdown, covering the last row.
    let data = server.stop();
    let (code, public_key, stderr) = run(&data_dir, &["audit", "public-key"]);
    assert_eq!(code, Some(0), "{stderr}");
    let public_key = public_key.trim().to_owned();
    assert_eq!(public_key.len(), 64, "{public_key}");
    let offsite = tempfile::tempdir().unwrap();
    let kept = offsite.path().join("checkpoints.jsonl");
    std::fs::copy(&export, &kept).unwrap();
    let kept_arg = kept.to_str().unwrap();
    let verify = |data_dir: &Path| {
        run(
            data_dir,
            &[
                "audit",
                "verify",
                "--public-key",
                &public_key,
                "--checkpoints",
                kept_arg,
            ],
        )
    };

    let db = open_db(&data_dir).await;
    let rows: i64 =
        engine::on_test_pool!(&db, pool => sqlx::query_scalar("SELECT MAX(seq) FROM audit_log")
        .fetch_one(pool)
        .await)
        .unwrap();
    let (code, stdout, stderr) = verify(&data_dir);
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    assert!(
        stdout.contains(&format!("audit log OK: {rows} rows")),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("the newest covers row {rows}")),
        "the shutdown checkpoint covers the head: {stdout}"
    );

    // Cut the last row off: the chain that is left is valid…
    drop_audit_guards(&db).await;
    engine::on_test_pool!(&db, pool => sqlx::query("DELETE FROM audit_log WHERE seq = $1")
        .bind(rows)
        .execute(pool)
        .await.map(|done| done.rows_affected()))
    .unwrap();
    let (code, _, stderr) = run(&data_dir, &["audit", "verify", "--public-key", "00"]);
    assert_eq!(code, Some(1), "a public key that is not one: {stderr}");
    // …but not against the checkpoints kept elsewhere.
    let (code, stdout, stderr) = verify(&data_dir);
    assert_eq!(code, Some(2), "{stdout}\n{stderr}");
    assert!(
        stderr.contains(&format!(
            "audit log BROKEN at row {rows}: the chain was truncated"
        )),
        "{stderr}"
    );

    // Rewrite row 2 and recompute every hash after it; the attacker also
    // empties the copies on this machine.
    engine::on_test_pool!(&db, pool => sqlx::query(
        "INSERT INTO audit_log (seq, ts, actor, action, target, environment, details, prev_hash, hash)
         SELECT $1, ts, actor, action, target, environment, details, prev_hash, hash FROM audit_log WHERE seq = $2 - 1",
    )
    .bind(rows)
    .bind(rows)
    .execute(pool)
    .await.map(|done| done.rows_affected()))
    .unwrap();
    drop_audit_guards(&db).await;
    engine::on_test_pool!(&db, pool => sqlx::query("UPDATE audit_log SET actor = 'mallory' WHERE seq = 2")
        .execute(pool)
        .await.map(|done| done.rows_affected()))
        .unwrap();
    recompute_hashes(&db).await;
    drop_audit_guards(&db).await;
    engine::on_test_pool!(&db, pool => sqlx::query("DELETE FROM audit_checkpoints")
        .execute(pool)
        .await.map(|done| done.rows_affected()))
    .unwrap();
    db.close().await;
    std::fs::remove_file(&export).unwrap();
    let (code, stdout, stderr) = run(&data_dir, &["audit", "verify"]);
    assert_eq!(
        code,
        Some(0),
        "the chain alone holds again: {stdout}\n{stderr}"
    );
    assert!(stdout.contains("no signed checkpoints yet"), "{stdout}");
    let (code, stdout, stderr) = verify(&data_dir);
    assert_eq!(code, Some(2), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("the chain was rewritten: row ") && stderr.contains("a row from 1 to "),
        "{stderr}"
    );

    // A checkpoint altered by hand is not one the key signed.
    let text = std::fs::read_to_string(&kept).unwrap();
    let mut forged: serde_json::Value =
        serde_json::from_str(text.lines().next().unwrap_or_default()).unwrap();
    forged["hash"] = json!(GENESIS_HASH);
    std::fs::write(&kept, format!("{forged}\n")).unwrap();
    let (code, stdout, stderr) = verify(&data_dir);
    assert_eq!(code, Some(2), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("is not signed by this public key"),
        "{stderr}"
    );
    drop(data);
}
