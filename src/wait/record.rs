//! The run record: one line per `wait` run appended to the log file (like the original
//! tool's debug.log), so an operator can see after the fact what every shutdown waited for.

use std::path::Path;

use super::WaitReport;
use crate::root::Root;

/// Appends the record of `r` to `log_file` (a host path under `root`; a relative one is taken
/// from the current directory), creating the directory. Written like install's files: below
/// the root, never through a link, never blocking on a FIFO.
pub fn append_record(root: &Root, log_file: &Path, r: &WaitReport) -> std::io::Result<()> {
    append_record_line(root, log_file, &record_line(r))
}

/// The run record's line of `r` (what [`append_record`] appends): built from the totals
/// alone, so that the writer does not need the report's per-file part.
pub fn record_line(r: &WaitReport) -> String {
    let files_left: usize = r
        .final_assessment
        .shippers
        .iter()
        .map(|s| s.totals.blocking_files)
        .sum();
    let q = &r.final_assessment.queue;
    format!(
        "start={} end={} result={} elapsed_s={:.3} bytes_at_start={} bytes_shipped={} bytes_left={} files_left={} \
         queued_events={} queued_bytes={} unacked_bytes={}\n",
        crate::display::timestamp(r.started, false),
        crate::display::timestamp(r.started + r.elapsed, false),
        r.outcome.word(),
        r.elapsed.as_secs_f64(),
        r.bytes_at_start,
        r.bytes_shipped,
        r.final_assessment.bytes_behind,
        files_left,
        q.queued_events,
        q.queued_bytes,
        q.unacked_bytes,
    )
}

/// Appends a run record's `line` ([`record_line`]) to `log_file`, as [`append_record`] does.
pub fn append_record_line(root: &Root, log_file: &Path, line: &str) -> std::io::Result<()> {
    let host = host_path(log_file)?;
    crate::install::beneath::Beneath::open(root)
        .and_then(|b| b.append(&host, line.as_bytes(), 0o644))
        .map_err(std::io::Error::other)
}

/// A host path given on the command line as written to: a relative one is taken from the
/// current directory, then made plain (the writes below the root take only plain absolute
/// paths).
fn host_path(p: &Path) -> std::io::Result<std::path::PathBuf> {
    Ok(crate::install::beneath::lexical(&std::path::absolute(p)?))
}

/// The drain log's name in the state directory: one JSON line per drain.
pub const DRAIN_LOG: &str = "drains.jsonl";
/// The drain log is rotated (to `drains.jsonl.1`, replacing the previous one) before it grows
/// past this: the two files hold about a thousand drains each.
pub const DRAIN_LOG_LIMIT: u64 = 512 << 10;

/// One drain, as written to the drain log and exported as `drainguard_last_drain_*`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct DrainRecord {
    /// The record format's version (1).
    pub version: u32,
    /// When the drain started and ended (RFC 3339, UTC; `unix:<seconds>` under a clock
    /// outside 1970–9999).
    pub start: String,
    pub end: String,
    /// The end, as Unix time in seconds.
    pub end_unix_seconds: f64,
    /// `drained`, `settled`, `deadline`, `shipper_dead`, `interrupted`, `stopped` or
    /// `unprovable`.
    pub outcome: String,
    pub duration_seconds: f64,
    pub bytes_at_start: u64,
    pub bytes_shipped: u64,
    /// Bytes of the files still behind at the end.
    pub unshipped_bytes: u64,
    pub files_left: usize,
    pub queued_events: u64,
    pub queued_bytes: u64,
    pub unacked_bytes: u64,
    /// Per store: what it still owed at the end.
    #[serde(default)]
    pub stores: Vec<DrainStore>,
}

/// One store's part of a [`DrainRecord`].
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct DrainStore {
    pub shipper: String,
    pub store: String,
    /// `drained`, `behind` or `unconfirmed`.
    pub verdict: String,
    pub unshipped_bytes: u64,
}

