//! Fluent Bit's monitoring API (`HTTP_Server On`): the storage metrics are the delivery
//! signal, the output metrics tell records given up on.

use serde_json::Value;

use crate::adapters::http::{from_pending, signal, Http};
use crate::cursor::{Owed, QueueSignal, QueueState};

/// Chunks per input (`storage.metrics on`).
pub const STORAGE: &str = "/api/v1/storage";
/// Records dropped and retries failed per output.
pub const METRICS: &str = "/api/v1/metrics";
/// How to enable it.
pub const ENABLE: &str = "check HTTP_Server On and storage.metrics on";

/// Fluent Bit `/api/v1/storage`: the input's `chunks.total` must be 0 (`input` is its API
/// name; `None`: every `tail.*` input).
pub fn fluentbit_storage(
    http: &Http,
    base: &str,
    input: Option<&str>,
    emitters: &[String],
) -> QueueSignal {
    let url = format!("{base}{STORAGE}");
    let r = http
        .get_json(&url)
        .and_then(|v| fluentbit_state(&v, input, emitters));
    let source = match input {
        Some(i) => format!("{} {url} ({i})", super::INFO.name),
        None => format!("{} {url}", super::INFO.name),
    };
    signal(source, r, ENABLE)
}

/// Interprets a `/api/v1/storage` document for `input` (or every `tail.*` input). Inputs that
/// filters re-emit records through (`emitter*`, or the `Emitter_Name`s in `emitters`:
/// rewrite_tag, multiline) and the backlog of earlier runs (`storage_backlog*`) hold records
/// any tail input may have read, so they count too.
pub fn fluentbit_state(
    v: &Value,
    input: Option<&str>,
    emitters: &[String],
) -> Result<QueueState, String> {
    let inputs = v
        .get("input_chunks")
        .and_then(Value::as_object)
        .ok_or("no input_chunks (storage.metrics off?)")?;
    if let Some(name) = input {
        if !inputs.contains_key(name) {
            return Err(format!("no input_chunks entry for {name}"));
        }
    }
    let mut chunks = 0u64;
    let pending: Vec<String> = inputs
        .iter()
        .filter(|(k, _)| {
            k.starts_with("emitter")
                || emitters.iter().any(|e| e == *k)
                || k.starts_with("storage_backlog")
                || match input {
                    Some(name) => *k == name,
                    None => k.starts_with("tail."),
                }
        })
        .filter_map(|(k, i)| {
            let n = i
                .pointer("/chunks/total")
                .and_then(Value::as_u64)
                .unwrap_or(0);
            chunks = chunks.saturating_add(n);
            (n > 0).then(|| format!("{k}: {n} chunks"))
        })
        .collect();
    Ok(from_pending(
        pending,
        Owed {
            queue_files: Some(chunks),
            ..Default::default()
        },
    ))
}

/// Fluent Bit `/api/v1/metrics`: outputs that dropped records or exhausted their retries lost
/// data whatever the queues say; `None` when none did (or the metrics cannot be read).
pub fn fluentbit_dropped(http: &Http, base: &str) -> Option<String> {
    let v = http.get_json(&format!("{base}{METRICS}")).ok()?;
    fluentbit_dropped_in(&v)
}

/// Interprets a `/api/v1/metrics` document for [`fluentbit_dropped`].
pub fn fluentbit_dropped_in(v: &Value) -> Option<String> {
    let outputs = v.get("output")?.as_object()?;
    let lost: Vec<String> = outputs
        .iter()
        .filter_map(|(name, o)| {
            let get = |k: &str| o.get(k).and_then(Value::as_u64).unwrap_or(0);
            let (dropped, failed) = (get("dropped_records"), get("retries_failed"));
            (dropped > 0 || failed > 0)
                .then(|| format!("{name}: {dropped} record(s) dropped, {failed} retries failed"))
        })
        .collect();
    (!lost.is_empty()).then(|| {
        format!(
            "fluent-bit outputs gave up on data since they started ({}): those records were not delivered",
            lost.join("; ")
        )
    })
}
