//! A shipper's own log, scanned for the lines it writes when it gives data up (a batch dropped
//! after its retries, a payload permanently rejected): the delivery signal of shippers whose
//! offsets advance over given-up data too (CloudWatch agent, Datadog Agent).
//!
//! Only lines appended after the reader's first scan count (the log's older history is not
//! this drain's). A log rotated away (another inode at its path) is read to its end through
//! the descriptor kept from the last scan, then the new one from its start; one truncated in
//! place (shorter now, or grown back past the last scan without the bytes it ended on) is
//! scanned again from its start. Every byte appended is scanned, whole lines only, [`WINDOW`]
//! bytes in memory at a time and at most [`SCAN_BUDGET`] per scan; a log that grew by more
//! than that is "not scanned yet" (unknown), never taken as free of give-up lines. Give-up
//! lines the log held before the first scan are said as a note: lost, not owed.

use std::path::PathBuf;

use crate::cursor::{QueueSignal, QueueState};
use crate::safe_read;

use super::common;

/// The most of the log read per scan.
pub const WINDOW: u64 = 8 << 20;

/// The scanner; one per store reader.
#[derive(Debug)]
pub struct DropLog {
    what: &'static str,
    path: PathBuf,
    matches: fn(&str) -> bool,
    /// The setting naming the log, for the fix when it cannot be read.
    setting: &'static str,
    scanned_to: Option<u64>,
    /// The log as last opened, and its (device, inode): a rotated-away log's rest is scanned
    /// through it.
    file: Option<(std::fs::File, (u64, u64))>,
    drops: u64,
    last: Option<String>,
    /// The last bytes scanned and where they end: a log truncated in place and grown back
    /// past that offset between two scans no longer holds them there.
    anchor: Option<(u64, Vec<u8>)>,
    /// Give-up lines in the newest [`WINDOW`] of the log at the first scan (count, last):
    /// before this drain, so lost rather than owed, and said as a note.
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
            path,
            matches,
            setting,
            scanned_to: None,
            file: None,
            drops: 0,
            last: None,
            anchor: None,
            earlier: None,
        }
    }

    /// Scans what was appended since the last scan and gives the signal: empty while no
    /// give-up line was seen, unknown (naming the count and the last line) once one was, or
    /// when the log cannot be read, or grew faster than [`SCAN_BUDGET`] since the last scan.
    pub fn signal(&mut self) -> QueueSignal {
        let source = format!("{} {}", self.what, self.path.display());
        let setting = self.setting;
        let unreadable = |e: &dyn std::fmt::Display| {
            common::unknown_queue(
                &source,
                &format!(
                    "{e}: data the shipper gave up (which advances its offsets without \
                     reaching the destination) cannot be seen; let drainguard read the log \
                     named by {setting}"
                ),
            )
        };
        let (mut file, size, id) = match safe_read::open(&self.path) {
            Ok((f, m)) => {
                use std::os::unix::fs::MetadataExt;
                (f, m.len(), (m.dev(), m.ino()))
            }
            Err(e) => return unreadable(&e),
        };
        if let Some((mut old, old_id)) = self.file.take() {
            if old_id != id {
                // Rotated (renamed away, a new log in its place): what the old log got after
                // the last scan first, then all of the new one.
                if let Some(at) = self.scanned_to {
                    let end = old.metadata().map_or(at, |m| m.len());
                    let capped = end > at.saturating_add(SCAN_BUDGET);
                    match self.scan(&mut old, at, end) {
                        // Read to its end (but an unterminated last line, never finished now).
                        Ok(_) if !capped => {}
                        // Not read to its end (an error, or more than a scan reads): kept,
                        // and read on at the next scan.
                        Ok(to) => {
                            self.file = Some((old, old_id));
                            return common::unknown_queue(
                                &source,
                                &format!(
                                    "{} of the rotated-away log are not scanned yet: a give-up \
                                     line there would be missed; run again",
                                    crate::display::bytes(end - to)
                                ),
                            );
                        }
                        Err(e) => {
                            self.file = Some((old, old_id));
                            return unreadable(&crate::error::StoreError::io(&self.path, e));
                        }
                    }
                    self.scanned_to = Some(0);
                    self.anchor = None;
                }
            }
        }
        let at = match self.scanned_to {
            None => {
                // The log's recent history: said, not counted (see `earlier`).
                let (drops, last) = (self.drops, self.last.take());
                if self
                    .scan(&mut file, size.saturating_sub(WINDOW), size)
                    .is_ok()
                    && self.drops > drops
                {
                    self.earlier = Some((self.drops - drops, self.last.take().unwrap_or_default()));
                }
                (self.drops, self.last) = (drops, last);
                size
            }
            // Truncated in place (copytruncate), and maybe grown back past `at` meanwhile: from
            // its start.
            Some(at) if at <= size && self.anchored(&mut file) => at,
            Some(_) => 0,
        };
        let stop = size.min(at.saturating_add(SCAN_BUDGET));
        let scanned = self.scan(&mut file, at, stop);
        self.file = Some((file, id));
        let at = match scanned {
            Ok(at) => at,
            Err(e) => return unreadable(&crate::error::StoreError::io(&self.path, e)),
        };
        if self.drops == 0 && stop < size {
            // More was appended since the last scan than one scan reads.
            return common::unknown_queue(
                &source,
                &format!(
                    "{} of the log are not scanned yet (it grew by more than {} since the last \
                     scan): a give-up line there would be missed; run again",
                    crate::display::bytes(size - at),
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
            self.path.display()
        ))
    }

    /// Scans `file` from `at` to `stop` (at most [`SCAN_BUDGET`] bytes), a window at a time,
    /// whole lines only (a line half written now is scanned whole next time), counting the
    /// give-up lines. Records and returns where it stopped.
    fn scan(&mut self, file: &mut std::fs::File, mut at: u64, stop: u64) -> std::io::Result<u64> {
        let stop = stop.min(at.saturating_add(SCAN_BUDGET));
        while at < stop {
            let want = (stop - at).min(WINDOW);
            let bytes = match read_range(file, at, want) {
                Ok(b) => b,
                Err(e) => {
                    self.scanned_to = Some(at);
                    return Err(e);
                }
            };
            let whole = match bytes.iter().rposition(|b| *b == b'\n') {
                Some(i) => i + 1,
                // A line longer than the window is taken as it is; a short unterminated tail
                // waits for its newline.
                None if bytes.len() as u64 == WINDOW => bytes.len(),
                None => 0,
            };
            for line in bytes[..whole].split(|b| *b == b'\n') {
                let line = String::from_utf8_lossy(line);
                if (self.matches)(&line) {
                    self.drops += 1;
                    self.last = Some(crate::error::clip(line.trim()).into_owned());
                }
            }
            at += whole as u64;
            if whole > 0 {
                self.anchor = Some((at, bytes[whole.saturating_sub(ANCHOR)..whole].to_vec()));
            }
            if whole == 0 || (bytes.len() as u64) < want {
                break;
            }
        }
        self.scanned_to = Some(at);
        Ok(at)
    }
}

