//! `drainguard status`: the backlog table or JSON; exit 0 drained, 1 behind or unconfirmed,
//! 2 usage or configuration error.

use super::source::{nothing_found, SourceArgs};
use super::Global;
use crate::backlog::{Detail, Verdict};
use crate::exit::Exit;
use crate::report::{self, TableOptions};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub source: SourceArgs,
    /// Print the versioned JSON report instead of the table: the totals and the top files
    /// per store (`--top`), every file with `--all`.
    #[arg(long)]
    pub json: bool,
    /// Files per store in the table and the JSON; the rest is summarised.
    #[arg(long, default_value_t = 20, value_name = "N")]
    pub top: usize,
    /// List every file (table and JSON).
    #[arg(long, alias = "all-files", conflicts_with = "top")]
    pub all: bool,
    #[command(flatten)]
    pub metrics: super::exporter::StatusMetricsArgs,
}

pub fn run(global: &Global, mut args: Args) -> anyhow::Result<Exit> {
    args.json |= args.metrics.format == super::exporter::Format::Json;
    if args.metrics.wanted() {
        return super::exporter::status_metrics(global, &args.source, &args.metrics);
    }
    let mut sources = args.source.open(global)?;
    if sources.readers.is_empty() && !args.json {
        super::print_report(|out| {
            use std::io::Write;
            writeln!(out, "{}", nothing_found())
        });
        return Ok(Exit::Ok);
    }
    let snapshots = sources.read_last()?;
    // One read only: the readers' state kept for incremental re-reads (10^6 entries of a
    // large registry) goes before the assessment builds its per-file reports.
    sources.readers.clear();
    let top = if args.all { usize::MAX } else { args.top };
    // Only what the table or the JSON summary can show gets a report of its own.
    let detail = if args.all {
        Detail::Every
    } else {
        Detail::Top(top)
    };
    let mut assessment = sources.assess_snapshots_with(&snapshots, args.source.shipper_pid, detail);
    if args.json {
        // A summary: the top files per store, the rest counted in `files_omitted`.
        for s in &mut assessment.shippers {
            s.keep_top(top);
        }
    }
    super::print_report(|out| {
        if args.json {
            use std::io::Write;
            writeln!(out, "{}", report::to_json(&assessment, ()))
        } else {
            report::write_table(out, &assessment, TableOptions { top })?;
            super::exporter::write_abandoned(out, &sources.root, &args.metrics.state_dir)
        }
    });
    let exit = match assessment.verdict {
        Verdict::Drained => Exit::Ok,
        Verdict::Behind | Verdict::Unconfirmed => Exit::Behind,
    };
    // The process ends right after this: freeing 10^6 cursors and reports one allocation at
    // a time is work nobody sees (plain data, no destructor with an effect; stdout is flushed
    // by its own lock and at exit).
    std::mem::forget(snapshots);
    std::mem::forget(assessment);
    Ok(exit)
}
