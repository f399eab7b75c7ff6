//! In-process fan-out of job events to live subscribers (SSE clients).
//!
//! The database is the source of truth; the hub only carries what was just
//! stored. Each event is published once, shared (`Arc`), with a slot for
//! its wire form so that it is encoded once however many watch. Its buffer
//! is bounded: a subscriber that falls behind sees `Lagged` and catches up
//! from the stored events (see `runtime::feed`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, Weak};

use bytes::Bytes;
use tokio::sync::broadcast;

use super::feed::JobReplay;
use crate::domain::JobEvent;

const HUB_CAPACITY: usize = 1024;

/// A stored job event as watchers share it.
#[derive(Debug)]
pub struct LiveEvent {
    pub event: JobEvent,
    encoded: OnceLock<Bytes>,
}

impl LiveEvent {
    pub fn new(event: JobEvent) -> Self {
        Self {
            event,
            encoded: OnceLock::new(),
        }
    }

    /// The event's wire form: made by the first watcher that asks, with
    /// `encode`, and shared with every other (every caller must pass the
    /// same encoding).
    pub fn encoded(&self, encode: impl FnOnce(&JobEvent) -> Bytes) -> Bytes {
        self.encoded.get_or_init(|| encode(&self.event)).clone()
    }
}

#[derive(Clone, Debug)]
pub struct EventHub {
    sender: broadcast::Sender<Arc<LiveEvent>>,
    /// Each watched job's shared replay, while someone holds it.
    replays: Arc<Mutex<HashMap<i64, Weak<JobReplay>>>>,
}

impl Default for EventHub {
    fn default() -> Self {
        let (sender, _) = broadcast::channel(HUB_CAPACITY);
        Self {
            sender,
            replays: Arc::default(),
        }
    }
}

impl EventHub {
    pub fn publish(&self, event: JobEvent) {
        // No subscribers is fine: the event is already stored.
        let _ = self.sender.send(Arc::new(LiveEvent::new(event)));
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<LiveEvent>> {
        self.sender.subscribe()
    }

    /// The jobs someone is watching here now.
    pub fn watched_jobs(&self) -> Vec<i64> {
        let replays = self
            .replays
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        replays
            .iter()
            .filter(|(_, replay)| replay.strong_count() > 0)
            .map(|(job, _)| *job)
            .collect()
    }

    /// Whether someone here watches job `job_id`.
    pub fn is_watched(&self, job_id: i64) -> bool {
        let replays = self
            .replays
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        replays
            .get(&job_id)
            .is_some_and(|replay| replay.strong_count() > 0)
    }

    /// The job's shared replay: the one its other watchers hold, or a new one.
    pub(crate) fn replay(&self, job_id: i64) -> Arc<JobReplay> {
        let mut replays = self
            .replays
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(replay) = replays.get(&job_id).and_then(Weak::upgrade) {
            return replay;
        }
        // Forget the replays nobody holds any more.
        replays.retain(|_, replay| replay.strong_count() > 0);
        let replay = Arc::new(JobReplay::new(job_id));
        replays.insert(job_id, Arc::downgrade(&replay));
        replay
    }
}
