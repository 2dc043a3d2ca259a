//! The filelog receiver's checkpoint: the value of `file_input.knownFiles` in bucket `default`
//! of the `file_storage` client file (`pkg/stanza/fileconsumer/internal/checkpoint`).
//!
//! Two encodings, told apart by the first byte:
//! - **JSON stream** (the default): `json.Encoder` output of the file count, then one
//!   `reader.Metadata` per file, each on its own line: `{"Fingerprint":{"first_bytes":
//!   "<base64>"},"Offset":N,"RecordNum":N,"FileAttributes":{...},"HeaderFinalized":false,
//!   "FlushState":{...},"TokenLenState":{...},"FileType":"","TruncateSkipping":false}`. Before
//!   v0.94 the fingerprint was `{"FirstBytes":"<base64>"}`; `FileType`, `RecordNum` and the
//!   states came later; older `FileAttributes.HeaderAttributes` are merged as the collector's
//!   `LoadKey` migrates them.
//! - **Protobuf** `MetadataList` (the alpha gate `filelog.protobufCheckpointEncoding`, from
//!   v0.143.0): `repeated Metadata metadata = 1`, `Metadata{Fingerprint fingerprint = 1 {bytes
//!   first_bytes = 1}, int64 offset = 2, ..., bytes file_attributes = 4 (JSON), ..., string
//!   file_type = 8}`. Starts with `0x0a`; an empty value is an empty list.
//!
//! The fingerprint is the file's first bytes (at most `fingerprint_size`, default 1000), not
//! a hash: the collector matches a file whose first bytes start with it. A cursor's identity
//! is the SHA-256 of exactly those bytes (`FingerprintSpec::Sha256Window` over `[0, len)`), so
//! a file shorter than the stored fingerprint matches nothing, as in the collector. No path,
//! inode or device is stored: `log.file.path` (with `include_file_path`) is a hint only.
//! `FileType` `.gz`: the offset counts decompressed bytes.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde::Deserialize;

use crate::cursor::{Cursor, Identity, OffsetUnit, SkippedEntries};
use crate::error::{Position, StoreError};
use crate::fingerprint::FingerprintSpec;

/// The format name in reports.
pub const FORMAT: &str = "otelcol file_storage (bbolt) file_input.knownFiles";

/// The bucket and key file_storage and the stanza persister use.
pub const BUCKET: &[u8] = b"default";
pub const KEY: &[u8] = b"file_input.knownFiles";

/// One known file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Known {
    pub first_bytes: Vec<u8>,
    pub offset: u64,
    /// `log.file.path` (or `log.file.path_resolved`) when the receiver records it.
    pub path: Option<PathBuf>,
    /// `log.file.name`.
    pub name: Option<String>,
    /// `.gz`: the offset is in decompressed bytes.
    pub file_type: String,
}

#[derive(Deserialize)]
struct RawMeta {
    #[serde(rename = "Fingerprint", default)]
    fingerprint: Option<RawFingerprint>,
    #[serde(rename = "Offset", default)]
    offset: i64,
    #[serde(rename = "FileAttributes", default)]
    attributes: Option<serde_json::Map<String, serde_json::Value>>,
    #[serde(rename = "FileType", default)]
    file_type: Option<String>,
}

#[derive(Deserialize)]
struct RawFingerprint {
    #[serde(rename = "first_bytes", alias = "FirstBytes", default)]
    first_bytes: Option<String>,
}

fn corrupt(path: &Path, byte: u64, what: impl Into<String>) -> StoreError {
    StoreError::corrupt(
        path,
        Position {
            line: None,
            byte: Some(byte),
        },
        what,
    )
}

/// Decodes the value of `file_input.knownFiles` read from `path` (for errors: byte offsets
/// are into the value).
pub fn parse(path: &Path, value: &[u8]) -> Result<Vec<Known>, StoreError> {
    match value.first() {
        None | Some(0x0a) => parse_protobuf(path, value),
        Some(b) if b.is_ascii_digit() || b.is_ascii_whitespace() || *b == b'-' => {
            parse_json(path, value)
        }
        Some(b) => Err(corrupt(
            path,
            0,
            format!(
                "file_input.knownFiles starts with byte {b:#04x}: neither the JSON stream \
                 (a file count) nor a protobuf MetadataList"
            ),
        )),
    }
}

