//! What wakes the wait loop: a change in a watched store directory (inotify through
//! `notify`), a termination signal, or the poll interval passing.

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
    _signals: Option<signal_hook::iterator::Handle>,
    /// True when inotify could not watch every path (the poll interval is all there is).
    pub polling_only: bool,
}

impl Events {
    /// Watches `paths` (non-recursively), `stop` and, when `signals` is true, SIGTERM/SIGINT.
    pub fn new(paths: &[PathBuf], signals: bool, stop: &super::StopFlag) -> Events {
        let (tx, rx) = channel();
        stop.register(tx.clone());
        let (watcher, polling_only) = watch(paths, tx.clone());
        let signals = signals.then(|| listen_for_signals(tx)).flatten();
        Events {
            rx,
            _watcher: watcher,
            _signals: signals,
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

fn listen_for_signals(tx: Sender<Wake>) -> Option<signal_hook::iterator::Handle> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGQUIT, SIGTERM};
    // SIGHUP (the terminal or session went away) and SIGQUIT end the wait like SIGTERM: with
    // a report and a run record, never silently.
    let mut signals = match signal_hook::iterator::Signals::new([SIGTERM, SIGINT, SIGHUP, SIGQUIT])
    {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "cannot catch SIGTERM/SIGINT/SIGHUP/SIGQUIT");
            return None;
        }
    };
    let handle = signals.handle();
    std::thread::spawn(move || {
        for sig in signals.forever() {
            let _ = tx.send(Wake::Signal(sig));
        }
    });
    Some(handle)
}
