//! Filebeat registries, written the way Filebeat writes them.
//!
//! - legacy `registry` / `data.json`: the whole array via `<file>.new` (fsync) + rename;
//! - memlog: `meta.json`, ops appended to `log.json` with one `write(2)` each and no fsync,
//!   checkpoints to `checkpoint.new` + rename to `<txid>.json`, then `log.json` truncated and
//!   `active.dat` updated, older checkpoints deleted.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

/// Filebeat's `[extra, seconds]` timestamp for a UTC time (tz offset -1 = UTC).
pub fn timestamp(secs: u64, nanos: u32) -> Value {
    json!([(0xFFFFu64 << 32) | u64::from(nanos), secs])
}

fn now() -> Value {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    timestamp(d.as_secs(), d.subsec_nanos())
}

/// The log input's key for a file.
pub fn log_key(ino: u64, dev: u64) -> String {
    format!("filebeat::logs::native::{ino}-{dev}")
}

/// A log-input state value (memlog), as the registrar writes it.
pub fn log_value(path: &str, offset: u64, ino: u64, dev: u64) -> Value {
    json!({
        "id": format!("native::{ino}-{dev}"),
        "prev_id": "",
        "source": path,
        "offset": offset,
        "timestamp": now(),
        "ttl": -1,
        "type": "log",
        "meta": null,
        "FileStateOS": {"inode": ino, "device": dev},
        "identifier_name": "native"
    })
}

/// A filestream state value; `offset: None` writes `"cursor": null` (nothing acked yet).
pub fn filestream_value(path: &str, offset: Option<u64>, identifier: &str) -> Value {
    json!({
        "ttl": 1_800_000_000_000u64,
        "updated": now(),
        "cursor": offset.map(|o| json!({"offset": o})),
        "meta": {"source": path, "identifier_name": identifier}
    })
}

/// One entry of a legacy (5.x-6.x) or data.json (7.0-7.8) array.
pub fn legacy_state(path: &str, offset: u64, ino: u64, dev: u64) -> Value {
    json!({
        "source": path,
        "offset": offset,
        "timestamp": "2024-01-02T03:04:05.123456789Z",
        "ttl": -1,
        "type": "log",
        "meta": null,
        "FileStateOS": {"inode": ino, "device": dev}
    })
}

/// Writes `contents` to `path` the way Filebeat does: `<path>.new`, fsync, rename.
fn write_renamed(path: &Path, contents: &[u8]) -> io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".new");
    let tmp = PathBuf::from(tmp);
    let mut f = File::create(&tmp)?;
    f.write_all(contents)?;
    f.sync_all()?;
    fs::rename(&tmp, path)
}

/// Writes a 5.x-6.x `registry` file (one JSON line, as Go's json.Encoder writes it).
pub fn write_legacy(path: &Path, states: &[Value]) -> io::Result<()> {
    let mut line = serde_json::to_vec(states)?;
    line.push(b'\n');
    write_renamed(path, &line)
}

/// Writes a 7.0-7.8 store: `<dir>/meta.json` version "0" and `<dir>/data.json`.
pub fn write_data_json(dir: &Path, states: &[Value]) -> io::Result<()> {
    fs::create_dir_all(dir)?;
    fs::write(dir.join("meta.json"), br#"{"version":"0"}"#)?;
    let mut line = serde_json::to_vec(states)?;
    line.push(b'\n');
    write_renamed(&dir.join("data.json"), &line)
}

/// Writes a memlog checkpoint `<txid>.json` from `(key, value)` pairs, streaming, the way
/// Filebeat does (`checkpoint.new`, fsync, rename; entries joined by ",\n" with a `_key`).
pub fn write_checkpoint<'a>(
    dir: &Path,
    txid: u64,
    entries: impl IntoIterator<Item = (&'a str, &'a Value)>,
) -> io::Result<PathBuf> {
    let tmp = dir.join("checkpoint.new");
    let mut out = io::BufWriter::new(File::create(&tmp)?);
    out.write_all(b"[")?;
    for (i, (k, v)) in entries.into_iter().enumerate() {
        if i > 0 {
            out.write_all(b",\n")?;
        }
        let mut obj = v.clone();
        if let Value::Object(m) = &mut obj {
            m.insert("_key".into(), Value::String(k.to_string()));
        }
        serde_json::to_writer(&mut out, &obj)?;
    }
    out.write_all(b"\n]")?;
    let f = out.into_inner().map_err(|e| e.into_error())?;
    f.sync_all()?;
    let target = dir.join(format!("{txid}.json"));
    fs::rename(&tmp, &target)?;
    Ok(target)
}

