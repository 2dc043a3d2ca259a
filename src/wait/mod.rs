//! `wait`: hold until every tracked byte is delivered, the deadline passes, the shipper dies,
//! or a signal arrives — never release early.
//!
//! The loop re-assesses the backlog when a watched store changes (inotify), when the poll
//! interval passes (file systems without events, files growing), and once more before it
//! decides anything. "Drained" is only ever the backlog's own verdict: nothing is behind and
//! the offsets (or the shipper's queue signal) prove delivery. A quiet period is never proof,
//! unless the operator opts in with `--settle-after` for stores that cannot prove delivery,
//! and then the report says so. Nor is a store's silence: what a store forgets while its files
//! still have bytes stays owed (`owed`).

mod bounded;
mod events;
mod owed;
mod progress;
mod record;
mod shortcut;
pub mod shutdown;
mod stall;
mod stop;
#[cfg(test)]
mod tests;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde::Serialize;

pub use bounded::{drain_bounded, drain_bounded_keep, within, Latest, GRACE};
pub use events::{Events, Wake};
pub use record::{
    append_drain, append_record, append_record_line, last_drain, record_line, DrainLogError,
    DrainRecord, DrainStore,
};
pub(crate) use record::{lock_state, DRAIN_LOG, STATE_LOCK};
pub use stop::{SignalGuard, StopFlag, SIGNALS};

use crate::backlog::{Assessment, Verdict};
use crate::cursor::{OffsetUnit, ShipperKind, StoreSnapshot};
use crate::error::StoreError;
use crate::exit::Exit;

/// The shortest poll interval: `--interval` refuses less, and [`drain`] never polls faster
/// (a zero interval would re-read the stores in a busy loop).
pub const MIN_INTERVAL: Duration = Duration::from_millis(10);

/// What `wait` watches: the stores, read again on every wake-up, and the shippers' processes.
pub trait Watched {
    /// Reads every store (incrementally where possible), without touching the tracked files.
    fn read(&mut self) -> Result<Vec<StoreSnapshot>, StoreError>;
    /// Compares snapshots from [`Watched::read`] with the files on disk (stats every file).
    fn assess(&mut self, snapshots: &[StoreSnapshot]) -> Assessment;
    /// True when `kind`'s shipper has a live process.
    fn shipper_alive(&self, kind: ShipperKind) -> bool;
    /// Directories whose changes mean a store changed.
    fn watch_paths(&self) -> Vec<PathBuf>;
    /// Gives back the snapshots of the last [`Watched::read`] once they are assessed (cursors
    /// may have been appended, nothing else), so that the next read can update them in place.
    fn recycle(&mut self, snapshots: Vec<StoreSnapshot>) {
        drop(snapshots);
    }
    /// Brings `last` (the assessment of the previous read: [`Watched::assess`]'s, or this
    /// method's) up to date with `snapshots` (the read after it) by re-checking only what
    /// changed, exactly as a full assessment would find it; returns the progress marker of
    /// `snapshots` (the sum of their byte offsets). `None` when that cannot be vouched for:
    /// then assess fully (`last` may be partly updated).
    fn assess_changes(
        &mut self,
        snapshots: &[StoreSnapshot],
        last: &mut Assessment,
    ) -> Option<u64> {
        let _ = (snapshots, last);
        None
    }
    /// Per store (in read order): true when the last read only set or appended cursors of the
    /// read before it (no entry was removed). Empty: not known for any.
    fn changes_known(&self) -> Vec<bool> {
        Vec::new()
    }
}

/// How to wait.
#[derive(Debug, Clone)]
pub struct WaitOptions {
    pub deadline: Duration,
    pub interval: Duration,
    pub stall_after: Duration,
    pub report_every: Duration,
    /// Opt-in quiet-period rule for stores that cannot prove delivery.
    pub settle_after: Option<Duration>,
    pub wait_for_restart: bool,
    /// Show a progress bar (a TTY and not quiet) instead of periodic log lines.
    pub progress_bar: bool,
    pub quiet: bool,
    /// Catch SIGTERM/SIGINT/SIGHUP/SIGQUIT for the wait, raising its [`StopFlag`] (`wait`
    /// does; a caller that already catches them on the same flag, or does not want them
    /// caught, says false).
    pub catch_signals: bool,
}

