//! The agent's `state_file`: SQLite (Python's `sqlite3`, rollback journal, one commit per
//! save; `cwlogs/kvstore.py`), two tables of the same schema
//! `(k TEXT PRIMARY KEY NOT NULL, v TEXT NOT NULL, ctime DATETIME, mtime DATETIME)`, `v` being
//! `json.dumps` of a dict:
//!
//! - `push_state`: `k` = source id (`md5(section name + fingerprint lines)`, hex), `v` =
//!   `{source_id, start_position, end_position, batch_timestamp, first_timestamp,
//!   first_timestamp_status, sequence_token}`, saved *before* each PutLogEvents call;
//! - `stream_state`: `k` = section name, `v` = `{source_id, initial_position}`, saved once when
//!   the stream first starts.
//!
//! Read as an in-memory image ([`crate::adapters::sqlite_image`]): nothing is written or
//! locked, and a commit under way is waited out. Rows are looked up by key (only those of
//! files that exist now); a value that is not the agent's JSON is an error naming the DB,
//! the table and the key.

use std::io::Read;
use std::path::{Path, PathBuf};

use md5::{Digest, Md5};
use rusqlite::{Connection, OptionalExtension};
use serde::Deserialize;

use crate::adapters::sqlite_image::{self, Image, Kind};
use crate::error::{Position, StoreError};

/// The state file, for the image's messages.
pub const KIND: Kind = Kind {
    what: "an awslogs agent state file",
    expected: "an awslogs agent state file: point to the `state_file` of the agent config's \
               [general] section",
    writer: "the awslogs agent",
    journal_fix: "start the agent once (SQLite rolls the journal back when it opens the DB)",
};

/// The longest `v` read: the agent's are about 300 bytes.
pub const MAX_VALUE: usize = 64 * 1024;
/// The most bytes read to compute one fingerprint (the agent reads whole lines, whatever
/// their length): past it the file's identity is unknown.
pub const MAX_FINGERPRINT_BYTES: u64 = 16 << 20;

/// One `push_state` row: the last batch handed to PutLogEvents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub struct PushState {
    /// The batch's first event's start: every byte before it was accepted (or skipped).
    pub start_position: u64,
    /// The batch's last event's end: `[start, end)` is in flight or done.
    pub end_position: u64,
}

/// One `stream_state` row.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct StreamState {
    pub source_id: Option<String>,
    pub initial_position: u64,
}

/// The state DB, opened as an in-memory image.
pub struct StateDb {
    path: PathBuf,
    conn: Connection,
    /// Rows of `push_state` (every file fingerprint the agent ever shipped: never deleted).
    pub rows: u64,
    /// Which tables exist (the agent creates both when it starts).
    push: bool,
    stream: bool,
}

impl StateDb {
    /// Reads the DB's latest committed state (a commit under way is waited out).
    pub fn read(path: &Path) -> Result<StateDb, StoreError> {
        let image = sqlite_image::take(path, &KIND)?;
        StateDb::from_image(path, &image)
    }

    /// The DB of `bytes` (a whole state file), as if read from `path` (the fuzz target).
    pub fn from_bytes(path: &Path, bytes: Vec<u8>) -> Result<StateDb, StoreError> {
        let wal = sqlite_image::sibling(path, "-wal");
        StateDb::from_image(path, &sqlite_image::build(&wal, bytes, &[], &KIND)?)
    }

    fn from_image(path: &Path, image: &Image) -> Result<StateDb, StoreError> {
        let conn = sqlite_image::connect(image).map_err(|e| sql_error(path, "", e))?;
        // An empty DB (the agent creates the tables when it starts) has none yet.
        let has = |t: &str| -> Result<bool, StoreError> {
            conn.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1")
                .and_then(|mut s| s.exists([t]))
                .map_err(|e| sql_error(path, t, e))
        };
        let (push, stream) = (has("push_state")?, has("stream_state")?);
        let rows = if push {
            conn.query_row("SELECT count(*) FROM push_state", [], |r| {
                r.get::<_, i64>(0)
            })
            .map_err(|e| sql_error(path, "push_state", e))?
            .max(0) as u64
        } else {
            0
        };
        Ok(StateDb {
            path: path.to_path_buf(),
            conn,
            rows,
            push,
            stream,
        })
    }

    /// The `push_state` row of `source_id`.
    pub fn push_state(&self, source_id: &str) -> Result<Option<PushState>, StoreError> {
        let Some(v) = self.value("push_state", source_id)? else {
            return Ok(None);
        };
        let s: PushState = serde_json::from_str(&v)
            .map_err(|e| self.bad("push_state", source_id, &format!("{e}")))?;
        if s.start_position > s.end_position {
            return Err(self.bad(
                "push_state",
                source_id,
                &format!(
                    "start_position {} is after end_position {}",
                    s.start_position, s.end_position
                ),
            ));
        }
        Ok(Some(s))
    }

    /// The `stream_state` row of section `name`.
    pub fn stream_state(&self, name: &str) -> Result<Option<StreamState>, StoreError> {
        let Some(v) = self.value("stream_state", name)? else {
            return Ok(None);
        };
        serde_json::from_str(&v)
            .map(Some)
            .map_err(|e| self.bad("stream_state", name, &format!("{e}")))
    }

