//! The Datadog Agent's logs auditor registry, `<run_path>/registry.json`: one compact JSON
//! object `{"Version":2,"Registry":{"file:<path>":{"Offset":"<decimal>","TailingMode":...,
//! "Fingerprint":{"Value":<u64>,"Config":{...}|null},...}}}` (`encoding/json` field names).
//! Versions 0 (`Offset` a number, keys without `file:`) and 1 (`Offset` a number) are read as
//! the agent reads them; any other version makes the agent ignore the whole registry.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use crate::adapters::common;
use crate::cursor::{Cursor, Identity, OffsetMeaning, ShipperKind, SkippedEntries, StoreSnapshot};
use crate::error::{Position, StoreError};
use crate::fingerprint::FingerprintSpec;

/// The format name in reports.
pub const FORMAT: &str = "datadog agent registry.json";

#[derive(Deserialize)]
struct Raw {
    #[serde(rename = "Version", default)]
    version: i64,
    #[serde(rename = "Registry", default)]
    registry: Option<BTreeMap<String, RawEntry>>,
}

#[derive(Deserialize)]
struct RawEntry {
    /// v2: a decimal string (or a docker timestamp, a journald cursor ...); v0/v1: a number.
    #[serde(rename = "Offset", default)]
    offset: serde_json::Value,
    #[serde(rename = "Fingerprint", default)]
    fingerprint: Option<RawFingerprint>,
}

#[derive(Deserialize)]
struct RawFingerprint {
    #[serde(rename = "Value", default)]
    value: u64,
    #[serde(rename = "Config", default)]
    config: Option<RawConfig>,
}

#[derive(Deserialize)]
struct RawConfig {
    #[serde(default)]
    fingerprint_strategy: String,
    #[serde(default)]
    count: u64,
    #[serde(default)]
    count_to_skip: u64,
    #[serde(default)]
    max_bytes: u64,
}

/// The fingerprint spec of a stored fingerprint config; `None` when the entry carries no
/// usable fingerprint (`Value` 0: too short; `Config` null: an older agent; `disabled`).
fn spec(fp: &RawFingerprint) -> Option<FingerprintSpec> {
    let c = fp.config.as_ref()?;
    if fp.value == 0 {
        return None;
    }
    let lines = match c.fingerprint_strategy.as_str() {
        "byte_checksum" => false,
        "line_checksum" => true,
        _ => return None,
    };
    Some(FingerprintSpec::DatadogChecksum {
        lines,
        count: c.count,
        count_to_skip: c.count_to_skip,
        max_bytes: c.max_bytes,
    })
}

/// The 1-based line and 0-based byte of serde_json's (line, column).
fn position(bytes: &[u8], line: usize, column: usize) -> Position {
    let mut byte = 0usize;
    for (i, l) in bytes.split(|b| *b == b'\n').enumerate() {
        if i + 1 == line {
            break;
        }
        byte += l.len() + 1;
    }
    Position {
        line: Some(line as u64),
        byte: Some((byte + column.saturating_sub(1)) as u64),
    }
}

/// Where `key` first appears in the file, for errors about its entry.
fn key_position(bytes: &[u8], key: &str) -> Position {
    let quoted = serde_json::to_string(key).unwrap_or_default();
    let at = bytes
        .windows(quoted.len().max(1))
        .position(|w| w == quoted.as_bytes());
    match at {
        Some(b) => Position {
            line: Some(bytes[..b].iter().filter(|c| **c == b'\n').count() as u64 + 1),
            byte: Some(b as u64),
        },
        None => Position::default(),
    }
}

/// True when the parse error looks like a file cut short (an in-place write in progress).
pub fn is_cut(e: &StoreError) -> bool {
    matches!(e, StoreError::Corrupt { what, .. } if what.contains("EOF") || what.contains("empty"))
}

