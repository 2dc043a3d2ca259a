//! The run record: one line per `wait` run appended to the log file (like the original
//! tool's debug.log), so an operator can see after the fact what every shutdown waited for.

use std::path::Path;

use super::WaitReport;
use crate::root::Root;

/// Appends the record of `r` to `log_file` (a host path under `root`; a relative one is taken
/// from the current directory), creating the directory. Written like install's files: below
/// the root, never through a link, never blocking on a FIFO.
pub fn append_record(root: &Root, log_file: &Path, r: &WaitReport) -> std::io::Result<()> {
    let host = crate::install::beneath::lexical(&std::path::absolute(log_file)?);
    let files_left: usize = r
        .final_assessment
        .shippers
        .iter()
        .map(|s| s.totals.blocking_files)
        .sum();
    let q = &r.final_assessment.queue;
    let line = format!(
        "start={} end={} result={} elapsed_s={:.3} bytes_at_start={} bytes_shipped={} bytes_left={} files_left={} \
         queued_events={} queued_bytes={} unacked_bytes={}\n",
        humantime::format_rfc3339_seconds(r.started),
        humantime::format_rfc3339_seconds(r.started + r.elapsed),
        r.outcome.word(),
        r.elapsed.as_secs_f64(),
        r.bytes_at_start,
        r.bytes_shipped,
        r.final_assessment.bytes_behind,
        files_left,
        q.queued_events,
        q.queued_bytes,
        q.unacked_bytes,
    );
    crate::install::beneath::Beneath::open(root)
        .and_then(|b| b.append(&host, line.as_bytes(), 0o644))
        .map_err(std::io::Error::other)
}
