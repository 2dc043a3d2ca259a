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
    let q = &a.queue;
    let files = if names.is_empty() {
        "none behind: every file is read".to_string()
    } else {
        names.join(", ")
    };
    tracing::warn!(
        bytes_left = a.bytes_behind,
        queued_events = q.queued_events,
        queued_bytes = q.queued_bytes,
        unacked_bytes = q.unacked_bytes,
        receivers = %q.receivers.join(", "),
        since_progress_s = since.as_secs(),
        files = %files,
        "{}",
        stall_message(a)
    );
}

/// The stall warning's text: what is owed, and the receivers seen in the shipper's sockets
/// when there are any, else its output in general.
pub(super) fn stall_message(a: &Assessment) -> String {
    let q = &a.queue;
    let owed = a.owed_phrase();
    let ask = if q.receivers.is_empty() {
        "Is its output reachable and accepting (see the queue lines of the report)?".to_string()
    } else {
        format!(
            "Is the receiver {} reachable and reading? It has not acknowledged {} the shipper \
             wrote to it.",
            q.receivers.join(", "),
            crate::display::bytes(q.unacked_bytes)
        )
    };
    format!(
        "no progress: the shipper is not delivering ({owed} still owed). {ask} Still waiting: \
         a stall is not a release"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backlog::QueueTotals;

    #[test]
    fn the_stall_names_the_receiver_seen_and_what_the_queues_owe() {
        let a = Assessment {
            verdict: Verdict::Behind,
            bytes_behind: 0,
            queue: QueueTotals {
                queued_events: 24130,
                unacked_bytes: 7_800_000,
                receivers: vec!["127.0.0.1:5514".into()],
                ..Default::default()
            },
            shippers: Vec::new(),
        };
        let m = stall_message(&a);
        assert!(m.contains("receiver 127.0.0.1:5514"), "{m}");
        assert!(m.contains("24130 queued events/messages"), "{m}");
        assert!(!m.contains("Elasticsearch") && !m.contains("Kafka"), "{m}");
        let none = Assessment {
            queue: QueueTotals::default(),
            bytes_behind: 4096,
            ..a
        };
        let m = stall_message(&none);
        assert!(
            m.contains("4.0 KiB in 0 file(s)") && m.contains("its output"),
            "{m}"
        );
    }
}
