//! Fluentd's monitor_agent: every output's buffer is the delivery signal.

use serde_json::Value;

use crate::adapters::http::{from_pending, signal, Http};
use crate::cursor::{Owed, QueueSignal, QueueState};

/// The plugins document.
pub const PLUGINS: &str = "/api/plugins.json";
/// How to enable it.
pub const ENABLE: &str = "add a monitor_agent source";

/// Fluentd monitor_agent `/api/plugins.json`: every output's `buffer_total_queued_size` 0.
pub fn fluentd_monitor(http: &Http, base: &str) -> QueueSignal {
    let url = format!("{base}{PLUGINS}");
    let r = http.get_json(&url).and_then(|v| fluentd_state(&v));
    signal(format!("{} {url}", super::INFO.name), r, ENABLE)
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
