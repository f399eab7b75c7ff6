//! Browser sessions: what a session holds, how long it lives, and signing in.

use chrono::{DateTime, Duration, Utc};
use engine::auth::Actor;
use engine::domain::User;
use engine::Engine;
use tower_sessions::Session;

const USER_ID: &str = "user_id";
const SIGNED_IN_AT: &str = "signed_in_at";
const SEEN_AT: &str = "seen_at";

/// A session unused this long ends (the cookie store's expiry).
pub const IDLE_TIMEOUT_HOURS: i64 = 24;
/// However busy, a session ends this long after sign-in.
pub const ABSOLUTE_LIFETIME_DAYS: i64 = 7;
/// How often a session in use is written back, which moves its idle expiry
/// (stored and in the cookie) forward. The store only saves a session that
/// changed, so without this touch the idle expiry would run from sign-in.
const TOUCH_EVERY_MINUTES: i64 = 5;

/// The cookie's name: `__Host-` when served over https, so it is bound to
/// this host, path `/` and Secure.
pub fn cookie_name(secure: bool) -> &'static str {
    if secure {
        "__Host-slipway_session"
    } else {
        "slipway_session"
    }
}

#[derive(Debug, thiserror::Error)]
#[error("could not store the session: {0}")]
pub struct SessionError(#[from] tower_sessions::session::Error);

/// Starts a signed-in session for `user` under a fresh session id (no fixation).
pub async fn sign_in(session: &Session, user: &User) -> Result<(), SessionError> {
    session.cycle_id().await?;
    session.insert(USER_ID, user.id).await?;
    session.insert(SIGNED_IN_AT, engine::time::now()).await?;
    Ok(())
}

/// The actor of a live session: signed in, within its absolute lifetime, and
/// not ended by "log out everywhere". Anything else is no actor.
pub async fn actor(engine: &Engine, session: &Session) -> Option<Actor> {
    let user_id: i64 = session.get(USER_ID).await.ok().flatten()?;
    let signed_in_at: DateTime<Utc> = session.get(SIGNED_IN_AT).await.ok().flatten()?;
    if signed_in_at + Duration::days(ABSOLUTE_LIFETIME_DAYS) <= engine::time::now() {
        let _ = session.flush().await;
        return None;
    }
    let user = engine.store().user_by_id(user_id).await.ok().flatten()?;
    if user
        .sessions_valid_after
        .is_some_and(|after| signed_in_at <= after)
    {
        let _ = session.flush().await;
        return None;
    }
    let seen_at: Option<DateTime<Utc>> = session.get(SEEN_AT).await.ok().flatten();
    let now = engine::time::now();
    if touch_due(seen_at, now) {
        // A failed touch only means the expiry moves on a later request.
        let _ = session.insert(SEEN_AT, now).await;
    }
    Some(Actor::session(&user))
}

/// Whether a session last seen at `seen_at` should be written back now.
fn touch_due(seen_at: Option<DateTime<Utc>>, now: DateTime<Utc>) -> bool {
    seen_at.is_none_or(|seen| seen + Duration::minutes(TOUCH_EVERY_MINUTES) <= now)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_in_use_is_written_back_every_few_minutes_not_on_every_request() {
        let now = engine::time::now();
        assert!(touch_due(None, now), "first use after sign-in");
        assert!(!touch_due(Some(now - Duration::minutes(1)), now));
        assert!(touch_due(
            Some(now - Duration::minutes(TOUCH_EVERY_MINUTES)),
            now
        ));
    }
}
