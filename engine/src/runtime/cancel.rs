//! A cancellation flag a running job checks between steps and while it waits.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::watch;

#[derive(Clone, Debug)]
pub struct CancelSignal {
    receiver: watch::Receiver<Option<String>>,
}

/// The side that raises the signal, with the reason.
#[derive(Debug)]
pub struct CancelTrigger {
    sender: watch::Sender<Option<String>>,
}

impl CancelSignal {
    pub fn new() -> (CancelTrigger, CancelSignal) {
        let (sender, receiver) = watch::channel(None);
        (CancelTrigger { sender }, CancelSignal { receiver })
    }

    /// A signal that never fires (for tests and one-off runs).
    pub fn never() -> CancelSignal {
        let (trigger, signal) = Self::new();
        std::mem::forget(trigger);
        signal
    }

    pub fn reason(&self) -> Option<String> {
        self.receiver.borrow().clone()
    }

    /// Resolves when the signal fires.
    pub async fn fired(&mut self) -> String {
        loop {
            if let Some(reason) = self.receiver.borrow_and_update().clone() {
                return reason;
            }
            if self.receiver.changed().await.is_err() {
                // The trigger is gone and never fired: wait forever.
                std::future::pending::<()>().await;
            }
        }
    }
}

impl CancelTrigger {
    pub fn fire(&self, reason: impl Into<String>) {
        self.sender.send_if_modified(|current| {
            if current.is_none() {
                *current = Some(reason.into());
                true
            } else {
                false
            }
        });
    }
}

/// The cancel triggers of the jobs this process runs, by job id: a cancel
/// asked for here raises its job's signal before the request returns, so
/// the job cannot pass another step boundary first. (A job another process
/// runs is stopped by that process's lease keeper, which reads the request
/// from the database.)
#[derive(Clone, Debug, Default)]
pub struct CancelRegistry(Arc<Mutex<HashMap<i64, Arc<CancelTrigger>>>>);

impl CancelRegistry {
    fn map(&self) -> MutexGuard<'_, HashMap<i64, Arc<CancelTrigger>>> {
        // A panicked holder leaves a map that is still a map.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Lists `trigger` as `job_id`'s until the returned guard drops.
    pub(crate) fn register(&self, job_id: i64, trigger: Arc<CancelTrigger>) -> Registered {
        self.map().insert(job_id, trigger);
        Registered {
            registry: self.clone(),
            job_id,
        }
    }

    /// Raises `job_id`'s signal if this process runs it.
    pub(crate) fn fire(&self, job_id: i64, reason: &str) {
        if let Some(trigger) = self.map().get(&job_id) {
            trigger.fire(reason);
        }
    }
}

/// Keeps a job's trigger listed while its task lives.
pub struct Registered {
    registry: CancelRegistry,
    job_id: i64,
}

impl Drop for Registered {
    fn drop(&mut self) {
        self.registry.map().remove(&self.job_id);
    }
}

/// Why a person's cancel stopped a job, in its log and audit row.
pub fn asked_by(login: &str) -> String {
    format!("{login} asked to cancel it")
}
