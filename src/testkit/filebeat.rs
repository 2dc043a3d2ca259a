//! Filebeat registry writers: the legacy single-file `registry` (≤ 6.x), the 7.0–7.8
//! `registry/filebeat/data.json` + `meta.json {"version":"0"}`, and the memlog v1 store
//! (7.9–9.x: `meta.json`, `log.json` op log, `<txid>.json` checkpoints, `active.dat`).
//!
//! Formats as documented in `docs/filebeat.md` (from `libbeat/statestore/backend/memlog` and
//! `filebeat/registrar`). Strings are encoded like Go's `encoding/json`: invalid UTF-8 in a path
//! becomes U+FFFD (Go strings cannot carry it into JSON either), and the legacy writer escapes
//! `<`, `>`, `&` as Go's `json.Encoder` does by default.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// A Go `time.Time` as go-structform/typeconv encodes it: `[extra, unix_seconds]` with
/// `extra = nanoseconds` (UTC offset 0 → tz field -1 meaning UTC is used here).
pub fn go_timestamp(unix_seconds: u64) -> String {
    // version 0, tz offset -1 (UTC) in bits 32..48, nanoseconds 0.
    let extra: u64 = (0xFFFFu64) << 32;
    format!("[{extra},{unix_seconds}]")
}

/// One state of the `log` input (also the `container`/`docker` types).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogState {
    pub source: PathBuf,
    pub offset: u64,
    pub inode: u64,
    pub device: u64,
    /// Go Duration in nanoseconds: -1 never expires, -2 not claimed yet, 0 removed.
    pub ttl: i64,
    pub input_type: String,
    /// Container stream meta (e.g. `{"stream":"stdout"}`); non-empty meta prefixes the id
    /// with a hash, so two keys can share one inode.
    pub meta: BTreeMap<String, String>,
    pub timestamp: u64,
}

impl LogState {
    /// A plain `log` input state with `ttl: -1`.
    pub fn new(source: impl Into<PathBuf>, offset: u64, inode: u64, device: u64) -> Self {
        LogState {
            source: source.into(),
            offset,
            inode,
            device,
            ttl: -1,
            input_type: "log".into(),
            meta: BTreeMap::new(),
            timestamp: 1_700_000_000,
        }
    }

    /// The same file read as one container stream (`meta: {"stream": stream}`).
    pub fn with_stream(mut self, stream: &str) -> Self {
        self.input_type = "container".into();
        self.meta.insert("stream".into(), stream.into());
        self
    }

    /// `state.Id`: `native::<inode>-<device>`, prefixed by `<hash>-` when meta is non-empty.
    pub fn id(&self) -> String {
        let native = format!("native::{}-{}", self.inode, self.device);
        if self.meta.is_empty() {
            native
        } else {
            // Filebeat hashes the meta map (hashstructure); any stable 64-bit hex hash
            // reproduces the key shape, which is all a reader may rely on.
            let mut h: u64 = 0xcbf2_9ce4_8422_2325;
            for (k, v) in &self.meta {
                for b in k.bytes().chain([0]).chain(v.bytes()).chain([0]) {
                    h ^= u64::from(b);
                    h = h.wrapping_mul(0x0100_0000_01b3);
                }
            }
            format!("{h:016x}-{native}")
        }
    }

    /// The memlog key: `filebeat::logs::<id>`.
    pub fn key(&self) -> String {
        format!("filebeat::logs::{}", self.id())
    }

    fn meta_json(&self, html: bool) -> String {
        if self.meta.is_empty() {
            return "null".into();
        }
        let mut s = String::from("{");
        for (i, (k, v)) in self.meta.iter().enumerate() {
            if i > 0 {
                s.push(',');
            }
            let _ = write!(s, "{}:{}", go_str(k, html), go_str(v, html));
        }
        s.push('}');
        s
    }

    /// The legacy / data.json array element (6.x field order).
    fn legacy_json(&self) -> String {
        format!(
            "{{\"source\":{},\"offset\":{},\"timestamp\":\"{}\",\"ttl\":{},\"type\":{},\"meta\":{},\"FileStateOS\":{{\"inode\":{},\"device\":{}}}}}",
            go_str(&self.source.to_string_lossy(), true),
            self.offset,
            rfc3339(self.timestamp),
            self.ttl,
            go_str(&self.input_type, true),
            self.meta_json(true),
            self.inode,
            self.device
        )
    }

