//! The notification sender: takes the outbox's due deliveries, sends each
//! to its target (signed, for a generic one), and records how it went —
//! retrying with growing delays, never holding up a job. It also tells of
//! freeze periods as they start.

use std::time::Duration;

use hmac::{Hmac, Mac};
use sha2::Sha256;
use tokio::sync::watch;
use tracing::Instrument;

use crate::domain::describe_instant;
use crate::domain::notify::NotifyFormat;
use crate::error::Result;
use crate::runtime::{MASK, MIN_SECRET_LEN};
use crate::store::notifications::{Attempt, DueDelivery};
use crate::store::Store;
use crate::time;

/// Headers of a generic target's request.
pub const SIGNATURE_HEADER: &str = "x-slipway-signature";
pub const TIMESTAMP_HEADER: &str = "x-slipway-timestamp";
pub const EVENT_HEADER: &str = "x-slipway-event";
pub const DELIVERY_HEADER: &str = "x-slipway-delivery";

/// A freeze period that started longer ago than this is not announced
/// (Slipway was down then; telling it now would be news of old).
const ANNOUNCE_WITHIN: chrono::Duration = chrono::Duration::minutes(15);

#[derive(Clone, Debug)]
pub struct NotifierSettings {
    /// The delay before the first retry; each later one is four times
    /// the one before, up to an hour.
    pub first_retry: Duration,
    /// Attempts before a delivery is given up as failed.
    pub max_attempts: i64,
    /// How often to look for due deliveries.
    pub poll_every: Duration,
    /// How long one request may take.
    pub timeout: Duration,
    /// Slipway's own address, for links in messages.
    pub public_url: Option<String>,
}

impl Default for NotifierSettings {
    fn default() -> Self {
        Self {
            first_retry: Duration::from_secs(10),
            max_attempts: 6,
            poll_every: Duration::from_secs(1),
            timeout: Duration::from_secs(10),
            public_url: None,
        }
    }
}

pub struct Notifier {
    store: Store,
    settings: NotifierSettings,
    client: reqwest::Client,
}

impl Notifier {
    pub fn new(store: Store, settings: NotifierSettings) -> Result<Self> {
        let client = reqwest::Client::builder()
            .timeout(settings.timeout)
            // A target answers itself: a redirect could lead the signed
            // body anywhere.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent("Slipway notifications")
            .build()
            .map_err(|e| std::io::Error::other(e.without_url()))?;
        Ok(Self {
            store,
            settings,
            client,
        })
    }