impl DrainRecord {
    /// The record of `r`.
    pub fn of(r: &WaitReport) -> DrainRecord {
        let a = &r.final_assessment;
        let end = r.started + r.elapsed;
        DrainRecord {
            version: 1,
            start: crate::display::timestamp(r.started, false),
            end: crate::display::timestamp(end, false),
            end_unix_seconds: crate::display::unix_seconds(end),
            outcome: r.outcome.word().replace('-', "_"),
            duration_seconds: r.elapsed.as_secs_f64(),
            bytes_at_start: r.bytes_at_start,
            bytes_shipped: r.bytes_shipped,
            unshipped_bytes: a.bytes_behind,
            files_left: a.shippers.iter().map(|s| s.totals.blocking_files).sum(),
            queued_events: a.queue.queued_events,
            queued_bytes: a.queue.queued_bytes,
            unacked_bytes: a.queue.unacked_bytes,
            stores: a
                .shippers
                .iter()
                .map(|s| DrainStore {
                    shipper: s.shipper.name().to_string(),
                    store: crate::display::path(&s.store),
                    verdict: serde_json::to_value(s.verdict)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_string))
                        .unwrap_or_default(),
                    unshipped_bytes: s.totals.bytes_behind,
                })
                .collect(),
        }
    }
}

/// Errors of the drain log.
#[derive(Debug, thiserror::Error)]
pub enum DrainLogError {
    #[error(transparent)]
    Io(#[from] crate::install::beneath::BeneathError),
    #[error(
        "{path}, line {line}: not a drain record ({source}); move the file away to start a new log"
    )]
    Parse {
        path: String,
        line: usize,
        source: serde_json::Error,
    },
}

/// Appends `rec` to the drain log in `state_dir` (a host path below `root`, created when
/// missing): the whole log rewritten atomically (temporary file, fsync, rename, directory
/// fsync), so it is on disk before the drain's process exits and a poweroff right after
/// cannot tear it. Past `DRAIN_LOG_LIMIT` the log is first renamed to `drains.jsonl.1`.
pub fn append_drain(root: &Root, state_dir: &Path, rec: &DrainRecord) -> Result<(), DrainLogError> {
    use crate::install::beneath::{Beneath, BeneathError};
    let state_dir = &host_path(state_dir).map_err(|source| BeneathError::Io {
        path: state_dir.to_path_buf(),
        source,
    })?;
    let host = state_dir.join(DRAIN_LOG);
    let b = Beneath::open(root)?;
    b.make_parents(&host)?;
    // Held until the log is rewritten: two writers (`wait` and `aws watch`) lose no record.
    let _lock = lock_state(&b, root, state_dir);
    let mut line = serde_json::to_vec(rec).expect("a drain record serializes");
    line.push(b'\n');
    let mut content = match b.read(&host, DRAIN_LOG_LIMIT) {
        Ok(Some((old, _))) => old,
        Ok(None) => Vec::new(),
        Err(BeneathError::TooLarge { .. }) => {
            b.rename(&host, &state_dir.join(format!("{DRAIN_LOG}.1")))?;
            Vec::new()
        }
        Err(e) => return Err(e.into()),
    };
    if content.len() as u64 + line.len() as u64 > DRAIN_LOG_LIMIT && !content.is_empty() {
        b.rename(&host, &state_dir.join(format!("{DRAIN_LOG}.1")))?;
        content.clear();
    }
    if !content.is_empty() && !content.ends_with(b"\n") {
        content.push(b'\n');
    }
    content.extend_from_slice(&line);
    b.write_atomic(&host, &content, 0o644, false)?;
    Ok(())
}

/// The lock file in the state directory (drainguard's own, never a shipper's): held while
/// the drain log, or the abandoned-bytes counters (`abandoned.json`, in the directory they
/// are kept in), are read, changed and rewritten.
pub const STATE_LOCK: &str = "state.lock";
/// How long a writer waits for the lock before writing without it (said in a warning).
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(1);

