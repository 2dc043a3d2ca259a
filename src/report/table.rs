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
            let unread: Vec<String> = a
                .shippers
                .iter()
                .filter(|s| s.verdict == Verdict::Unconfirmed && s.totals.files == 0)
                .map(|s| s.shipper.to_string())
                .collect();
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
    let shown = s.files.len().min(opts.top);
    if shown > 0 {
        let _ = writeln!(
            out,
            "  {:<13} {:>10} {:>14} {:>14}  PATH",
            "STATE", "BEHIND", "OFFSET", "SIZE"
        );
    }
    for f in &s.files[..shown] {
        row(out, f);
    }
    let rest = &s.files[shown..];
    if !rest.is_empty() {
        let mut counts: std::collections::BTreeMap<&str, usize> = Default::default();
        for f in rest {
            *counts.entry(f.state.name()).or_default() += 1;
        }
        let parts: Vec<String> = counts.iter().map(|(k, v)| format!("{v} {k}")).collect();
        let _ = writeln!(
            out,
            "  ... and {} more file(s): {} (--top N or --all to list)",
            rest.len(),
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

fn row(out: &mut String, f: &FileReport) {
    let behind = match &f.state {
        FileState::PartialTail { bytes } => format!("({})", display::bytes(*bytes)),
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