    /// Sends until `shutdown` says to stop.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let mut last_freeze_sweep = None::<std::time::Instant>;
        loop {
            if last_freeze_sweep.is_none_or(|at| at.elapsed() >= Duration::from_secs(10)) {
                last_freeze_sweep = Some(std::time::Instant::now());
                if let Err(e) = self.announce_freezes().await {
                    tracing::warn!(error = %e, "freeze announcements");
                }
            }
            if let Err(e) = self.send_due().await {
                tracing::warn!(error = %e, "notification deliveries");
            }
            tokio::select! {
                _ = shutdown.changed() => return,
                () = tokio::time::sleep(self.settings.poll_every) => {}
            }
        }
    }

    /// Sends every delivery whose time has come (a batch at a time).
    pub async fn send_due(&self) -> Result<()> {
        loop {
            let hold = time::now()
                + chrono::Duration::from_std(self.settings.timeout * 3)
                    .unwrap_or(chrono::Duration::minutes(1));
            let due = self.store.claim_due_deliveries(hold, 20).await?;
            if due.is_empty() {
                return Ok(());
            }
            for delivery in &due {
                let span = tracing::info_span!(
                    "notification",
                    delivery = delivery.id,
                    event = delivery.notice.event.as_str(),
                    target = %delivery.url.shown(),
                );
                let attempt = self.send(delivery).instrument(span).await;
                self.store.record_attempt(delivery.id, &attempt).await?;
            }
        }
    }

    async fn send(&self, delivery: &DueDelivery) -> Attempt {
        let mut notice = delivery.notice.clone();
        notice.link = self.link_for(&notice);
        // A secret's value in a notice's words (a failing hook may have
        // printed one) is masked. Secrets that cannot be opened cannot be
        // masked either: then the notice waits rather than risk one.
        match self.store.secret_values_of(&notice.environment).await {
            Ok(secrets) => {
                for secret in secrets.iter().filter(|s| s.len() >= MIN_SECRET_LEN) {
                    notice.summary = notice.summary.replace(secret.as_str(), MASK);
                    notice.actor = notice.actor.replace(secret.as_str(), MASK);
                }
            }
            Err(e) => {
                return Attempt::Retry {
                    status: None,
                    error: format!("not sent: {}", e.public_message()),
                    next: time::now() + self.retry_delay(delivery.attempts),
                };
            }
        }
        let body = notice.body(delivery.format).to_string();
        let timestamp = time::now().timestamp().to_string();
        let mut request = self
            .client
            .post(delivery.url.reveal())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(EVENT_HEADER, notice.event.as_str())
            .header(DELIVERY_HEADER, delivery.id.to_string())
            .header(TIMESTAMP_HEADER, &timestamp);
        if let (NotifyFormat::Generic, Some(secret)) = (delivery.format, &delivery.secret) {
            request = request.header(SIGNATURE_HEADER, signature(secret, &timestamp, &body));
        }
        let outcome = request.body(body).send().await;
        let (status, error, permanent) = match outcome {
            Ok(response) if response.status().is_success() => {
                tracing::info!(status = response.status().as_u16(), "delivered");
                return Attempt::Delivered {
                    status: response.status().as_u16(),
                };
            }
            Ok(response) => {
                let status = response.status();
                // A client error other than "too many" or "timed out" will
                // not mend by itself.
                let permanent = status.is_client_error() && !matches!(status.as_u16(), 408 | 429);
                (
                    Some(status.as_u16()),
                    format!("answered {status}"),
                    permanent,
                )
            }
            // Without the URL: it may hold a credential.
            Err(e) => (None, e.without_url().to_string(), false),
        };
        tracing::warn!(?status, %error, attempt = delivery.attempts + 1, "not delivered");
        if permanent || delivery.attempts + 1 >= self.settings.max_attempts {
            Attempt::GaveUp { status, error }
        } else {
            Attempt::Retry {
                status,
                error,
                next: time::now() + self.retry_delay(delivery.attempts),
            }
        }
    }

    /// The delay after the `attempts`+1-th attempt failed.
    fn retry_delay(&self, attempts: i64) -> chrono::Duration {
        let factor = 4_u32.saturating_pow(u32::try_from(attempts).unwrap_or(u32::MAX).min(8));
        let delay = self
            .settings
            .first_retry
            .saturating_mul(factor)
            .min(Duration::from_secs(3600));
        chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::hours(1))
    }

    fn link_for(&self, notice: &crate::domain::notify::Notice) -> Option<String> {
        let base = self.settings.public_url.as_deref()?.trim_end_matches('/');
        match notice.job_id {
            Some(job) => Some(format!("{base}/jobs/{job}")),
            None => {
                let (app, env) = notice.environment.split_once('/')?;
                Some(format!("{base}/apps/{app}/envs/{env}"))
            }
        }
    }

    /// Tells of each freeze period that started in the last few minutes,
    /// once.
    async fn announce_freezes(&self) -> Result<()> {
        let now = time::now();
        for app in self.store.applications().await? {
            for window in self.store.freeze_windows(app.id).await? {
                let Some(period) = window.rule.active_at(now) else {
                    continue;
                };
                if now - period.start > ANNOUNCE_WITHIN {
                    continue;
                }
                let ends = describe_instant(period.end, window.rule.zone);
                if self
                    .store
                    .announce_freeze(&window, period.start, &ends)
                    .await?
                {
                    tracing::info!(window = window.id, "freeze started: announced");
                }
            }
        }
        Ok(())
    }
}

/// `sha256=<hex HMAC-SHA256 of "<timestamp>.<body>">` under the target's
/// secret: what a receiver recomputes to trust the body and its time.
pub fn signature(secret: &str, timestamp: &str, body: &str) -> String {
    #[allow(clippy::expect_used)] // HMAC takes a key of any length
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("an HMAC key of any length");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body.as_bytes());
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_covers_the_time_and_the_body() {
        let a = signature("key", "1700000000", "{}");
        assert!(a.starts_with("sha256=") && a.len() == 7 + 64);
        assert_ne!(a, signature("key", "1700000001", "{}"));
        assert_ne!(a, signature("key", "1700000000", "{ }"));
        assert_ne!(a, signature("other", "1700000000", "{}"));
    }
}
