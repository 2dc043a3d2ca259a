//! Stall detection: bytes behind and no offset moved for `--stall-after`. One warning per
//! stall, naming the stuck files, the bytes left, the time since the last progress and hints.
//! A stall is never a release: the wait goes on.

use std::time::{Duration, Instant};

use crate::backlog::{Assessment, FileReport, Verdict};

/// Tracks progress to warn once per stall.
pub struct Stall {
    after: Duration,
    last_progress: Instant,
    warned: bool,
}

impl Stall {
    pub fn new(after: Duration, start: Instant) -> Stall {
        Stall {
            after,
            last_progress: start,
            warned: false,
        }
    }

    /// An offset moved forward: the stall (if any) is over.
    pub fn progressed(&mut self, at: Instant) {
        self.last_progress = at;
        self.warned = false;
    }

    /// Warns when `a` is behind and nothing moved for the stall period (once per stall).
    pub fn check(&mut self, a: &Assessment, now: Instant) {
        let since = now.duration_since(self.last_progress);
        if a.verdict == Verdict::Behind && !self.warned && since >= self.after {
            stall_warning(a, since);
            self.warned = true;
        }
    }
}

fn stall_warning(a: &Assessment, since: Duration) {
    // The five most behind (files are kept in no order; `top` picks them without a sort).
    let mut stuck: Vec<&FileReport> = a
        .shippers
        .iter()
        .flat_map(|s| crate::backlog::top(&s.files, 5))
        .filter(|f| f.state.blocks())
        .collect();
    stuck.sort_by(|x, y| crate::backlog::backlog_order(x, y));
    stuck.truncate(5);
    let names: Vec<String> = stuck
        .iter()
        .map(|f| {
            format!(
                "{} ({} left)",
                crate::display::path(&f.path),
                crate::display::bytes(f.state.blocking_bytes())
            )
        })
        .collect();
    tracing::warn!(
        bytes_left = a.bytes_behind,
        since_progress_s = since.as_secs(),
        files = %names.join(", "),
        "no progress: the shipper is not delivering. Is its output reachable (Elasticsearch, \
         Logstash, Kafka down or refusing)? Is its disk queue full? Still waiting: a stall is \
         not a release"
    );
}
