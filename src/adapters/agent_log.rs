//! A shipper's own log, scanned for the lines it writes when it gives data up (a batch dropped
//! after its retries, a payload permanently rejected): the delivery signal of shippers whose
//! offsets advance over given-up data too (CloudWatch agent, Datadog Agent, awslogs).
//!
//! [`LogTail`] is the one way drainguard follows a shipper's log across reads (also awslogs'
//! publish confirmations): the first scan reads the log's newest bytes (its history), later
//! scans what was appended since. A log rotated away (another inode at its path) goes on being
//! scanned through the descriptor kept from the last scan (the shipper may write there until
//! it reopens its log) until the next rotation, and the new one is scanned from its start;
//! one truncated in place (shorter now, or grown back past the last scan without the bytes it
//! ended on) is scanned again from its start. Every byte appended is scanned, whole lines only
//! (a line half written now is scanned whole next time; a window holding no newline at all, a
//! line longer than [`WINDOW`], is taken as it is), [`WINDOW`] bytes in memory at a time and
//! at most [`SCAN_BUDGET`] read per scan; a log that grew by more than that is "not scanned
//! yet" (unknown), never taken as free of give-up lines. Only regular files are read (a FIFO
//! or a device is refused). Give-up lines of the log's history are said as a note: lost, not
//! owed.

use std::fs::File;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::cursor::{QueueSignal, QueueState};
use crate::error::StoreError;
use crate::safe_read;

use super::common;

/// The most of the log in memory at a time, and the history a [`DropLog`] reads first.
pub const WINDOW: u64 = 8 << 20;

/// The most of the logs read per [`LogTail::scan`] (in windows of [`WINDOW`]).
pub const SCAN_BUDGET: u64 = 8 * WINDOW;

/// How many of the last scanned bytes are compared at the next scan.
const ANCHOR: usize = 64;

/// One log file being followed through its descriptor.
#[derive(Debug)]
struct Followed {
    file: File,
    /// (device, inode).
    id: (u64, u64),
    /// Where the whole lines scanned so far end.
    at: u64,
    /// Lines ending at or before this offset were in the log at the first scan (its history).
    history: u64,
}

impl Followed {
    /// Scans from `self.at` towards `end`, whole lines, giving each (without its newline) and
    /// whether it is history to `on_line`; reads at most `*budget` bytes (taken off it).
    /// Returns whether it stopped short of `end` for the budget (not for a line being
    /// written), and the last bytes scanned.
    fn scan(
        &mut self,
        end: u64,
        budget: &mut u64,
        on_line: &mut dyn FnMut(&[u8], bool),
    ) -> std::io::Result<(bool, Option<Vec<u8>>)> {
        let mut last = None;
        while self.at < end {
            if *budget == 0 {
                return Ok((true, last));
            }
            let room = (end - self.at).min(WINDOW);
            let want = room.min(*budget);
            let bytes = read_range(&mut self.file, self.at, want)?;
            *budget = budget.saturating_sub(bytes.len() as u64);
            let whole = match bytes.iter().rposition(|b| *b == b'\n') {
                Some(i) => i + 1,
                // A line longer than the window is taken as it is.
                None if bytes.len() as u64 == WINDOW => bytes.len(),
                // A short unterminated tail waits for its newline (or the next budget).
                None => return Ok((want < room && bytes.len() as u64 == want, last)),
            };
            let mut line_end = self.at;
            for line in bytes[..whole].split_inclusive(|b| *b == b'\n') {
                line_end += line.len() as u64;
                let text = line.strip_suffix(b"\n").unwrap_or(line);
                on_line(text, line_end <= self.history);
            }
            self.at += whole as u64;
            last = Some(bytes[whole.saturating_sub(ANCHOR)..whole].to_vec());
            if (bytes.len() as u64) < want {
                // Shorter than it said (truncated meanwhile): the next scan sees it.
                break;
            }
        }
        Ok((false, last))
    }
}

