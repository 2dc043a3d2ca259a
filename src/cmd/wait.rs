//! `drainguard wait`: hold until every byte is delivered; exit 0 drained, 3 deadline,
//! 4 shipper dead with backlog, 5 interrupted, 2 usage/config, 1 internal error.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::Duration;

use super::source::SourceArgs;
use super::Global;
use crate::exit::Exit;
use crate::report::{self, TableOptions};
use crate::settings::{DEFAULT_DEADLINE, DEFAULT_LOG_FILE};
use crate::sources::DrainReport;
use crate::wait::shutdown::{host_state, HostState, HostView, LiveHost};
use crate::wait::{self, Outcome, StopFlag, WaitError, WaitOptions};

const WAIT_EXIT_CODES: &str = "\
Exit codes:
  0  drained: every tracked byte is delivered (or released on --settle-after, reported)
  1  internal error
  2  usage or configuration error; also: delivery cannot be proven and --settle-after not given
  3  deadline passed with bytes unshipped (the report lists them per file)
  4  shipper dead while bytes are behind (unless --wait-for-restart)
  5  interrupted (SIGTERM/SIGINT/SIGHUP/SIGQUIT); the report is printed first";

#[derive(Debug, clap::Args)]
#[command(after_help = WAIT_EXIT_CODES)]
pub struct Args {
    #[command(flatten)]
    pub source: SourceArgs,
    /// Give up after this long (monotonic clock); default from the settings file, else 25m.
    #[arg(long, value_parser = crate::settings::parse_deadline, value_name = "DURATION")]
    pub deadline: Option<Duration>,
    /// Poll interval, for file systems without change events and for growing files
    /// (at least 10ms).
    #[arg(long, value_parser = parse_interval, default_value = "1s", value_name = "DURATION")]
    pub interval: Duration,
    /// Warn when bytes are behind and nothing moved for this long (keeps waiting).
    #[arg(long, value_parser = humantime::parse_duration, default_value = "30s", value_name = "DURATION")]
    pub stall_after: Duration,
    /// Opt-in quiet-period rule for stores that cannot prove delivery: release when
    /// everything is read and nothing changed for this long. Reported as used.
    #[arg(long, value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub settle_after: Option<Duration>,
    /// Keep waiting when the shipper's process is gone (it may be restarted).
    #[arg(long)]
    pub wait_for_restart: bool,
    /// One progress log line every this long when not on a terminal.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "10s", value_name = "DURATION")]
    pub report_every: Duration,
    /// Print the final report as JSON.
    #[arg(long)]
    pub json: bool,
    /// Where to append the one-line record of this run; default from the settings file,
    /// else /var/log/drainguard/drainguard.log.
    #[arg(long, value_name = "FILE")]
    pub log_file: Option<PathBuf>,
    /// Do not write the run record (the log line and the drain record).
    #[arg(long, conflicts_with = "log_file")]
    pub no_log_file: bool,
    /// drainguard's state directory: the drain record (one JSON line per drain in
    /// drains.jsonl) is appended there, fsync'd before exit.
    #[arg(long, value_name = "DIR", env = "DRAINGUARD_STATE_DIR", default_value = crate::metrics::observer::DEFAULT_STATE_DIR)]
    pub state_dir: PathBuf,
    /// Return at once unless the host is shutting down or rebooting (systemd: shutting down
    /// or a shutdown/reboot job queued; SysV: run level 0 or 6). The unit's ExecStop and the
    /// init script's stop use it, so `systemctl restart`, package upgrades and an admin's
    /// stop never hold; when that cannot be told, it waits.
    #[arg(long)]
    pub only_at_shutdown: bool,
}

pub fn run(global: &Global, args: Args, stop: &StopFlag) -> anyhow::Result<Exit> {
    if args.only_at_shutdown && !host_going_down(&LiveHost) {
        return Ok(Exit::Ok);
    }
    let (report, sources) = drain_kept(global, &args, stop, true)?;
    // The process ends now: what the drain built (a report and a tracker entry per file, the
    // cursors, the watches) is left to the kernel instead of freed one allocation at a time
    // (a quarter of a second at 10^6 files, after the release was decided).
    std::mem::forget(sources);
    tracing::debug!("report printed; exiting");
    match report {
        DrainReport::Failed(WaitError::Store(e)) => Err(e.into()),
        report => {
            let exit = report.exit();
            std::mem::forget(report);
            Ok(exit)
        }
    }
}

