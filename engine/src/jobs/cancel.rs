//! A cancellation flag a running job checks between steps and while it waits.

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
