//! Following one job's events: first what is stored after the watcher's
//! position, then what is published live — each event exactly once, in
//! order, however many watch.
//!
//! Built for many watchers of one job: events are shared, never copied per
//! watcher (the hub publishes each once, and its wire form is encoded once
//! for all). Replay reads the database once per job, not once per watcher:
//! a job's stored events are kept in one [`JobReplay`] that every watcher
//! of the job reads by position, that one top-up at a time extends, and
//! that lives only while a watcher holds it. A watcher that falls behind
//! the live buffer goes back to the replay instead of being dropped.

use std::sync::{Arc, RwLock};

use tokio::sync::broadcast;

use super::hub::{EventHub, LiveEvent};
use crate::domain::EventLevel;
use crate::error::Result;
use crate::store::Store;

/// Events read from the database per top-up.
const TOP_UP_PAGE: i64 = 500;

/// One job's stored events, oldest first, shared by its watchers.
#[derive(Debug)]
pub struct JobReplay {
    job_id: i64,
    events: RwLock<Vec<Arc<LiveEvent>>>,
    /// One top-up from the database at a time; the others wait, then find it done.
    top_up: tokio::sync::Mutex<()>,
}

impl JobReplay {
    pub(crate) fn new(job_id: i64) -> Self {
        Self {
            job_id,
            events: RwLock::new(Vec::new()),
            top_up: tokio::sync::Mutex::new(()),
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Vec<Arc<LiveEvent>>> {
        self.events
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Vec<Arc<LiveEvent>>> {
        self.events
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn last_seq(&self) -> i64 {
        self.read().last().map_or(0, |e| e.event.seq)
    }

    /// The first event after `seq` the replay holds.
    fn after(&self, seq: i64) -> Option<Arc<LiveEvent>> {
        let events = self.read();
        let at = events.partition_point(|e| e.event.seq <= seq);
        events.get(at).cloned()
    }

    /// Keeps a live event that directly follows what the replay holds, so
    /// a later watcher need not read it from the database.
    fn offer(&self, event: &Arc<LiveEvent>) {
        let mut events = self.write();
        let last = events.last().map_or(0, |e| e.event.seq);
        if event.event.seq == last + 1 {
            events.push(event.clone());
        }
    }

    /// Reads what the database has after `seen` that the replay lacks
    /// (nothing, when another watcher's top-up brought it meanwhile).
    async fn top_up(&self, store: &Store, seen: i64) -> Result<()> {
        let _one_at_a_time = self.top_up.lock().await;
        loop {
            let last = self.last_seq();
            if last > seen {
                return Ok(());
            }
            let page = store
                .job_events_after(self.job_id, last, TOP_UP_PAGE)
                .await?;
            let full = page.len() as i64 == TOP_UP_PAGE;
            let mut events = self.write();
            // A live event offered meanwhile may have come first.
            let last = events.last().map_or(0, |e| e.event.seq);
            events.extend(
                page.into_iter()
                    .filter(|e| e.seq > last)
                    .map(|e| Arc::new(LiveEvent::new(e))),
            );
            if !full {
                return Ok(());
            }
        }
    }
}

enum Phase {
    Replay,
    Follow,
    Done,
}

/// One watcher's position in one job's events.
pub struct JobWatch {
    store: Store,
    replay: Arc<JobReplay>,
    live: broadcast::Receiver<Arc<LiveEvent>>,
    last: i64,
    phase: Phase,
}

impl JobWatch {
    /// Watches `job_id` from after event `after`. Subscribes before the
    /// first replay, so nothing falls between the two.
    pub(crate) fn new(store: Store, hub: &EventHub, job_id: i64, after: i64) -> Self {
        let live = hub.subscribe();
        Self {
            store,
            replay: hub.replay(job_id),
            live,
            last: after,
            phase: Phase::Replay,
        }
    }

    /// The next event, or `None` after the job's `end` event (or when the
    /// hub closes). An error is a replay that could not be read.
    pub async fn next(&mut self) -> Option<Result<Arc<LiveEvent>>> {
        loop {
            match self.phase {
                Phase::Done => return None,
                Phase::Replay => {
                    if let Some(event) = self.replay.after(self.last) {
                        return Some(Ok(self.deliver(event)));
                    }
                    if let Err(e) = self.replay.top_up(&self.store, self.last).await {
                        self.phase = Phase::Done;
                        return Some(Err(e));
                    }
                    if self.replay.last_seq() <= self.last {
                        self.phase = Phase::Follow;
                    }
                }
                Phase::Follow => match self.live.recv().await {
                    Ok(event) if event.event.job_id != self.replay.job_id => {}
                    Ok(event) if event.event.seq <= self.last => {}
                    Ok(event) if event.event.seq == self.last + 1 => {
                        self.replay.offer(&event);
                        return Some(Ok(self.deliver(event)));
                    }
                    // Something fell between replay and follow, or this
                    // watcher fell behind the live buffer: catch up from
                    // the stored events.
                    Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {
                        self.phase = Phase::Replay;
                    }
                    Err(broadcast::error::RecvError::Closed) => return None,
                },
            }
        }
    }

    fn deliver(&mut self, event: Arc<LiveEvent>) -> Arc<LiveEvent> {
        self.last = event.event.seq;
        if event.event.level == EventLevel::End {
            self.phase = Phase::Done;
        }
        event
    }
}
