//! A shipper's own log, scanned for the lines it writes when it gives data up (a batch dropped
//! after its retries, a payload permanently rejected): the delivery signal of shippers whose
//! offsets advance over given-up data too (CloudWatch agent, Datadog Agent).
//!
//! Only lines appended after the reader's first scan count (the log's older history is not
//! this drain's); a log that shrank (rotated, truncated) is scanned again from its start. Every
//! byte appended is scanned, whole lines only, [`WINDOW`] bytes in memory at a time and at
//! most [`SCAN_BUDGET`] per scan; a log that grew by more than that is "not scanned yet"
//! (unknown), never taken as free of give-up lines.

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
    drops: u64,
    last: Option<String>,
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
            drops: 0,
            last: None,
        }
    }

    /// Scans what was appended since the last scan and gives the signal: empty while no
    /// give-up line was seen, unknown (naming the count and the last line) once one was, or
    /// when the log cannot be read, or grew faster than [`SCAN_BUDGET`] since the last scan.
    pub fn signal(&mut self) -> QueueSignal {
        let source = format!("{} {}", self.what, self.path.display());
        let unreadable = |e: &dyn std::fmt::Display| {
            common::unknown_queue(
                &source,
                &format!(
                    "{e}: data the shipper gave up (which advances its offsets without \
                     reaching the destination) cannot be seen; let drainguard read the log \
                     named by {}",
                    self.setting
                ),
            )
        };
        let (mut file, size) = match safe_read::open(&self.path) {
            Ok((f, m)) => (f, m.len()),
            Err(e) => return unreadable(&e),
        };
        let mut at = match self.scanned_to {
            None => size,
            Some(at) if at <= size => at,
            Some(_) => 0,
        };
        // Every byte appended is scanned, a window at a time; only whole lines (a line half
        // written now is scanned whole next time).
        let stop = size.min(at.saturating_add(SCAN_BUDGET));
        while at < stop {
            let want = (stop - at).min(WINDOW);
            let bytes = match read_range(&mut file, at, want) {
                Ok(b) => b,
                Err(e) => {
                    self.scanned_to = Some(at);
                    return unreadable(&crate::error::StoreError::io(&self.path, e));
                }
            };
            let whole = match bytes.iter().rposition(|b| *b == b'\n') {
                Some(i) => i + 1,
                // A line longer than the window (or the end of the file): a full window is
                // taken as it is, a short unterminated tail waits for its newline.
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
            if whole == 0 || (bytes.len() as u64) < want {
                break;
            }
        }
        self.scanned_to = Some(at);
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
