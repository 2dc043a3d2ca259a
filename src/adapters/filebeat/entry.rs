//! One registry state, as stored in legacy arrays, checkpoints and memlog `set` ops, decoded
//! into a compact struct (only the fields drainguard needs; unknown fields are ignored).

use serde::Deserialize;

/// The raw value of a state (log input and filestream shapes share one struct).
#[derive(Debug, Deserialize)]
pub struct RawState {
    /// Log input: the path at the last update.
    #[serde(default)]
    pub source: Option<String>,
    /// Log input: the next byte to deliver.
    #[serde(default)]
    pub offset: Option<i64>,
    /// Nanoseconds; 0 = deleted.
    #[serde(default)]
    pub ttl: Option<i64>,
    #[serde(default, rename = "FileStateOS")]
    pub file_state_os: Option<FileStateOs>,
    /// Filestream: `{"offset": N}` or null (nothing acknowledged yet).
    #[serde(default)]
    pub cursor: Option<RawCursor>,
    /// Filestream: `{"source": path, ...}`; log input: container stream labels.
    #[serde(default)]
    pub meta: Option<RawMeta>,
    /// Checkpoint entries carry their key.
    #[serde(default, rename = "_key")]
    pub key: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct FileStateOs {
    pub inode: u64,
    pub device: u64,
}

#[derive(Debug, Deserialize)]
pub struct RawCursor {
    #[serde(default)]
    pub offset: Option<i64>,
}

#[derive(Debug, Deserialize)]
pub struct RawMeta {
    #[serde(default)]
    pub source: Option<String>,
}

/// The compact form kept per entry (10^6 of these must stay small).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub offset: u64,
    pub source: Option<Box<str>>,
    pub ttl_zero: bool,
    /// (inode, device) from `FileStateOS`.
    pub dev_ino: Option<(u64, u64)>,
}

impl RawState {
    /// The compact entry, or what is wrong with the value.
    pub fn into_entry(self) -> Result<Entry, String> {
        let offset = match (self.offset, &self.cursor) {
            (Some(o), _) => o,
            (None, Some(c)) => c.offset.unwrap_or(0),
            (None, None) => 0,
        };
        if offset < 0 {
            return Err(format!("negative offset {offset}"));
        }
        let source = self
            .source
            .or_else(|| self.meta.and_then(|m| m.source))
            .map(String::into_boxed_str);
        Ok(Entry {
            offset: offset as u64,
            source,
            ttl_zero: self.ttl == Some(0),
            dev_ino: self.file_state_os.map(|f| (f.inode, f.device)),
        })
    }
}
