//! What this process is running: the set of job ids, and a task that
//! ends with whoever owns it.

use std::collections::HashSet;
use std::sync::Arc;

/// The jobs one runner is executing now: the sweep leaves their leases
/// alone, whatever their renewal times say.
#[derive(Clone, Default)]
pub(super) struct RunningJobs(Arc<std::sync::Mutex<HashSet<i64>>>);

impl RunningJobs {
    pub(super) fn set(&self) -> std::sync::MutexGuard<'_, HashSet<i64>> {
        // A panicked holder leaves a set that is still a set.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Holds `job_id`'s place until the returned guard drops.
    pub(super) fn enter(&self, job_id: i64) -> Running {
        self.set().insert(job_id);
        Running {
            jobs: self.clone(),
            job_id,
        }
    }

    pub(super) fn ids(&self) -> Vec<i64> {
        self.set().iter().copied().collect()
    }
}

/// Holds a job's place in [`RunningJobs`] while its task lives; a task
/// that ends in any way (a panic too) gives it up, so the sweep can
/// interrupt that job once its lease lapses.
pub(super) struct Running {
    jobs: RunningJobs,
    job_id: i64,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.jobs.set().remove(&self.job_id);
    }
}

/// Aborts a background task when dropped.
pub(super) struct AbortOnDrop(pub(super) tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
