//! Fluent Bit `in_tail` DB: SQLite table `in_tail_files(id, name, offset, inode, created,
//! rotated[, offset_marker, offset_marker_size])`.
//!
//! Opened through SQLite with `SQLITE_OPEN_READ_ONLY` so rows that live only in the `-wal`
//! file are seen; no write lock is ever taken. Identity is the inode (no device); the row with
//! the highest `id` per inode wins, as in Fluent Bit's `SELECT .. ORDER BY id DESC`. Offsets
//! mean "read": delivery needs the HTTP API's storage/output metrics.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use crate::cursor::{
    Cursor, ExcludeRule, Identity, InputSpec, OffsetMeaning, ShipperKind, StoreSnapshot,
};
use crate::error::{Position, StoreError};

use super::common;
use super::{Readers, SourceOptions, StoreReader};

/// One `tail` input of a Fluent Bit config.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TailInput {
    pub path: Vec<String>,
    pub exclude: Vec<String>,
    pub db: Option<PathBuf>,
}

/// What a Fluent Bit config tells drainguard.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FluentBitConf {
    pub inputs: Vec<TailInput>,
    /// `http://host:port` when `HTTP_Server On`.
    pub http: Option<String>,
}

fn split_list(v: &str) -> Vec<String> {
    v.split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

/// Parses a classic `fluent-bit.conf` (`[SECTION]` + `Key Value` lines).
pub fn parse_classic(text: &str) -> FluentBitConf {
    let mut conf = FluentBitConf::default();
    let mut sections: Vec<(String, Vec<(String, String)>)> = Vec::new();
    for line in text.lines() {
        let l = line.trim();
        if l.is_empty() || l.starts_with('#') || l.starts_with('@') {
            continue;
        }
        if l.starts_with('[') && l.ends_with(']') {
            sections.push((l[1..l.len() - 1].trim().to_ascii_lowercase(), Vec::new()));
        } else if let Some((_, kv)) = sections.last_mut() {
            let (k, v) = l.split_once(char::is_whitespace).unwrap_or((l, ""));
            kv.push((k.to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    for (name, kv) in sections {
        let get = |k: &str| kv.iter().find(|(kk, _)| kk == k).map(|(_, v)| v.clone());
        if name == "service" && get("http_server").is_some_and(|v| v.eq_ignore_ascii_case("on")) {
            conf.http = Some(format!(
                "http://{}:{}",
                get("http_listen")
                    .filter(|h| h != "0.0.0.0")
                    .unwrap_or_else(|| "127.0.0.1".into()),
                get("http_port").unwrap_or_else(|| "2020".into())
            ));
        }
        if name == "input" && get("name").is_some_and(|n| n.eq_ignore_ascii_case("tail")) {
            conf.inputs.push(TailInput {
                path: get("path").map(|v| split_list(&v)).unwrap_or_default(),
                exclude: get("exclude_path")
                    .map(|v| split_list(&v))
                    .unwrap_or_default(),
                db: get("db").map(PathBuf::from),
            });
        }
    }
    conf
}

/// Parses a YAML `fluent-bit.yaml` (`service:` and `pipeline: inputs:`).
pub fn parse_yaml(path: &Path, text: &str) -> Result<FluentBitConf, StoreError> {
    let v: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(text).map_err(|e| StoreError::Config {
            path: path.into(),
            what: e.to_string(),
        })?;
    let s = |v: Option<&serde_yaml_ng::Value>| -> Option<String> {
        v.and_then(|v| match v {
            serde_yaml_ng::Value::String(s) => Some(s.clone()),
            serde_yaml_ng::Value::Number(n) => Some(n.to_string()),
            serde_yaml_ng::Value::Bool(b) => Some(if *b { "on".into() } else { "off".into() }),
            _ => None,
        })
    };
    let mut conf = FluentBitConf::default();
    if let Some(svc) = v.get("service") {
        if s(svc.get("http_server")).is_some_and(|x| x.eq_ignore_ascii_case("on") || x == "true") {
            conf.http = Some(format!(
                "http://{}:{}",
                s(svc.get("http_listen"))
                    .filter(|h| h != "0.0.0.0")
                    .unwrap_or_else(|| "127.0.0.1".into()),
                s(svc.get("http_port")).unwrap_or_else(|| "2020".into())
            ));
        }
    }
    let inputs = v
        .get("pipeline")
        .and_then(|p| p.get("inputs"))
        .and_then(|i| i.as_sequence());
    for i in inputs.into_iter().flatten() {
        if s(i.get("name")).is_some_and(|n| n == "tail") {
            conf.inputs.push(TailInput {
                path: s(i.get("path")).map(|p| split_list(&p)).unwrap_or_default(),
                exclude: s(i.get("exclude_path"))
                    .map(|p| split_list(&p))
                    .unwrap_or_default(),
                db: s(i.get("db")).map(PathBuf::from),
            });
        }
    }
    Ok(conf)
}

/// Opens the DB of the first `tail` input with a `DB` in the config (`--config`, else
/// `/etc/fluent-bit/fluent-bit.{yaml,conf}`), or `--store`.
pub fn open(opts: &SourceOptions) -> Result<Readers, StoreError> {
    let conf = match common::read_config(
        opts,
        &[
            "/etc/fluent-bit/fluent-bit.yaml",
            "/etc/fluent-bit/fluent-bit.conf",
        ],
    )? {
        Some((local, text)) if local.extension().is_some_and(|e| e == "yaml" || e == "yml") => {
            parse_yaml(&local, &text)?
        }
        Some((_, text)) => parse_classic(&text),
        None => FluentBitConf::default(),
    };
    let input = conf
        .inputs
        .iter()
        .find(|i| i.db.is_some())
        .cloned()
        .unwrap_or_default();
    let candidates: Vec<PathBuf> = input.db.iter().cloned().collect();
    Ok(common::locate(opts, "fluent-bit", &candidates)?
        .map(|db| {
            Box::new(FluentBitReader {
                db,
                input,
                http: conf.http.clone(),
            }) as Box<dyn StoreReader>
        })
        .into_iter()
        .collect())
}

struct FluentBitReader {
    db: PathBuf,
    input: TailInput,
    http: Option<String>,
}

impl StoreReader for FluentBitReader {
    fn shipper(&self) -> ShipperKind {
        ShipperKind::FluentBit
    }
    fn watch_paths(&self) -> Vec<PathBuf> {
        common::parent_dir(&self.db)
    }
    fn read(&mut self) -> Result<StoreSnapshot, StoreError> {
        let mut snap = read_db(&self.db)?;
        snap.inputs.push(InputSpec {
            name: "tail".into(),
            paths: self.input.path.clone(),
            exclude: self
                .input
                .exclude
                .iter()
                .cloned()
                .map(ExcludeRule::Glob)
                .collect(),
            ..Default::default()
        });
        snap.queues.push(match &self.http {
            Some(base) => super::http::fluentbit_storage(base),
            None => common::unknown_queue(
                "fluent-bit engine",
                "set `HTTP_Server On` (and storage.metrics on) in [SERVICE] so /api/v1/storage can be checked",
            ),
        });
        Ok(snap)
    }
}

const BUSY_RETRIES: u32 = 5;

/// Reads the DB read-only through SQLite (WAL content included). Retries SQLITE_BUSY
/// briefly, then fails with a clear error.
pub fn read_db(db: &Path) -> Result<StoreSnapshot, StoreError> {
    let mut last = None;
    for attempt in 0..BUSY_RETRIES {
        match try_read(db) {
            Err(
                e @ rusqlite::Error::SqliteFailure(
                    rusqlite::ffi::Error {
                        code:
                            rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked,
                        ..
                    },
                    _,
                ),
            ) => {
                tracing::debug!(attempt, "fluent-bit DB busy: {e}");
                last = Some(e);
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(e) => return Err(sql_error(db, e)),
            Ok(s) => return Ok(s),
        }
    }
    Err(StoreError::corrupt(
        db,
        Position::default(),
        format!(
            "database stayed busy/locked after {BUSY_RETRIES} tries ({}); if `db.locking true` is set, Fluent Bit holds an exclusive lock: set db.locking false",
            last.map(|e| e.to_string()).unwrap_or_default()
        ),
    ))
}

fn sql_error(db: &Path, e: rusqlite::Error) -> StoreError {
    match e {
        rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::NotADatabase => {
            StoreError::corrupt(
                db,
                Position::default(),
                "not an SQLite database (file is not a Fluent Bit tail DB)",
            )
        }
        other => StoreError::corrupt(
            db,
            Position::default(),
            format!("cannot read in_tail_files: {other}"),
        ),
    }
}

/// Opens the DB without ever creating a file next to it. With a `-wal` file present (a writer
/// is active or crashed) SQLite reads through it read-only. Without one, everything is in the
/// main file, and a plain read-only open would create empty `-wal`/`-shm` files owned by us
/// (which a non-root Fluent Bit could then not open): open it `immutable` instead.
fn open_read_only(db: &Path) -> Result<Connection, rusqlite::Error> {
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let mut wal = db.as_os_str().to_owned();
    wal.push("-wal");
    if Path::new(&wal).exists() {
        return Connection::open_with_flags(db, flags);
    }
    let Some(text) = db.to_str() else {
        // Not expressible as a URI: the plain open (may create -shm; rare).
        return Connection::open_with_flags(db, flags);
    };
    let mut uri = String::from("file:");
    for c in text.chars() {
        match c {
            '%' => uri.push_str("%25"),
            '?' => uri.push_str("%3f"),
            '#' => uri.push_str("%23"),
            c => uri.push(c),
        }
    }
    uri.push_str("?immutable=1");
    Connection::open_with_flags(uri, flags | OpenFlags::SQLITE_OPEN_URI)
}

fn try_read(db: &Path) -> Result<StoreSnapshot, rusqlite::Error> {
    let conn = open_read_only(db)?;
    conn.busy_timeout(Duration::from_millis(200))?;
    let has_marker = conn
        .prepare("SELECT 1 FROM pragma_table_info('in_tail_files') WHERE name = 'offset_marker'")?
        .exists([])?;
    let mut snap = common::snapshot(
        ShipperKind::FluentBit,
        db,
        if has_marker {
            "fluent-bit in_tail_files (offset_marker)"
        } else {
            "fluent-bit in_tail_files"
        },
        OffsetMeaning::Read,
    );
    // Highest id per inode wins.
    let mut stmt = conn.prepare(
        "SELECT t.name, t.offset, t.inode, t.rotated FROM in_tail_files t \
         JOIN (SELECT inode, MAX(id) AS id FROM in_tail_files GROUP BY inode) m ON t.id = m.id \
         ORDER BY t.id",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok((
            r.get::<_, Vec<u8>>(0)
                .or_else(|_| r.get::<_, String>(0).map(String::into_bytes))?,
            r.get::<_, i64>(1)?,
            r.get::<_, i64>(2)?,
            r.get::<_, i64>(3)?,
        ))
    })?;
    for row in rows {
        let (name, offset, ino, rotated) = row?;
        let path = common::path_from_bytes(&name);
        snap.cursors.push(Cursor {
            key: format!(
                "inode {ino}{}",
                if rotated != 0 { " (rotated)" } else { "" }
            ),
            identity: Identity::Inode { ino: ino as u64 },
            path: Some(path),
            offset: offset.max(0) as u64,
            unit: Default::default(),
        });
    }
    Ok(snap)
}
