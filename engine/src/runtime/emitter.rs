//! Emits a job's events: masked, numbered, stored, then published.
//!
//! Hosts emit concurrently. Every `emit` waits until its event is stored,
//! but events queued at the same moment share one transaction (group
//! commit), so fifty hosts do not queue behind fifty separate commits.
//! Numbering happens as events are queued and a single writer stores and
//! publishes them in that order, so stored order = published order = seq.

use std::sync::{Arc, Mutex};

use tokio::sync::{mpsc, oneshot};

use super::{EventHub, SecretMasker};
use crate::domain::{EventLevel, HostProgress, JobEvent};
use crate::error::{Error, Result};
use crate::store::Store;
use crate::time;

/// Most events stored in one transaction.
const MAX_BATCH: usize = 512;

struct Queued {
    event: JobEvent,
    progress: Option<HostProgress>,
    stored: oneshot::Sender<std::result::Result<(), String>>,
}

#[derive(Clone)]
pub struct EventEmitter {
    job_id: i64,
    masker: Arc<SecretMasker>,
    /// The next sequence number and the queue, locked together so queue
    /// order is sequence order.
    queue: Arc<Mutex<(i64, mpsc::UnboundedSender<Queued>)>>,
}

impl std::fmt::Debug for EventEmitter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventEmitter")
            .field("job_id", &self.job_id)
            .finish()
    }
}

impl EventEmitter {
    /// Continues numbering after the events already stored for the job.
    pub async fn new(
        job_id: i64,
        store: Store,
        hub: EventHub,
        masker: SecretMasker,
    ) -> Result<Self> {
        let last = store.last_job_event_seq(job_id).await?;
        let (sender, receiver) = mpsc::unbounded_channel();
        tokio::spawn(write_events(store, hub, receiver));
        Ok(Self {
            job_id,
            masker: Arc::new(masker),
            queue: Arc::new(Mutex::new((last + 1, sender))),
        })
    }

    /// Stores then publishes one event; returns once it is stored.
    pub async fn emit(&self, host: Option<&str>, level: EventLevel, text: &str) -> Result<()> {
        let text = super::terminal::plain_text(text);
        self.enqueue(host, level, self.masker.mask(&text), None)
            .await
    }

    async fn enqueue(
        &self,
        host: Option<&str>,
        level: EventLevel,
        text: String,
        progress: Option<HostProgress>,
    ) -> Result<()> {
        let (stored, done) = oneshot::channel();
        {
            let mut queue = self
                .queue
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            let event = JobEvent {
                job_id: self.job_id,
                seq: queue.0,
                ts: time::now(),
                host: host.map(str::to_owned),
                level,
                text,
            };
            if queue
                .1
                .send(Queued {
                    event,
                    progress,
                    stored,
                })
                .is_err()
            {
                return Err(Error::Io(std::io::Error::other(
                    "the job's event writer stopped",
                )));
            }
            queue.0 += 1;
        }
        match done.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(message)) => Err(Error::Io(std::io::Error::other(message))),
            Err(_) => Err(Error::Io(std::io::Error::other(
                "the job's event writer stopped",
            ))),
        }
    }

    pub async fn info(&self, host: Option<&str>, text: &str) -> Result<()> {
        self.emit(host, EventLevel::Info, text).await
    }

    /// Best effort, for steps that carry on if their log line cannot be
    /// stored: the failure is traced instead.
    pub async fn note(&self, host: Option<&str>, level: EventLevel, text: &str) {
        if let Err(e) = self.emit(host, level, text).await {
            tracing::warn!(error = %e, "could not store a job event");
        }
    }

    /// Best-effort [`progress`](Self::progress): the failure is traced.
    pub async fn journal(&self, progress: HostProgress) {
        if let Err(e) = self.progress(progress).await {
            tracing::warn!(error = %e, "could not journal host progress");
        }
    }

    /// Journals a host's progress and streams it, in one write.
    pub async fn progress(&self, mut progress: HostProgress) -> Result<()> {
        progress.error = progress.error.map(|e| self.masker.mask(&e));
        let host = progress.host.clone();
        let text = progress.to_json();
        self.enqueue(Some(&host), EventLevel::Progress, text, Some(progress))
            .await
    }
}

/// The single writer: takes whatever is queued, stores it in one
/// transaction, publishes it in order, then tells each emitter.
async fn write_events(store: Store, hub: EventHub, mut receiver: mpsc::UnboundedReceiver<Queued>) {
    while let Some(first) = receiver.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match receiver.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        let rows: Vec<(JobEvent, Option<HostProgress>)> = batch
            .iter()
            .map(|q| (q.event.clone(), q.progress.clone()))
            .collect();
        let result = store
            .append_job_events(&rows)
            .await
            .map_err(|e| e.to_string());
        if result.is_ok() {
            for (event, _) in rows {
                hub.publish(event);
            }
        } else {
            tracing::warn!(error = ?result, "could not store job events");
        }
        for queued in batch {
            let _ = queued.stored.send(result.clone());
        }
    }
}
