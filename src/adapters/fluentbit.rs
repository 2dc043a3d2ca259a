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
    Cursor, ExcludeRule, Identity, InputSpec, OffsetMeaning, QueueSignal, QueueState, ShipperKind,
    StoreSnapshot,
};
use crate::error::{Position, StoreError};

use super::common;
use super::{Readers, SourceOptions, StoreReader};

/// One `tail` input of a Fluent Bit config.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TailInput {
    /// The instance name Fluent Bit gives it, `tail.<N>` with N its position among *all*
    /// inputs of the config (flb_input.c `instance_id`); its chunk directory is named so.
    pub instance: String,
    /// `Alias`: the name the HTTP API reports it under instead, when set.
    pub alias: Option<String>,
    pub path: Vec<String>,
    pub exclude: Vec<String>,
    pub db: Option<PathBuf>,
    /// `storage.type filesystem`: its chunks are files under `<storage.path>/<instance>/`.
    pub fs_storage: bool,
}

impl TailInput {
    /// The name in the HTTP API's `input_chunks` (flb_input_name: the alias, else the name).
    pub fn api_name(&self) -> &str {
        self.alias.as_deref().unwrap_or(&self.instance)
    }

    fn new(index: usize, get: impl Fn(&str) -> Option<String>) -> TailInput {
        TailInput {
            instance: format!("tail.{index}"),
            alias: get("alias"),
            path: get("path").map(|v| split_list(&v)).unwrap_or_default(),
            exclude: get("exclude_path")
                .map(|v| split_list(&v))
                .unwrap_or_default(),
            db: get("db").map(PathBuf::from),
            fs_storage: get("storage.type").is_some_and(|t| t.eq_ignore_ascii_case("filesystem")),
        }
    }
}

/// What a Fluent Bit config tells drainguard.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FluentBitConf {
    pub inputs: Vec<TailInput>,
    /// `http://host:port` when `HTTP_Server On`.
    pub http: Option<String>,
    /// `[SERVICE] storage.path`: the root of filesystem-buffered chunks.
    pub storage_path: Option<PathBuf>,
    /// Tail inputs without a `DB`: their progress is recorded nowhere.
    pub without_db: Vec<String>,
    /// `@INCLUDE` lines, which drainguard does not follow.
    pub includes: Vec<String>,
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
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        if l.starts_with('@') {
            if l.to_ascii_lowercase().starts_with("@include") {
                conf.includes.push(l.to_string());
            }
            continue;
        }
        if l.starts_with('[') && l.ends_with(']') {
            sections.push((l[1..l.len() - 1].trim().to_ascii_lowercase(), Vec::new()));
        } else if let Some((_, kv)) = sections.last_mut() {
            let (k, v) = l.split_once(char::is_whitespace).unwrap_or((l, ""));
            kv.push((k.to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    let mut index = 0;
    for (name, kv) in sections {
        let get = |k: &str| kv.iter().find(|(kk, _)| kk == k).map(|(_, v)| v.clone());
        if name == "service" {
            if get("http_server").is_some_and(|v| v.eq_ignore_ascii_case("on")) {
                conf.http = Some(format!(
                    "http://{}:{}",
                    get("http_listen")
                        .filter(|h| h != "0.0.0.0")
                        .unwrap_or_else(|| "127.0.0.1".into()),
                    get("http_port").unwrap_or_else(|| "2020".into())
                ));
            }
            conf.storage_path = get("storage.path").map(PathBuf::from);
        }
        if name == "input" {
            if get("name").is_some_and(|n| n.eq_ignore_ascii_case("tail")) {
                conf.add_tail(TailInput::new(index, get));
            }
            index += 1;
        }
    }
    conf
}

impl FluentBitConf {
    fn add_tail(&mut self, input: TailInput) {
        if input.db.is_none() {
            self.without_db.push(format!(
                "{} (Path {})",
                input.instance,
                input.path.join(", ")
            ));
        }
        self.inputs.push(input);
    }
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
        conf.storage_path = s(svc.get("storage.path")).map(PathBuf::from);
    }
    let inputs = v
        .get("pipeline")
        .and_then(|p| p.get("inputs"))
        .and_then(|i| i.as_sequence());
    for (index, i) in inputs.into_iter().flatten().enumerate() {
        if s(i.get("name")).is_some_and(|n| n == "tail") {
            conf.add_tail(TailInput::new(index, |k| s(i.get(k))));
        }
    }
    Ok(conf)
}

/// Opens the DB of every `tail` input with a `DB` in the config (`--config`, else
/// `/etc/fluent-bit/fluent-bit.{yaml,conf}`): one reader per input, each with that input's
/// own delivery signals. `--store` names exactly one DB.
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
    let root = &opts.root;
    let mut notes: Vec<String> = conf
        .without_db
        .iter()
        .map(|i| {
            format!(
                "tail input {i} has no DB: Fluent Bit records its progress nowhere, so drainguard \
                 cannot see what it still owes; set `DB` on the input"
            )
        })
        .collect();
    notes.extend(conf.includes.iter().map(|i| {
        format!(
            "`{i}` is not followed: inputs it defines are not read, and instance numbers \
             (tail.N) after it may differ from Fluent Bit's; point --config at the full config \
             or set an Alias on each tail input"
        )
    }));
    let mut inputs: Vec<(PathBuf, Option<TailInput>)> = Vec::new();
    if opts.store.is_some() {
        if let Some(db) = common::locate(opts, "fluent-bit", &[])? {
            let input = conf
                .inputs
                .iter()
                .find(|i| i.db.as_ref().is_some_and(|d| root.host_to_local(d) == db))
                .cloned();
            inputs.push((db, input));
        }
    } else {
        for input in conf.inputs.iter().filter(|i| i.db.is_some()) {
            let db = root.host_to_local(input.db.as_ref().expect("filtered"));
            if db.exists() {
                inputs.push((db, Some(input.clone())));
            } else {
                notes.push(format!(
                    "{}: DB {} does not exist yet (Fluent Bit creates it when it starts)",
                    input.instance,
                    db.display()
                ));
            }
        }
        if inputs.is_empty() {
            // Nothing to read: an explicit --config is an error naming where we looked.
            let candidates: Vec<PathBuf> =
                conf.inputs.iter().filter_map(|i| i.db.clone()).collect();
            common::locate(opts, "fluent-bit", &candidates)?;
        }
    }
    let storage = conf.storage_path.as_ref().map(|p| root.host_to_local(p));
    Ok(inputs
        .into_iter()
        .map(|(db, input)| {
            Box::new(FluentBitReader {
                db,
                input,
                http: conf.http.clone(),
                storage: storage.clone(),
                notes: notes.clone(),
                root: root.clone(),
            }) as Box<dyn StoreReader>
        })
        .collect())
}

