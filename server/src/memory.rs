//! Giving freed memory back to the system.
//!
//! glibc's allocator keeps what a burst of connections freed inside its
//! per-thread arenas, so after 2,000 event streams end the process would
//! stay at its peak size. `malloc_trim` releases those free pages.

use std::time::Duration;

/// How long after the trigger the trim runs: the connections whose streams
/// just ended free their buffers a moment later.
const SETTLE: Duration = Duration::from_secs(1);

/// Asks the allocator, shortly, to return free pages to the system, off
/// the async threads (it walks every arena). Does nothing where glibc is
/// not the allocator.
pub fn release_freed_soon() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if let Ok(runtime) = tokio::runtime::Handle::try_current() {
        runtime.spawn(async {
            tokio::time::sleep(SETTLE).await;
            let trimmed = tokio::task::spawn_blocking(|| {
                // SAFETY: `malloc_trim` only releases memory the allocator
                // holds as free; it touches no live allocation.
                unsafe { libc::malloc_trim(0) }
            });
            if let Err(e) = trimmed.await {
                tracing::debug!(error = %e, "malloc_trim did not run");
            }
        });
    }
}
