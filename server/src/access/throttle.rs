//! Bounds what anonymous requests can add to the append-only audit log:
//! failed sign-ins (and webhooks refused for their signature) are recorded
//! one by one up to a limit per minute; past it, one row says the rest of
//! that minute's are not recorded singly, and the server log counts them.
//! A flood of bad login links or forged webhooks cannot grow the log
//! (which nothing may shorten) faster than that.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failed sign-ins recorded one by one per window.
pub const FAILED_LOGINS_PER_MINUTE: u32 = 20;
const WINDOW: Duration = Duration::from_secs(60);

/// What to do with one more failed sign-in.
#[derive(Debug, PartialEq, Eq)]
pub enum Admit {
    /// Record it.
    Record,
    /// Record it, saying the window's further failures are not recorded singly.
    RecordLast,
    /// Do not record it (the window's limit is reached).
    Skip,
}

#[derive(Debug)]
pub struct AuditThrottle {
    /// What it counts, for the server log ("failed sign-ins").
    what: &'static str,
    window: Mutex<Window>,
}

#[derive(Debug)]
struct Window {
    started: Instant,
    seen: u32,
}

impl Default for AuditThrottle {
    fn default() -> Self {
        Self::new("failed sign-ins")
    }
}

impl AuditThrottle {
    pub fn new(what: &'static str) -> Self {
        Self {
            what,
            window: Mutex::new(Window {
                started: Instant::now(),
                seen: 0,
            }),
        }
    }

    pub fn admit(&self) -> Admit {
        self.admit_at(Instant::now())
    }

    fn admit_at(&self, now: Instant) -> Admit {
        let mut window = self.window.lock().unwrap_or_else(|p| p.into_inner());
        if now.duration_since(window.started) >= WINDOW {
            if window.seen > FAILED_LOGINS_PER_MINUTE + 1 {
                tracing::warn!(
                    skipped = window.seen - FAILED_LOGINS_PER_MINUTE - 1,
                    "{} not recorded one by one in the last minute",
                    self.what
                );
            }
            *window = Window {
                started: now,
                seen: 0,
            };
        }
        window.seen += 1;
        match window.seen {
            n if n <= FAILED_LOGINS_PER_MINUTE => Admit::Record,
            n if n == FAILED_LOGINS_PER_MINUTE + 1 => Admit::RecordLast,
            _ => Admit::Skip,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flood_is_recorded_up_to_the_limit_then_once_more_then_not_until_the_next_minute() {
        let throttle = AuditThrottle::default();
        let start = Instant::now();
        for _ in 0..FAILED_LOGINS_PER_MINUTE {
            assert_eq!(throttle.admit_at(start), Admit::Record);
        }
        assert_eq!(throttle.admit_at(start), Admit::RecordLast);
        for _ in 0..1000 {
            assert_eq!(
                throttle.admit_at(start + Duration::from_secs(30)),
                Admit::Skip
            );
        }
        assert_eq!(throttle.admit_at(start + WINDOW), Admit::Record);
    }
}
