//! Filebeat's HTTP endpoint (`http.enabled: true`): the pipeline's active events are a second
//! opinion next to the registry.

use serde_json::Value;

use crate::adapters::http::{from_pending, signal, Http};
use crate::cursor::{Owed, QueueSignal, QueueState};

/// The stats document.
pub const STATS: &str = "/stats";
/// How to enable it.
pub const ENABLE: &str = "check http.enabled: true (http.host, http.port) in filebeat.yml";

/// Filebeat `/stats` (`http.enabled: true`): `libbeat.pipeline.events.active` must be 0. A
/// second opinion next to the registry: events still in the pipeline are not acknowledged.
pub fn filebeat_stats(http: &Http, base: &str) -> QueueSignal {
    let url = format!("{base}{STATS}");
    let r = http.get_json(&url).and_then(|v| filebeat_state(&v));
    signal(format!("{} {url}", super::INFO.name), r, ENABLE)
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