/// How many of the last scanned bytes are compared at the next scan.
const ANCHOR: usize = 64;

impl DropLog {
    /// True when `file` still holds the last scanned bytes where they were (or nothing was
    /// scanned yet): not truncated in place since.
    fn anchored(&self, file: &mut std::fs::File) -> bool {
        let Some((end, bytes)) = &self.anchor else {
            return true;
        };
        let len = bytes.len() as u64;
        end.checked_sub(len)
            .and_then(|from| read_range(file, from, len).ok())
            .is_some_and(|now| now == *bytes)
    }
}

/// The most of the log scanned per [`DropLog::signal`] (in windows of [`WINDOW`]).
pub const SCAN_BUDGET: u64 = 8 * WINDOW;

/// Up to `len` bytes of `file` from `offset`.
fn read_range(file: &mut std::fs::File, offset: u64, len: u64) -> std::io::Result<Vec<u8>> {
    use std::io::{Read, Seek, SeekFrom};
    file.seek(SeekFrom::Start(offset))?;
    let mut buf = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
    file.take(len).read_to_end(&mut buf)?;
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drop_line(l: &str) -> bool {
        l.contains("dropped")
    }

    #[test]
    fn only_lines_after_the_first_scan_count_and_a_shrunk_log_is_rescanned() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("agent.log");
        std::fs::write(&p, "old: dropped\n").unwrap();
        let mut l = DropLog::new("log", p.clone(), drop_line, "logfile");
        assert_eq!(l.signal().state, QueueState::Empty);
        std::fs::write(&p, "x\n").unwrap(); // rotated: shorter
        assert_eq!(l.signal().state, QueueState::Empty);
        std::fs::write(&p, "x\nnew: dropped\n").unwrap();
        let s = l.signal();
        assert!(
            matches!(&s.state, QueueState::Unknown { hint } if hint.contains("1 give-up line(s)") && hint.contains("new: dropped")),
            "{s:?}"
        );
        std::fs::remove_file(&p).unwrap();
        assert!(matches!(l.signal().state, QueueState::Unknown { .. }));
    }

    fn append(p: &std::path::Path, text: &[u8]) {
        use std::io::Write;
        std::fs::OpenOptions::new()
            .append(true)
            .open(p)
            .unwrap()
            .write_all(text)
            .unwrap();
    }

    #[test]
    fn give_up_lines_before_the_first_scan_are_a_note_not_owed() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("agent.log");
        std::fs::write(
            &p,
            "E! batch 1: request dropped\nI! fine\nE! batch 2: request dropped\n",
        )
        .unwrap();
        let mut l = DropLog::new("log", p.clone(), drop_line, "logfile");
        assert_eq!(l.signal().state, QueueState::Empty);
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
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("agent.log");
        std::fs::write(&p, "started\n").unwrap();
        let mut l = DropLog::new("log", p.clone(), drop_line, "logfile");
        assert_eq!(l.signal().state, QueueState::Empty);
        // The scan lands while the agent's line is half written.
        append(&p, b"E! batch of 3 events: request dro");
        assert_eq!(l.signal().state, QueueState::Empty);
        append(&p, b"pped\n");
        let s = l.signal();
        assert!(
            matches!(&s.state, QueueState::Unknown { hint } if hint.contains("request dropped")),
            "{s:?}"
        );
    }

    #[test]
    fn a_give_up_line_in_a_log_rotated_away_between_scans_is_seen() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("agent.log");
        std::fs::write(&p, "started\n").unwrap();
        let mut l = DropLog::new("log", p.clone(), drop_line, "logfile");
        assert_eq!(l.signal().state, QueueState::Empty);
        // Logged, then the log is rotated before the next scan: the new one is quiet.
        append(&p, b"E! request dropped\n");
        std::fs::rename(&p, d.path().join("agent.log.1")).unwrap();
        std::fs::write(&p, "I! reopened\n").unwrap();
        let s = l.signal();
        assert!(
            matches!(&s.state, QueueState::Unknown { hint } if hint.contains("1 give-up line(s)")),
            "{s:?}"
        );
        // And the new log is read from its start: a give-up line there counts too.
        append(&p, b"E! request dropped again\n");
        let s = l.signal();
        assert!(
            matches!(&s.state, QueueState::Unknown { hint } if hint.contains("2 give-up line(s)")),
            "{s:?}"
        );
    }

    /// copytruncate: the log emptied in place, then written past where the last scan ended
    /// before the next one: what it holds now is all new.
    #[test]
    fn a_log_truncated_in_place_and_grown_back_between_scans_is_scanned_from_its_start() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("agent.log");
        std::fs::write(&p, "I! started\n").unwrap();
        let mut l = DropLog::new("log", p.clone(), drop_line, "logfile");
        assert_eq!(l.signal().state, QueueState::Empty);
        append(&p, b"I! one line\n");
        assert_eq!(l.signal().state, QueueState::Empty);
        std::fs::write(&p, "E! request dropped\nI! and a longer line after it\n").unwrap();
        let s = l.signal();
        assert!(
            matches!(&s.state, QueueState::Unknown { hint } if hint.contains("1 give-up line(s)")),
            "{s:?}"
        );
    }

    #[test]
    fn a_log_that_grew_past_the_window_between_scans_is_scanned_whole() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("agent.log");
        std::fs::write(&p, "started\n").unwrap();
        let mut l = DropLog::new("log", p.clone(), drop_line, "logfile");
        assert_eq!(l.signal().state, QueueState::Empty);
        // The give-up line, then more than a window of ordinary lines after it.
        append(&p, b"E! request dropped\n");
        let filler = "I! all fine\n".repeat((WINDOW as usize) / 12 + 1000);
        append(&p, filler.as_bytes());
        let s = l.signal();
        assert!(
            matches!(&s.state, QueueState::Unknown { hint } if hint.contains("1 give-up line(s)")),
            "{s:?}"
        );
    }
}
