//! A shipper's own log, scanned for the lines it writes when it gives data up (a batch dropped
//! after its retries, a payload permanently rejected): the delivery signal of shippers whose
//! offsets advance over given-up data too (CloudWatch agent, Datadog Agent).
//!
//! Only lines appended after the reader's first scan count (the log's older history is not
//! this drain's); a log that shrank (rotated, truncated) is scanned again from its start. Each
//! scan reads at most [`WINDOW`] bytes, the newest, through the bounded reader.

use std::path::PathBuf;

use crate::cursor::{QueueSignal, QueueState};
use crate::safe_read::{self, Limit};

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
    /// when the log cannot be read.
    pub fn signal(&mut self) -> QueueSignal {
        let source = format!("{} {}", self.what, self.path.display());
        let size = match safe_read::open(&self.path) {
            Ok((_, m)) => m.len(),
            Err(e) => {
                return common::unknown_queue(
                    &source,
                    &format!(
                        "{e}: data the shipper gave up (which advances its offsets without \
                         reaching the destination) cannot be seen; let drainguard read the log \
                         named by {}",
                        self.setting
                    ),
                )
            }
        };
        let from = match self.scanned_to {
            None => size,
            Some(at) if at <= size => at,
            Some(_) => 0,
        }
        .max(size.saturating_sub(WINDOW));
        self.scanned_to = Some(size);
        if from < size {
            if let Ok(bytes) = safe_read::read_from(&self.path, from, Limit::CONFIG) {
                for line in bytes.split(|b| *b == b'\n') {
                    let line = String::from_utf8_lossy(line);
                    if (self.matches)(&line) {
                        self.drops += 1;
                        self.last = Some(crate::error::clip(line.trim()).into_owned());
                    }
                }
            }
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
}
