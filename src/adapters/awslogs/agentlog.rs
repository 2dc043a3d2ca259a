//! The agent's own log, read for its one delivery signal: after each PutLogEvents call that
//! succeeded the publisher logs (INFO, `cwlogs.push.publisher`)
//!
//! ```text
//! Log group: G, log stream: S, queue size: N, Publish batch: {'source_id': '<id>', ...,
//!   'first_event': {...}, 'last_event': {'timestamp': T, 'start_position': A, 'end_position': E}}
//! ```
//!
//! (a Python dict repr; on Python 2 the strings may read `u'...'` and the keys come in any
//! order). A batch skipped on `InvalidParameterException` is logged as `Skip batch: {...}`
//! instead, and is given up, as are events logged `Skip event:` (too old or too far in the
//! future): those lines are counted by [`crate::adapters::agent_log::DropLog`].
//!
//! The log is followed by [`LogTail`] (the one follower of shippers' logs): the newest
//! [`FIRST_WINDOW`] bytes on the first scan, then what was appended, through a rotation or a
//! truncation. What was confirmed stays confirmed: a source id and an end position name one
//! batch.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::adapters::agent_log::LogTail;

/// The most of the log read on the first scan (the newest bytes): a batch whose line is
/// older than that is not confirmed.
pub const FIRST_WINDOW: u64 = 64 << 20;

/// The confirmations seen in one log.
#[derive(Debug)]
pub struct PublishLog {
    tail: LogTail,
    /// Source id -> the largest `end_position` of a batch confirmed published.
    confirmed: HashMap<String, u64>,
}

impl PublishLog {
    pub fn new(path: PathBuf) -> Self {
        PublishLog {
            tail: LogTail::new(path, FIRST_WINDOW),
            confirmed: HashMap::new(),
        }
    }

    pub fn path(&self) -> &Path {
        self.tail.path()
    }

    /// Reads what was appended since the last scan (the first scan: the newest
    /// [`FIRST_WINDOW`] bytes); an error (the log cannot be read) says why. A log that grew
    /// by more than one scan reads is read on at the next scan (its batches are not confirmed
    /// meanwhile).
    pub fn scan(&mut self) -> Result<(), String> {
        let confirmed = &mut self.confirmed;
        self.tail
            .scan(&mut |line, _| {
                if let Some((id, end)) = parse_publish(line) {
                    let e = confirmed.entry(id).or_insert(end);
                    *e = (*e).max(end);
                }
            })
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    /// True when a batch of `source_id` ending at or after `end` was logged as published.
    pub fn confirms(&self, source_id: &str, end: u64) -> bool {
        self.confirmed.get(source_id).is_some_and(|&e| e >= end)
    }
}

/// The source id and last event's end position of a `Publish batch:` line.
pub fn parse_publish(line: &[u8]) -> Option<(String, u64)> {
    let line = std::str::from_utf8(line).ok()?;
    let (_, batch) = line.split_once("Publish batch: {")?;
    let id = quoted_after(batch, "'source_id': ")?;
    if id.len() != 32 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let (_, last) = batch.split_once("'last_event': {")?;
    let last = &last[..last.find('}')?];
    let (_, end) = last.split_once("'end_position': ")?;
    let digits: String = end.chars().take_while(char::is_ascii_digit).collect();
    Some((id.to_string(), digits.parse().ok()?))
}

/// The string literal after `key` (`'x'` or `u'x'`).
fn quoted_after<'a>(s: &'a str, key: &str) -> Option<&'a str> {
    let (_, rest) = s.split_once(key)?;
    let rest = rest.strip_prefix('u').unwrap_or(rest);
    let rest = rest.strip_prefix('\'')?;
    Some(&rest[..rest.find('\'')?])
}

/// True for a line saying the agent gave data up (its offsets then advance anyway), or may
/// have: a publisher thread that died on an error (`BaseThread.run`: "Exception caught in
/// <EventBatchPublisher(...)>") discards its queue; the stream restarts after 60 s from the
/// newest file's `push_state`, so the last batch of a file rotated away meanwhile is never
/// sent again.
pub fn gave_up(line: &str) -> bool {
    line.contains("Skip batch: ")
        || line.contains("Skip event: ")
        || line.contains("Exception caught in <EventBatchPublisher")
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINE: &str = "2026-12-02 02:30:01,123 - cwlogs.push.publisher - INFO - 4242 - \
        Thread-4 - Log group: g, log stream: s, queue size: 0, Publish batch: \
        {'source_id': '63f3f1deff2b1a55c04df09860620aec', 'num_of_events': 2, \
        'skipped_events_count': 0, 'fallback_events_count': 0, 'batch_size_in_bytes': 94, \
        'first_event': {'timestamp': 1, 'start_position': 62, 'end_position': 72}, \
        'last_event': {'timestamp': 2, 'start_position': 72, 'end_position': 83}}";

    #[test]
    fn publish_lines_give_the_source_id_and_last_end() {
        assert_eq!(
            parse_publish(LINE.as_bytes()),
            Some(("63f3f1deff2b1a55c04df09860620aec".into(), 83))
        );
        // Python 2: u'' strings, another key order.
        let py2 = "Publish batch: {'last_event': {'end_position': 9, 'start_position': 0}, \
                   'source_id': u'63f3f1deff2b1a55c04df09860620aec'}";
        assert_eq!(parse_publish(py2.as_bytes()).map(|p| p.1), Some(9));
        assert_eq!(parse_publish(b"Publish batch: {'source_id': 'x'}"), None);
        assert_eq!(parse_publish(&[0xff, 0xfe]), None);
        assert!(gave_up(
            "... Skip batch: {...}, reason: invalid parameter exception."
        ));
        assert!(gave_up(
            "... cwlogs.threads - ERROR - 1 - Thread-3 - Exception caught in \
             <EventBatchPublisher(Thread-3, started daemon 1)>"
        ));
        assert!(!gave_up(
            "... Caught exception: ... DataAlreadyAcceptedException"
        ));
    }

    #[test]
    fn confirmations_accumulate_and_a_half_written_line_waits() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("awslogs.log");
        let id = "63f3f1deff2b1a55c04df09860620aec";
        std::fs::write(&p, format!("{LINE}\n")).unwrap();
        let mut l = PublishLog::new(p.clone());
        l.scan().unwrap();
        assert!(l.confirms(id, 83) && l.confirms(id, 10) && !l.confirms(id, 84));
        let next = LINE.replace("'end_position': 83", "'end_position': 99");
        let mut text = format!("{LINE}\n{next}");
        std::fs::write(&p, &text).unwrap();
        l.scan().unwrap();
        assert!(
            !l.confirms(id, 99),
            "a line without its newline is not read yet"
        );
        text.push('\n');
        std::fs::write(&p, &text).unwrap();
        l.scan().unwrap();
        assert!(l.confirms(id, 99));
        std::fs::remove_file(&p).unwrap();
        assert!(l.scan().is_err());
    }

    /// Lines longer than a read window are skipped, and what follows them is read.
    #[test]
    fn a_line_longer_than_a_chunk_is_skipped() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("awslogs.log");
        let id = "63f3f1deff2b1a55c04df09860620aec";
        let long = "y".repeat(crate::adapters::agent_log::WINDOW as usize + 10);
        std::fs::write(&p, format!("{long}\n{long}{LINE}\n{LINE}\n")).unwrap();
        let mut l = PublishLog::new(p);
        l.scan().unwrap();
        assert!(l.confirms(id, 83));
    }
}