/// Opens the sources `args` select, drains them with `args`' rules (the deadline from the
/// settings file unless given), appends the run record and prints the report: `wait`, and
/// the drain of `aws watch`. `catch_signals`: catch the termination signals on `stop` for
/// the drain (false when the caller already does). The error: the sources cannot be opened.
pub fn drain(
    global: &Global,
    args: &Args,
    stop: &StopFlag,
    catch_signals: bool,
) -> anyhow::Result<DrainReport> {
    drain_kept(global, args, stop, catch_signals).map(|(report, _)| report)
}

/// [`drain`], giving the sources back too.
fn drain_kept(
    global: &Global,
    args: &Args,
    stop: &StopFlag,
    catch_signals: bool,
) -> anyhow::Result<(DrainReport, crate::sources::Sources)> {
    let mut sources = args.source.open(global)?;
    let log_file = args
        .log_file
        .clone()
        .or_else(|| sources.settings.log_file.clone())
        .unwrap_or_else(|| PathBuf::from(DEFAULT_LOG_FILE));
    let opts = WaitOptions {
        deadline: args
            .deadline
            .or(sources.settings.deadline)
            .unwrap_or(DEFAULT_DEADLINE),
        interval: args.interval,
        stall_after: args.stall_after,
        report_every: args.report_every,
        settle_after: args.settle_after,
        wait_for_restart: args.wait_for_restart,
        progress_bar: std::io::stderr().is_terminal(),
        quiet: global.quiet,
        catch_signals,
    };
    let report = crate::sources::drain(&mut sources, &opts, stop);
    match &report {
        DrainReport::NothingFound(why) => super::print_report(|out| writeln!(out, "{why}")),
        DrainReport::Waited(r) => {
            write_records(
                &sources.root,
                (!args.no_log_file).then_some(log_file),
                &args.state_dir,
                r,
            );
            // The outcome is decided and recorded: a report that cannot be written (stdout
            // closed) is said on stderr, and never changes the exit code.
            super::print_report(|out| write_report(out, args, r));
        }
        // A bug must not hang or crash the shutdown path silently: a panic ends the wait
        // with exit 1 ("internal error"); the panic message is already on stderr.
        DrainReport::Failed(WaitError::Internal(e)) => {
            eprintln!("drainguard wait: internal error: {e}");
        }
        DrainReport::Failed(WaitError::Store(_)) => {}
    }
    Ok((report, sources))
}

/// Writes the run record (to `log_file`, unless `None`) and the durable drain record
/// (drains.jsonl in `state_dir`, fsync'd, which the exporter reports after the next boot).
/// The outcome is already decided: the writes get at most [`wait::GRACE`], so a stuck
/// /var/log or /var/lib (NFS, a hung disk) cannot hold the shutdown past it; a record not
/// written by then is said, and the writer thread is left behind.
fn write_records(
    root: &crate::root::Root,
    log_file: Option<std::path::PathBuf>,
    state_dir: &std::path::Path,
    r: &wait::WaitReport,
) {
    // Both records are built from the totals here: the writer thread gets them, not a copy
    // of the report (at 10^6 files, copying and freeing its per-file part took longer than
    // the drain's last round).
    let (line, rec) = (wait::record_line(r), wait::DrainRecord::of(r));
    let (root, state_dir) = (root.clone(), state_dir.to_path_buf());
    let (dir, file) = (state_dir.clone(), log_file.clone());
    let t = std::time::Instant::now();
    let written = wait::within(wait::GRACE, move || {
        if let Some(log_file) = &log_file {
            if let Err(e) = wait::append_record_line(&root, log_file, &line) {
                tracing::warn!(file = %crate::display::path(log_file), error = %e, "cannot write the run record");
            }
        }
        if let Err(e) = wait::append_drain(&root, &state_dir, &rec) {
            tracing::warn!(dir = %crate::display::path(&state_dir), error = %e, "cannot write the drain record");
        }
    });
    tracing::debug!(
        cost_ms = t.elapsed().as_secs_f64() * 1000.0,
        "run and drain records written"
    );
    if written.is_none() {
        tracing::warn!(
            dir = %crate::display::path(&dir),
            file = ?file.as_deref().map(crate::display::path),
            budget_s = wait::GRACE.as_secs_f64(),
            "the run record and the drain record were not written in time (blocked I/O: a stuck \
             file system?); the drain's outcome stands, the records may be missing"
        );
    }
}

