//! One registry state, as stored in legacy arrays, checkpoints and memlog `set` ops.
//!
//! The store also holds other inputs' states (journald cursors, S3 objects ...) whose fields
//! have other shapes, so decoding is lenient first ([`RawState`] keeps the few fields
//! drainguard reads as JSON values) and strict second: [`RawState::into_entry`] validates a
//! file entry's fields and says what is wrong.

use serde::Deserialize;
use serde_json::Value;

/// The raw fields of a state (log input and filestream shapes share one struct; everything
/// else in the object is skipped without being stored).
#[derive(Debug, Default, Deserialize)]
pub struct RawState {
    /// Log input: the path at the last update.
    #[serde(default)]
    source: Option<Value>,
    /// Log input: the next byte to deliver.
    #[serde(default)]
    offset: Option<Value>,
    /// Nanoseconds; 0 = deleted.
    #[serde(default)]
    ttl: Option<Value>,
    /// Log input: `{"inode": u64, "device": u64}`.
    #[serde(default, rename = "FileStateOS")]
    file_state_os: Option<Value>,
    /// Filestream: `{"offset": N}` or null (nothing acknowledged yet).
    #[serde(default)]
    cursor: Option<Value>,
    /// Filestream: `{"source": path, ...}`.
    #[serde(default)]
    meta: Option<Value>,
    /// Checkpoint entries carry their key.
    #[serde(default, rename = "_key")]
    pub key: Option<String>,
}

/// The compact form kept per entry (10^6 of these must stay small).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Entry {
    pub offset: u64,
    pub source: Option<Box<str>>,
    pub ttl_zero: bool,
    /// (inode, device) from `FileStateOS`.
    pub dev_ino: Option<(u64, u64)>,
}

fn uint(v: &Value, what: &str) -> Result<u64, String> {
    v.as_u64()
        .ok_or_else(|| format!("{what} is {v}, expected a non-negative integer"))
}

impl RawState {
    /// The compact entry of a file state, or what is wrong with it.
    pub fn into_entry(self) -> Result<Entry, String> {
        let offset = match (&self.offset, &self.cursor) {
            (Some(o), _) => uint(o, "offset")?,
            (None, None | Some(Value::Null)) => 0,
            (None, Some(Value::Object(c))) => match c.get("offset") {
                None | Some(Value::Null) => 0,
                Some(o) => uint(o, "cursor.offset")?,
            },
            (None, Some(other)) => {
                return Err(format!("cursor is {other}, expected an object or null"))
            }
        };
        let source = match (self.source, self.meta) {
            (Some(Value::String(s)), _) => Some(s),
            (Some(Value::Null) | None, Some(Value::Object(mut m))) => match m.remove("source") {
                Some(Value::String(s)) => Some(s),
                _ => None,
            },
            (Some(Value::Null) | None, _) => None,
            (Some(other), _) => return Err(format!("source is {other}, expected a string")),
        };
        let dev_ino = match self.file_state_os {
            None | Some(Value::Null) => None,
            Some(Value::Object(m)) => match (m.get("inode"), m.get("device")) {
                (Some(i), Some(d)) => Some((
                    uint(i, "FileStateOS.inode")?,
                    uint(d, "FileStateOS.device")?,
                )),
                _ => return Err("FileStateOS has no inode/device (a Windows registry?)".into()),
            },
            Some(other) => return Err(format!("FileStateOS is {other}, expected an object")),
        };
        let ttl_zero = match self.ttl {
            Some(Value::Number(n)) => n.as_i64() == Some(0),
            None | Some(Value::Null) => false,
            Some(other) => return Err(format!("ttl is {other}, expected nanoseconds")),
        };
        Ok(Entry {
            offset,
            source: source.map(String::into_boxed_str),
            ttl_zero,
            dev_ino,
        })
    }
}