    /// The memlog value (`v`) of a `filebeat::logs::` entry (7.9+ registrar field order).
    pub fn value_json(&self) -> String {
        format!(
            "{{\"id\":{},\"prev_id\":\"\",\"source\":{},\"offset\":{},\"timestamp\":{},\"ttl\":{},\"type\":{},\"meta\":{},\"FileStateOS\":{{\"inode\":{},\"device\":{}}},\"identifier_name\":\"native\"}}",
            go_str(&self.id(), false),
            go_str(&self.source.to_string_lossy(), false),
            self.offset,
            go_timestamp(self.timestamp),
            self.ttl,
            go_str(&self.input_type, false),
            self.meta_json(false),
            self.inode,
            self.device
        )
    }
}

/// How a filestream input identifies a file (the part of the key after the input id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileId {
    Native {
        inode: u64,
        device: u64,
    },
    Path(PathBuf),
    InodeMarker {
        inode: u64,
        marker: String,
    },
    /// Lowercase hex SHA-256 of the fingerprint window.
    Fingerprint(String),
}

impl FileId {
    fn render(&self) -> String {
        match self {
            FileId::Native { inode, device } => format!("native::{inode}-{device}"),
            FileId::Path(p) => format!("path::{}", p.to_string_lossy()),
            FileId::InodeMarker { inode, marker } => format!("inode_marker::{inode}-{marker}"),
            FileId::Fingerprint(h) => format!("fingerprint::{h}"),
        }
    }

    fn identifier_name(&self) -> &'static str {
        match self {
            FileId::Native { .. } => "native",
            FileId::Path(_) => "path",
            FileId::InodeMarker { .. } => "inode_marker",
            FileId::Fingerprint(_) => "fingerprint",
        }
    }
}

/// One state of a `filestream` input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilestreamState {
    /// The input id; `None` writes `.global`.
    pub input_id: Option<String>,
    pub file_id: FileId,
    pub source: PathBuf,
    /// `None` writes `"cursor":null` (discovered, nothing ACKed yet).
    pub offset: Option<u64>,
    /// Nanoseconds; 0 = soft-deleted.
    pub ttl: i64,
    pub updated: u64,
}

impl FilestreamState {
    pub fn new(input_id: &str, file_id: FileId, source: impl Into<PathBuf>, offset: u64) -> Self {
        FilestreamState {
            input_id: Some(input_id.into()),
            file_id,
            source: source.into(),
            offset: Some(offset),
            ttl: 1_800_000_000_000,
            updated: 1_700_000_000,
        }
    }

    /// `filestream::<id|.global>::<file id>`.
    pub fn key(&self) -> String {
        format!(
            "filestream::{}::{}",
            self.input_id.as_deref().unwrap_or(".global"),
            self.file_id.render()
        )
    }

    /// The memlog value (`v`).
    pub fn value_json(&self) -> String {
        let cursor = match self.offset {
            Some(o) => format!("{{\"offset\":{o}}}"),
            None => "null".into(),
        };
        format!(
            "{{\"ttl\":{},\"updated\":{},\"cursor\":{},\"meta\":{{\"source\":{},\"identifier_name\":\"{}\"}}}}",
            self.ttl,
            go_timestamp(self.updated),
            cursor,
            go_str(&self.source.to_string_lossy(), false),
            self.file_id.identifier_name()
        )
    }
}

/// Writes legacy arrays: the ≤ 6.x `registry` file and the 7.0–7.8 `data.json`.
pub struct LegacyWriter;

impl LegacyWriter {
    /// Writes `states` to `path` like the 6.x registrar: whole array to `<path>.new` (O_SYNC,
    /// fsync), then rename over `path`. One line plus `\n` (Go `json.Encoder`).
    pub fn write(path: &Path, states: &[LogState]) -> io::Result<()> {
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(".new");
        let tmp = PathBuf::from(tmp);
        let mut f = BufferedFile::create(&tmp)?;
        f.w.write_all(b"[")?;
        for (i, s) in states.iter().enumerate() {
            if i > 0 {
                f.w.write_all(b",")?;
            }
            f.w.write_all(s.legacy_json().as_bytes())?;
        }
        f.w.write_all(b"]\n")?;
        f.finish()?;
        fs::rename(&tmp, path)
    }

    /// Writes a 7.0–7.8 store under `data_path`: `registry/filebeat/meta.json`
    /// (`{"version":"0"}`) and `registry/filebeat/data.json`. Returns the store directory.
    pub fn write_v0(data_path: &Path, states: &[LogState]) -> io::Result<PathBuf> {
        let dir = data_path.join("registry").join("filebeat");
        fs::create_dir_all(&dir)?;
        write_atomic(&dir.join("meta.json"), b"{\"version\":\"0\"}\n")?;
        Self::write(&dir.join("data.json"), states)?;
        Ok(dir)
    }
}