/// A memlog store being written (the registry's `filebeat` directory).
pub struct MemlogWriter {
    dir: PathBuf,
    log: File,
    next_id: u64,
    log_bytes: u64,
    state: BTreeMap<String, Value>,
    /// Checkpoint after the op that makes log.json reach this many bytes (Filebeat: 10 MiB).
    pub checkpoint_size: u64,
}

impl MemlogWriter {
    /// Creates the directory, `meta.json` and an empty `log.json`.
    pub fn create(dir: &Path) -> io::Result<MemlogWriter> {
        fs::create_dir_all(dir)?;
        fs::write(dir.join("meta.json"), br#"{"version":"1"}"#)?;
        File::create(dir.join("log.json"))?;
        // O_APPEND: after a checkpoint truncates the log, writes start at 0 again.
        let log = OpenOptions::new().append(true).open(dir.join("log.json"))?;
        Ok(MemlogWriter {
            dir: dir.to_path_buf(),
            log,
            next_id: 1,
            log_bytes: 0,
            state: BTreeMap::new(),
            checkpoint_size: 10 << 20,
        })
    }

    /// Opens an existing memlog store to append ops after its newest checkpoint and log
    /// (the writer does not know the existing entries; do not checkpoint with it).
    pub fn create_appending(dir: &Path) -> io::Result<MemlogWriter> {
        let mut last = 0u64;
        for e in fs::read_dir(dir)?.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if let Some(n) = name
                .strip_suffix(".json")
                .and_then(|s| s.parse::<u64>().ok())
            {
                last = last.max(n);
            }
        }
        let log_path = dir.join("log.json");
        let text = fs::read_to_string(&log_path).unwrap_or_default();
        for line in text.lines() {
            if let Some(id) = line
                .strip_prefix("{\"op\":")
                .and_then(|r| r.split("\"id\":").nth(1))
                .and_then(|r| r.trim_end_matches('}').parse::<u64>().ok())
            {
                last = last.max(id);
            }
        }
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)?;
        Ok(MemlogWriter {
            dir: dir.to_path_buf(),
            log,
            next_id: last + 1,
            log_bytes: text.len() as u64,
            state: BTreeMap::new(),
            checkpoint_size: u64::MAX,
        })
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Continues the op ids after a checkpoint written with [`write_checkpoint`] (whose
    /// entries this writer does not hold; a later [`MemlogWriter::checkpoint`] would drop them).
    pub fn skip_to(&mut self, next_id: u64) {
        self.next_id = next_id;
    }

    /// The id the next op gets.
    pub fn next_id(&self) -> u64 {
        self.next_id
    }

    /// Appends a `set` op (one write, no fsync); checkpoints when log.json is large enough.
    pub fn set(&mut self, key: &str, value: Value) -> io::Result<()> {
        let op = format!(
            "{{\"op\":\"set\",\"id\":{}}}\n{}\n",
            self.next_id,
            json!({"k": key, "v": &value})
        );
        self.state.insert(key.to_string(), value);
        self.append(op)
    }

    /// Appends a `remove` op.
    pub fn remove(&mut self, key: &str) -> io::Result<()> {
        let op = format!(
            "{{\"op\":\"remove\",\"id\":{}}}\n{}\n",
            self.next_id,
            json!({ "k": key })
        );
        self.state.remove(key);
        self.append(op)
    }

    fn append(&mut self, op: String) -> io::Result<()> {
        if self.log_bytes >= self.checkpoint_size {
            // Filebeat checkpoints instead of appending once the log is full.
            self.next_id += 1;
            return self.checkpoint();
        }
        self.log.write_all(op.as_bytes())?;
        self.log_bytes += op.len() as u64;
        self.next_id += 1;
        Ok(())
    }

    /// Writes the whole state to `<last id>.json` and empties the log.
    pub fn checkpoint(&mut self) -> io::Result<()> {
        let txid = self.next_id - 1;
        let target = write_checkpoint(
            &self.dir,
            txid,
            self.state.iter().map(|(k, v)| (k.as_str(), v)),
        )?;
        self.log.set_len(0)?;
        self.log_bytes = 0;
        let active = self.dir.join("active.dat.new");
        fs::write(&active, target.as_os_str().as_encoded_bytes())?;
        fs::rename(&active, self.dir.join("active.dat"))?;
        for e in fs::read_dir(&self.dir)?.flatten() {
            let name = e.file_name();
            let name = name.to_string_lossy();
            if let Some(stem) = name.strip_suffix(".json") {
                if stem.parse::<u64>().is_ok_and(|n| n < txid) {
                    fs::remove_file(e.path())?;
                }
            }
        }
        Ok(())
    }
}
