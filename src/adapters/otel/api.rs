//! The collector's internal telemetry (Prometheus text on `service.telemetry.metrics`,
//! default `localhost:8888/metrics`): what it says about log records that were read and not
//! yet delivered.
//!
//! The filelog receiver's offsets advance once a record is emitted to the pipeline, not when
//! it is exported. Per logs exporter `e` (from `exporterhelper`'s metrics):
//! - `otelcol_exporter_queue_size{exporter=e}`: batches in its sending queue (memory or the
//!   file_storage-backed persistent queue);
//! - records in flight: the records accepted by the receivers of every logs pipeline `e` is
//!   in (`otelcol_receiver_accepted_log_records`), minus what `e` sent
//!   (`otelcol_exporter_sent_log_records`) or gave up (`..._send_failed_log_records`,
//!   `..._enqueue_failed_log_records`). This counts records held by processors (`batch`)
//!   and an exporter retrying without a queue.
//!
//! The subtraction is only exact when every record accepted reaches `e` exactly once: a
//! pipeline with a processor that may drop or split records (anything but
//! [`PASSTHROUGH`]), a connector, or a receiver reaching `e` through two pipelines makes the
//! signal unknown, saying which. Records `e` gave up are lost: said in a note, never owed.
//! Counters from v0.119 on carry a `_total` suffix: both are read.

use std::collections::{BTreeMap, BTreeSet};

use crate::cursor::{Owed, QueueState};

use super::config::Config;

/// How to make the signal available.
pub const ENABLE: &str = "enable the collector's internal metrics (service.telemetry.metrics: \
    level: normal, a pull prometheus reader on localhost:8888) and let drainguard reach them";

/// Processors that pass every record on, once (they hold them at most for a while).
pub const PASSTHROUGH: &[&str] = &[
    "batch",
    "memory_limiter",
    "resource",
    "attributes",
    "resourcedetection",
    "k8sattributes",
    "transform",
    "redaction",
];

/// The counters read, summed by the `receiver` / `exporter` label.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Counters {
    pub accepted: BTreeMap<String, f64>,
    pub sent: BTreeMap<String, f64>,
    pub failed: BTreeMap<String, f64>,
    pub queue: BTreeMap<String, f64>,
    /// Whether any otelcol_ series was seen at all.
    pub any: bool,
}

/// The value of label `name` in `{a="x",b="y"}` (Prometheus escapes kept as they are).
fn label<'a>(labels: &'a str, name: &str) -> Option<&'a str> {
    let mut rest = labels;
    while let Some(eq) = rest.find("=\"") {
        let key = rest[..eq].trim_start_matches([',', ' ', '{']).trim();
        let val_start = eq + 2;
        let bytes = rest.as_bytes();
        let mut i = val_start;
        while i < bytes.len() && bytes[i] != b'"' {
            if bytes[i] == b'\\' {
                i += 1;
            }
            i += 1;
        }
        let val = rest.get(val_start..i.min(rest.len()))?;
        if key == name {
            return Some(val);
        }
        rest = rest.get(i + 1..)?;
    }
    None
}

/// Parses the Prometheus text exposition `text`, keeping the series this signal reads.
pub fn parse(text: &str) -> Counters {
    let mut c = Counters::default();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (series, value) = match line.find('}') {
            Some(close) => (&line[..=close], line[close + 1..].trim()),
            None => match line.split_once(' ') {
                Some((s, v)) => (s, v.trim()),
                None => continue,
            },
        };
        let (name, labels) = series.split_once('{').unwrap_or((series, ""));
        if !name.starts_with("otelcol_") {
            continue;
        }
        c.any = true;
        let Some(v) = value
            .split_whitespace()
            .next()
            .and_then(|v| v.parse::<f64>().ok())
            .filter(|v| v.is_finite() && *v >= 0.0)
        else {
            continue;
        };
        let name = name.strip_suffix("_total").unwrap_or(name);
        let (map, by) = match name {
            "otelcol_receiver_accepted_log_records" => (&mut c.accepted, "receiver"),
            "otelcol_exporter_sent_log_records" => (&mut c.sent, "exporter"),
            "otelcol_exporter_send_failed_log_records"
            | "otelcol_exporter_enqueue_failed_log_records" => (&mut c.failed, "exporter"),
            "otelcol_exporter_queue_size" => {
                // Older versions label it by exporter only; newer add data_type.
                if label(labels, "data_type").is_some_and(|t| t != "logs") {
                    continue;
                }
                (&mut c.queue, "exporter")
            }
            _ => continue,
        };
        if let Some(id) = label(labels, by) {
            *map.entry(id.to_string()).or_default() += v;
        }
    }
    c
}