/// Writes the final report (text or JSON).
fn write_report(
    out: &mut impl Write,
    args: &Args,
    report: &wait::WaitReport,
) -> std::io::Result<()> {
    if args.json {
        writeln!(
            out,
            "{}",
            report::to_json(&report.final_assessment, report.json_extra())
        )?;
    } else {
        let secs = report.elapsed.as_secs_f64();
        let line = match &report.outcome {
            Outcome::Drained => format!("drained after {secs:.1}s: every tracked byte is delivered"),
            Outcome::Settled => format!(
                "released after {secs:.1}s on the --settle-after quiet-period rule: everything is read, \
                 but delivery was NOT proven"
            ),
            Outcome::Deadline => format!(
                "deadline passed after {secs:.1}s with {} still unshipped",
                report.final_assessment.owed_phrase()
            ),
            Outcome::ShipperDead { shippers } => format!(
                "shipper dead with bytes behind ({}): nothing more will ship; releasing now \
                 (--wait-for-restart to keep waiting)",
                names(shippers)
            ),
            Outcome::Interrupted { signal } => {
                format!("interrupted by signal {signal} after {secs:.1}s")
            }
            Outcome::Stopped { reason } => format!("stopped after {secs:.1}s: {reason}"),
            Outcome::Unprovable { shippers } => format!(
                "cannot prove delivery for {}: see `delivery:` below for why and how to fix it \
                 (a shipper's signal to enable, or one drainguard cannot read); a quiet-period \
                 rule can be accepted instead with --settle-after 10s",
                names(shippers)
            ),
        };
        writeln!(out, "drainguard wait: {line}")?;
        if let Some(blocked) = &report.blocked {
            writeln!(out, "drainguard wait: {blocked}")?;
        }
        if report.outcome != Outcome::Drained {
            report::write_table(out, &report.final_assessment, TableOptions::default())?;
        }
    }
    Ok(())
}

/// `--interval`: at least [`wait::MIN_INTERVAL`] (0 would re-read the stores in a busy loop).
fn parse_interval(s: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(s).map_err(|e| e.to_string())?;
    if d < wait::MIN_INTERVAL {
        return Err(format!(
            "{s} is below the shortest poll interval, {}: a shorter one re-reads the stores in \
             a busy loop",
            humantime::format_duration(wait::MIN_INTERVAL)
        ));
    }
    Ok(d)
}

fn names(kinds: &[crate::cursor::ShipperKind]) -> String {
    kinds
        .iter()
        .map(|k| k.name())
        .collect::<Vec<_>>()
        .join(", ")
}

/// `--only-at-shutdown`: false (and a log line saying so) when no shutdown is in progress.
fn host_going_down(host: &dyn HostView) -> bool {
    match host_state(host) {
        HostState::ShuttingDown(why) => {
            tracing::info!("shutdown in progress ({why}): waiting for the shippers");
            true
        }
        HostState::Running(why) => {
            tracing::info!(
                "no shutdown in progress ({why}): not waiting (--only-at-shutdown; \
                 a plain `drainguard wait` waits)"
            );
            false
        }
        HostState::Unknown(why) => {
            tracing::warn!(
                "cannot tell whether the host is shutting down ({why}): waiting as at a shutdown, \
                 since logs lost at a shutdown cannot be recovered. If the host is not going \
                 down, `kill {}` (or `systemctl kill drainguard.service`) ends this wait now \
                 (exit 5, with its report); `systemctl is-system-running` answering slowly \
                 means the host is overloaded",
                std::process::id()
            );
            true
        }
    }
}