/// Takes the exclusive advisory lock on [`STATE_LOCK`] in `state_dir` (created below the root,
/// never through a link), waiting at most [`LOCK_WAIT`]; `None` (said) when it cannot be had:
/// the write goes on without it rather than not at all. Released when dropped.
pub(crate) fn lock_state(
    b: &crate::install::beneath::Beneath,
    root: &Root,
    state_dir: &Path,
) -> Option<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    let host = state_dir.join(STATE_LOCK);
    let opened = b
        .append(&host, b"", 0o644)
        .map_err(std::io::Error::other)
        .and_then(|()| {
            std::fs::OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
                .open(root.host_to_local(&host))
        });
    let f = match opened {
        Ok(f) => f,
        Err(e) => {
            tracing::warn!(file = %crate::display::path(&host), error = %e, "cannot open the state lock; writing without it");
            return None;
        }
    };
    let until = std::time::Instant::now() + LOCK_WAIT;
    loop {
        match rustix::fs::flock(&f, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => return Some(f),
            Err(rustix::io::Errno::WOULDBLOCK | rustix::io::Errno::INTR)
                if std::time::Instant::now() < until =>
            {
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            Err(e) => {
                tracing::warn!(file = %crate::display::path(&host), error = %e, "the state lock was not had in time; writing without it");
                return None;
            }
        }
    }
}

/// The most recent record of the drain log in `state_dir`; `None` when there is no log (or
/// only an empty one).
pub fn last_drain(root: &Root, state_dir: &Path) -> Result<Option<DrainRecord>, DrainLogError> {
    use crate::install::beneath::{Beneath, BeneathError};
    let state_dir = &host_path(state_dir).map_err(|source| BeneathError::Io {
        path: state_dir.to_path_buf(),
        source,
    })?;
    let host = state_dir.join(DRAIN_LOG);
    let Some((bytes, _)) = Beneath::open(root)?.read(&host, DRAIN_LOG_LIMIT.saturating_mul(2))?
    else {
        return Ok(None);
    };
    let text = String::from_utf8_lossy(&bytes);
    let Some((i, last)) = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .last()
    else {
        return Ok(None);
    };
    serde_json::from_str(last)
        .map(Some)
        .map_err(|source| DrainLogError::Parse {
            path: crate::display::path(&root.host_to_local(&host)),
            line: i + 1,
            source,
        })
}

#[cfg(test)]
impl DrainRecord {
    /// A drain of `outcome` that owed nothing, for tests.
    pub(crate) fn sample(outcome: &str) -> DrainRecord {
        DrainRecord {
            version: 1,
            start: "2026-12-01T00:00:00Z".into(),
            end: "2026-12-01T00:00:10Z".into(),
            end_unix_seconds: 1_796_083_210.0,
            outcome: outcome.into(),
            duration_seconds: 10.0,
            bytes_at_start: 0,
            bytes_shipped: 0,
            unshipped_bytes: 0,
            files_left: 0,
            queued_events: 0,
            queued_bytes: 0,
            unacked_bytes: 0,
            stores: vec![],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(outcome: &str) -> DrainRecord {
        DrainRecord::sample(outcome)
    }

    /// Two writers at once (`wait` and `aws watch`) lose no record: the read-modify-write of
    /// the log is under the state lock.
    #[test]
    fn concurrent_writers_lose_no_record() {
        let d = tempfile::tempdir().unwrap();
        let root = Root::new(Some(d.path().to_path_buf()));
        let writers: Vec<_> = (0..2)
            .map(|w| {
                let root = root.clone();
                std::thread::spawn(move || {
                    for i in 0..15 {
                        let dir = Path::new("/var/lib/drainguard");
                        append_drain(&root, dir, &record(&format!("w{w}-{i}"))).unwrap();
                    }
                })
            })
            .collect();
        for w in writers {
            w.join().unwrap();
        }
        let text =
            std::fs::read_to_string(d.path().join("var/lib/drainguard").join(DRAIN_LOG)).unwrap();
        assert_eq!(text.lines().count(), 30, "{text}");
    }

    /// A relative `--state-dir` is taken from the current directory, as the run record's
    /// `--log-file` is (it was refused and the record silently skipped).
    #[test]
    fn a_relative_state_dir_is_taken_from_the_current_directory() {
        let d = tempfile::tempdir().unwrap();
        let root = Root::new(Some(d.path().to_path_buf()));
        let rel = Path::new("state-rel/./x/..");
        append_drain(&root, rel, &record("drained")).unwrap();
        let cwd = std::env::current_dir().unwrap();
        let on_disk = root.host_to_local(&cwd.join("state-rel").join(DRAIN_LOG));
        assert!(on_disk.is_file(), "{}", on_disk.display());
        assert_eq!(
            last_drain(&root, rel).unwrap().map(|r| r.outcome),
            Some("drained".to_string())
        );
    }
}