/// A memlog v1 store being written, like Filebeat 7.9+ `libbeat/statestore/backend/memlog`.
pub struct MemlogWriter {
    dir: PathBuf,
    log: File,
    next_id: u64,
    /// The state as Filebeat holds it in memory (for checkpoints): key → value JSON.
    state: BTreeMap<String, String>,
    /// Spell op bodies as Beats' unit fixtures do (`"K"`, `"V"`, spaces after `:` and `,`).
    pub fixture_style: bool,
}

impl MemlogWriter {
    /// Creates `dir` (e.g. `<data>/registry/filebeat`), `meta.json` `{"version":"1"}` and an
    /// empty `log.json`. Txids start at 1 (no checkpoint yet).
    pub fn create(dir: &Path) -> io::Result<Self> {
        fs::create_dir_all(dir)?;
        write_atomic(&dir.join("meta.json"), b"{\"version\":\"1\"}\n")?;
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("log.json"))?;
        Ok(MemlogWriter {
            dir: dir.to_path_buf(),
            log,
            next_id: 1,
            state: BTreeMap::new(),
            fixture_style: false,
        })
    }

    /// The store directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The path of `log.json`.
    pub fn log_path(&self) -> PathBuf {
        self.dir.join("log.json")
    }

    /// The id the next op will carry.
    pub fn next_id(&self) -> u64 {
        self.next_id
    }

    /// Appends a `set` op for a log-input state.
    pub fn set_log_entry(&mut self, s: &LogState) -> io::Result<u64> {
        self.set_raw(&s.key(), &s.value_json())
    }

    /// Appends a `set` op for a filestream state.
    pub fn set_filestream(&mut self, s: &FilestreamState) -> io::Result<u64> {
        self.set_raw(&s.key(), &s.value_json())
    }

    /// Appends a `set` op with an arbitrary key and value JSON (non-file inputs, odd values).
    pub fn set_raw(&mut self, key: &str, value_json: &str) -> io::Result<u64> {
        let id = self.next_id;
        let op = if self.fixture_style {
            format!(
                "{{\"op\": \"set\", \"id\": {id}}}\n{{\"K\": {}, \"V\": {value_json}}}\n",
                go_str(key, false)
            )
        } else {
            format!(
                "{{\"op\":\"set\",\"id\":{id}}}\n{{\"k\":{},\"v\":{value_json}}}\n",
                go_str(key, false)
            )
        };
        // One write(2) per op and no fsync, like Filebeat's bufio Flush per op.
        self.log.write_all(op.as_bytes())?;
        self.next_id += 1;
        self.state.insert(key.to_string(), value_json.to_string());
        Ok(id)
    }

    /// Appends a `remove` op.
    pub fn remove(&mut self, key: &str) -> io::Result<u64> {
        let id = self.next_id;
        let op = format!(
            "{{\"op\":\"remove\",\"id\":{id}}}\n{{\"k\":{}}}\n",
            go_str(key, false)
        );
        self.log.write_all(op.as_bytes())?;
        self.next_id += 1;
        self.state.remove(key);
        Ok(id)
    }

    /// Appends raw bytes to `log.json` (a torn op, garbage) without touching the state.
    pub fn append_raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.log.write_all(bytes)
    }

    /// Writes the checkpoint file only (`checkpoint.new` → `<txid>.json`) and returns its
    /// path, leaving `log.json` untouched: the moment a reader can see the race.
    pub fn write_checkpoint_file(&mut self) -> io::Result<PathBuf> {
        let txid = self.next_id - 1;
        let tmp = self.dir.join("checkpoint.new");
        let mut f = BufferedFile::create(&tmp)?;
        f.w.write_all(b"[")?;
        for (i, (k, v)) in self.state.iter().enumerate() {
            f.w.write_all(if i == 0 { b"\n" } else { b",\n" })?;
            // `_key` first, then the value's fields inline.
            let rest = v.strip_prefix('{').unwrap_or(v);
            let sep = if rest.starts_with('}') { "" } else { "," };
            write!(f.w, "{{\"_key\":{}{sep}{rest}", go_str(k, false))?;
        }
        f.w.write_all(b"\n]")?;
        f.finish()?;
        let path = self.dir.join(format!("{txid}.json"));
        fs::rename(&tmp, &path)?;
        File::open(&self.dir)?.sync_all()?;
        Ok(path)
    }

    /// A full checkpoint: `<txid>.json`, then truncate `log.json`, write `active.dat`, delete
    /// older checkpoints.
    pub fn checkpoint(&mut self) -> io::Result<PathBuf> {
        let path = self.write_checkpoint_file()?;
        self.log.set_len(0)?;
        let active = path.to_string_lossy().into_owned();
        let tmp = self.dir.join("active.dat.new");
        fs::write(&tmp, active.as_bytes())?;
        fs::rename(&tmp, self.dir.join("active.dat"))?;
        for e in fs::read_dir(&self.dir)? {
            let p = e?.path();
            if p != path && checkpoint_txid(&p).is_some() {
                fs::remove_file(&p)?;
            }
        }
        Ok(path)
    }
}

