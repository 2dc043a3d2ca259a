//! [`StopFlag`]: ends a running [`drain`](super::drain) from another thread — a termination
//! signal, the AWS lifecycle watcher when the hook is abandoned, an embedding program shutting
//! down, a test. `main` makes one and hands it to every command; the wait wakes at once (not
//! at the next poll) and returns [`Outcome::Interrupted`](super::Outcome::Interrupted) for a
//! signal, [`Outcome::Stopped`](super::Outcome::Stopped) for a [`StopFlag::stop`].

use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex};

use super::events::Wake;

/// The signals that end a wait: with a report and a run record, never silently. SIGHUP (the
/// terminal or session went away) and SIGQUIT end it like SIGTERM.
pub const SIGNALS: [i32; 4] = {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGQUIT, SIGTERM};
    [SIGTERM, SIGINT, SIGHUP, SIGQUIT]
};

/// A cloneable handle; every clone stops the same waits.
#[derive(Debug, Clone, Default)]
pub struct StopFlag {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    stopped: AtomicBool,
    /// The signal that raised the flag (0: none).
    signal: AtomicI32,
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
        self.raise();
    }

    /// Raises the flag for a termination signal: every wait using it ends interrupted.
    pub fn interrupt(&self, signal: i32) {
        let _ = self
            .inner
            .signal
            .compare_exchange(0, signal, Ordering::SeqCst, Ordering::SeqCst);
        self.raise();
    }

    fn raise(&self) {
        self.inner.stopped.store(true, Ordering::SeqCst);
        let wake = self.wake();
        for tx in self
            .inner
            .wakers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            let _ = tx.send(wake);
        }
    }

    /// What a raised flag wakes a wait with.
    fn wake(&self) -> Wake {
        match self.signal() {
            Some(s) => Wake::Signal(s),
            None => Wake::Stop,
        }
    }

    /// True once the flag is raised ([`StopFlag::stop`] or a signal).
    pub fn is_stopped(&self) -> bool {
        self.inner.stopped.load(Ordering::SeqCst)
    }

    /// The signal that raised the flag, if one did.
    pub fn signal(&self) -> Option<i32> {
        match self.inner.signal.load(Ordering::SeqCst) {
            0 => None,
            s => Some(s),
        }
    }

    /// The reason given to [`StopFlag::stop`].
    pub fn reason(&self) -> Option<String> {
        self.inner
            .reason
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Raises the flag on SIGTERM, SIGINT, SIGHUP or SIGQUIT ([`SIGNALS`]) while the returned
    /// guard lives. `None` (with a warning) when they cannot be caught.
    pub fn catch_signals(&self) -> Option<SignalGuard> {
        let mut signals = match signal_hook::iterator::Signals::new(SIGNALS) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "cannot catch SIGTERM/SIGINT/SIGHUP/SIGQUIT");
                return None;
            }
        };
        let handle = signals.handle();
        let flag = self.clone();
        std::thread::spawn(move || {
            for sig in signals.forever() {
                flag.interrupt(sig);
            }
        });
        Some(SignalGuard { handle })
    }

    /// Wakes `tx` when the flag is raised (at once when it already is).
    pub(super) fn register(&self, tx: Sender<Wake>) {
        let mut wakers = self.inner.wakers.lock().unwrap_or_else(|e| e.into_inner());
        if self.is_stopped() {
            let _ = tx.send(self.wake());
        }
        wakers.push(tx);
    }
}

/// Stops catching the signals when dropped (they are then ignored, as after any wait).
pub struct SignalGuard {
    handle: signal_hook::iterator::Handle,
}

impl Drop for SignalGuard {
    fn drop(&mut self) {
        self.handle.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signal_wins_over_a_later_reason_and_wakes_as_a_signal() {
        let flag = StopFlag::new();
        let (tx, rx) = std::sync::mpsc::channel();
        flag.register(tx);
        flag.interrupt(15);
        flag.interrupt(2);
        assert_eq!(rx.recv().unwrap(), Wake::Signal(15));
        assert_eq!(flag.signal(), Some(15), "the first signal is kept");
        assert!(flag.is_stopped());
        let (tx, rx) = std::sync::mpsc::channel();
        flag.register(tx);
        assert_eq!(
            rx.recv().unwrap(),
            Wake::Signal(15),
            "a later wait ends too"
        );
    }

    #[test]
    fn a_stop_wakes_as_a_stop_with_its_reason() {
        let flag = StopFlag::new();
        let (tx, rx) = std::sync::mpsc::channel();
        flag.register(tx);
        flag.stop("hook abandoned");
        assert_eq!(rx.recv().unwrap(), Wake::Stop);
        assert_eq!(flag.signal(), None);
        assert_eq!(flag.reason().as_deref(), Some("hook abandoned"));
    }
}
