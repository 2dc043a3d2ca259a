//! What wakes the wait loop: a change in a watched store directory (inotify through
//! `notify`), the [`StopFlag`](super::StopFlag) raised (by a termination signal it catches, or
//! a caller), or the poll interval passing.

use std::path::PathBuf;
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError, Sender};
use std::time::Duration;

use notify::{RecommendedWatcher, RecursiveMode, Watcher};

/// One wake-up reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wake {
    /// A watched store changed.
    Changed,
    /// SIGTERM, SIGINT, SIGHUP or SIGQUIT arrived.
    Signal(i32),
    /// A [`StopFlag`](super::StopFlag) was raised.
    Stop,
    /// The interval passed with no event.
    Tick,
}

/// The event sources of one wait.
pub struct Events {
    rx: Receiver<Wake>,
    // Kept alive for as long as events are wanted.
    _watcher: Option<RecommendedWatcher>,
    /// True when inotify could not watch every path (the poll interval is all there is).
    pub polling_only: bool,
}

impl Events {
    /// Watches `paths` (non-recursively) and `stop`.
    pub fn new(paths: &[PathBuf], stop: &super::StopFlag) -> Events {
        let (tx, rx) = channel();
        stop.register(tx.clone());
        let (watcher, polling_only) = watch(paths, tx);
        Events {
            rx,
            _watcher: watcher,
            polling_only,
        }
    }

    /// Waits up to `timeout` for the next wake-up; coalesces a burst of store events into one
    /// (a signal or stop in the burst wins).
    pub fn next(&self, timeout: Duration) -> Wake {
        let first = match self.rx.recv_timeout(timeout) {
            Ok(w) => w,
            Err(RecvTimeoutError::Timeout) | Err(RecvTimeoutError::Disconnected) => {
                return Wake::Tick
            }
        };
        let mut wake = first;
        while let Ok(w) = self.rx.try_recv() {
            if matches!(w, Wake::Signal(_) | Wake::Stop) {
                wake = w;
            }
        }
        wake
    }
}

fn watch(paths: &[PathBuf], tx: Sender<Wake>) -> (Option<RecommendedWatcher>, bool) {
    let handler = move |res: notify::Result<notify::Event>| {
        if let Ok(ev) = res {
            if !ev.kind.is_access() {
                let _ = tx.send(Wake::Changed);
            }
        }
    };
    let mut watcher = match notify::recommended_watcher(handler) {
        Ok(w) => w,
        Err(e) => {
            tracing::warn!(error = %e, "no file system events; polling only");
            return (None, true);
        }
    };
    let mut all = true;
    for p in paths {
        if let Err(e) = watcher.watch(p, RecursiveMode::NonRecursive) {
            tracing::warn!(path = %crate::display::path(p), error = %e, "cannot watch; polling it");
            all = false;
        }
    }
    (Some(watcher), !all)
}
