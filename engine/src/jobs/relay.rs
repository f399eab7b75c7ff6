//! Replicas on one PostgreSQL database: what one replica stores, the others
//! hear of. Job events reach the watchers of every replica (through
//! `LISTEN`, read back from the table), and a cancel reaches the replica
//! running the job at once.
//!
//! Notifications are not stored: one sent while a replica's listening
//! connection was down is lost. So the relay also reads, every
//! [`RelaySettings::catch_up_every`], the stored events of the jobs this
//! replica's watchers follow: a missed notification costs at most that
//! delay, never an event. A watcher sees each event once whichever way it
//! came (see `runtime::feed`).

use std::collections::HashMap;
use std::time::Duration;

use sqlx::postgres::PgListener;
use tokio::sync::watch;
use tracing::Instrument;

use super::RunnerLinks;
use crate::runtime::{cancel, EventHub};
use crate::store::db::{instance, CANCELS_CHANNEL, EVENTS_CHANNEL};
use crate::store::{Pool, Store};

#[derive(Clone, Debug)]
pub struct RelaySettings {
    pub catch_up_every: Duration,
}

impl Default for RelaySettings {
    fn default() -> Self {
        Self {
            catch_up_every: Duration::from_secs(2),
        }
    }
}

/// Relays other replicas' events and cancels into this one.
pub struct EventRelay {
    store: Store,
    hub: EventHub,
    runners: RunnerLinks,
    settings: RelaySettings,
    /// The last event published here, per job.
    published: HashMap<i64, i64>,
}

impl EventRelay {
    pub(crate) fn new(
        store: Store,
        hub: EventHub,
        runners: RunnerLinks,
        settings: RelaySettings,
    ) -> Self {
        Self {
            store,
            hub,
            runners,
            settings,
            published: HashMap::new(),
        }
    }

    /// Runs until `shutdown` turns true. On SQLite there is nothing to
    /// relay (one machine), and this returns at once.
    pub async fn run(mut self, mut shutdown: watch::Receiver<bool>) {
        let Pool::Postgres(pool) = self.store.pool().clone() else {
            return;
        };
        let mut listener = loop {
            match listen(&pool).await {
                Ok(listener) => break listener,
                Err(e) => {
                    tracing::error!(error = %e, "cannot listen for other replicas' events; retrying");
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                        _ = shutdown.changed() => return,
                    }
                }
            }
        };
        let mut catch_up = tokio::time::interval(self.settings.catch_up_every);
        catch_up.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                notification = listener.recv() => match notification {
                    Ok(n) => self.heard(n.channel(), n.payload()).await,
                    // The listener reconnects on the next `recv`; what was
                    // sent meanwhile, the catch-up reads.
                    Err(e) => {
                        tracing::warn!(error = %e, "lost the connection listening for other replicas");
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                },
                _ = catch_up.tick() => self.catch_up().await,
                _ = shutdown.changed() => return,
            }
        }
    }

    async fn heard(&mut self, channel: &str, payload: &str) {
        let mut words = payload.splitn(3, ' ');
        let (Some(origin), Some(job)) = (words.next(), words.next()) else {
            return;
        };
        if origin == instance() {
            return;
        }
        let Ok(job_id) = job.parse::<i64>() else {
            return;
        };
        match channel {
            EVENTS_CHANNEL => {
                let last = words
                    .next()
                    .and_then(|range| range.split(' ').nth(1))
                    .and_then(|seq| seq.parse::<i64>().ok());
                // Nobody here to tell: a watcher who comes later reads the
                // stored events first, and the catch-up publishes the rest.
                if !self.hub.is_watched(job_id)
                    || last.is_some_and(|last| last <= self.published_of(job_id))
                {
                    return;
                }
                self.publish_stored(job_id).await;
            }
            CANCELS_CHANNEL => {
                let login = words.next().unwrap_or("someone");
                self.runners.cancels.fire(job_id, &cancel::asked_by(login));
            }
            _ => {}
        }
    }

    /// Publishes what is stored for the jobs watched here that this
    /// replica has not published yet.
    async fn catch_up(&mut self) {
        let watched = self.hub.watched_jobs();
        self.published.retain(|job, _| watched.contains(job));
        for job_id in watched {
            self.publish_stored(job_id).await;
        }
    }

    fn published_of(&self, job_id: i64) -> i64 {
        self.published.get(&job_id).copied().unwrap_or(0)
    }

    /// Publishes job `job_id`'s stored events after the last published.
    async fn publish_stored(&mut self, job_id: i64) {
        let after = self.published_of(job_id);
        let stored = self
            .store
            .job_events_after(job_id, after, 500)
            .instrument(tracing::debug_span!("relay", job_id, after))
            .await;
        match stored {
            Ok(events) => {
                if let Some(last) = events.last() {
                    self.published.insert(job_id, last.seq);
                }
                events.into_iter().for_each(|event| self.hub.publish(event));
            }
            Err(e) => tracing::warn!(job_id, error = %e, "could not read a job's events to relay"),
        }
    }
}

async fn listen(pool: &sqlx::PgPool) -> sqlx::Result<PgListener> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener
        .listen_all([EVENTS_CHANNEL, CANCELS_CHANNEL])
        .await?;
    Ok(listener)
}