fn parse_json(path: &Path, value: &[u8]) -> Result<Vec<Known>, StoreError> {
    let mut stream = serde_json::Deserializer::from_slice(value).into_iter::<serde_json::Value>();
    let at = |s: &serde_json::StreamDeserializer<'_, _, _>| s.byte_offset() as u64;
    let count = match stream.next() {
        Some(Ok(serde_json::Value::Number(n))) => n.as_u64().ok_or_else(|| {
            corrupt(
                path,
                0,
                format!("file count {n} is not a non-negative integer"),
            )
        })?,
        Some(Ok(other)) => {
            return Err(corrupt(
                path,
                0,
                format!("the stream starts with {other}, not the file count"),
            ))
        }
        Some(Err(e)) => return Err(corrupt(path, 0, format!("the file count: {e}"))),
        None => return Err(corrupt(path, 0, "empty JSON stream: no file count")),
    };
    // The entries, straight into their struct (unknown fields skipped, no Value tree).
    let base = at(&stream);
    let mut entries =
        serde_json::Deserializer::from_slice(&value[base as usize..]).into_iter::<RawMeta>();
    let mut out = Vec::new();
    for i in 0..count {
        let start = base + entries.byte_offset() as u64;
        let raw = match entries.next() {
            Some(Ok(v)) => v,
            Some(Err(e)) => return Err(corrupt(path, start, format!("file {i}: {e}"))),
            None => {
                return Err(corrupt(
                    path,
                    start,
                    format!("the count says {count} files, the stream ends after {i}"),
                ))
            }
        };
        let first_bytes = match raw.fingerprint.and_then(|f| f.first_bytes) {
            Some(b64) => base64::engine::general_purpose::STANDARD
                .decode(b64.as_bytes())
                .map_err(|e| corrupt(path, start, format!("file {i}: fingerprint: {e}")))?,
            None => Vec::new(),
        };
        let offset = u64::try_from(raw.offset).map_err(|_| {
            corrupt(
                path,
                start,
                format!("file {i}: negative Offset {}", raw.offset),
            )
        })?;
        let (path_attr, name) = attributes(raw.attributes);
        out.push(Known {
            first_bytes,
            offset,
            path: path_attr,
            name,
            file_type: raw.file_type.unwrap_or_default(),
        });
    }
    Ok(out)
}

/// `log.file.path` / `log.file.name` from the attributes, `HeaderAttributes` merged first.
fn attributes(
    attrs: Option<serde_json::Map<String, serde_json::Value>>,
) -> (Option<PathBuf>, Option<String>) {
    let Some(mut attrs) = attrs else {
        return (None, None);
    };
    if let Some(serde_json::Value::Object(h)) = attrs.remove("HeaderAttributes") {
        attrs.extend(h);
    }
    let s = |k: &str| {
        attrs
            .get(k)
            .and_then(|v| v.as_str())
            .filter(|s| !s.is_empty())
    };
    let path = s("log.file.path")
        .or_else(|| s("log.file.path_resolved"))
        .map(PathBuf::from);
    let name = s("log.file.name").map(str::to_string);
    (path, name)
}

/// A protobuf reader of length-delimited and varint fields, bounded by its slice.
struct Pb<'a> {
    buf: &'a [u8],
    at: usize,
    /// The offset of `buf[0]` in the value (for errors).
    base: usize,
}

enum Field<'a> {
    Varint(u64),
    Bytes(&'a [u8], usize),
    Other,
}

