//! In-process fan-out of job events to live subscribers (SSE clients).
//!
//! The database is the source of truth; the hub only carries what was just
//! stored. Its buffer is bounded: a subscriber that falls behind sees
//! `Lagged` and must replay from the database.

use tokio::sync::broadcast;

use crate::domain::JobEvent;

const HUB_CAPACITY: usize = 1024;

#[derive(Clone, Debug)]
pub struct EventHub {
    sender: broadcast::Sender<JobEvent>,
}

impl Default for EventHub {
    fn default() -> Self {
        let (sender, _) = broadcast::channel(HUB_CAPACITY);
        Self { sender }
    }
}

impl EventHub {
    pub fn publish(&self, event: JobEvent) {
        // No subscribers is fine: the event is already stored.
        let _ = self.sender.send(event);
    }

    pub fn subscribe(&self) -> broadcast::Receiver<JobEvent> {
        self.sender.subscribe()
    }
}
