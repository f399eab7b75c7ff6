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
