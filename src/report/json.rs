//! The JSON report. Its schema is versioned by [`SCHEMA`] and documented in
//! `docs/json-report.md`; fields are only ever added within a version.

use std::time::SystemTime;

use serde::Serialize;

use crate::backlog::{Assessment, QueueTotals, ShipperBacklog, Verdict};

/// The schema identifier of the report (bump the suffix on incompatible changes).
pub const SCHEMA: &str = "drainguard.report/v2";

/// The top-level JSON document.
#[derive(Debug, Serialize)]
pub struct JsonReport<'a, X: Serialize> {
    pub schema: &'static str,
    /// RFC 3339 time the report was made.
    pub generated_at: String,
    pub verdict: Verdict,
    pub bytes_behind: u64,
    /// What the queues still owe beyond `bytes_behind` (v2).
    #[serde(flatten)]
    pub queue: &'a QueueTotals,
    pub shippers: &'a [ShipperBacklog],
    /// Command-specific fields (e.g. `wait`'s outcome), flattened in.
    #[serde(flatten)]
    pub extra: X,
}

/// Renders `a` (and command-specific `extra` fields) as pretty JSON.
pub fn to_json<X: Serialize>(a: &Assessment, extra: X) -> String {
    let doc = JsonReport {
        schema: SCHEMA,
        generated_at: crate::display::timestamp(SystemTime::now(), true),
        verdict: a.verdict,
        bytes_behind: a.bytes_behind,
        queue: &a.queue,
        shippers: &a.shippers,
        extra,
    };
    serde_json::to_string_pretty(&doc).expect("the report always serializes")
}
