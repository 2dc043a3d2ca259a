//! Delivery-side signals read over HTTP from a shipper's own monitoring API (short timeouts,
//! local endpoints only): Fluent Bit storage metrics, Fluentd monitor_agent, Logstash node stats,
//! Filebeat `/stats`.

use std::cell::RefCell;
use std::collections::HashMap;
use std::time::Duration;

use serde_json::Value;

use crate::cursor::{Owed, QueueSignal, QueueState};

const TIMEOUT: Duration = Duration::from_secs(2);

thread_local! {
    /// The documents fetched during the current [`batch`], by URL (`None`: no batch).
    static BATCH: RefCell<Option<HashMap<String, Result<Value, String>>>> =
        const { RefCell::new(None) };
}

/// While the returned guard lives, each URL is fetched at most once on this thread: the
/// stores of one shipper that read the same monitoring API in one round (several Fluent Bit
/// inputs, Fluentd sources, Logstash inputs) see the same document, and the API is asked
/// once. A batch opened inside another one is part of it.
pub fn batch() -> Batch {
    let opened = BATCH.with(|b| {
        let mut b = b.borrow_mut();
        let opened = b.is_none();
        if opened {
            *b = Some(HashMap::new());
        }
        opened
    });
    Batch { opened }
}

/// Ends the batch it opened when dropped.
pub struct Batch {
    opened: bool,
}

impl Drop for Batch {
    fn drop(&mut self) {
        if self.opened {
            BATCH.with(|b| *b.borrow_mut() = None);
        }
    }
}

/// GETs `url` and parses JSON (once per URL within a [`batch`]); the error is a one-line
/// reason.
pub fn get_json(url: &str) -> Result<Value, String> {
    if let Some(hit) = BATCH.with(|b| b.borrow().as_ref().and_then(|m| m.get(url).cloned())) {
        return hit;
    }
    let r = fetch_json(url);
    BATCH.with(|b| {
        if let Some(m) = b.borrow_mut().as_mut() {
            m.insert(url.to_string(), r.clone());
        }
    });
    r
}

fn fetch_json(url: &str) -> Result<Value, String> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(TIMEOUT))
        .build()
        .into();
    let body = agent
        .get(url)
        .call()
        .map_err(|e| e.to_string())?
        .body_mut()
        .read_to_string()
        .map_err(|e| e.to_string())?;
    serde_json::from_str(&body).map_err(|e| format!("not JSON: {e}"))
}

fn signal(source: String, r: Result<QueueState, String>, hint: &str) -> QueueSignal {
    QueueSignal {
        source,
        state: r.unwrap_or_else(|e| QueueState::Unknown {
            hint: format!("{e}; {hint}"),
        }),
    }
}

/// Fluent Bit `/api/v1/storage`: the input's `chunks.total` must be 0 (`input` is its API
/// name; `None`: every `tail.*` input).
pub fn fluentbit_storage(base: &str, input: Option<&str>, emitters: &[String]) -> QueueSignal {
    let url = format!("{base}/api/v1/storage");
    let r = get_json(&url).and_then(|v| fluentbit_state(&v, input, emitters));
    let source = match input {
        Some(i) => format!("fluent-bit {url} ({i})"),
        None => format!("fluent-bit {url}"),
    };
    signal(source, r, "check HTTP_Server On and storage.metrics on")
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
pub fn fluentbit_dropped(base: &str) -> Option<String> {
    let v = get_json(&format!("{base}/api/v1/metrics")).ok()?;
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

/// Fluentd monitor_agent `/api/plugins.json`: every output's `buffer_total_queued_size` 0.
pub fn fluentd_monitor(base: &str) -> QueueSignal {
    let url = format!("{base}/api/plugins.json");
    let r = get_json(&url).and_then(|v| fluentd_state(&v));
    signal(format!("fluentd {url}"), r, "add a monitor_agent source")
}

/// Interprets a monitor_agent `plugins.json` document.
pub fn fluentd_state(v: &Value) -> Result<QueueState, String> {
    let plugins = v
        .get("plugins")
        .and_then(Value::as_array)
        .ok_or("no plugins array")?;
    let mut bytes = 0u64;
    let pending: Vec<String> = plugins
        .iter()
        .filter(|p| p.get("output_plugin").and_then(Value::as_bool) == Some(true))
        .filter_map(|p| {
            let n = p
                .get("buffer_total_queued_size")
                .and_then(Value::as_u64)
                .unwrap_or(0);
            bytes = bytes.saturating_add(n);
            let id = p.get("plugin_id").and_then(Value::as_str).unwrap_or("?");
            (n > 0).then(|| format!("{id}: {n} bytes buffered"))
        })
        .collect();
    Ok(from_pending(
        pending,
        Owed {
            queued_bytes: Some(bytes),
            ..Default::default()
        },
    ))
}

/// Logstash `/_node/stats/pipelines`: nothing in any pipeline still on its way out.
pub fn logstash_stats(base: &str) -> QueueSignal {
    let url = format!("{base}/_node/stats/pipelines");
    let r = get_json(&url).and_then(|v| logstash_state(&v));
    signal(format!("logstash {url}"), r, "set api.enabled: true")
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

/// Filebeat `/stats` (`http.enabled: true`): `libbeat.pipeline.events.active` must be 0. A
/// second opinion next to the registry: events still in the pipeline are not acknowledged.
pub fn filebeat_stats(base: &str) -> QueueSignal {
    let url = format!("{base}/stats");
    let r = get_json(&url).and_then(|v| filebeat_state(&v));
    signal(
        format!("filebeat {url}"),
        r,
        "check http.enabled: true (http.host, http.port) in filebeat.yml",
    )
}

/// Interprets a Filebeat `/stats` document.
pub fn filebeat_state(v: &Value) -> Result<QueueState, String> {
    let active = v
        .pointer("/libbeat/pipeline/events/active")
        .and_then(Value::as_u64)
        .ok_or("no libbeat.pipeline.events.active")?;
    Ok(from_pending(
        if active > 0 {
            vec![format!(
                "{active} event(s) in the pipeline not yet acknowledged by the output"
            )]
        } else {
            Vec::new()
        },
        Owed {
            queued_events: Some(active),
            ..Default::default()
        },
    ))
}

/// Empty when nothing is pending, else the pending items as the detail and `owed` as the
/// numbers.
fn from_pending(pending: Vec<String>, owed: Owed) -> QueueState {
    if pending.is_empty() {
        QueueState::Empty
    } else {
        QueueState::owed(pending.join(", "), owed)
    }
}
