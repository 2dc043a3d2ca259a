//! [`StopFlag`]: ends a running [`drain`](super::drain) from another thread — the AWS
//! lifecycle watcher when the hook is abandoned, an embedding program shutting down, a test.
//! The wait wakes at once (not at the next poll) and returns [`Outcome::Stopped`](super::Outcome::Stopped).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex};

use super::events::Wake;

/// A cloneable handle; every clone stops the same waits.
#[derive(Debug, Clone, Default)]
pub struct StopFlag {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    stopped: AtomicBool,
    reason: Mutex<Option<String>>,
    wakers: Mutex<Vec<Sender<Wake>>>,
}

impl StopFlag {
    /// A flag that is not raised.
    pub fn new() -> StopFlag {
        StopFlag::default()
    }

    /// Raises the flag: every wait using it (now or later) ends with `reason`.
    pub fn stop(&self, reason: impl Into<String>) {
        let mut r = self.inner.reason.lock().unwrap_or_else(|e| e.into_inner());
        if r.is_none() {
            *r = Some(reason.into());
        }
        drop(r);
        self.inner.stopped.store(true, Ordering::SeqCst);
        for tx in self
            .inner
            .wakers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            let _ = tx.send(Wake::Stop);
        }
    }

    /// True once [`StopFlag::stop`] was called.
    pub fn is_stopped(&self) -> bool {
        self.inner.stopped.load(Ordering::SeqCst)
    }

    /// The reason given to [`StopFlag::stop`].
    pub fn reason(&self) -> Option<String> {
        self.inner
            .reason
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Wakes `tx` when the flag is raised (at once when it already is).
    pub(super) fn register(&self, tx: Sender<Wake>) {
        let mut wakers = self.inner.wakers.lock().unwrap_or_else(|e| e.into_inner());
        if self.is_stopped() {
            let _ = tx.send(Wake::Stop);
        }
        wakers.push(tx);
    }
}