/// Parses a registry: file entries become cursors (identity: the stored fingerprint when it
/// has one, else the path), other origins are counted as skipped.
pub fn parse(path: &Path, bytes: &[u8]) -> Result<StoreSnapshot, StoreError> {
    let mut snap = common::snapshot(
        ShipperKind::DatadogAgent,
        path,
        FORMAT,
        OffsetMeaning::SentOrGivenUp,
    );
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(StoreError::corrupt(
            path,
            Position {
                line: Some(1),
                byte: Some(0),
            },
            "empty registry (cut by a non-atomic write, or never written)",
        ));
    }
    crate::safe_read::check_nesting(path, bytes)?;
    let raw: Raw = serde_json::from_slice(bytes).map_err(|e| {
        StoreError::corrupt(
            path,
            position(bytes, e.line(), e.column()),
            format!("not a Datadog registry.json: {e}"),
        )
    })?;
    if !(0..=2).contains(&raw.version) {
        return Err(StoreError::Unsupported {
            path: path.to_path_buf(),
            what: format!(
                "registry Version {} (the agent reads 0, 1 and 2 and ignores any other, starting \
                 every file from its start_position)",
                raw.version
            ),
        });
    }
    snap.format = format!("{FORMAT} v{}", raw.version);
    let mut skipped: BTreeMap<String, usize> = BTreeMap::new();
    for (key, e) in raw.registry.unwrap_or_default() {
        let file = match raw.version {
            0 => Some(key.as_str()),
            _ => key.strip_prefix("file:"),
        };
        let Some(file) = file else {
            let prefix = key.split_once(':').map_or(key.as_str(), |(p, _)| p);
            *skipped.entry(format!("{prefix}:")).or_default() += 1;
            continue;
        };
        let bad = |what: String| StoreError::corrupt(path, key_position(bytes, &key), what);
        let offset = match (&e.offset, raw.version) {
            (serde_json::Value::String(s), 2) => s.parse::<u64>().map_err(|_| {
                bad(format!(
                    "entry {key:?}: Offset {s:?} is not a decimal byte offset"
                ))
            })?,
            (serde_json::Value::Number(n), 0 | 1) => match n.as_i64() {
                // The agent drops entries without a positive offset.
                Some(o) if o > 0 => o as u64,
                Some(_) => continue,
                None => return Err(bad(format!("entry {key:?}: Offset {n} is out of range"))),
            },
            (serde_json::Value::Null, 0 | 1) => continue,
            (other, v) => {
                return Err(bad(format!(
                    "entry {key:?}: Offset {other} is not what a version {v} registry holds"
                )))
            }
        };
        let identity = match e
            .fingerprint
            .as_ref()
            .and_then(|fp| Some((spec(fp)?, fp.value)))
        {
            Some((spec, value)) => Identity::Fingerprint {
                spec: spec.into(),
                value: value.to_string().into(),
            },
            None => Identity::Path,
        };
        snap.cursors.push(Cursor {
            key: if raw.version == 0 {
                format!("file:{key}").into()
            } else {
                key.clone().into()
            },
            identity,
            path: Some(common::path_from_bytes(file.as_bytes()).into()),
            offset,
            unit: Default::default(),
        });
    }
    snap.skipped = skipped
        .into_iter()
        .map(|(prefix, count)| SkippedEntries { prefix, count })
        .collect();
    Ok(snap)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_agents_test_literal_parses() {
        let b = br#"{"Version":2,"Registry":{"testpath":{"LastUpdated":"2006-01-12T01:01:01.000000001Z","Offset":"42","TailingMode":"end","IngestionTimestamp":0,"Fingerprint":{"Value":0,"Config":null}}}}"#;
        let s = parse(Path::new("/r.json"), b).unwrap();
        assert!(s.cursors.is_empty(), "not a file: origin");
        assert_eq!(s.skipped[0].prefix, "testpath:");
        let b = br#"{"Version":2,"Registry":{"file:/var/log/a.log":{"Offset":"42","TailingMode":"end","Fingerprint":{"Value":0,"Config":null}},"journald:x":{"Offset":"s=abc"}}}"#;
        let s = parse(Path::new("/r.json"), b).unwrap();
        assert_eq!(s.cursors[0].offset, 42);
        assert_eq!(s.cursors[0].identity, Identity::Path);
        assert_eq!(s.skipped[0].prefix, "journald:");
    }

    #[test]
    fn older_versions_read_as_the_agent_reads_them() {
        let b = br#"{"Version":0,"Registry":{"/var/log/a.log":{"Path":"/var/log/a.log","Timestamp":"2018-01-01T00:00:00Z","Offset":7},"/var/log/z.log":{"Offset":0}}}"#;
        let s = parse(Path::new("/r.json"), b).unwrap();
        assert_eq!(s.cursors.len(), 1, "offset 0 entries are dropped");
        assert_eq!(&*s.cursors[0].key, "file:/var/log/a.log");
        let b = br#"{"Version":1,"Registry":{"file:/a":{"Timestamp":"","Offset":9,"LastUpdated":"2019-01-01T00:00:00Z"}}}"#;
        assert_eq!(parse(Path::new("/r.json"), b).unwrap().cursors[0].offset, 9);
        let e = parse(Path::new("/r.json"), br#"{"Version":3,"Registry":{}}"#).unwrap_err();
        assert!(e.to_string().contains("Version 3"), "{e}");
    }

    #[test]
    fn errors_name_the_file_and_position() {
        let e = parse(
            Path::new("/r.json"),
            b"{\"Version\":2,\n\"Registry\":{\"file:/a\":{\"Offset\":\"4",
        )
        .unwrap_err();
        assert!(is_cut(&e), "{e}");
        assert!(
            e.to_string().contains("/r.json") && e.to_string().contains("line 2"),
            "{e}"
        );
        let e = parse(
            Path::new("/r.json"),
            br#"{"Version":2,"Registry":{"file:/a":{"Offset":"x1"}}}"#,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("line 1, byte 25") && e.contains("\"x1\""), "{e}");
        assert!(is_cut(&parse(Path::new("/r.json"), b"").unwrap_err()));
    }
}