impl Default for WaitOptions {
    fn default() -> Self {
        WaitOptions {
            deadline: crate::settings::DEFAULT_DEADLINE,
            interval: Duration::from_secs(1),
            stall_after: Duration::from_secs(30),
            report_every: Duration::from_secs(10),
            settle_after: None,
            wait_for_restart: false,
            progress_bar: false,
            quiet: false,
            catch_signals: true,
        }
    }
}

/// How a wait ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    /// Every byte is delivered (proven).
    Drained,
    /// Read-complete and quiet for `--settle-after`: released on the opt-in rule, not proof.
    Settled,
    /// The deadline passed with bytes unshipped.
    Deadline,
    /// These shippers are dead with bytes behind: nothing more will ship.
    /// (JSON `dead_shippers`: the report's `shippers` is the per-shipper backlog.)
    ShipperDead {
        #[serde(rename = "dead_shippers")]
        shippers: Vec<ShipperKind>,
    },
    /// SIGTERM/SIGINT.
    Interrupted { signal: i32 },
    /// The caller raised the [`StopFlag`] (e.g. the AWS lifecycle hook was abandoned).
    Stopped { reason: String },
    /// Delivery cannot be proven for these shippers and `--settle-after` was not given.
    /// (JSON `unprovable_shippers`.)
    Unprovable {
        #[serde(rename = "unprovable_shippers")]
        shippers: Vec<ShipperKind>,
    },
}

impl Outcome {
    /// The process exit code.
    pub fn exit(&self) -> Exit {
        match self {
            Outcome::Drained | Outcome::Settled => Exit::Ok,
            Outcome::Deadline => Exit::Deadline,
            Outcome::ShipperDead { .. } => Exit::ShipperDead,
            Outcome::Interrupted { .. } | Outcome::Stopped { .. } => Exit::Interrupted,
            Outcome::Unprovable { .. } => Exit::Usage,
        }
    }

    /// A short word for logs and records.
    pub fn word(&self) -> &'static str {
        match self {
            Outcome::Drained => "drained",
            Outcome::Settled => "settled",
            Outcome::Deadline => "deadline",
            Outcome::ShipperDead { .. } => "shipper-dead",
            Outcome::Interrupted { .. } => "interrupted",
            Outcome::Stopped { .. } => "stopped",
            Outcome::Unprovable { .. } => "unprovable",
        }
    }
}

/// The result of a wait.
#[derive(Debug, Clone)]
pub struct WaitReport {
    pub outcome: Outcome,
    pub started: std::time::SystemTime,
    pub elapsed: Duration,
    pub bytes_at_start: u64,
    /// Offsets advanced by this many bytes while waiting.
    pub bytes_shipped: u64,
    pub final_assessment: Assessment,
    /// Set when the wait ended while a read was blocked ([`drain_bounded`]): what did not
    /// return; the assessment is then the last complete one.
    pub blocked: Option<String>,
}

/// The command-specific fields `wait --json` adds to the report.
#[derive(Debug, Serialize)]
pub struct WaitJson<'a> {
    #[serde(flatten)]
    pub outcome: &'a Outcome,
    pub elapsed_ms: u128,
    pub bytes_at_start: u64,
    pub bytes_shipped: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub blocked: Option<&'a str>,
}

impl WaitReport {
    pub fn json_extra(&self) -> WaitJson<'_> {
        WaitJson {
            outcome: &self.outcome,
            elapsed_ms: self.elapsed.as_millis(),
            bytes_at_start: self.bytes_at_start,
            bytes_shipped: self.bytes_shipped,
            blocked: self.blocked.as_deref(),
        }
    }
}

/// Errors that end a wait before it could decide anything.
#[derive(Debug, thiserror::Error)]
pub enum WaitError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The drain could not run or stopped unexpectedly (a bug).
    #[error("internal error: {0}")]
    Internal(String),
}

