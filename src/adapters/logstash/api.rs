//! Logstash's monitoring API (`api.enabled`): the pipelines' event counts are the delivery
//! signal.

use serde_json::Value;

use crate::adapters::http::{from_pending, signal, Http};
use crate::cursor::{Owed, QueueSignal, QueueState};

/// The pipelines' stats.
pub const PIPELINES: &str = "/_node/stats/pipelines";
/// How to enable it.
pub const ENABLE: &str = "set api.enabled: true";

/// Logstash `/_node/stats/pipelines`: nothing in any pipeline still on its way out.
pub fn logstash_stats(http: &Http, base: &str) -> QueueSignal {
    let url = format!("{base}{PIPELINES}");
    let r = http.get_json(&url).and_then(|v| logstash_state(&v));
    signal(format!("{} {url}", super::INFO.name), r, ENABLE)
}

/// Interprets a `_node/stats/pipelines` document, per pipeline: every event that came `in`
/// must have gone `out` through the outputs (`out` moves only when a batch has been through
/// them). Since Logstash 7.17 (PR #13593) `out` counts the events that reached the outputs,
/// so what filters removed (`drop`) or added (`split`, `clone`) is taken from each filter's
/// own `out - in`: idle when `out >= in + Σ (filter.out - filter.in)`. From 7.0 to 7.16
/// `out` counts the batch as read from the queue: idle when `out >= in`. Before 7.0 it also
/// counts the events filters added (but not those they dropped): idle when
/// `out >= in + Σ max(0, filter.out - filter.in)`. A persisted queue must
/// also hold no unread event (`queue.events_count`; a batch being processed is no longer
/// counted there, which is why the event counts are needed too).
pub fn logstash_state(v: &Value) -> Result<QueueState, String> {
    let pipes = v
        .get("pipelines")
        .and_then(Value::as_object)
        .ok_or("no pipelines object")?;
    // How `out` relates to the filters, by version (unknown: the current behaviour).
    enum Counting {
        AfterFilters,
        BatchRead,
        BatchReadPlusAdded,
    }
    let version = v.get("version").and_then(Value::as_str).map(|version| {
        let mut parts = version
            .split(['.', '-'])
            .map(|p| p.parse::<u32>().unwrap_or(0));
        (parts.next().unwrap_or(0), parts.next().unwrap_or(0))
    });
    let counting = match version {
        Some(v) if v < (7, 0) => Counting::BatchReadPlusAdded,
        Some(v) if v < (7, 17) => Counting::BatchRead,
        _ => Counting::AfterFilters,
    };
    let get = |v: &Value, ptr: &str| v.pointer(ptr).and_then(Value::as_u64).unwrap_or(0);
    let mut pending = Vec::new();
    let mut events = 0u64;
    for (name, p) in pipes {
        if p.pointer("/queue/type").and_then(Value::as_str) == Some("persisted") {
            let Some(q) = p
                .pointer("/queue/events_count")
                .or_else(|| p.pointer("/queue/events"))
                .and_then(Value::as_u64)
            else {
                return Err(format!(
                    "pipeline {name}: persisted queue without an event count"
                ));
            };
            if q > 0 {
                events = events.saturating_add(q);
                pending.push(format!("{name}: {q} event(s) in the persisted queue"));
                continue;
            }
        }
        let (inn, out) = (get(p, "/events/in"), get(p, "/events/out"));
        let changes = p
            .pointer("/plugins/filters")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|f| i128::from(get(f, "/events/out")) - i128::from(get(f, "/events/in")));
        let delta: i128 = match counting {
            Counting::AfterFilters => changes.sum(),
            Counting::BatchRead => 0,
            Counting::BatchReadPlusAdded => changes.map(|d| d.max(0)).sum(),
        };
        let expected = i128::from(inn) + delta;
        if i128::from(out) < expected {
            let owed = u64::try_from(expected - i128::from(out)).unwrap_or(u64::MAX);
            events = events.saturating_add(owed);
            pending.push(format!(
                "{name}: {} event(s) not yet through the outputs (in {inn}, out {out}, filters {delta:+})",
                expected - i128::from(out)
            ));
        }
    }
    Ok(from_pending(
        pending,
        Owed {
            queued_events: Some(events),
            ..Default::default()
        },
    ))
}
