//! Secret variables at rest, against a real SQLite file and the real
//! runner: a planted secret is never in the database's bytes (nor its
//! WAL) yet reaches the job's hook; rotation keeps every secret readable
//! under the new key; the wrong key is a clear error naming the variables
//! (a job fails saying so, never running with garbage); a secret stored as
//! plain text before sealing existed is sealed at the next start.

mod common;

use common::{TestEngine, APP, ENV};
use engine::domain::JobState;
use engine::secrets::SecretKey;
use engine::store::Pool;
use engine::{Engine, EngineSettings};

const PLANTED: &str = "planted-secret-6f1e9a-do-not-store";

/// A hook that succeeds only when `$API_KEY` is the planted secret, without
/// naming it (its settings are stored in the clear).
fn hook_checking_the_secret() -> String {
    use sha2::Digest;
    let digest = hex::encode(sha2::Sha256::digest(PLANTED.as_bytes()));
    format!("test \"$(printf %s \"$API_KEY\" | sha256sum | cut -c1-64)\" = '{digest}'")
}

/// Every byte the database keeps on disk: the SQLite file with its WAL,
/// or PostgreSQL's files of `env_vars` and its write-ahead log (after a
/// checkpoint, so the table's pages are on disk too).
async fn database_bytes(t: &TestEngine) -> Vec<u8> {
    let mut bytes = Vec::new();
    match t.engine.store().pool() {
        Pool::Sqlite(_) => {
            for suffix in ["", "-wal", "-shm"] {
                let path = format!("{}{suffix}", t.db_path().display());
                bytes.extend(std::fs::read(path).unwrap_or_default());
            }
        }
        Pool::Postgres(pool) => {
            sqlx::query("CHECKPOINT")
                .execute(pool)
                .await
                .expect("checkpoint");
            let (data, table): (String, String) = sqlx::query_as(
                "SELECT current_setting('data_directory'), pg_relation_filepath('env_vars')",
            )
            .fetch_one(pool)
            .await
            .expect("where env_vars lives");
            let data = std::path::Path::new(&data);
            bytes.extend(std::fs::read(data.join(table)).expect("env_vars' file"));
            for wal in std::fs::read_dir(data.join("pg_wal")).expect("pg_wal") {
                let wal = wal.expect("a WAL entry").path();
                if wal.is_file() {
                    bytes.extend(std::fs::read(wal).expect("a WAL segment"));
                }
            }
        }
    }
    bytes
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle.as_bytes())
}