/// Sum of all byte offsets in the stores: it grows exactly when a shipper makes progress.
fn progress_marker(snapshots: &[StoreSnapshot]) -> u64 {
    snapshots
        .iter()
        .flat_map(|s| s.cursors.iter())
        .filter(|c| c.unit == OffsetUnit::Bytes)
        .map(|c| c.offset)
        .fold(0u64, u64::saturating_add)
}

/// What the loop keeps between reads: the shortcut's and the owed files' memory.
#[derive(Default)]
struct Memory {
    shortcut: shortcut::Shortcut,
    owed: owed::Owed,
    /// The last read's error, while the stores cannot be read.
    read_error: Option<String>,
    /// Where every full assessment is published ([`drain_bounded`]).
    latest: Option<Latest>,
}

/// Reads every store and puts back what a store forgot while it was owed.
fn read(watched: &mut dyn Watched, mem: &mut Memory) -> Result<Vec<StoreSnapshot>, StoreError> {
    match watched.read() {
        Ok(mut snapshots) => {
            mem.owed.restore(&mut snapshots, &watched.changes_known());
            mem.read_error = None;
            Ok(snapshots)
        }
        Err(e) => {
            mem.read_error = Some(e.to_string());
            Err(e)
        }
    }
}

/// Fully assesses, remembering the result for the shortcut and what is owed.
fn full_assessment(
    watched: &mut dyn Watched,
    snapshots: &[StoreSnapshot],
    mem: &mut Memory,
) -> Assessment {
    let t = Instant::now();
    let cpu0 = shortcut::process_cpu();
    let a = watched.assess(snapshots);
    let wall = t.elapsed();
    // The CPU time of every thread (stats run on all cores): the schedule bounds that share.
    let cpu = shortcut::process_cpu().saturating_sub(cpu0);
    tracing::debug!(
        cost_ms = wall.as_secs_f64() * 1000.0,
        cpu_ms = cpu.as_secs_f64() * 1000.0,
        bytes_behind = a.bytes_behind,
        "full assessment"
    );
    mem.shortcut.record(&a, t, wall.max(cpu));
    mem.owed.remember(snapshots, &a);
    if let Some(l) = &mem.latest {
        l.publish(&a, progress_marker(snapshots));
    }
    a
}

/// Reads and fully assesses now, for a decision or a final report that needs the current state
/// (the last assessment may be older: the shortcut, or a shipper that wrote and exited since).
fn refresh(watched: &mut dyn Watched, mem: &mut Memory, last: &mut Assessment, marker: &mut u64) {
    match read(watched, mem) {
        Ok(snapshots) => {
            *marker = progress_marker(&snapshots);
            *last = full_assessment(watched, &snapshots, mem);
            watched.recycle(snapshots);
        }
        Err(e) => tracing::warn!(error = %e, "reading the stores failed; reporting the last read"),
    }
}

/// Shippers whose store cannot prove delivery: offsets that mean less than "delivered" and no
/// usable queue signal.
fn unprovable(a: &Assessment) -> Vec<ShipperKind> {
    a.shippers
        .iter()
        .filter(|s| !crate::backlog::delivery_provable(s))
        .map(|s| s.shipper)
        .collect()
}

/// Waits until drained or another outcome; see the module docs. This is the library entry
/// point other commands reuse (`aws` lifecycle drains): `watched` reads the stores, `opts`
/// sets the rules, and raising `stop` from another thread ends the wait at once with
/// [`Outcome::Stopped`]. Map the outcome to the process exit with [`Outcome::exit`].
///
/// A read that blocks in the kernel (a stuck network file system) blocks this call too:
/// [`drain_bounded`] runs it on a thread and ends on time whatever it does.
pub fn drain(
    watched: &mut dyn Watched,
    opts: &WaitOptions,
    stop: &StopFlag,
) -> Result<WaitReport, WaitError> {
    let _signals = opts.catch_signals.then(|| stop.catch_signals()).flatten();
    drain_published(watched, opts, stop, None)
}

