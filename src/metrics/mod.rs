//! Prometheus metrics of the backlog (`status --format prometheus`, `--textfile`, `exporter`):
//! the model, built fresh from one assessment per scrape, and its text exposition (0.0.4)
//! through the Prometheus project's own `prometheus-client`.
//!
//! Cardinality is bounded by default: one series per store (shipper, store path), per file
//! state, per shipper; per-file series only with `per_file_top` (the top N by backlog).
//! Nothing is remembered between scrapes except the abandoned-bytes counter
//! ([`abandoned`]): a file's series vanish with the file. docs/metrics.md lists every metric.

pub mod abandoned;
pub mod observer;

use std::sync::atomic::{AtomicI64, AtomicU64};
use std::time::Duration;

use prometheus_client::encoding::prometheus_text;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;

use crate::backlog::{Assessment, FileState, ShipperBacklog};
use crate::cursor::{OffsetMeaning, ShipperKind};
use crate::wait::DrainRecord;

/// The `Content-Type` of the text exposition format 0.0.4 (Prometheus 3 refuses a scrape
/// without a valid one).
pub const CONTENT_TYPE: &str = prometheus_text::CONTENT_TYPE;

/// Every file state name (`FileState::name`, `-` as `_`): `drainguard_files` has one series
/// per state and store, zeros included, so `sum` and alerts see stable series.
pub const FILE_STATES: [&str; 11] = [
    "shipped",
    "behind",
    "partial_tail",
    "long_line",
    "truncated",
    "rotated",
    "open_deleted",
    "gone",
    "untracked",
    "ignored",
    "incomparable",
];

/// Every outcome word of a drain record (`drainguard_last_drain_outcome{outcome}`).
pub const OUTCOMES: [&str; 7] = [
    "drained",
    "settled",
    "deadline",
    "shipper_dead",
    "interrupted",
    "stopped",
    "unprovable",
];

/// A store that could not be read on this scrape: `drainguard_store_up` 0,
/// `drainguard_delivery_confirmed` 0 (reason `store_unreadable`), no backlog series.
#[derive(Debug, Clone)]
pub struct FailedStore {
    pub shipper: ShipperKind,
    pub store: String,
    pub error: String,
}

/// Everything one scrape exposes.
#[derive(Debug, Clone)]
pub struct Scrape {
    /// The stores that were read, assessed together.
    pub assessment: Assessment,
    /// Stores whose read failed.
    pub failed: Vec<FailedStore>,
    /// Per shipper kind present: whether a process of it runs.
    pub shippers_up: Vec<(ShipperKind, bool)>,
    /// Per `assessment.shippers` entry: the oldest backlog's age bound in seconds, `None` when
    /// files are behind but none could be dated.
    pub oldest: Vec<Option<f64>>,
    /// What reading and assessing cost.
    pub duration: Duration,
    /// The most recent drain record, when there is one.
    pub last_drain: Option<DrainRecord>,
    /// The abandoned-bytes counters: (shipper, reason, bytes).
    pub abandoned: Vec<(String, String, u64)>,
}

/// What to expose beyond the bounded default.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// Per-file series for this many files with the most bytes behind (0: none).
    pub per_file_top: usize,
}