fn checkpoint_txid(p: &Path) -> Option<u64> {
    let name = p.file_name()?.to_str()?;
    name.strip_suffix(".json")?.parse().ok()
}

struct BufferedFile {
    w: io::BufWriter<File>,
}

impl BufferedFile {
    fn create(path: &Path) -> io::Result<Self> {
        let f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)?;
        Ok(BufferedFile {
            w: io::BufWriter::with_capacity(1 << 16, f),
        })
    }

    fn finish(self) -> io::Result<()> {
        let f = self.w.into_inner().map_err(|e| e.into_error())?;
        f.sync_all()
    }
}

fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let mut f = File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    fs::rename(&tmp, path)
}

/// A JSON string as Go encodes it: control characters as `\u00XX` (except `\n`, `\r`, `\t`),
/// U+2028/U+2029 escaped, and with `html` the characters `<`, `>`, `&` as `\u003c` etc.
pub fn go_str(s: &str, html: bool) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' | '>' | '&' if html => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            '\u{2028}' | '\u{2029}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// RFC 3339 (UTC, `Z`) for a unix time, as the legacy registry's `timestamp` string.
fn rfc3339(unix: u64) -> String {
    humantime::format_rfc3339_seconds(std::time::UNIX_EPOCH + std::time::Duration::from_secs(unix))
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legacy_writer_writes_one_line_array_and_no_leftover() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("registry");
        LegacyWriter::write(&p, &[LogState::new("/var/log/a<b>.log", 10, 5, 64768)]).unwrap();
        let s = fs::read_to_string(&p).unwrap();
        assert_eq!(
            s,
            "[{\"source\":\"/var/log/a\\u003cb\\u003e.log\",\"offset\":10,\"timestamp\":\"2023-11-14T22:13:20Z\",\"ttl\":-1,\"type\":\"log\",\"meta\":null,\"FileStateOS\":{\"inode\":5,\"device\":64768}}]\n"
        );
        assert!(!d.path().join("registry.new").exists());
    }

    #[test]
    fn memlog_ops_and_checkpoint_layout() {
        let d = tempfile::tempdir().unwrap();
        let mut w = MemlogWriter::create(d.path()).unwrap();
        let fs_state = FilestreamState::new(
            "my-id",
            FileId::Native {
                inode: 7,
                device: 9,
            },
            "/l/a",
            4,
        );
        w.set_filestream(&fs_state).unwrap();
        w.remove("x").unwrap();
        let log = fs::read_to_string(w.log_path()).unwrap();
        assert_eq!(
            log,
            format!(
                "{{\"op\":\"set\",\"id\":1}}\n{{\"k\":\"filestream::my-id::native::7-9\",\"v\":{{\"ttl\":1800000000000,\"updated\":{},\"cursor\":{{\"offset\":4}},\"meta\":{{\"source\":\"/l/a\",\"identifier_name\":\"native\"}}}}}}\n{{\"op\":\"remove\",\"id\":2}}\n{{\"k\":\"x\"}}\n",
                go_timestamp(1_700_000_000)
            )
        );
        let cp = w.checkpoint().unwrap();
        assert_eq!(cp.file_name().unwrap(), "2.json");
        assert_eq!(fs::metadata(w.log_path()).unwrap().len(), 0);
        let body = fs::read_to_string(&cp).unwrap();
        assert!(body.starts_with("[\n{\"_key\":\"filestream::my-id::native::7-9\",\"ttl\":"));
        assert!(body.ends_with("}\n]"));
        assert_eq!(
            fs::read_to_string(d.path().join("active.dat")).unwrap(),
            cp.to_string_lossy()
        );
    }

    #[test]
    fn container_streams_share_inode_with_distinct_keys() {
        let a = LogState::new("/c.log", 1, 3, 4).with_stream("stdout");
        let b = LogState::new("/c.log", 2, 3, 4).with_stream("stderr");
        assert_ne!(a.key(), b.key());
        assert!(a.key().ends_with("-native::3-4"));
    }

    #[test]
    fn go_str_escapes_like_go() {
        assert_eq!(go_str("a\u{1}\"\n", false), "\"a\\u0001\\\"\\n\"");
        assert_eq!(go_str("&", true), "\"\\u0026\"");
        assert_eq!(go_str("&", false), "\"&\"");
    }
}