impl<'a> Pb<'a> {
    fn varint(&mut self) -> Option<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = *self.buf.get(self.at)?;
            self.at += 1;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Some(v);
            }
        }
        None
    }

    /// The next field: its number and value; `Ok(None)` at the end.
    fn next(&mut self) -> Result<Option<(u64, Field<'a>)>, (usize, String)> {
        if self.at >= self.buf.len() {
            return Ok(None);
        }
        let here = self.base + self.at;
        let bad = |w: &str| (here, w.to_string());
        let tag = self.varint().ok_or_else(|| bad("cut varint tag"))?;
        let field = tag >> 3;
        let v = match tag & 7 {
            0 => Field::Varint(self.varint().ok_or_else(|| bad("cut varint"))?),
            1 | 5 => {
                let n = if tag & 7 == 1 { 8 } else { 4 };
                if self.buf.len() - self.at < n {
                    return Err(bad("cut fixed-size field"));
                }
                self.at += n;
                Field::Other
            }
            2 => {
                let len = self.varint().ok_or_else(|| bad("cut length"))?;
                let len = usize::try_from(len)
                    .ok()
                    .filter(|l| *l <= self.buf.len() - self.at)
                    .ok_or_else(|| bad("length past the end"))?;
                let start = self.at;
                self.at += len;
                Field::Bytes(&self.buf[start..start + len], self.base + start)
            }
            w => return Err(bad(&format!("wire type {w}"))),
        };
        if field == 0 {
            return Err(bad("field number 0"));
        }
        Ok(Some((field, v)))
    }
}

fn parse_protobuf(path: &Path, value: &[u8]) -> Result<Vec<Known>, StoreError> {
    let err = |(at, what): (usize, String)| {
        corrupt(path, at as u64, format!("protobuf MetadataList: {what}"))
    };
    let mut list = Pb {
        buf: value,
        at: 0,
        base: 0,
    };
    let mut out = Vec::new();
    while let Some((field, v)) = list.next().map_err(err)? {
        let (1, Field::Bytes(m, base)) = (field, v) else {
            continue;
        };
        let mut meta = Pb {
            buf: m,
            at: 0,
            base,
        };
        let mut known = Known {
            first_bytes: Vec::new(),
            offset: 0,
            path: None,
            name: None,
            file_type: String::new(),
        };
        while let Some((f, v)) = meta.next().map_err(err)? {
            match (f, v) {
                (1, Field::Bytes(fp, fb)) => {
                    let mut fpm = Pb {
                        buf: fp,
                        at: 0,
                        base: fb,
                    };
                    while let Some((ff, fv)) = fpm.next().map_err(err)? {
                        if let (1, Field::Bytes(b, _)) = (ff, fv) {
                            known.first_bytes = b.to_vec();
                        }
                    }
                }
                (2, Field::Varint(o)) => {
                    // int64: a negative offset is a huge varint.
                    known.offset = i64::try_from(o)
                        .ok()
                        .and_then(|o| u64::try_from(o).ok())
                        .ok_or_else(|| {
                            corrupt(path, base as u64, format!("negative offset {}", o as i64))
                        })?;
                }
                (4, Field::Bytes(attrs, ab)) => {
                    let map = serde_json::from_slice(attrs).map_err(|e| {
                        corrupt(path, ab as u64, format!("file_attributes JSON: {e}"))
                    })?;
                    (known.path, known.name) = attributes(Some(map));
                }
                (8, Field::Bytes(t, _)) => {
                    known.file_type = String::from_utf8_lossy(t).into_owned()
                }
                _ => {}
            }
        }
        out.push(known);
    }
    Ok(out)
}

/// The cursors of `known`; entries without a fingerprint (the collector matches nothing with
/// them) are counted as skipped.
pub fn cursors(known: &[Known]) -> (Vec<Cursor>, Vec<SkippedEntries>) {
    use sha2::{Digest, Sha256};
    let mut cursors = Vec::with_capacity(known.len());
    let mut empty = 0;
    for (i, k) in known.iter().enumerate() {
        if k.first_bytes.is_empty() {
            empty += 1;
            continue;
        }
        cursors.push(Cursor {
            key: match &k.name {
                Some(n) => format!("knownFiles[{i}] {n}"),
                None => format!("knownFiles[{i}]"),
            }
            .into(),
            identity: Identity::Fingerprint {
                spec: Box::new(FingerprintSpec::Sha256Window {
                    offset: 0,
                    length: k.first_bytes.len() as u64,
                }),
                value: hex::encode(Sha256::digest(&k.first_bytes)).into(),
            },
            path: k.path.clone().map(Into::into),
            offset: k.offset,
            unit: if k.file_type == ".gz" {
                OffsetUnit::DecompressedBytes
            } else {
                OffsetUnit::Bytes
            },
        });
    }
    let skipped = if empty > 0 {
        vec![SkippedEntries {
            prefix: "known file without a fingerprint".into(),
            count: empty,
        }]
    } else {
        Vec::new()
    };
    (cursors, skipped)
}