struct FluentBitReader {
    db: PathBuf,
    /// The config's input for this DB (unknown for a `--store` the config does not name).
    input: Option<TailInput>,
    http: Option<String>,
    /// `storage.path`, mapped under `--root`.
    storage: Option<PathBuf>,
    notes: Vec<String>,
    root: crate::root::Root,
}

impl StoreReader for FluentBitReader {
    fn shipper(&self) -> ShipperKind {
        ShipperKind::FluentBit
    }
    fn watch_paths(&self) -> Vec<PathBuf> {
        let mut v = common::parent_dir(&self.db);
        v.extend(self.chunk_dir());
        v
    }
    fn read(&mut self) -> Result<StoreSnapshot, StoreError> {
        let mut snap = read_db(&self.db)?;
        snap.notes.extend(self.notes.iter().cloned());
        let input = self.input.clone().unwrap_or_default();
        snap.inputs.push(InputSpec {
            name: if input.instance.is_empty() {
                "tail".into()
            } else {
                input.instance.clone()
            },
            paths: input.path.clone(),
            exclude: input
                .exclude
                .iter()
                .cloned()
                .map(ExcludeRule::Glob)
                .collect(),
            ..Default::default()
        });
        let api_name = self.input.as_ref().map(TailInput::api_name);
        if let Some(base) = &self.http {
            snap.queues
                .push(super::http::fluentbit_storage(base, api_name));
            snap.notes.extend(super::http::fluentbit_dropped(base));
        }
        if let Some(dir) = self.chunk_dir() {
            snap.queues
                .push(chunk_signal(&dir, &self.root.local_to_host(&dir)));
        }
        if let Some(storage) = &self.storage {
            snap.notes.extend(rejected_note(&storage.join("rejected")));
        }
        if snap.queues.is_empty() {
            snap.queues.push(common::unknown_queue(
                "fluent-bit engine",
                "set `HTTP_Server On` (and storage.metrics on) in [SERVICE] so /api/v1/storage can be \
                 checked, or buffer the input on disk (storage.path + storage.type filesystem)",
            ));
        }
        Ok(snap)
    }
}

impl FluentBitReader {
    /// `<storage.path>/<instance>/` for a filesystem-buffered input.
    fn chunk_dir(&self) -> Option<PathBuf> {
        let input = self.input.as_ref().filter(|i| i.fs_storage)?;
        Some(self.storage.as_ref()?.join(&input.instance))
    }
}

/// Pending while the input's chunk directory holds `*.flb` files: Fluent Bit deletes a chunk
/// once every output it is routed to has flushed it. Listed read-only, never opened.
pub fn chunk_signal(dir: &Path, host_dir: &Path) -> QueueSignal {
    let source = format!("fluent-bit chunks {}", host_dir.display());
    let state = match std::fs::read_dir(dir) {
        // Created with the first chunk.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => QueueState::Empty,
        Err(e) => QueueState::Unknown {
            hint: format!("cannot list {}: {e}; run drainguard as root", dir.display()),
        },
        Ok(rd) => {
            let (n, bytes) = flb_files(rd);
            if n == 0 {
                QueueState::Empty
            } else {
                QueueState::Pending {
                    detail: format!("{n} chunk file(s), {bytes} bytes not yet flushed"),
                }
            }
        }
    };
    QueueSignal { source, state }
}

/// `storage.keep.rejected`: chunks the outputs refused are copied here; they were not
/// delivered, whatever the queue says.
fn rejected_note(dir: &Path) -> Option<String> {
    let (n, bytes) = flb_files(std::fs::read_dir(dir).ok()?);
    (n > 0).then(|| {
        format!(
            "{} holds {n} rejected chunk file(s) ({bytes} bytes): outputs refused them, they were not delivered",
            dir.display()
        )
    })
}

fn flb_files(rd: std::fs::ReadDir) -> (usize, u64) {
    rd.filter_map(|e| e.ok())
        .filter(|e| e.file_name().as_encoded_bytes().ends_with(b".flb"))
        .fold((0, 0), |(n, b), e| {
            (n + 1, b + e.metadata().map(|m| m.len()).unwrap_or(0))
        })
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