/// [`drain`], publishing every full assessment to `latest`.
fn drain_published(
    watched: &mut dyn Watched,
    opts: &WaitOptions,
    stop: &StopFlag,
    latest: Option<&Latest>,
) -> Result<WaitReport, WaitError> {
    let started = std::time::SystemTime::now();
    let t0 = Instant::now();
    // A deadline beyond the clock's range is "never" (the CLI and the settings refuse more than a day).
    let deadline_at = t0
        .checked_add(opts.deadline)
        .unwrap_or_else(|| t0 + crate::settings::MAX_DEADLINE);
    let events = Events::new(&watched.watch_paths(), stop);
    let mut mem = Memory {
        latest: latest.cloned(),
        ..Memory::default()
    };
    // A first read that fails is retried like any later one, until the deadline (or a
    // signal): the shutdown is not released at once while bytes may be owed.
    // A signal or a stop meanwhile is an interruption (exit 5), with nothing assessed.
    let unread = |outcome: Outcome| WaitReport {
        outcome,
        started,
        elapsed: t0.elapsed(),
        bytes_at_start: 0,
        bytes_shipped: 0,
        final_assessment: Assessment {
            verdict: Verdict::Behind,
            bytes_behind: 0,
            queue: Default::default(),
            shippers: Vec::new(),
        },
        blocked: None,
    };
    let snapshots = loop {
        match read(watched, &mut mem) {
            Ok(s) => break s,
            Err(e) => {
                if let Some(signal) = stop.signal() {
                    return Ok(unread(Outcome::Interrupted { signal }));
                }
                if stop.is_stopped() {
                    let reason = stop.reason().unwrap_or_default();
                    return Ok(unread(Outcome::Stopped { reason }));
                }
                let now = Instant::now();
                if now >= deadline_at {
                    return Err(e.into());
                }
                tracing::warn!(error = %e, "reading the stores failed; retrying until the deadline");
                let timeout = opts
                    .interval
                    .max(MIN_INTERVAL)
                    .min(deadline_at.saturating_duration_since(now));
                match events.next(timeout) {
                    Wake::Signal(signal) => return Ok(unread(Outcome::Interrupted { signal })),
                    Wake::Stop => {
                        let reason = stop.reason().unwrap_or_default();
                        return Ok(unread(Outcome::Stopped { reason }));
                    }
                    Wake::Changed | Wake::Tick => {}
                }
            }
        }
    };
    let first = full_assessment(watched, &snapshots, &mut mem);
    let bytes_at_start = first.bytes_behind;
    let marker0 = progress_marker(&snapshots);
    watched.recycle(snapshots);
    let mut progress = progress::Progress::new(opts, bytes_at_start);
    let mut last = first;
    let mut marker = marker0;
    let mut last_change = t0;
    let mut stall = stall::Stall::new(opts.stall_after, t0);
    // `last` is a full assessment of the latest read (false after the shortcut skipped one).
    let mut fresh = true;
    // A shipper found dead is confirmed by one more read: it may have written its final
    // state and exited since the last one (Filebeat does exactly that when it is stopped).
    let mut death_rechecked = false;
    let finish = |outcome: Outcome, mut a: Assessment, marker: u64, mem: &Memory| {
        if let Some(e) = &mem.read_error {
            // The report is from the last read that worked: say so on every store.
            for s in &mut a.shippers {
                s.notes.push(format!(
                    "the stores could not be read again ({e}); this is the last read that worked"
                ));
            }
        }
        WaitReport {
            outcome,
            started,
            elapsed: t0.elapsed(),
            bytes_at_start,
            bytes_shipped: marker.saturating_sub(marker0),
            final_assessment: a,
            blocked: None,
        }
    };
    if !unprovable(&last).is_empty() && opts.settle_after.is_none() {
        tracing::warn!(
            "delivery cannot be proven for some stores (see the report); waiting for the others, \
             then exiting 2 unless --settle-after is given"
        );
    }
    loop {
        let now = Instant::now();
        if last.verdict == Verdict::Drained {
            progress.done();
            return Ok(finish(Outcome::Drained, last, marker, &mem));
        }
        if !opts.wait_for_restart {
            // The shippers that hold the verdict back. Dead with bytes behind: nothing more
            // will ship. Dead with nothing behind but no proof of delivery: said once every
            // other store has drained (the verdict is then unconfirmed; never settled on),
            // not while the others still drain.
            let dead: Vec<ShipperKind> = last
                .shippers
                .iter()
                .filter(|s| s.verdict == last.verdict && !watched.shipper_alive(s.shipper))
                .map(|s| s.shipper)
                .collect();
            if !dead.is_empty() {
                if !death_rechecked {
                    death_rechecked = true;
                    refresh(watched, &mut mem, &mut last, &mut marker);
                    fresh = true;
                    continue;
                }
                progress.done();
                return Ok(finish(
                    Outcome::ShipperDead { shippers: dead },
                    last,
                    marker,
                    &mem,
                ));
            }
        }
        // Every store that can prove delivery has; the others have read everything.
        if last.verdict == Verdict::Unconfirmed {
            match opts.settle_after {
                Some(settle) => {
                    // Never settled on a store that cannot be read now.
                    if now.duration_since(last_change) >= settle && mem.read_error.is_none() {
                        progress.done();
                        return Ok(finish(Outcome::Settled, last, marker, &mem));
                    }
                }
                None => {
                    progress.done();
                    let shippers = unprovable(&last);
                    return Ok(finish(Outcome::Unprovable { shippers }, last, marker, &mem));
                }
            }
        }
        if now >= deadline_at {
            if !fresh {
                // The per-file report must be current (and a drain that just finished counts).
                refresh(watched, &mut mem, &mut last, &mut marker);
                fresh = true;
                continue;
            }
            progress.done();
            return Ok(finish(Outcome::Deadline, last, marker, &mem));
        }
        stall.check(&last, now);
        progress.update(&last, now.duration_since(t0));

        let timeout = opts
            .interval
            .max(MIN_INTERVAL)
            .min(deadline_at.saturating_duration_since(now));
        match events.next(timeout) {
            Wake::Signal(signal) => {
                if !fresh {
                    refresh(watched, &mut mem, &mut last, &mut marker);
                }
                progress.done();
                return Ok(finish(Outcome::Interrupted { signal }, last, marker, &mem));
            }
            Wake::Stop => {
                if !fresh {
                    refresh(watched, &mut mem, &mut last, &mut marker);
                }
                progress.done();
                let reason = stop.reason().unwrap_or_default();
                return Ok(finish(Outcome::Stopped { reason }, last, marker, &mem));
            }
            Wake::Changed | Wake::Tick => {}
        }
        let t_read = Instant::now();
        let snapshots = match read(watched, &mut mem) {
            Ok(s) => {
                tracing::debug!(
                    cost_ms = t_read.elapsed().as_secs_f64() * 1000.0,
                    "store re-read"
                );
                s
            }
            // A store being rewritten can fail to read for a moment; the deadline bounds this.
            Err(e) => {
                tracing::warn!(error = %e, "reading the stores failed; retrying");
                continue;
            }
        };
        // Only what changed, when that is as good as a full assessment (and a scheduled one
        // is not due).
        let bytes_before = last.bytes_behind;
        if !mem
            .shortcut
            .due(Instant::now(), shortcut::INCREMENTAL_SHARE)
        {
            let t = Instant::now();
            if let Some(m) = watched.assess_changes(&snapshots, &mut last) {
                let now = Instant::now();
                tracing::debug!(
                    cost_ms = now.duration_since(t).as_secs_f64() * 1000.0,
                    bytes_behind = last.bytes_behind,
                    "incremental assessment"
                );
                if m > marker {
                    stall.progressed(now);
                }
                if m != marker || last.bytes_behind != bytes_before {
                    last_change = now;
                }
                marker = m;
                fresh = true;
                watched.recycle(snapshots);
                continue;
            }
        }
        let m = progress_marker(&snapshots);
        if m > marker {
            stall.progressed(Instant::now());
        }
        if m != marker {
            last_change = Instant::now();
        }
        marker = m;
        if last.verdict == Verdict::Behind && mem.shortcut.still_behind(&snapshots, Instant::now())
        {
            fresh = false;
            watched.recycle(snapshots);
            continue;
        }
        let a = full_assessment(watched, &snapshots, &mut mem);
        watched.recycle(snapshots);
        fresh = true;
        if a.bytes_behind != last.bytes_behind {
            last_change = Instant::now();
        }
        last = a;
    }
}
