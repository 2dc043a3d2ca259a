//! [`drain_bounded`]: the deadline and SIGTERM/SIGINT win over blocked I/O.
//!
//! Every read drainguard makes is bounded ([`crate::safe_read`]), but a file on a stuck
//! network file system blocks `open()` or `stat()` in the kernel, where nothing can
//! interrupt it. So the drain runs on a worker thread that publishes every full assessment,
//! and the calling thread watches the clock and the signals: when the deadline plus
//! [`GRACE`] passes, or [`GRACE`] after a signal (or a raised [`StopFlag`]), while the worker
//! has not returned, the wait ends with the last published assessment and says which
//! call did not return. The blocked worker is left behind; the process exits soon after.

use std::sync::mpsc::{channel, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use super::{Outcome, StopFlag, WaitError, WaitOptions, WaitReport, Watched};
use crate::backlog::{Assessment, Verdict};

/// How long the worker may overrun the deadline, or a signal, before the wait ends without
/// it (well inside the 2 s the shutdown path allows).
pub const GRACE: Duration = Duration::from_secs(1);

/// How many files per store the published assessment lists (the most bytes behind; the rest
/// are counted as omitted, the totals count all): a copy of every file report would double
/// what `wait` holds on a store of 10^6 files, and the kernel frees it all at exit, before
/// the unit's stop is over (docs/wait.md, "Bounded cost on huge stores").
pub const PUBLISHED_FILES: usize = 1000;

/// The last full assessment a drain made, shared with the thread that watches it: its
/// summary of `PUBLISHED_FILES` files per store.
#[derive(Debug, Clone, Default)]
pub struct Latest(Arc<Mutex<Option<Published>>>);

#[derive(Debug)]
struct Published {
    assessment: Assessment,
    bytes_at_start: u64,
    marker0: u64,
    marker: u64,
    at: Instant,
}

impl Latest {
    /// Records `a`'s summary (and the progress marker of its read).
    pub(super) fn publish(&self, a: &Assessment, marker: u64) {
        let assessment = a.summary(PUBLISHED_FILES);
        let mut g = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let (bytes_at_start, marker0) = g
            .as_ref()
            .map_or((a.bytes_behind, marker), |p| (p.bytes_at_start, p.marker0));
        *g = Some(Published {
            assessment,
            bytes_at_start,
            marker0,
            marker,
            at: Instant::now(),
        });
    }

    /// The report of a wait that ended with `outcome` while the drain was blocked.
    fn report(&self, outcome: Outcome, started: SystemTime, t0: Instant) -> WaitReport {
        let g = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let (final_assessment, bytes_at_start, bytes_shipped, blocked) = match g.as_ref() {
            Some(p) => (
                p.assessment.clone(),
                p.bytes_at_start,
                p.marker.saturating_sub(p.marker0),
                format!(
                    "a store read or file check has not returned for {:.1}s (blocked I/O: a \
                     stuck network file system?); this report is the last complete \
                     assessment, from {:.1}s after the start (at most {PUBLISHED_FILES} \
                     files listed per store; the totals count every file)",
                    p.at.elapsed().as_secs_f64(),
                    p.at.duration_since(t0).as_secs_f64()
                ),
            ),
            None => (
                Assessment {
                    verdict: Verdict::Behind,
                    bytes_behind: 0,
                    queue: Default::default(),
                    shippers: Vec::new(),
                },
                0,
                0,
                "the first read of the stores has not returned (blocked I/O: a stuck network \
                 file system?): nothing could be assessed, nothing is proven"
                    .to_string(),
            ),
        };
        WaitReport {
            outcome,
            started,
            elapsed: t0.elapsed(),
            bytes_at_start,
            bytes_shipped,
            final_assessment,
            blocked: Some(blocked),
        }
    }
}

/// Runs [`drain`](super::drain) on a worker thread and returns its report, or, when the worker
/// is stuck past the deadline plus [`GRACE`] or [`GRACE`] after SIGTERM/SIGINT/SIGHUP/SIGQUIT (when
/// `opts.catch_signals`, or caught on `stop` by the caller) or a raised `stop`, a report from
/// its last full assessment (see the module docs). A panic in the drain is
/// [`WaitError::Internal`].
pub fn drain_bounded<W: Watched + Send + 'static>(
    watched: W,
    opts: &WaitOptions,
    stop: &StopFlag,
) -> Result<WaitReport, WaitError> {
    drain_bounded_keep(watched, opts, stop).0
}

