//! Emits a job's events: masked, numbered, stored, then published.

use std::sync::Arc;

use tokio::sync::Mutex;

use super::{EventHub, SecretMasker};
use crate::domain::JobEvent;
use crate::error::Result;
use crate::store::jobs::HostProgress;
use crate::store::Store;
use crate::time;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventLevel {
    Info,
    Warn,
    Error,
    /// A line a command wrote to stdout.
    Out,
    /// A line a command wrote to stderr.
    Err,
    /// Per-host progress, as JSON (`phase`, `step`, `done`, `total`, `state`).
    Progress,
    /// The last event of a job; its text is the final state.
    End,
}

impl EventLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            EventLevel::Info => "info",
            EventLevel::Warn => "warn",
            EventLevel::Error => "error",
            EventLevel::Out => "out",
            EventLevel::Err => "err",
            EventLevel::Progress => "progress",
            EventLevel::End => "end",
        }
    }
}

#[derive(Clone, Debug)]
pub struct EventEmitter {
    job_id: i64,
    store: Store,
    hub: EventHub,
    masker: Arc<SecretMasker>,
    next_seq: Arc<Mutex<i64>>,
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
        Ok(Self {
            job_id,
            store,
            hub,
            masker: Arc::new(masker),
            next_seq: Arc::new(Mutex::new(last + 1)),
        })
    }

    pub fn masker(&self) -> &SecretMasker {
        &self.masker
    }

    /// Stores then publishes one event. The lock keeps stored order and
    /// published order the same.
    pub async fn emit(&self, host: Option<&str>, level: EventLevel, text: &str) -> Result<()> {
        let mut next = self.next_seq.lock().await;
        let event = JobEvent {
            job_id: self.job_id,
            seq: *next,
            ts: time::now(),
            host: host.map(str::to_owned),
            level: level.as_str().to_owned(),
            text: self.masker.mask(text),
        };
        self.store.insert_job_event(&event).await?;
        *next += 1;
        drop(next);
        self.hub.publish(event);
        Ok(())
    }

    pub async fn info(&self, host: Option<&str>, text: &str) -> Result<()> {
        self.emit(host, EventLevel::Info, text).await
    }

    pub async fn error(&self, host: Option<&str>, text: &str) -> Result<()> {
        self.emit(host, EventLevel::Error, text).await
    }

    /// Journals a host's progress and streams it.
    pub async fn progress(&self, progress: &HostProgress<'_>) -> Result<()> {
        self.store
            .record_host_progress(self.job_id, progress)
            .await?;
        let text = serde_json::json!({
            "phase": progress.phase,
            "step": progress.step,
            "done": progress.steps_done,
            "total": progress.steps_total,
            "state": progress.state,
            "error": progress.error,
        })
        .to_string();
        self.emit(Some(progress.host), EventLevel::Progress, &text)
            .await
    }
}
