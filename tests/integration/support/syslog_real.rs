//! What the real-daemon tests of rsyslog (`rsyslog_real`) and syslog-ng (`syslogng_real`)
//! share: the app log the daemon ships to a [`TcpSink`], the check that a `wait` which
//! released the host left nothing owed, and the rotation every line must survive. Each test
//! still states its own expectations (exit codes, what the report names); these only
//! measure.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use super::eventually;
use super::tcp_sink::TcpSink;

/// The bytes of one app line as the sink receives it.
pub const LINE_LEN: u64 = 119;

/// Writes `n` numbered 119-byte lines: 10^5 of them (12 MB) exceed what loopback socket
/// buffers absorb, so a paused sink really backs up into the daemon's queue.
pub fn app_log(path: &Path, n: usize) {
    let pad = "x".repeat(100);
    let text: String = (0..n).map(|i| format!("app line {i:08} {pad}\n")).collect();
    std::fs::write(path, text).unwrap();
}

/// Asserts that `released`, a `wait` run just now that exited 0 while the sink reads slowly,
/// let the host go only once every byte of `want` had reached the sink's host: what the sink
/// has not read yet is already in its socket's receive queue (sampled first: whatever the
/// sink reads meanwhile only shrinks what it lacks), and the sink then gets every line.
/// `what` names the run in the message.
pub fn assert_released_with_nothing_owed(
    sink: &TcpSink,
    want: &[Vec<u8>],
    released: &Output,
    held_bytes: usize,
    what: &str,
) {
    let unread = sink.kernel_unread();
    let read = sink.bytes() as u64;
    assert_eq!(released.status.code(), Some(0), "{}", super::text(released));
    let owed = want.len() as u64 * LINE_LEN;
    eprintln!(
        "{what}: sink had {held_bytes} bytes while held; at release it had read {read} of \
         {owed} bytes, its kernel held {unread} more"
    );
    assert!(
        owed.saturating_sub(read) <= unread,
        "{what}: released with {} bytes missing and only {unread} in the sink's receive queue",
        owed - read
    );
    assert!(
        eventually(Duration::from_secs(20), || sink.lines() == want),
        "{what}: the sink never had every line ({} of {})",
        sink.lines().len(),
        want.len()
    );
}

/// Rotates `log` mid-way: renamed to `<log>.1`, and a new `log` of 50,000 other lines.
/// Returns the rotated file's path and every line of both files, sorted.
pub fn rotate(log: &Path) -> (PathBuf, Vec<Vec<u8>>) {
    let rotated = PathBuf::from(format!("{}.1", log.display()));
    std::fs::rename(log, &rotated).unwrap();
    let more: String = (0..50_000).map(|i| format!("new line {i:08}\n")).collect();
    std::fs::write(log, &more).unwrap();
    let mut want: Vec<Vec<u8>> = std::fs::read(&rotated)
        .unwrap()
        .split(|b| *b == b'\n')
        .chain(more.as_bytes().split(|b| *b == b'\n'))
        .filter(|l| !l.is_empty())
        .map(<[u8]>::to_vec)
        .collect();
    want.sort();
    (rotated, want)
}

/// Asserts that the sink gets every line of `want` (sorted): none missing; duplicates are
/// allowed (at-least-once). `what` names the run in the message.
pub fn assert_no_line_missing(sink: &TcpSink, want: &[Vec<u8>], what: &str) {
    let missing = |got: &[Vec<u8>]| {
        want.iter()
            .filter(|l| got.binary_search(l).is_err())
            .count()
    };
    let none_missing = eventually(Duration::from_secs(10), || missing(&sink.lines()) == 0);
    let got = sink.lines();
    eprintln!(
        "{what}: after rotation {} lines received for {} written",
        got.len(),
        want.len()
    );
    assert!(
        none_missing,
        "{what}: {} of {} lines missing after rotation",
        missing(&got),
        want.len()
    );
}