async fn reopen(t: &TestEngine, key: SecretKey) -> Engine {
    Engine::open(&EngineSettings {
        secret_key: key,
        ..t.settings.clone()
    })
    .await
    .expect("reopen the engine")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secret_is_sealed_at_rest_and_opened_only_for_its_job() {
    let mut t = TestEngine::new().await;
    let mut config = t.config();
    // The hook sees the real value (and says so without printing it).
    config.before_switch = Some(format!(
        "{} && echo 'the key arrived'",
        hook_checking_the_secret()
    ));
    t.setup(config).await;
    t.set_var("API_KEY", PLANTED, true).await;
    t.set_var("MODE", "plain-and-visible", false).await;
    t.start_runner();
    let build = t.register_version("1.0.0").await;
    let job = t.deploy_ok(&build).await;
    t.wait_for_event(job.id, "the key arrived").await;

    let bytes = database_bytes(&t).await;
    assert!(!bytes.is_empty());
    assert!(
        !contains(&bytes, PLANTED),
        "the secret is in the database's bytes"
    );
    assert!(
        contains(&bytes, "plain-and-visible"),
        "the check reads the right files"
    );
    let listed = t
        .engine
        .env_vars_masked(
            &t.actor,
            &t.engine.environment(&t.actor, APP, ENV).await.unwrap(),
        )
        .await
        .expect("listed masked");
    assert!(listed.iter().all(|v| !v.value.contains(PLANTED)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_keeps_secrets_readable_and_a_wrong_key_names_what_it_cannot_read() {
    let mut t = TestEngine::new().await;
    let mut config = t.config();
    config.before_switch = Some(hook_checking_the_secret());
    t.setup(config).await;
    t.set_var("API_KEY", PLANTED, true).await;
    t.set_var("DB_PASSWORD", "another-secret", true).await;
    let env = t.engine.environment(&t.actor, APP, ENV).await.unwrap();
    let digest_before = t
        .engine
        .store()
        .current_snapshot(env.id)
        .await
        .expect("snapshot");

    let new_key = SecretKey::generate();
    let resealed = t
        .engine
        .store()
        .reseal_secrets("test", &new_key)
        .await
        .expect("rotate");
    assert_eq!(resealed, 2);
    assert!(!contains(&database_bytes(&t).await, PLANTED));
    let rotated = reopen(&t, new_key.clone()).await;
    let vars = rotated
        .store()
        .env_vars(&env)
        .await
        .expect("opened with the new key");
    let value = |name: &str| {
        vars.iter()
            .find(|v| v.name == name)
            .map(|v| v.value.clone())
    };
    assert_eq!(value("API_KEY").as_deref(), Some(PLANTED));
    assert_eq!(value("DB_PASSWORD").as_deref(), Some("another-secret"));
    // The digests are the new key's: a rotation is a settings change.
    let digest_after = rotated
        .store()
        .current_snapshot(env.id)
        .await
        .expect("snapshot");
    assert_ne!(digest_before, digest_after);

    // The old key (or a lost one) opens none of them: a clear error naming
    // both, and a job that fails saying so instead of running the hook.
    let refused = t.engine.store().env_vars(&env).await;
    let Err(engine::Error::SecretsUnreadable { names, .. }) = &refused else {
        panic!("the old key must not open them: {refused:?}");
    };
    assert_eq!(names, "API_KEY, DB_PASSWORD");
    t.start_runner();
    let build = t.register_version("1.0.0").await;
    let job = t.deploy_and_wait(&build).await;
    assert_eq!(job.state, JobState::Failed);
    let error = job.error.unwrap_or_default();
    assert!(
        error.contains("API_KEY") && error.contains("secret key"),
        "{error}"
    );
    // A rotation from the wrong key changes nothing.
    let again = t
        .engine
        .store()
        .reseal_secrets("test", &SecretKey::generate())
        .await;
    assert!(
        matches!(again, Err(engine::Error::SecretsUnreadable { .. })),
        "{again:?}"
    );
    let still = rotated
        .store()
        .env_vars(&env)
        .await
        .expect("still the new key's");
    assert_eq!(still.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_stored_before_sealing_are_sealed_at_the_next_start() {
    let t = TestEngine::new().await;
    t.setup(t.config()).await;
    let env = t.engine.environment(&t.actor, APP, ENV).await.unwrap();
    engine::on_test_pool!(t.engine.store().pool(), pool => sqlx::query(
        "INSERT INTO env_vars (environment_id, name, value, secret) VALUES ($1, 'OLD_TOKEN', $2, TRUE)",
    )
    .bind(env.id)
    .bind(PLANTED)
    .execute(pool)
    .await.map(|done| done.rows_affected()))
    .expect("an old plaintext secret");
    let restarted = reopen(&t, t.settings.secret_key.clone()).await;
    let stored: String = engine::on_test_pool!(restarted.store().pool(), pool => sqlx::query_scalar("SELECT value FROM env_vars WHERE name = 'OLD_TOKEN'")
        .fetch_one(pool)
        .await)
        .expect("the row");
    assert!(engine::secrets::is_sealed(&stored), "{stored}");
    let vars = restarted.store().env_vars(&env).await.expect("opened");
    assert_eq!(vars[0].value, PLANTED);
    let actions = t.audit_actions_after(0).await;
    assert!(actions.iter().any(|a| a == "secrets.sealed"), "{actions:?}");
}
