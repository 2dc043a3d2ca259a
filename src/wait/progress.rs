//! Progress while waiting: a bar on a terminal (bytes left, rate, ETA), otherwise one
//! structured log line every `--report-every` (journald-friendly). Silent with `--quiet`.

use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

use super::WaitOptions;
use crate::backlog::Assessment;

pub struct Progress {
    bar: Option<ProgressBar>,
    every: Duration,
    quiet: bool,
    last_line: Option<Instant>,
    start_bytes: u64,
}

impl Progress {
    pub fn new(opts: &WaitOptions, bytes_at_start: u64) -> Progress {
        let bar = (opts.progress_bar && !opts.quiet).then(|| {
            let bar = ProgressBar::new(bytes_at_start.max(1));
            bar.set_style(
                ProgressStyle::with_template(
                    "{spinner} draining [{bar:30}] {bytes}/{total_bytes} shipped, {bytes_per_sec}, eta {eta} {msg}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
            );
            bar
        });
        Progress {
            bar,
            every: opts.report_every,
            quiet: opts.quiet,
            last_line: None,
            start_bytes: bytes_at_start,
        }
    }

    pub fn update(&mut self, a: &Assessment, elapsed: Duration) {
        if let Some(bar) = &self.bar {
            let total = self.start_bytes.max(a.bytes_behind).max(1);
            bar.set_length(total);
            bar.set_position(total - a.bytes_behind);
            bar.set_message(format!("{} left", crate::display::bytes(a.bytes_behind)));
            return;
        }
        if self.quiet || self.last_line.is_some_and(|t| t.elapsed() < self.every) {
            return;
        }
        self.last_line = Some(Instant::now());
        let files: usize = a.shippers.iter().map(|s| s.totals.blocking_files).sum();
        let shipped = self.start_bytes.saturating_sub(a.bytes_behind);
        let rate = shipped as f64 / elapsed.as_secs_f64().max(0.001);
        let eta = (rate > 0.0).then(|| (a.bytes_behind as f64 / rate).round() as u64);
        tracing::info!(
            bytes_left = a.bytes_behind,
            files_left = files,
            rate_bytes_per_s = rate.round() as u64,
            eta_s = eta,
            elapsed_s = elapsed.as_secs(),
            "waiting for the shippers to deliver"
        );
    }

    pub fn done(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}