/// What the counters say about the logs pipelines of `cfg`: the state, and notes (records
/// given up, lost).
pub fn state(cfg: &Config, c: &Counters) -> (Result<QueueState, String>, Vec<String>) {
    let mut notes = Vec::new();
    if !c.any {
        return (
            Err("the metrics endpoint answered without any otelcol_ series".into()),
            notes,
        );
    }
    let exporters: BTreeSet<&str> = cfg
        .pipelines
        .iter()
        .flat_map(|p| p.exporters.iter().map(String::as_str))
        .filter(|e| !cfg.connectors.iter().any(|c| c == e))
        .collect();
    if exporters.is_empty() {
        return (
            Err("the config has no logs pipeline with an exporter".into()),
            notes,
        );
    }
    let mut pending = Vec::new();
    let mut owed_events = 0u64;
    for e in exporters {
        let feeding: Vec<_> = cfg
            .pipelines
            .iter()
            .filter(|p| p.exporters.iter().any(|x| x == e))
            .collect();
        let mut receivers = BTreeSet::new();
        for p in &feeding {
            if let Some(pr) = p
                .processors
                .iter()
                .find(|pr| !PASSTHROUGH.contains(&super::config::kind(pr)))
            {
                return (
                    Err(format!(
                        "pipeline {} has processor {pr}, which may drop or split records: the \
                         exporter's counters cannot be matched with what the receivers accepted",
                        p.id
                    )),
                    notes,
                );
            }
            for r in &p.receivers {
                if cfg.connectors.iter().any(|c| c == r) {
                    return (
                        Err(format!(
                            "pipeline {} receives from connector {r}: its records cannot be \
                             matched with what the receivers accepted",
                            p.id
                        )),
                        notes,
                    );
                }
                if !receivers.insert(r.as_str()) {
                    return (
                        Err(format!(
                            "receiver {r} reaches exporter {e} through two pipelines: its \
                             records are counted twice"
                        )),
                        notes,
                    );
                }
            }
        }
        let accepted: f64 = receivers
            .iter()
            .map(|r| c.accepted.get(*r).copied().unwrap_or(0.0))
            .sum();
        let sent = c.sent.get(e).copied().unwrap_or(0.0);
        let failed = c.failed.get(e).copied().unwrap_or(0.0);
        if failed > 0.0 {
            notes.push(format!(
                "exporter {e} gave up {failed} log record(s) since the collector started \
                 (otelcol_exporter_send_failed/enqueue_failed_log_records): they are lost, \
                 not owed"
            ));
        }
        let in_flight = accepted - sent - failed;
        if in_flight < 0.0 {
            return (
                Err(format!(
                    "exporter {e} sent {sent} and gave up {failed} log records, more than the \
                     {accepted} its pipelines' receivers accepted: the counters do not match \
                     this config"
                )),
                notes,
            );
        }
        let queued = c.queue.get(e).copied().unwrap_or(0.0);
        if queued > 0.0 {
            pending.push(format!(
                "exporter {e}: {queued} batch(es) in its sending queue"
            ));
        }
        if in_flight > 0.0 {
            pending.push(format!(
                "exporter {e}: {in_flight} log record(s) accepted and not yet sent"
            ));
            owed_events = owed_events.saturating_add(in_flight as u64);
        }
    }
    let owed = Owed {
        queued_events: (owed_events > 0).then_some(owed_events),
        ..Default::default()
    };
    (
        Ok(crate::adapters::http::from_pending(pending, owed)),
        notes,
    )
}
