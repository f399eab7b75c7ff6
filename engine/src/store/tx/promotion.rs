//! Promotion: which builds an environment that takes builds from another
//! (`promotes_from`) may deploy — those that went live there and with which
//! no job failed there since.

use crate::domain::Environment;
use crate::error::Result;
use crate::store::{on_tx, Tx};

/// The builds that went live on environment `?1` and with which no job
/// failed (or was interrupted) there since they first did.
pub(crate) const PROMOTABLE_BUILDS: &str = "WITH went_live AS (
        SELECT build_id, MIN(released_at) AS first_live FROM releases
        WHERE environment_id = $1 AND released_at IS NOT NULL GROUP BY build_id)
    SELECT w.build_id FROM went_live w
    WHERE NOT EXISTS (SELECT 1 FROM jobs j
        WHERE j.environment_id = $1 AND j.build_id = w.build_id
          AND j.state IN ('failed', 'interrupted') AND j.created_at > w.first_live)";

/// The environment `env` takes builds from, by id: `None` when it takes any
/// build; an error message when that environment is gone.
pub(crate) async fn upstream_of(
    conn: &mut Tx,
    env: &Environment,
) -> Result<Option<std::result::Result<i64, String>>> {
    let Some(upstream) = &env.promotes_from else {
        return Ok(None);
    };
    let id: Option<i64> = on_tx!(conn => sqlx::query_scalar(
        "SELECT id FROM environments WHERE application_id = $1 AND name = $2 AND destroyed_at IS NULL",
    )
    .bind(env.application_id)
    .bind(upstream.as_str())
    .fetch_optional(&mut *conn)
    .await)?;
    Ok(Some(id.ok_or_else(|| {
        format!(
            "{} takes builds only from {}/{upstream}, which no longer exists: change its settings",
            env.path(),
            env.application
        )
    })))
}

/// Why `build_id` may not be deployed to `env` under its promotion rule;
/// `None` when it may (or `env` takes any build).
pub(crate) async fn promotion_refusal(
    conn: &mut Tx,
    env: &Environment,
    build_id: i64,
) -> Result<Option<String>> {
    let upstream_id = match upstream_of(&mut *conn, env).await? {
        None => return Ok(None),
        Some(Err(gone)) => return Ok(Some(gone)),
        Some(Ok(id)) => id,
    };
    let promotable: Option<i64> = on_tx!(conn => sqlx::query_scalar(&format!(
        "SELECT build_id FROM ({PROMOTABLE_BUILDS}) AS promotable WHERE build_id = $2"
    ))
    .bind(upstream_id)
    .bind(build_id)
    .fetch_optional(&mut *conn)
    .await)?;
    if promotable.is_some() {
        return Ok(None);
    }
    let upstream = format!(
        "{}/{}",
        env.application,
        env.promotes_from
            .as_ref()
            .map(|n| n.as_str())
            .unwrap_or_default()
    );
    let failed: Option<i64> = on_tx!(conn => sqlx::query_scalar(
        "SELECT id FROM jobs WHERE environment_id = $1 AND build_id = $2 AND state IN ('failed', 'interrupted')
         ORDER BY id DESC LIMIT 1",
    )
    .bind(upstream_id)
    .bind(build_id)
    .fetch_optional(&mut *conn)
    .await)?;
    let why = match failed {
        Some(job) => format!("job #{job} with it failed there"),
        None => "it never went live there".to_owned(),
    };
    Ok(Some(format!(
        "{} takes builds only from {upstream} (promotion): build #{build_id} cannot go, {why}",
        env.path()
    )))
}