/// [`drain_bounded`], giving `watched` back when the drain returned (`None`: it is still
/// blocked in a read, or it panicked), and the copy of the last full assessment kept for a
/// blocked drain. That copy is as large as the report (a report per file): freeing it takes
/// as long as freeing the report, so a caller that ends the process next can leave both to
/// the kernel (`wait` does) instead of freeing them after the release is decided.
pub fn drain_bounded_keep<W: Watched + Send + 'static>(
    watched: W,
    opts: &WaitOptions,
    stop: &StopFlag,
) -> (Result<WaitReport, WaitError>, Option<W>, Latest) {
    let started = SystemTime::now();
    let t0 = Instant::now();
    let latest = Latest::default();
    // The signals the drain's own event loop ends on raise `stop` (events.rs); this thread
    // watches the same flag.
    let _signals = opts.catch_signals.then(|| stop.catch_signals()).flatten();
    let (tx, rx) = channel();
    {
        let (published, opts, stop) = (latest.clone(), opts.clone(), stop.clone());
        let spawned = std::thread::Builder::new()
            .name("drain".into())
            .spawn(move || {
                let mut watched = watched;
                let r = super::drain_published(&mut watched, &opts, &stop, Some(&published));
                let _ = tx.send((r, watched));
            });
        if let Err(e) = spawned {
            return (
                Err(WaitError::Internal(format!("cannot start the drain: {e}"))),
                None,
                latest,
            );
        }
    }
    let hard_deadline = t0
        .checked_add(opts.deadline.saturating_add(GRACE))
        .unwrap_or_else(|| t0 + crate::settings::MAX_DEADLINE);
    // Set when the wait must end: by then the worker must have returned.
    let mut ending: Option<(Instant, Outcome)> = None;
    loop {
        match rx.recv_timeout(Duration::from_millis(50)) {
            Ok((r, watched)) => return (r, Some(watched), latest),
            Err(RecvTimeoutError::Disconnected) => {
                return (
                    Err(WaitError::Internal(
                        "the drain stopped (a bug; please report the message above)".into(),
                    )),
                    None,
                    latest,
                )
            }
            Err(RecvTimeoutError::Timeout) => {}
        }
        let now = Instant::now();
        if ending.is_none() {
            ending = if let Some(signal) = stop.signal() {
                Some((now + GRACE, Outcome::Interrupted { signal }))
            } else if stop.is_stopped() {
                let reason = stop.reason().unwrap_or_default();
                Some((now + GRACE, Outcome::Stopped { reason }))
            } else if now >= hard_deadline {
                Some((now, Outcome::Deadline))
            } else {
                None
            };
        }
        if let Some((at, outcome)) = &ending {
            if now >= *at {
                tracing::warn!(
                    outcome = outcome.word(),
                    "the drain is blocked in a read; ending the wait with its last assessment"
                );
                let report = latest.report(outcome.clone(), started, t0);
                return (Ok(report), None, latest);
            }
        }
    }
}

