//! Skipping full re-assessments while the host is certainly still behind.
//!
//! A full assessment stats every tracked file (about 4 µs each: 0.4 s of CPU at 10^5 files),
//! and a busy shipper writes its store every second. But while the last full assessment said
//! "behind", the new snapshot alone often proves nothing changed that: a file that was behind
//! and whose cursor is still below the size the file had then is still behind (a file only
//! grows; truncation and rotation keep it blocking). Only deletion can unblock such a file, so
//! the shortcut is bounded: a full assessment still runs whenever the shortcut cannot prove
//! "still behind" (which is always the case for the store write that finishes the drain, so the
//! release latency is unchanged), and at least every [`FULL_SHARE`] × its own cost. The cost is
//! the larger of its wall time and the CPU time the process spent in it on all threads (the
//! stats run on every core), which keeps full assessments below 1/[`FULL_SHARE`] of one core.
//! The shortcut never releases anything: it can only delay a release by that bound, and only
//! when a behind file was deleted.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::backlog::{Assessment, FileState};
use crate::cursor::{OffsetUnit, ShipperKind, StoreSnapshot};

/// Full assessments take at most 1/FULL_SHARE of one core while the shortcut applies (4 %).
pub const FULL_SHARE: u32 = 25;

/// While rounds are assessed incrementally, a scheduled full assessment runs once every
/// INCREMENTAL_SHARE × its cost: at most 1 % of one core.
pub const INCREMENTAL_SHARE: u32 = 100;

/// CPU time this process has used so far, all threads (user + system).
pub fn process_cpu() -> Duration {
    let mut ru = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage fills the struct it is given; RUSAGE_SELF is always valid.
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, ru.as_mut_ptr()) } != 0 {
        return Duration::ZERO;
    }
    // SAFETY: zero-initialised, and filled by the successful call.
    let ru = unsafe { ru.assume_init() };
    let tv = |t: libc::timeval| {
        Duration::from_secs(u64::try_from(t.tv_sec).unwrap_or(0))
            + Duration::from_micros(u64::try_from(t.tv_usec).unwrap_or(0))
    };
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// What the last full assessment proved behind, per store (a shipper may have several):
/// store key -> the file's size then.
#[derive(Debug, Default)]
pub struct Shortcut {
    behind: HashMap<(ShipperKind, PathBuf), HashMap<std::sync::Arc<str>, u64>>,
    last_full: Option<Instant>,
    cost: Duration,
}

impl Shortcut {
    /// Remembers a full assessment that started at `started` and took `cost`.
    pub fn record(&mut self, a: &Assessment, started: Instant, cost: Duration) {
        self.behind.clear();
        for s in &a.shippers {
            let keys = self.behind.entry((s.shipper, s.store.clone())).or_default();
            for f in &s.files {
                if let (FileState::Behind { .. }, Some(size)) = (&f.state, f.size) {
                    for k in &f.keys {
                        keys.insert(k.clone(), size);
                    }
                }
            }
        }
        self.last_full = Some(started);
        self.cost = cost;
    }

    /// True when a full assessment is due on a schedule of one every `share` × its cost (or
    /// none was made yet).
    pub fn due(&self, now: Instant, share: u32) -> bool {
        self.last_full
            .is_none_or(|last| now.duration_since(last) >= self.cost * share)
    }

    /// True when `snapshots` prove a file is still behind and a full assessment is not due.
    pub fn still_behind(&self, snapshots: &[StoreSnapshot], now: Instant) -> bool {
        let Some(last) = self.last_full else {
            return false;
        };
        if now.duration_since(last) >= self.cost * FULL_SHARE {
            return false;
        }
        snapshots.iter().any(|s| {
            self.behind
                .get(&(s.shipper, s.store.clone()))
                .is_some_and(|keys| {
                    s.cursors.iter().any(|c| {
                        c.unit == OffsetUnit::Bytes
                            && keys.get(&*c.key).is_some_and(|&size| c.offset < size)
                    })
                })
        })
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::backlog::FileReport;
    use crate::cursor::Identity;
    use crate::testkit::report as fx;

    fn assessment(files: Vec<FileReport>) -> Assessment {
        fx::backlog(ShipperKind::Filebeat, "/s")
            .files(files)
            .assessment()
    }

    fn file(key: &str, offset: u64, size: u64, state: FileState) -> FileReport {
        fx::file(&format!("/{key}"), key, offset, Some(size), state)
    }

    fn snapshot(cursors: &[(&str, u64)]) -> Vec<StoreSnapshot> {
        let cursors = cursors
            .iter()
            .map(|(k, o)| fx::cursor(k, Identity::Path, None, *o))
            .collect();
        vec![fx::snapshot(ShipperKind::Filebeat, "/s", cursors)]
    }

    fn recorded(cost: Duration) -> (Shortcut, Instant) {
        let a = assessment(vec![
            file("a", 10, 100, FileState::Behind { bytes: 90 }),
            file("b", 50, 50, FileState::Shipped),
        ]);
        let mut s = Shortcut::default();
        let t = Instant::now();
        s.record(&a, t, cost);
        (s, t)
    }

    #[test]
    fn a_cursor_still_below_its_files_size_proves_behind() {
        let (s, t) = recorded(Duration::from_secs(1));
        assert!(s.still_behind(&snapshot(&[("a", 60), ("b", 50)]), t));
    }

    #[test]
    fn a_cursor_that_caught_up_needs_a_full_assessment() {
        let (s, t) = recorded(Duration::from_secs(1));
        assert!(!s.still_behind(&snapshot(&[("a", 100), ("b", 50)]), t));
        // Keys the last assessment did not see as behind prove nothing.
        assert!(!s.still_behind(&snapshot(&[("b", 10), ("new", 0)]), t));
    }

    /// Two inputs of one shipper tail the same file with stores of their own: the second
    /// store's cursor on that file says nothing about what the first one was behind on.
    #[test]
    fn another_store_of_the_same_shipper_proves_nothing() {
        let (s, t) = recorded(Duration::from_secs(1));
        let mut other = snapshot(&[("a", 60)]);
        other[0].store = PathBuf::from("/other");
        assert!(!s.still_behind(&other, t));
    }

    #[test]
    fn a_full_assessment_is_due_after_its_share_of_the_time() {
        let (s, t) = recorded(Duration::from_millis(10));
        let snap = snapshot(&[("a", 60)]);
        assert!(s.still_behind(&snap, t + Duration::from_millis(99)));
        assert!(!s.still_behind(&snap, t + Duration::from_millis(10) * FULL_SHARE));
    }

    #[test]
    fn nothing_is_proven_before_the_first_assessment() {
        assert!(!Shortcut::default().still_behind(&snapshot(&[("a", 0)]), Instant::now()));
    }
}