    /// Every `push_state` key and value (for tests and the fuzz target).
    pub fn all_push_states(&self) -> Result<Vec<(String, PushState)>, StoreError> {
        if !self.push {
            return Ok(Vec::new());
        }
        let mut stmt = self
            .conn
            .prepare("SELECT k FROM push_state ORDER BY k LIMIT 1000000")
            .map_err(|e| sql_error(&self.path, "push_state", e))?;
        let keys: Vec<String> = stmt
            .query_map([], |r| r.get::<_, String>(0))
            .and_then(|rows| rows.collect())
            .map_err(|e| sql_error(&self.path, "push_state", e))?;
        let mut out = Vec::with_capacity(keys.len());
        for k in keys {
            if let Some(s) = self.push_state(&k)? {
                out.push((k, s));
            }
        }
        Ok(out)
    }

    /// `v` of `k` in `table`, refused when longer than [`MAX_VALUE`] (without reading it).
    fn value(&self, table: &str, k: &str) -> Result<Option<String>, StoreError> {
        if !(if table == "push_state" {
            self.push
        } else {
            self.stream
        }) {
            return Ok(None);
        }
        let sql = format!(
            "SELECT length(CAST(v AS BLOB)), CASE WHEN length(CAST(v AS BLOB)) <= {MAX_VALUE} \
             THEN CAST(v AS BLOB) END FROM {table} WHERE k = ?1"
        );
        let row: Option<(Option<i64>, Option<Vec<u8>>)> = self
            .conn
            .query_row(&sql, [k], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()
            .map_err(|e| sql_error(&self.path, table, e))?;
        let Some((len, bytes)) = row else {
            return Ok(None);
        };
        let Some(bytes) = bytes else {
            return Err(self.bad(
                table,
                k,
                &format!(
                    "its value is {} bytes (NULL or more than {MAX_VALUE}): not the agent's JSON",
                    len.unwrap_or(0)
                ),
            ));
        };
        String::from_utf8(bytes)
            .map(Some)
            .map_err(|e| self.bad(table, k, &format!("its value is not UTF-8 ({e})")))
    }

    fn bad(&self, table: &str, k: &str, what: &str) -> StoreError {
        StoreError::corrupt(
            &self.path,
            Position::default(),
            format!(
                "{table} row k={:?}: {what} (not what the awslogs agent writes)",
                crate::error::clip(k)
            ),
        )
    }
}

fn sql_error(db: &Path, table: &str, e: rusqlite::Error) -> StoreError {
    match e {
        rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::NotADatabase => {
            StoreError::corrupt(
                db,
                Position::default(),
                "not an SQLite database (not an awslogs agent state file)",
            )
        }
        other => StoreError::corrupt(
            db,
            Position::default(),
            format!("cannot read {table}: {other}"),
        ),
    }
}

/// A file's identity as the agent computes it (`Stream._calc_file_fingerprint`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fingerprint {
    /// `md5(section name (UTF-8) + lines first..=last, each with its `\n`)`, hex; the file's
    /// device and inode and size when it was hashed.
    Id {
        source_id: String,
        dev: u64,
        ino: u64,
        size: u64,
    },
    /// The file has fewer lines than `file_fingerprint_lines` needs (or the range is empty):
    /// the agent does not tail it at all.
    TooShort { size: u64, dev: u64, ino: u64 },
    /// Past [`MAX_FINGERPRINT_BYTES`] without the lines it needs.
    TooLong,
}

/// Computes the source id of `file` for section `section` with `lines` (first, last): the
/// lines are read in binary as Python's `readline` does (a last line without `\n` counts, so
/// its hash changes as it grows). Opened through the bounded reader (a FIFO is refused).
pub fn fingerprint(
    file: &Path,
    section: &str,
    lines: (u64, u64),
) -> Result<Fingerprint, StoreError> {
    use std::os::unix::fs::MetadataExt;
    let (f, meta) = crate::safe_read::open(file)?;
    let (dev, ino, size) = (meta.dev(), meta.ino(), meta.len());
    let (first, last) = lines;
    let too_short = Fingerprint::TooShort { size, dev, ino };
    if first > last {
        return Ok(too_short);
    }
    let mut hash = Md5::new();
    hash.update(section.as_bytes());
    let mut reader = std::io::BufReader::with_capacity(64 * 1024, f.take(MAX_FINGERPRINT_BYTES));
    let mut line_no = 1u64;
    let mut read = 0u64;
    let mut buf = Vec::new();
    while line_no <= last {
        buf.clear();
        let n = std::io::BufRead::read_until(&mut reader, b'\n', &mut buf)
            .map_err(|e| StoreError::io(file, e))?;
        read += n as u64;
        if n == 0 {
            return Ok(if read >= MAX_FINGERPRINT_BYTES {
                Fingerprint::TooLong
            } else {
                too_short
            });
        }
        if !buf.ends_with(b"\n") && read >= MAX_FINGERPRINT_BYTES {
            return Ok(Fingerprint::TooLong);
        }
        if line_no >= first {
            hash.update(&buf);
        }
        line_no += 1;
    }
    Ok(Fingerprint::Id {
        source_id: hex::encode(hash.finalize()),
        dev,
        ino,
        size,
    })
}