/// Runs `f` on its own thread and waits at most `budget` for it: `Some` with its result,
/// or `None` when it has not returned by then (blocked I/O: a stuck /var/lib on NFS, a hung
/// disk). The blocked thread is left behind; the process exits soon after.
pub fn within<R: Send + 'static>(
    budget: Duration,
    f: impl FnOnce() -> R + Send + 'static,
) -> Option<R> {
    let (tx, rx) = channel();
    let spawned = std::thread::Builder::new()
        .name("drainguard-bounded".into())
        .spawn(move || {
            let _ = tx.send(f());
        });
    if spawned.is_err() {
        return None;
    }
    rx.recv_timeout(budget).ok()
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::cursor::{ShipperKind, StoreSnapshot};
    use crate::error::StoreError;

    /// A store whose reads block forever after the first `ok` ones (a stuck NFS mount), and
    /// whose assessments say 5 bytes are behind.
    struct Stuck {
        ok: usize,
    }

    impl Watched for Stuck {
        fn read(&mut self) -> Result<Vec<StoreSnapshot>, StoreError> {
            if self.ok == 0 {
                loop {
                    std::thread::park();
                }
            }
            self.ok -= 1;
            Ok(Vec::new())
        }
        fn assess(&mut self, _: &[StoreSnapshot]) -> Assessment {
            Assessment {
                verdict: Verdict::Behind,
                bytes_behind: 5,
                queue: Default::default(),
                shippers: Vec::new(),
            }
        }
        fn shipper_alive(&self, _: ShipperKind) -> bool {
            true
        }
        fn watch_paths(&self) -> Vec<PathBuf> {
            Vec::new()
        }
    }

    fn opts(deadline: Duration) -> WaitOptions {
        WaitOptions {
            deadline,
            interval: Duration::from_millis(10),
            catch_signals: false,
            quiet: true,
            ..WaitOptions::default()
        }
    }

    /// The published copy lists the most blocking files only, and says how many it left out;
    /// the blocked report's verdict and totals are still the whole assessment's.
    #[test]
    fn the_published_assessment_lists_the_most_behind_files_and_counts_all() {
        use crate::backlog::FileState;
        use crate::testkit::report as fx;
        let n = PUBLISHED_FILES + 500;
        let files = (0..n)
            .map(|i| {
                let (state, size) = if i % 5 == 0 {
                    (FileState::Shipped, 10)
                } else {
                    // Distinct amounts behind, in no order: 1 to 7 * n bytes.
                    let bytes = (i as u64 * 7919) % (7 * n as u64) + 1;
                    (FileState::Behind { bytes }, bytes + 10)
                };
                fx::file(
                    &format!("/l/{i}.log"),
                    &i.to_string(),
                    10,
                    Some(size),
                    state,
                )
            })
            .collect();
        let whole = fx::backlog(ShipperKind::Filebeat, "/r")
            .files(files)
            .assessment();
        let latest = Latest::default();
        latest.publish(&whole, 7);
        let r = latest.report(Outcome::Deadline, SystemTime::now(), Instant::now());
        let (a, s) = (&r.final_assessment, &r.final_assessment.shippers[0]);
        assert_eq!(a.bytes_behind, whole.bytes_behind);
        assert_eq!(a.verdict, whole.verdict);
        assert_eq!(s.totals, whole.shippers[0].totals);
        assert_eq!(s.files.len(), PUBLISHED_FILES);
        assert_eq!(s.files_omitted, 500);
        let behind = |f: &crate::backlog::FileReport| match f.state {
            FileState::Behind { bytes } => bytes,
            _ => 0,
        };
        let kept: std::collections::HashSet<_> = s.files.iter().map(|f| f.path.clone()).collect();
        let least_kept = s.files.iter().map(behind).min().unwrap();
        let most_left = whole.shippers[0]
            .files
            .iter()
            .filter(|f| !kept.contains(&f.path))
            .map(behind)
            .max()
            .unwrap();
        assert!(
            least_kept >= most_left,
            "kept {least_kept} B, left out {most_left} B"
        );
        assert!(r.blocked.unwrap().contains("the totals count every file"));
    }

    #[test]
    fn a_read_blocked_after_the_first_ends_at_the_deadline_with_the_last_assessment() {
        let t = Instant::now();
        let r = drain_bounded(
            Stuck { ok: 1 },
            &opts(Duration::from_millis(300)),
            &StopFlag::new(),
        )
        .unwrap();
        assert_eq!(r.outcome, Outcome::Deadline);
        assert_eq!(
            r.final_assessment.bytes_behind, 5,
            "the last full assessment"
        );
        assert!(r.blocked.as_deref().unwrap().contains("has not returned"));
        // A bound against a hang (the worker is still blocked), not a performance figure.
        assert!(t.elapsed() < Duration::from_millis(300) + GRACE + Duration::from_secs(1));
    }

    #[test]
    fn a_first_read_that_never_returns_still_ends_and_proves_nothing() {
        let r = drain_bounded(
            Stuck { ok: 0 },
            &opts(Duration::from_millis(100)),
            &StopFlag::new(),
        )
        .unwrap();
        assert_eq!(r.outcome, Outcome::Deadline);
        assert_eq!(r.final_assessment.verdict, Verdict::Behind);
        assert!(r.blocked.as_deref().unwrap().contains("nothing is proven"));
    }

    #[test]
    fn a_stop_while_blocked_ends_within_the_grace() {
        let stop = StopFlag::new();
        let s = stop.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(100));
            s.stop("lifecycle hook abandoned");
        });
        let r = drain_bounded(Stuck { ok: 1 }, &opts(Duration::from_secs(3600)), &stop).unwrap();
        assert_eq!(
            r.outcome,
            Outcome::Stopped {
                reason: "lifecycle hook abandoned".into()
            }
        );
        assert!(r.blocked.is_some());
    }

    #[test]
    fn an_unblocked_drain_returns_its_own_report() {
        struct Drained;
        impl Watched for Drained {
            fn read(&mut self) -> Result<Vec<StoreSnapshot>, StoreError> {
                Ok(Vec::new())
            }
            fn assess(&mut self, _: &[StoreSnapshot]) -> Assessment {
                crate::backlog::combine(Vec::new())
            }
            fn shipper_alive(&self, _: ShipperKind) -> bool {
                true
            }
            fn watch_paths(&self) -> Vec<PathBuf> {
                Vec::new()
            }
        }
        let r = drain_bounded(Drained, &opts(Duration::from_secs(5)), &StopFlag::new()).unwrap();
        assert_eq!(r.outcome, Outcome::Drained);
        assert!(r.blocked.is_none());
    }

    #[test]
    fn within_gives_up_on_a_call_that_never_returns() {
        let r = within(Duration::from_millis(50), || loop {
            std::thread::park();
        });
        assert_eq!(r, None::<()>);
        assert_eq!(within(Duration::from_secs(60), || 7), Some(7));
    }
}
