//! First start: the first admin, a one-time login link, and the demo.

use anyhow::Context;
use engine::audit::SYSTEM_ACTOR;
use engine::auth::{new_secret_token, token_hash, Actor};
use engine::domain::Role;
use engine::Engine;

use crate::config::StoreConfig;

pub const FIRST_ADMIN: &str = "admin";
const LINK_VALIDITY_HOURS: i64 = 24;

/// The actor Slipway itself acts as (seeding, job outcomes).
pub fn system_actor() -> Actor {
    Actor {
        user_id: 0,
        login: SYSTEM_ACTOR.to_owned(),
        role: Role::Admin,
        groups: Vec::new(),
        credential: engine::auth::Credential::Session,
    }
}

/// Creates the first admin if there are no users, and — as long as nobody
/// has ever signed in — a fresh one-time login link for them. Returns it.
pub async fn first_admin_link(engine: &Engine, public_url: &str) -> anyhow::Result<Option<String>> {
    let store = engine.store();
    if store.count_users().await? == 0 {
        store
            .create_user(SYSTEM_ACTOR, FIRST_ADMIN, "First admin", Role::Admin)
            .await
            .context("creating the first admin")?;
    }
    if store.any_user_has_logged_in().await? {
        return Ok(None);
    }
    let Some(admin) = store.user_by_login(FIRST_ADMIN).await? else {
        return Ok(None);
    };
    login_link(engine, SYSTEM_ACTOR, &admin.login, public_url)
        .await
        .map(Some)
}

/// A new one-time login link for `login` (break-glass path; audited).
pub async fn login_link(
    engine: &Engine,
    actor: &str,
    login: &str,
    public_url: &str,
) -> anyhow::Result<String> {
    let user = engine
        .store()
        .user_by_login(login)
        .await?
        .with_context(|| format!("no user named {login:?}"))?;
    let token = new_secret_token();
    let expires = engine::time::now() + chrono::Duration::hours(LINK_VALIDITY_HOURS);
    engine
        .store()
        .create_login_link(actor, &user, &token_hash(&token), expires)
        .await?;
    Ok(format!("{public_url}/login/link?token={token}"))
}

pub async fn seed_demo(engine: &Engine, store: &StoreConfig) -> anyhow::Result<()> {
    let root = store
        .artifact_roots()
        .into_iter()
        .next()
        .unwrap_or_else(|| store.default_artifact_root());
    let seeded = engine::demo::seed(engine, &system_actor(), &store.data_dir, &root.join("demo"))
        .await
        .context("seeding the demo")?;
    if seeded {
        tracing::info!("seeded the demo application");
    }
    Ok(())
}

/// Seeds the sample history (`storefront`: twelve weeks of releases on two
/// locked environments) for the timeline and the DORA charts.
pub async fn seed_demo_history(engine: &Engine, store: &StoreConfig) -> anyhow::Result<()> {
    let root = store
        .artifact_roots()
        .into_iter()
        .next()
        .unwrap_or_else(|| store.default_artifact_root());
    let seeded =
        engine::demo::seed_history(engine, &system_actor(), &store.data_dir, &root.join("demo"))
            .await
            .context("seeding the sample history")?;
    if seeded {
        tracing::info!("seeded the sample history (storefront)");
    }
    Ok(())
}

/// The database file and its WAL, readable by their owner only (the data
/// directory is made so by `StoreConfig::create_data_dir`).
pub fn restrict_database_files(store: &StoreConfig) {
    use std::os::unix::fs::PermissionsExt;
    let url = store.database_url();
    let Some(path) = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .map(|p| p.split('?').next().unwrap_or(p).to_owned())
    else {
        return;
    };
    for suffix in ["", "-wal", "-shm"] {
        let file = format!("{path}{suffix}");
        if std::path::Path::new(&file).exists() {
            if let Err(e) = std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600))
            {
                tracing::warn!(file, error = %e, "could not restrict the database file to its owner");
            }
        }
    }
}

/// A key rotation interrupted between its commit and keeping the new key
/// leaves `secret.key.new`: kept as the key if the secrets open with it,
/// else discarded (the rotation did not commit).
pub async fn settle_key_rotation(store: &StoreConfig) -> anyhow::Result<()> {
    let pending = store.pending_secret_key_path();
    if store.secret_key.is_some() || !pending.exists() {
        return Ok(());
    }
    let text = std::fs::read_to_string(&pending)
        .with_context(|| format!("reading {}", pending.display()))?;
    let new_key = engine::secrets::SecretKey::from_hex(&text)
        .with_context(|| format!("{}", pending.display()))?;
    let probe = engine::store::Store::open(&store.database_url(), new_key)
        .await
        .context("opening the database to settle a key rotation")?;
    if probe.secrets_open().await? {
        std::fs::rename(&pending, store.secret_key_path())
            .context("keeping the rotated secret key")?;
        tracing::warn!("an interrupted secret key rotation had committed: its new key is kept");
    } else {
        std::fs::remove_file(&pending).context("discarding an uncommitted secret key")?;
        tracing::warn!(
            "an interrupted secret key rotation had not committed: its key is discarded"
        );
    }
    Ok(())
}

/// `slipway rotate-secret-key`: a new key; every secret sealed again under
/// it in one transaction; then the key kept (the file replaced in one
/// rename, or printed when `SLIPWAY_SECRET_KEY` gives the key).
pub async fn rotate_secret_key(engine: &Engine, store: &StoreConfig) -> anyhow::Result<()> {
    let new_key = engine::secrets::SecretKey::generate();
    let actor = engine::audit::SYSTEM_ACTOR;
    if store.secret_key.is_some() {
        let count = engine.store().reseal_secrets(actor, &new_key).await?;
        println!("sealed {count} secret variables under a new key; set SLIPWAY_SECRET_KEY to it before the next start:");
        println!("{}", new_key.to_hex());
        return Ok(());
    }
    let pending = store.pending_secret_key_path();
    new_key
        .write_new(&pending)
        .with_context(|| format!("writing {}", pending.display()))?;
    match engine.store().reseal_secrets(actor, &new_key).await {
        Ok(count) => {
            std::fs::rename(&pending, store.secret_key_path())
                .context("keeping the new secret key")?;
            println!(
                "sealed {count} secret variables under a new key, kept in {}",
                store.secret_key_path().display()
            );
            Ok(())
        }
        Err(e) => {
            let _ = std::fs::remove_file(&pending);
            Err(e.into())
        }
    }
}