type Labels = Vec<(&'static str, String)>;
type IntGauge = Gauge<i64, AtomicI64>;
type FloatGauge = Gauge<f64, AtomicU64>;

fn int(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn store_labels(b: &ShipperBacklog) -> Labels {
    vec![
        ("shipper", b.shipper.name().to_string()),
        ("store", crate::display::path(&b.store)),
    ]
}

/// Why delivery is, or is not, confirmed for a store: a short fixed word (bounded values).
pub fn delivery_reason(b: &ShipperBacklog) -> &'static str {
    if crate::backlog::delivery_provable(b) {
        if b.offset_meaning == OffsetMeaning::Delivered {
            "offsets_acknowledged"
        } else {
            "queue_signal"
        }
    } else if b.totals.files == 0 && !b.inputs_known {
        "inputs_unknown"
    } else if b.format == crate::adapters::unreadable::FORMAT {
        "store_unreadable"
    } else if b.queues.is_empty() {
        "no_delivery_signal"
    } else {
        "signal_unknown"
    }
}

/// A family registered under `name` (without the type's suffix, which the encoder adds).
fn family<M: prometheus_client::metrics::TypedMetric + Default + Clone + std::fmt::Debug>(
    r: &mut Registry,
    name: &str,
    help: &str,
) -> Family<Labels, M>
where
    Family<Labels, M>: prometheus_client::registry::Metric,
{
    let f = Family::<Labels, M>::default();
    r.register(name, help, f.clone());
    f
}

/// The text exposition (0.0.4) of `s`: no timestamps, HELP and TYPE for every family.
pub fn encode(s: &Scrape, o: &Options) -> String {
    let mut r = Registry::default();
    let backlog = family::<IntGauge>(
        &mut r,
        "drainguard_backlog_bytes",
        "Bytes of the store's files not yet delivered (what `drainguard status` reports)",
    );
    let queued = family::<IntGauge>(
        &mut r,
        "drainguard_queued_events",
        "Events or messages the shipper's queues still hold (from its queue signals)",
    );
    let queued_bytes = family::<IntGauge>(
        &mut r,
        "drainguard_queued_bytes",
        "Bytes in the shipper's queue files and buffers (disk-queue segments, chunks)",
    );
    let unacked = family::<IntGauge>(
        &mut r,
        "drainguard_unacked_bytes",
        "Bytes the shipper wrote to TCP connections not yet acknowledged by the receiver",
    );
    let files = family::<IntGauge>(
        &mut r,
        "drainguard_files",
        "Files of the store per state (shipped, behind, truncated ...)",
    );
    let oldest = family::<FloatGauge>(
        &mut r,
        "drainguard_oldest_backlog_seconds",
        "Lower bound of how long the oldest undelivered byte has waited: the age of the \
         least recently modified file still behind (its mtime; absent when none can be dated)",
    );
    let confirmed = family::<IntGauge>(
        &mut r,
        "drainguard_delivery_confirmed",
        "1 when the store can prove delivery (acknowledged offsets, or readable queue signals), \
         0 when a drain would be unconfirmed; why in drainguard_delivery_info",
    );
    let delivery_info = family::<IntGauge>(
        &mut r,
        "drainguard_delivery_info",
        "Why delivery is or is not confirmed for the store: 1 with a fixed word in `reason`",
    );
    let store_up = family::<IntGauge>(
        &mut r,
        "drainguard_store_up",
        "1 when the store could be read on this scrape",
    );
    let shipper_up = family::<IntGauge>(
        &mut r,
        "drainguard_shipper_up",
        "1 when a process of the shipper runs",
    );
    let abandoned = family::<Counter<u64, AtomicU64>>(
        &mut r,
        "drainguard_abandoned_bytes",
        "Undelivered bytes whose file was deleted, rotated away and deleted, or truncated \
         before the shipper read them, as observed between assessments (a lower bound)",
    );
    for b in &s.assessment.shippers {
        let l = store_labels(b);
        backlog.get_or_create(&l).set(int(b.totals.bytes_behind));
        queued
            .get_or_create(&l)
            .set(int(b.totals.queue.queued_events));
        queued_bytes
            .get_or_create(&l)
            .set(int(b.totals.queue.queued_bytes));
        unacked
            .get_or_create(&l)
            .set(int(b.totals.queue.unacked_bytes));
        for state in FILE_STATES {
            let mut fl = l.clone();
            fl.push(("state", state.to_string()));
            let n = b
                .totals
                .by_state
                .iter()
                .filter(|(k, _)| k.replace('-', "_") == state)
                .map(|(_, n)| *n)
                .sum::<usize>();
            files.get_or_create(&fl).set(n as i64);
        }
        confirmed
            .get_or_create(&l)
            .set(crate::backlog::delivery_provable(b) as i64);
        store_up.get_or_create(&l).set(1);
        let mut il = l.clone();
        il.push(("reason", delivery_reason(b).to_string()));
        delivery_info.get_or_create(&il).set(1);
    }
    for (b, age) in s.assessment.shippers.iter().zip(&s.oldest) {
        if let Some(age) = age {
            oldest.get_or_create(&store_labels(b)).set(*age);
        }
    }
    for f in &s.failed {
        let l = vec![
            ("shipper", f.shipper.name().to_string()),
            ("store", f.store.clone()),
        ];
        store_up.get_or_create(&l).set(0);
        // Nothing read proves anything: not confirmed (`min(drainguard_delivery_confirmed)`
        // must not pass over it), and no backlog is claimed.
        confirmed.get_or_create(&l).set(0);
        let mut il = l.clone();
        il.push(("reason", "store_unreadable".to_string()));
        delivery_info.get_or_create(&il).set(1);
    }
    for (kind, up) in &s.shippers_up {
        shipper_up
            .get_or_create(&vec![("shipper", kind.name().to_string())])
            .set(*up as i64);
    }
    for (shipper, reason, bytes) in &s.abandoned {
        abandoned
            .get_or_create(&vec![
                ("shipper", shipper.clone()),
                ("reason", reason.clone()),
            ])
            .inc_by(*bytes);
    }
    if o.per_file_top > 0 {
        let per_file = family::<IntGauge>(
            &mut r,
            "drainguard_file_backlog_bytes",
            "Bytes behind per file, for the files with the most (--per-file-top N only)",
        );
        let mut all: Vec<(&ShipperBacklog, &crate::backlog::FileReport)> = s
            .assessment
            .shippers
            .iter()
            .flat_map(|b| {
                crate::backlog::top(&b.files, o.per_file_top)
                    .into_iter()
                    .map(move |f| (b, f))
            })
            .filter(|(_, f)| f.state.blocks())
            .collect();
        all.sort_by(|a, b| crate::backlog::backlog_order(a.1, b.1));
        all.truncate(o.per_file_top);
        for (b, f) in all {
            let mut l = store_labels(b);
            l.push(("path", crate::display::path(&f.path)));
            per_file
                .get_or_create(&l)
                .set(int(f.state.blocking_bytes()));
        }
    }
    if let Some(d) = &s.last_drain {
        let g = |r: &mut Registry, name: &str, help: &str, v: f64| {
            let g = FloatGauge::default();
            g.set(v);
            r.register(name, help, g);
        };
        g(
            &mut r,
            "drainguard_last_drain_timestamp_seconds",
            "When the most recent drain ended (Unix time)",
            d.end_unix_seconds,
        );
        g(
            &mut r,
            "drainguard_last_drain_duration_seconds",
            "How long the most recent drain held",
            d.duration_seconds,
        );
        let unshipped = IntGauge::default();
        unshipped.set(int(d.unshipped_bytes));
        r.register(
            "drainguard_last_drain_unshipped_bytes",
            "Bytes of the files still behind when the most recent drain ended",
            unshipped,
        );
        let outcome = family::<IntGauge>(
            &mut r,
            "drainguard_last_drain_outcome",
            "1 for the most recent drain's outcome, 0 for the others",
        );
        for o in OUTCOMES {
            outcome
                .get_or_create(&vec![("outcome", o.to_string())])
                .set((d.outcome == o) as i64);
        }
    }
    let duration = FloatGauge::default();
    duration.set(s.duration.as_secs_f64());
    r.register(
        "drainguard_assessment_duration_seconds",
        "What reading every store and assessing the backlog cost",
        duration,
    );
    r.register(
        "drainguard_build",
        "drainguard's version",
        Info::new(vec![("version", env!("CARGO_PKG_VERSION").to_string())]),
    );
    let mut out = String::new();
    prometheus_text::encode(&mut out, &r).expect("writing to a String cannot fail");
    sorted(&out)
}

/// `text` with each family's samples in label order: the families keep their series in hash
/// maps, and a textfile or a scrape read by a person should not reorder between runs.
fn sorted(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut samples: Vec<&str> = Vec::new();
    let flush = |samples: &mut Vec<&str>, out: &mut String| {
        samples.sort_unstable();
        for l in samples.drain(..) {
            out.push_str(l);
            out.push('\n');
        }
    };
    for line in text.lines() {
        if line.starts_with('#') {
            flush(&mut samples, &mut out);
            out.push_str(line);
            out.push('\n');
        } else {
            samples.push(line);
        }
    }
    flush(&mut samples, &mut out);
    out
}

/// The age of the served assessment (`exporter` only: a scrape that would exceed
/// `--scrape-timeout` serves the last one, and says how old it is).
pub fn encode_age(age: Duration) -> String {
    let mut r = Registry::default();
    let g = FloatGauge::default();
    g.set(age.as_secs_f64());
    r.register(
        "drainguard_assessment_age_seconds",
        "How old the served assessment is (cached for --min-interval; older when the last \
         assessment took longer than --scrape-timeout)",
        g,
    );
    let mut out = String::new();
    prometheus_text::encode(&mut out, &r).expect("writing to a String cannot fail");
    out
}

/// The oldest backlog's age bound over `files` (the least recent mtime of a file still
/// behind, read below `root`): `Some(0)` when nothing is behind, `None` when files are behind
/// but none could be dated (deleted-but-open files have no name to stat).
pub fn oldest_backlog(
    files: &[crate::backlog::FileReport],
    root: &crate::root::Root,
    now: std::time::SystemTime,
) -> Option<f64> {
    let mut any_blocking = false;
    let mut oldest: Option<f64> = None;
    for f in files.iter().filter(|f| f.state.blocks()) {
        any_blocking = true;
        let host = match &f.state {
            FileState::Rotated { now_at, .. } => now_at.as_path(),
            FileState::OpenDeleted { .. } => continue,
            _ => &*f.path,
        };
        let Ok(mtime) =
            std::fs::symlink_metadata(root.host_to_local(host)).and_then(|m| m.modified())
        else {
            continue;
        };
        let age = now.duration_since(mtime).unwrap_or_default().as_secs_f64();
        oldest = Some(oldest.map_or(age, |o: f64| o.max(age)));
    }
    if any_blocking {
        oldest
    } else {
        Some(0.0)
    }
}

#[cfg(test)]
mod tests;
