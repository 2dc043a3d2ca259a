//! The human table: per shipper, the files sorted by bytes behind (top N), a summary of the
//! rest, totals, delivery signals, and the verdict.

use std::fmt::Write as _;
use std::io::{self, Write};

use crate::backlog::{Assessment, FileReport, FileState, ShipperBacklog, Verdict};
use crate::cursor::{OffsetMeaning, QueueState};
use crate::display;

/// How much of the table to show.
#[derive(Debug, Clone, Copy)]
pub struct TableOptions {
    /// Rows per shipper before the remainder is summarised (`usize::MAX`: all).
    pub top: usize,
}

impl Default for TableOptions {
    fn default() -> Self {
        TableOptions { top: 20 }
    }
}

/// Writes the table for `a`.
pub fn write_table(w: &mut impl Write, a: &Assessment, opts: TableOptions) -> io::Result<()> {
    let mut out = String::new();
    for s in &a.shippers {
        shipper(&mut out, s, opts);
        out.push('\n');
    }
    let verdict = match a.verdict {
        Verdict::Drained => "DRAINED: every tracked byte is delivered".to_string(),
        Verdict::Behind => format!("BEHIND: {} still to ship", a.owed_phrase()),
        Verdict::Unconfirmed => {
            // A running shipper drainguard cannot read tracks no file: nothing is "read".
            // One name per shipper (two processes of one shipper are two stores).
            let mut unread: Vec<String> = a
                .shippers
                .iter()
                .filter(|s| s.verdict == Verdict::Unconfirmed && s.totals.files == 0)
                .map(|s| s.shipper.to_string())
                .collect();
            unread.sort();
            unread.dedup();
            if unread.is_empty() {
                "UNCONFIRMED: everything is read, but delivery is not proven".to_string()
            } else {
                format!(
                    "UNCONFIRMED: nothing proves what {} delivered (see its delivery line)",
                    unread.join(", ")
                )
            }
        }
    };
    let _ = writeln!(out, "verdict: {verdict}");
    w.write_all(out.as_bytes())
}

fn meaning(m: OffsetMeaning) -> &'static str {
    match m {
        OffsetMeaning::Delivered => "acknowledged by the output",
        OffsetMeaning::InDiskQueue => "persisted in the disk queue",
        OffsetMeaning::Buffered => "accepted into the shipper's buffer",
        OffsetMeaning::SentOrGivenUp => "accepted by the destination or given up",
        OffsetMeaning::Read => "read by the shipper",
    }
}

fn shipper(out: &mut String, s: &ShipperBacklog, opts: TableOptions) {
    let _ = writeln!(
        out,
        "{} ({}) {}",
        s.shipper,
        s.format,
        display::path(&s.store)
    );
    let _ = writeln!(out, "  offsets mean: {}", meaning(s.offset_meaning));
    // Only the rows shown are ordered (a bounded heap over the files, not a sort of them all).
    let shown = crate::backlog::top(&s.files, opts.top);
    if !shown.is_empty() {
        let _ = writeln!(
            out,
            "  {:<13} {:>10} {:>14} {:>14}  PATH",
            "STATE", "BEHIND", "OFFSET", "SIZE"
        );
    }
    for f in &shown {
        row(out, f);
    }
    // Files a summary counted without a report are part of the rest too.
    let rest = s.files.len() + s.files_omitted - shown.len();
    if rest > 0 {
        // The rest per state: the totals' counts minus the rows shown.
        let mut counts = s.totals.by_state.clone();
        for f in &shown {
            if let Some(c) = counts.get_mut(f.state.name()) {
                *c = c.saturating_sub(1);
            }
        }
        let parts: Vec<String> = counts
            .iter()
            .filter(|(_, v)| **v > 0)
            .map(|(k, v)| format!("{v} {k}"))
            .collect();
        let _ = writeln!(
            out,
            "  ... and {rest} more file(s): {} (--top N or --all to list)",
            parts.join(", ")
        );
    }
    let t = &s.totals;
    let _ = write!(
        out,
        "  total: {} of {} file(s) blocking, {} behind",
        t.blocking_files,
        t.files,
        display::bytes(t.bytes_behind)
    );
    let queued = t.queue.phrase();
    if !queued.is_empty() {
        let _ = write!(out, "; queues: {queued}");
    }
    if t.partial_tail_bytes > 0 {
        let _ = write!(
            out,
            "; {} in unterminated last lines (not blocking)",
            display::bytes(t.partial_tail_bytes)
        );
    }
    out.push('\n');
    long_lines(out, s);
    for sk in &s.skipped {
        let _ = writeln!(
            out,
            "  skipped {} non-file entr{} ({})",
            sk.count,
            if sk.count == 1 { "y" } else { "ies" },
            sk.prefix
        );
    }
    for q in &s.queues {
        let state = match &q.state {
            QueueState::Empty => "empty".to_string(),
            QueueState::Pending { detail, .. } => format!("PENDING: {detail}"),
            QueueState::Unknown { hint } => format!("unknown: {hint}"),
        };
        let _ = writeln!(out, "  queue {}: {state}", q.source);
    }
    for n in &s.notes {
        let _ = writeln!(out, "  note: {n}");
    }
    let _ = writeln!(out, "  delivery: {}", s.delivery);
}

