//! Progress while waiting: a bar on a terminal (bytes left, what the queues owe, rate, ETA),
//! otherwise one structured log line every `--report-every` (journald-friendly). Silent with
//! `--quiet`. Figures use the units of the report (`display::bytes`); no ETA while nothing
//! ships (a rate of 0 B/s predicts nothing).

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
                ProgressStyle::with_template("{spinner} draining [{bar:30}] {msg}")
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
        let shipped = self.start_bytes.saturating_sub(a.bytes_behind);
        let rate = shipped as f64 / elapsed.as_secs_f64().max(0.001);
        let eta = (rate >= 1.0 && a.bytes_behind > 0)
            .then(|| Duration::from_secs((a.bytes_behind as f64 / rate).round() as u64));
        if let Some(bar) = &self.bar {
            let total = self.start_bytes.max(a.bytes_behind).max(1);
            bar.set_length(total);
            bar.set_position(total - a.bytes_behind);
            bar.set_message(bar_message(a, shipped, total, rate, eta));
            return;
        }
        if self.quiet || self.last_line.is_some_and(|t| t.elapsed() < self.every) {
            return;
        }
        self.last_line = Some(Instant::now());
        let files: usize = a.shippers.iter().map(|s| s.totals.blocking_files).sum();
        let q = &a.queue;
        tracing::info!(
            bytes_left = a.bytes_behind,
            files_left = files,
            queued_events = q.queued_events,
            queued_bytes = q.queued_bytes,
            unacked_bytes = q.unacked_bytes,
            rate_bytes_per_s = rate.round() as u64,
            eta_s = eta.map(|d| d.as_secs()),
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

/// The bar's text: `3.0 MiB/12.0 MiB shipped, 1.2 MiB/s, eta 8s; queues: 24130 queued
/// events/messages, 7.5 MiB unacknowledged by 127.0.0.1:5514`.
fn bar_message(
    a: &Assessment,
    shipped: u64,
    total: u64,
    rate: f64,
    eta: Option<Duration>,
) -> String {
    use crate::display::bytes;
    let mut m = format!("{}/{} shipped", bytes(shipped), bytes(total));
    match eta {
        Some(eta) => m.push_str(&format!(
            ", {}/s, eta {}",
            bytes(rate as u64),
            humantime::format_duration(eta)
        )),
        None if a.bytes_behind > 0 => m.push_str(", nothing shipping"),
        None => {}
    }
    let q = a.queue.phrase();
    if !q.is_empty() {
        m.push_str("; queues: ");
        m.push_str(&q);
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backlog::{QueueTotals, Verdict};

    fn behind(bytes: u64, queue: QueueTotals) -> Assessment {
        Assessment {
            verdict: Verdict::Behind,
            bytes_behind: bytes,
            queue,
            shippers: Vec::new(),
        }
    }

    #[test]
    fn no_eta_while_nothing_ships_and_the_queues_are_in_the_figures() {
        let q = QueueTotals {
            queued_events: 24130,
            unacked_bytes: 7_800_000,
            receivers: vec!["127.0.0.1:5514".into()],
            ..Default::default()
        };
        let m = bar_message(&behind(0, q.clone()), 0, 1, 0.0, None);
        assert!(!m.contains("eta"), "{m}");
        assert!(
            m.contains("24130 queued events/messages")
                && m.contains("7.4 MiB unacknowledged by 127.0.0.1:5514"),
            "{m}"
        );
        let m = bar_message(&behind(1 << 20, q), 0, 1 << 20, 0.0, None);
        assert!(m.contains("nothing shipping") && !m.contains("eta"), "{m}");
        // Shipping: rate and ETA, in the report's units.
        let m = bar_message(
            &behind(2 << 20, QueueTotals::default()),
            1 << 20,
            3 << 20,
            1048576.0,
            Some(Duration::from_secs(2)),
        );
        assert_eq!(m, "1.0 MiB/3.0 MiB shipped, 1.0 MiB/s, eta 2s");
    }
}
