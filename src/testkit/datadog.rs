//! The Datadog Agent's `registry.json` as its auditor writes it (`encoding/json`, compact, map
//! keys sorted, `Offset` a decimal string, `Version` 2), atomically (CreateTemp
//! `registry.json.tmp*` + rename) or in place (`atomic_registry_write: false`); and its
//! configs.

use std::io;
use std::path::{Path, PathBuf};

/// A stored fingerprint: `Value` and its `Config` (strategy, count, count_to_skip, max_bytes).
#[derive(Debug, Clone, Copy)]
pub struct Fingerprint {
    pub value: u64,
    pub strategy: &'static str,
    pub count: u64,
    pub count_to_skip: u64,
    pub max_bytes: u64,
}

/// One registry entry of a file.
#[derive(Debug, Clone)]
pub struct Entry {
    pub path: String,
    pub offset: String,
    pub tailing_mode: &'static str,
    /// `None`: `{"Value":0,"Config":null}` (an older agent, or fingerprinting off).
    pub fingerprint: Option<Fingerprint>,
}

impl Entry {
    pub fn new(path: &str, offset: u64) -> Entry {
        Entry {
            path: path.to_string(),
            offset: offset.to_string(),
            tailing_mode: "end",
            fingerprint: None,
        }
    }
    pub fn with_fingerprint(mut self, fp: Fingerprint) -> Entry {
        self.fingerprint = Some(fp);
        self
    }
}

/// CRC-64/GO-ISO (Go's `crc64.Checksum` with `crc64.ISO`).
pub fn crc64_iso(data: &[u8]) -> u64 {
    crc::Crc::<u64>::new(&crc::CRC_64_GO_ISO).checksum(data)
}

/// The default `byte_checksum` fingerprint (1024 bytes from 0) of `content`, as the agent
/// stores it; `Value` 0 when shorter.
pub fn byte_fingerprint(content: &[u8], count: u64, count_to_skip: u64) -> Fingerprint {
    let (s, n) = (count_to_skip as usize, count as usize);
    let value = if content.len() >= s + n && n > 0 {
        crc64_iso(&content[s..s + n])
    } else {
        0
    };
    Fingerprint {
        value,
        strategy: "byte_checksum",
        count,
        count_to_skip,
        max_bytes: 0,
    }
}

/// A `line_checksum` fingerprint over `lines` (each given without its newline).
pub fn line_fingerprint(lines: &[&[u8]], count_to_skip: u64, max_bytes: u64) -> Fingerprint {
    let picked: Vec<u8> = lines.concat();
    Fingerprint {
        value: crc64_iso(&picked),
        strategy: "line_checksum",
        count: lines.len() as u64,
        count_to_skip,
        max_bytes,
    }
}

/// The registry JSON (other origins, e.g. `journald:<id>`, as (key, offset) in `others`).
pub fn registry(entries: &[Entry], others: &[(&str, &str)]) -> String {
    let mut all: Vec<(String, String)> = entries
        .iter()
        .map(|e| {
            let fp = match e.fingerprint {
                None => r#"{"Value":0,"Config":null}"#.to_string(),
                Some(f) => format!(
                    r#"{{"Value":{},"Config":{{"fingerprint_strategy":"{}","count":{},"count_to_skip":{},"max_bytes":{}}}}}"#,
                    f.value, f.strategy, f.count, f.count_to_skip, f.max_bytes
                ),
            };
            (
                format!("file:{}", e.path),
                format!(
                    r#"{{"LastUpdated":"2026-12-01T22:00:00.000000001Z","Offset":{},"TailingMode":"{}","IngestionTimestamp":1764626400000000000,"Fingerprint":{fp}}}"#,
                    json_str(&e.offset),
                    e.tailing_mode
                ),
            )
        })
        .collect();
    all.extend(others.iter().map(|(k, o)| {
        (
            k.to_string(),
            format!(
                r#"{{"LastUpdated":"2026-12-01T22:00:00Z","Offset":{},"TailingMode":"","IngestionTimestamp":0,"Fingerprint":null}}"#,
                json_str(o)
            ),
        )
    }));
    all.sort();
    let body: Vec<String> = all
        .iter()
        .map(|(k, v)| format!("{}:{v}", json_str(k)))
        .collect();
    format!(r#"{{"Version":2,"Registry":{{{}}}}}"#, body.join(","))
}

fn json_str(s: &str) -> String {
    serde_json::to_string(s).expect("a string serialises")
}

/// Writes `run_path/registry.json` as the default writer does: a temp file, then rename.
pub fn write(run_path: &Path, json: &str) -> io::Result<PathBuf> {
    let dst = run_path.join("registry.json");
    let tmp = run_path.join(format!("registry.json.tmp{}", std::process::id()));
    std::fs::write(&tmp, json)?;
    std::fs::rename(&tmp, &dst)?;
    Ok(dst)
}

/// The in-place writer (`os.Create` + write) caught after `cut` bytes.
pub fn write_torn(run_path: &Path, json: &str, cut: usize) -> io::Result<PathBuf> {
    let dst = run_path.join("registry.json");
    std::fs::write(&dst, &json.as_bytes()[..cut.min(json.len())])?;
    Ok(dst)
}

/// `datadog.yaml` with logs on, `run_path`, `confd_path` and `log_file`; `disk_retry` sets
/// `max_size_bytes`.
pub fn main_config(run_path: &Path, confd: &Path, log_file: &Path, disk_retry: bool) -> String {
    let mut s = format!(
        "api_key: x\nlogs_enabled: true\nrun_path: {}\nconfd_path: {}\nlog_file: {}\n",
        run_path.display(),
        confd.display(),
        log_file.display()
    );
    if disk_retry {
        s.push_str("logs_config:\n  disk_retry:\n    max_size_bytes: 104857600\n");
    }
    s
}

/// A line the agent logs for a payload the intake refused with `code` (400, 401, 403 and 413
/// are not retried: the payload is dropped, its offsets advance).
pub fn rejected_line(code: u16) -> String {
    format!(
        "2026-12-01 22:00:00 UTC | CORE | WARN | (pkg/logs/client/http/destination.go:312 in unconditionalSend) | failed to post http payload. code={code} host=http-intake.logs.datadoghq.com response={{\"errors\":[]}}\n"
    )
}

/// An integration config with one `type: file` logs entry per path.
pub fn integration(paths: &[&str]) -> String {
    let mut s = String::from("logs:\n");
    for p in paths {
        s.push_str(&format!(
            "  - type: file\n    path: {p}\n    service: app\n    source: app\n"
        ));
    }
    s
}