/// Files whose pending line is longer than the shipper's line limit: said on their own line,
/// whether or not they are among the rows shown (they never block, and never ship as they are).
fn long_lines(out: &mut String, s: &ShipperBacklog) {
    let n = s.totals.by_state.get("long-line").copied().unwrap_or(0);
    if n == 0 {
        return;
    }
    let first = s
        .files
        .iter()
        .find(|f| matches!(f.state, FileState::LongLine { .. }));
    let example = first.map_or_else(String::new, |f| {
        format!(", e.g. {}", display::path(&f.path))
    });
    let _ = writeln!(
        out,
        "  WARNING: {n} file(s) hold a line longer than the line limit at their offset{example}: \
         nothing of it ships until a newline arrives (not blocking; see docs/wait.md)"
    );
}

fn row(out: &mut String, f: &FileReport) {
    let behind = match &f.state {
        FileState::PartialTail { bytes } | FileState::LongLine { bytes, .. } => {
            format!("({})", display::bytes(*bytes))
        }
        s if s.blocks() => display::bytes(s.blocking_bytes()),
        _ => "-".into(),
    };
    let num = |n: Option<u64>| n.map_or_else(|| "-".to_string(), |n| n.to_string());
    let detail = match &f.state {
        FileState::Rotated { now_at, .. } => format!(" -> now {}", display::path(now_at)),
        FileState::OpenDeleted { pid, .. } => format!(" (deleted, held open by pid {pid})"),
        FileState::Truncated { .. } => " (truncated: shipper has not re-read it yet)".into(),
        FileState::Ignored { reason } | FileState::Incomparable { reason } => {
            format!(" ({reason})")
        }
        FileState::LongLine {
            limit,
            shipper_limit,
            ..
        } => {
            let whose = match shipper_limit {
                Some(l) if l == limit => "the shipper's line limit".to_string(),
                Some(l) => format!(
                    "drainguard's read cap; the shipper's limit is {}",
                    display::bytes(*l)
                ),
                None => "drainguard's read cap; the shipper has no line limit".to_string(),
            };
            format!(
                " (no newline in the first {} after the offset, {whose}: ships only once a newline arrives)",
                display::bytes(*limit)
            )
        }
        _ => String::new(),
    };
    let _ = writeln!(
        out,
        "  {:<13} {:>10} {:>14} {:>14}  {}{}",
        f.state.name(),
        behind,
        num(f.offset),
        num(f.size),
        display::path(&f.path),
        detail
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cursor::ShipperKind;
    use crate::testkit::report as fx;

    fn backlog(files: Vec<FileReport>) -> Assessment {
        fx::backlog(ShipperKind::Filebeat, "/var/lib/filebeat/registry/filebeat")
            .format("memlog v1 (7.9+)")
            .files(files)
            .assessment()
    }

    fn file(path: &str, state: FileState) -> FileReport {
        let mut f = fx::file(path, "", 0, Some(0), state);
        f.keys.clear();
        f
    }

    fn table(a: &Assessment, top: usize) -> String {
        let mut out = Vec::new();
        write_table(&mut out, a, TableOptions { top }).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn top_rows_are_the_most_behind_and_the_rest_is_counted_by_state() {
        let mut files: Vec<FileReport> = (0..50)
            .map(|i| file(&format!("/log/s{i:02}"), FileState::Shipped))
            .collect();
        files.insert(17, file("/log/b1", FileState::Behind { bytes: 100 }));
        files.insert(3, file("/log/b2", FileState::Behind { bytes: 5000 }));
        files.push(file("/log/p", FileState::PartialTail { bytes: 3 }));
        let t = table(&backlog(files), 3);
        let rows: Vec<&str> = t.lines().filter(|l| l.contains("/log/")).collect();
        assert_eq!(rows.len(), 3, "{t}");
        assert!(
            rows[0].contains("/log/b2") && rows[1].contains("/log/b1"),
            "{t}"
        );
        assert!(
            rows[2].contains("/log/p"),
            "partial tail before shipped by path: {t}"
        );
        assert!(
            t.contains("... and 50 more file(s): 50 shipped (--top N"),
            "{t}"
        );
    }

    #[test]
    fn long_lines_are_warned_about_even_when_not_shown() {
        let mut files: Vec<FileReport> = (0..5)
            .map(|i| file(&format!("/log/b{i}"), FileState::Behind { bytes: 10 }))
            .collect();
        files.push(file(
            "/log/binary",
            FileState::LongLine {
                bytes: 1 << 30,
                limit: 10 << 20,
                shipper_limit: Some(10 << 20),
            },
        ));
        let t = table(&backlog(files), 2);
        assert!(!t.contains("  long-line"), "not among the rows shown: {t}");
        assert!(
            t.contains("WARNING: 1 file(s) hold a line longer than the line limit at their offset, e.g. /log/binary"),
            "{t}"
        );
        let all = table(
            &backlog(vec![file(
                "/log/binary",
                FileState::LongLine {
                    bytes: 1 << 30,
                    limit: 10 << 20,
                    shipper_limit: None,
                },
            )]),
            20,
        );
        assert!(all.contains("no newline in the first 10.0 MiB after the offset, drainguard's read cap; the shipper has no line limit"), "{all}");
    }
}