/// How far a [`LogTail::scan`] got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reached {
    /// Every whole line appended was scanned.
    End,
    /// This many bytes were left for the next scan (more was appended than a scan reads).
    Behind(u64),
}

/// A shipper's log followed across scans (see the module's doc).
#[derive(Debug)]
pub struct LogTail {
    path: PathBuf,
    /// How much of the log's end the first scan reads.
    first_window: u64,
    /// The log at `path` as last opened (None before the first scan).
    current: Option<Followed>,
    /// The last bytes scanned in `current` and where they end: a log truncated in place and
    /// grown back past that offset between two scans no longer holds them there.
    anchor: Option<(u64, Vec<u8>)>,
    /// The log renamed away at the last rotation, still scanned.
    rotated: Option<Followed>,
}

impl LogTail {
    /// `path`: the log (local path); `first_window`: the newest bytes the first scan reads.
    pub fn new(path: PathBuf, first_window: u64) -> Self {
        LogTail {
            path,
            first_window,
            current: None,
            anchor: None,
            rotated: None,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Scans what was appended since the last scan (the first: the newest `first_window`
    /// bytes, from the first whole line), giving each whole line and whether it is the log's
    /// history (in it at the first scan) to `on_line`. An error (the log cannot be opened or
    /// read) keeps what was followed: the next scan goes on from there.
    pub fn scan(&mut self, on_line: &mut dyn FnMut(&[u8], bool)) -> Result<Reached, StoreError> {
        let path = self.path.clone();
        let io = |e: std::io::Error| StoreError::io(&path, e);
        let (file, meta) = safe_read::open(&self.path)?;
        let (id, size) = ((meta.dev(), meta.ino()), meta.len());
        let mut budget = SCAN_BUDGET;
        if let Some(r) = &mut self.rotated {
            let end = r.file.metadata().map_err(io)?.len();
            if r.at > end {
                // Cut down after it was renamed away: nothing more is written there.
                self.rotated = None;
            } else if r.scan(end, &mut budget, on_line).map_err(io)?.0 {
                return Ok(Reached::Behind(end - r.at));
            }
        }
        match &mut self.current {
            None => {
                let from = size.saturating_sub(self.first_window);
                let mut f = Followed {
                    file,
                    id,
                    at: from,
                    history: size,
                };
                // Started mid-file: the first line given is whole.
                let mut skip = from > 0;
                let mut first = |line: &[u8], history: bool| {
                    if !std::mem::take(&mut skip) {
                        on_line(line, history)
                    }
                };
                let scanned = f.scan(size, &mut budget, &mut first);
                self.current = Some(f);
                return self.scanned(scanned.map_err(io)?, size);
            }
            Some(c) if c.id == id => {
                if c.at > size || !anchored(&mut c.file, self.anchor.as_ref()) {
                    // Truncated in place (copytruncate), and maybe grown back past `at`
                    // meanwhile: from its start, all of it new.
                    c.at = 0;
                    c.history = 0;
                    self.anchor = None;
                }
            }
            Some(_) => {
                // Rotated: the log followed so far was renamed away, a new one is here. The
                // old one first (to its end), then all of the new one.
                let new = Followed {
                    file,
                    id,
                    at: 0,
                    history: 0,
                };
                let mut old = self.current.replace(new).expect("matched Some");
                self.anchor = None;
                let end = old.file.metadata().map_err(io)?.len();
                let cut = old.at <= end && old.scan(end, &mut budget, on_line).map_err(io)?.0;
                let left = end.saturating_sub(old.at);
                self.rotated = Some(old);
                if cut {
                    return Ok(Reached::Behind(left));
                }
            }
        }
        let c = self.current.as_mut().expect("set above");
        let scanned = c.scan(size, &mut budget, on_line);
        self.scanned(scanned.map_err(io)?, size)
    }

    /// Records the anchor of a scan of `current` and says how far it got.
    fn scanned(
        &mut self,
        (cut, last): (bool, Option<Vec<u8>>),
        size: u64,
    ) -> Result<Reached, StoreError> {
        let c = self.current.as_ref().expect("scanned current");
        if let Some(last) = last {
            self.anchor = Some((c.at, last));
        }
        Ok(if cut {
            Reached::Behind(size.saturating_sub(c.at))
        } else {
            Reached::End
        })
    }
}

/// True when `file` still holds the `anchor` bytes where they were (or nothing was scanned
/// yet): not truncated in place since.
fn anchored(file: &mut File, anchor: Option<&(u64, Vec<u8>)>) -> bool {
    let Some((end, bytes)) = anchor else {
        return true;
    };
    let len = bytes.len() as u64;
    end.checked_sub(len)
        .and_then(|from| read_range(file, from, len).ok())
        .is_some_and(|now| now == *bytes)
}

/// The give-up line scanner; one per store reader.
#[derive(Debug)]
pub struct DropLog {
    what: &'static str,
    tail: LogTail,
    matches: fn(&str) -> bool,
    /// The setting naming the log, for the fix when it cannot be read.
    setting: &'static str,
    drops: u64,
    last: Option<String>,
    /// Give-up lines in the log's history (the newest [`WINDOW`] at the first scan): before
    /// this drain, so lost rather than owed, and said as a note (count, last).
    earlier: Option<(u64, String)>,
}

impl DropLog {
    /// `what`: the signal's name (`cloudwatch agent log`); `path`: the log (local path);
    /// `matches`: true for a give-up line; `setting`: the shipper option naming the log.
    pub fn new(
        what: &'static str,
        path: PathBuf,
        matches: fn(&str) -> bool,
        setting: &'static str,
    ) -> Self {
        DropLog {
            what,
            tail: LogTail::new(path, WINDOW),
            matches,
            setting,
            drops: 0,
            last: None,
            earlier: None,
        }
    }

    pub fn path(&self) -> &Path {
        self.tail.path()
    }

    /// Follows the shipper's log at another path from now on, keeping the give-up lines
    /// seen so far (a log found elsewhere forgets none of them).
    pub fn follow(&mut self, path: PathBuf) {
        self.tail = LogTail::new(path, WINDOW);
    }

    /// Scans what was appended since the last scan and gives the signal: empty while no
    /// give-up line was seen, unknown (naming the count and the last line) once one was, or
    /// when the log cannot be read, or grew faster than [`SCAN_BUDGET`] since the last scan.
    pub fn signal(&mut self) -> QueueSignal {
        let source = format!("{} {}", self.what, self.tail.path().display());
        let DropLog {
            tail,
            matches,
            drops,
            last,
            earlier,
            ..
        } = self;
        let reached = tail.scan(&mut |line, history| {
            let line = String::from_utf8_lossy(line);
            if !(*matches)(&line) {
                return;
            }
            let line = crate::error::clip(line.trim()).into_owned();
            if history {
                let e = earlier.get_or_insert((0, String::new()));
                *e = (e.0.saturating_add(1), line);
            } else {
                *drops = drops.saturating_add(1);
                *last = Some(line);
            }
        });
        let left = match reached {
            Ok(Reached::End) => 0,
            Ok(Reached::Behind(left)) => left,
            Err(e) => {
                let setting = self.setting;
                return common::unknown_queue(
                    &source,
                    &format!(
                        "{e}: data the shipper gave up (which advances its offsets without \
                         reaching the destination) cannot be seen; let drainguard read the log \
                         named by {setting}"
                    ),
                );
            }
        };
        if self.drops == 0 && left > 0 {
            return common::unknown_queue(
                &source,
                &format!(
                    "{} of the log are not scanned yet (it grew by more than {} since the last \
                     scan): a give-up line there would be missed; run again",
                    crate::display::bytes(left),
                    crate::display::bytes(SCAN_BUDGET)
                ),
            );
        }
        if self.drops == 0 {
            return QueueSignal {
                source,
                state: QueueState::Empty,
            };
        }
        common::unknown_queue(
            &source,
            &format!(
                "{} give-up line(s) logged while drainguard watched (last: {}): the shipper counts \
                 given-up data as sent, so its offsets overstate delivery; fix the destination \
                 (endpoint, credentials), and keep the shipper running until the drain is judged",
                self.drops,
                self.last.as_deref().unwrap_or("")
            ),
        )
    }

    /// The note on give-up lines the log held before the first scan, if any: the data given
    /// up then is lost (the shipper's offsets count it as sent), which no drain changes.
    pub fn earlier_note(&self) -> Option<String> {
        let (n, last) = self.earlier.as_ref()?;
        Some(format!(
            "{n} give-up line(s) in {} before drainguard started watching (last: {last}): what \
             the shipper gave up then is lost, not owed, though its offsets count it as sent; \
             check the destination (endpoint, credentials)",
            self.tail.path().display()
        ))
    }
}

/// Up to `len` bytes of `file` from `offset`.
fn read_range(file: &mut File, offset: u64, len: u64) -> std::io::Result<Vec<u8>> {
    use std::io::{Read, Seek, SeekFrom};
    file.seek(SeekFrom::Start(offset))?;
    let mut buf = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
    file.take(len).read_to_end(&mut buf)?;
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::append;

    fn drop_line(l: &str) -> bool {
        l.contains("dropped")
    }

    /// A log at `agent.log` holding `text`, and its scanner after the first scan (asserted
    /// empty: nothing given up while watched yet).
    /// Signals until the log is scanned to its end: the last signal and how many reads said
    /// "not scanned yet" before it (at most 9: the scans make progress).
    fn until_scanned(l: &mut DropLog) -> (crate::cursor::QueueSignal, usize) {
        let mut behind = 0;
        loop {
            let s = l.signal();
            if !matches!(&s.state, QueueState::Unknown { hint } if hint.contains("not scanned yet"))
            {
                return (s, behind);
            }
            behind += 1;
            assert!(behind < 10, "the scans make progress");
        }
    }

    fn watched(text: &[u8]) -> (tempfile::TempDir, PathBuf, DropLog) {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("agent.log");
        std::fs::write(&p, text).unwrap();
        let mut l = DropLog::new("log", p.clone(), drop_line, "logfile");
        assert_eq!(l.signal().state, QueueState::Empty);
        (d, p, l)
    }

    /// Asserts that `s` is unknown with a hint holding every one of `words`.
    fn assert_unknown(s: &QueueSignal, words: &[&str]) {
        assert!(
            matches!(&s.state, QueueState::Unknown { hint } if words.iter().all(|w| hint.contains(w))),
            "{words:?}: {s:?}"
        );
    }

    #[test]
    fn only_lines_after_the_first_scan_count_and_a_shrunk_log_is_rescanned() {
        let (_d, p, mut l) = watched(b"old: dropped\n");
        std::fs::write(&p, "x\n").unwrap(); // rotated: shorter
        assert_eq!(l.signal().state, QueueState::Empty);
        std::fs::write(&p, "x\nnew: dropped\n").unwrap();
        assert_unknown(&l.signal(), &["1 give-up line(s)", "new: dropped"]);
        std::fs::remove_file(&p).unwrap();
        assert!(matches!(l.signal().state, QueueState::Unknown { .. }));
    }

    #[test]
    fn give_up_lines_before_the_first_scan_are_a_note_not_owed() {
        let (_d, p, l) =
            watched(b"E! batch 1: request dropped\nI! fine\nE! batch 2: request dropped\n");
        let note = l.earlier_note().expect("the earlier give-ups are said");
        assert!(
            note.contains("2 give-up line(s)") && note.contains("batch 2") && note.contains("lost"),
            "{note}"
        );
        // A quiet log: nothing said.
        std::fs::write(&p, "I! fine\n").unwrap();
        let mut l = DropLog::new("log", p.clone(), drop_line, "logfile");
        l.signal();
        assert_eq!(l.earlier_note(), None);
    }

    #[test]
    fn a_give_up_line_written_across_two_scans_is_seen() {
        let (_d, p, mut l) = watched(b"started\n");
        // The scan lands while the agent's line is half written.
        append(&p, b"E! batch of 3 events: request dro");
        assert_eq!(l.signal().state, QueueState::Empty);
        append(&p, b"pped\n");
        assert_unknown(&l.signal(), &["request dropped"]);
    }

    /// The first scan lands while a give-up line is half written: it is this drain's.
    #[test]
    fn a_give_up_line_half_written_at_the_first_scan_counts_when_finished() {
        let (_d, p, mut l) = watched(b"started\nE! batch of 3 events: request dro");
        assert_eq!(l.earlier_note(), None);
        append(&p, b"pped\n");
        assert_unknown(&l.signal(), &["1 give-up line(s)", "request dropped"]);
    }

    #[test]
    fn a_give_up_line_in_a_log_rotated_away_between_scans_is_seen() {
        let (d, p, mut l) = watched(b"started\n");
        // Logged, then the log is rotated before the next scan: the new one is quiet.
        append(&p, b"E! request dropped\n");
        std::fs::rename(&p, d.path().join("agent.log.1")).unwrap();
        std::fs::write(&p, "I! reopened\n").unwrap();
        assert_unknown(&l.signal(), &["1 give-up line(s)"]);
        // And the new log is read from its start: a give-up line there counts too.
        append(&p, b"E! request dropped again\n");
        assert_unknown(&l.signal(), &["2 give-up line(s)"]);
    }

    /// A log renamed away (logrotate's `create`) that the shipper writes to until it reopens
    /// its log: what it writes there after the scan that saw the rotation is seen.
    #[test]
    fn a_give_up_line_written_to_the_renamed_log_before_the_shipper_reopens_is_seen() {
        let (d, p, mut l) = watched(b"started\n");
        let old = d.path().join("agent.log.1");
        std::fs::rename(&p, &old).unwrap();
        std::fs::write(&p, "").unwrap();
        assert_eq!(l.signal().state, QueueState::Empty);
        append(&old, b"E! request dropped before the reopen\n");
        append(&p, b"I! reopened\n");
        assert_unknown(&l.signal(), &["1 give-up line(s)", "before the reopen"]);
        // The next rotation leaves the first one behind: read no more.
        std::fs::rename(&p, d.path().join("agent.log.2")).unwrap();
        std::fs::write(&p, "").unwrap();
        assert_unknown(&l.signal(), &["1 give-up line(s)"]);
        append(&old, b"E! dropped, two rotations ago\n");
        assert_unknown(&l.signal(), &["1 give-up line(s)"]);
    }

    /// copytruncate: the log emptied in place, then written past where the last scan ended
    /// before the next one: what it holds now is all new.
    #[test]
    fn a_log_truncated_in_place_and_grown_back_between_scans_is_scanned_from_its_start() {
        let (_d, p, mut l) = watched(b"I! started\n");
        append(&p, b"I! one line\n");
        assert_eq!(l.signal().state, QueueState::Empty);
        std::fs::write(&p, "E! request dropped\nI! and a longer line after it\n").unwrap();
        assert_unknown(&l.signal(), &["1 give-up line(s)"]);
    }

    #[test]
    fn a_log_that_grew_past_the_window_between_scans_is_scanned_whole() {
        let (_d, p, mut l) = watched(b"started\n");
        // The give-up line, then more than a window of ordinary lines after it.
        append(&p, b"E! request dropped\n");
        let filler = "I! all fine\n".repeat((WINDOW as usize) / 12 + 1000);
        append(&p, filler.as_bytes());
        assert_unknown(&l.signal(), &["1 give-up line(s)"]);
    }

    /// More than a scan reads (a sparse GiB of NULs, no newline) is "not scanned yet", read
    /// on scan by scan, and a give-up line after it is seen.
    #[test]
    fn a_log_grown_past_the_scan_budget_is_not_scanned_yet_until_read_to_its_end() {
        let (_d, p, mut l) = watched(b"started\n");
        let f = std::fs::OpenOptions::new().write(true).open(&p).unwrap();
        let end = 8 + 3 * SCAN_BUDGET + 100;
        f.set_len(end).unwrap();
        append(&p, b"\nE! request dropped after the hole\n");
        let (s, behind) = until_scanned(&mut l);
        assert_eq!(behind, 3, "64 MiB a scan");
        assert_unknown(&s, &["1 give-up line(s)", "after the hole"]);
    }

    /// A log renamed away with more unread than a scan reads: not scanned yet (never empty)
    /// until its rest is read, then the new log from its start.
    #[test]
    fn a_rotated_away_log_with_more_than_a_scan_left_is_read_on_before_the_new_one() {
        let (d, p, mut l) = watched(b"started\n");
        let f = std::fs::OpenOptions::new().write(true).open(&p).unwrap();
        f.set_len(8 + 2 * SCAN_BUDGET).unwrap();
        append(&p, b"\nE! dropped in the old log\n");
        std::fs::rename(&p, d.path().join("agent.log.1")).unwrap();
        std::fs::write(&p, "E! dropped in the new log\n").unwrap();
        let (s, behind) = until_scanned(&mut l);
        assert_eq!(behind, 2, "64 MiB a scan");
        assert_unknown(&s, &["2 give-up line(s)", "in the new log"]);
    }

    /// One line longer than the window: taken a window at a time; the give-up line after it,
    /// and one longer than the window, are both seen.
    #[test]
    fn lines_longer_than_the_window_do_not_hide_a_give_up_line() {
        let (_d, p, mut l) = watched(b"started\n");
        let long = "y".repeat(WINDOW as usize + 10);
        append(&p, format!("{long}\nE! request dropped\n").as_bytes());
        assert_unknown(&l.signal(), &["1 give-up line(s)"]);
        append(&p, format!("E! request dropped {long}\n").as_bytes());
        assert_unknown(&l.signal(), &["2 give-up line(s)"]);
    }

    #[test]
    fn a_give_up_line_with_bytes_not_utf8_is_seen() {
        let (_d, p, mut l) = watched(b"started\n");
        append(&p, b"E! \xff\xfe payload \xc3 request dropped\n");
        assert_unknown(&l.signal(), &["1 give-up line(s)", "request dropped"]);
    }

    /// A FIFO or a device at the log's path is refused at once (no block, no endless read),
    /// as unknown naming what it is.
    #[test]
    fn a_fifo_or_dev_zero_as_the_log_is_unknown_without_blocking() {
        let d = tempfile::tempdir().unwrap();
        let fifo = d.path().join("fifo.log");
        let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let zero = d.path().join("zero.log");
        std::os::unix::fs::symlink("/dev/zero", &zero).unwrap();
        for p in [fifo, zero] {
            let mut l = DropLog::new("log", p.clone(), drop_line, "logfile");
            assert_unknown(&l.signal(), &["regular file", "logfile"]);
        }
        // A log replaced by a FIFO while watched: unknown too, never empty.
        let (_d, p, mut l) = watched(b"started\n");
        std::fs::remove_file(&p).unwrap();
        let c = std::ffi::CString::new(p.as_os_str().as_encoded_bytes()).unwrap();
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        assert_unknown(&l.signal(), &["regular file"]);
    }

    /// A log that vanished and came back (recreated) keeps what was seen.
    #[test]
    fn give_up_lines_seen_stay_seen_when_the_log_vanishes_and_comes_back() {
        let (_d, p, mut l) = watched(b"started\n");
        append(&p, b"E! request dropped\n");
        assert_unknown(&l.signal(), &["1 give-up line(s)"]);
        std::fs::remove_file(&p).unwrap();
        assert!(matches!(l.signal().state, QueueState::Unknown { .. }));
        std::fs::write(&p, "I! started again\n").unwrap();
        assert_unknown(&l.signal(), &["1 give-up line(s)"]);
        l.follow(p.with_extension("other"));
        std::fs::write(l.path(), "I! quiet\n").unwrap();
        assert_unknown(&l.signal(), &["1 give-up line(s)"]);
    }
}
