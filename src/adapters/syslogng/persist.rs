//! The `syslog-ng.persist` file (persist format `SLP4`, syslog-ng 3.x to 4.11, from
//! `lib/persist-state.c`), read strictly read-only: syslog-ng maps it `MAP_SHARED` and updates
//! values in place, so drainguard only ever reads a copy of its bytes (never maps it, never
//! locks it).
//!
//! Layout (metadata big-endian): `"SLP4"`, `u32 flags`, `u32 key_count`, 52 reserved bytes,
//! then at 64 the first key block (4032 bytes; the header is 4096). A key record is
//! `u32 name_len, name, u32 value_handle`; `name_len == 0` is a chain link whose `u32` is the
//! offset of the next key block (its size is the value header before it). The same name may
//! appear more than once (re-allocation appends): the last record wins. A value has an
//! 8-byte header at `handle - 8`: `u32 size, u8 in_use, u8 version, u16 pad`.
//!
//! A file source's position (`LogProtoBufferedServerState`, 72 bytes, in the byte order its
//! own header names) records the acknowledged offset `raw_stream_pos + buffer_pos`, the read
//! offset `pending_raw_stream_pos + pending_buffer_pos`, the file's size when opened and its
//! inode. Keys: `affile_sd_curpos(<path>)` (or `affile_sd.<persist-name>.curpos`) before
//! 4.8.1; from 4.8.1 `affile_sd|wildcard_file_sd[.<persist-name>].<g_str_hash>.curpos(<path
//! tail>)`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::error::{Position, StoreError};

/// The persist file header, padded to this size; values start after it.
pub const HEADER_SIZE: usize = 4096;
/// Where the first key block starts and how long it is.
const FIRST_KEY_BLOCK: (usize, usize) = (64, HEADER_SIZE - 64);
/// The size of a file position value.
pub const POSITION_SIZE: usize = 72;

/// One value of the persist file, by its key (the last record of that name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub name: Vec<u8>,
    /// Byte offset of the value in the file.
    pub handle: u32,
    /// Looked up or allocated by the running configuration (0: a previous configuration's,
    /// or a wildcard-file source's finished and removed file).
    pub in_use: bool,
    /// The value's format version (4 for current entries; < 4: pre-3.x formats).
    pub version: u8,
    /// The value's size, as its header says.
    pub size: u32,
    /// Its first bytes (at most [`VALUE_PREFIX`]: a file position and a little more; the
    /// rest of a larger value is never needed).
    pub value: Vec<u8>,
}

/// How much of each value is kept: enough to tell a 72-byte position from a larger value.
pub const VALUE_PREFIX: usize = POSITION_SIZE + 8;
/// syslog-ng's largest value (`PERSIST_FILE_MAX_ENTRY_SIZE` minus its header).
pub const MAX_VALUE: usize = 8448 - 8;

/// Every key of a persist file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Persist {
    pub entries: Vec<Entry>,
}

fn corrupt(path: &Path, at: usize, what: impl Into<String>) -> StoreError {
    StoreError::corrupt(
        path,
        Position {
            line: None,
            byte: Some(at as u64),
        },
        what.into(),
    )
}

fn be32(bytes: &[u8], at: usize) -> Option<u32> {
    let b = bytes.get(at..at.checked_add(4)?)?;
    Some(u32::from_be_bytes(b.try_into().ok()?))
}

impl Persist {
    /// Parses a whole persist file (`path` only names it in errors).
    pub fn parse(path: &Path, bytes: &[u8]) -> Result<Persist, StoreError> {
        match bytes.get(..4) {
            Some(b"SLP4") => {}
            Some(b"SLP2" | b"SLP3") => {
                return Err(StoreError::Unsupported {
                    path: path.into(),
                    what: "a pre-3.0 syslog-ng persist file (SLP2/SLP3); syslog-ng converts it to \
                           SLP4 when it starts"
                        .into(),
                })
            }
            _ => {
                return Err(corrupt(
                    path,
                    0,
                    "not a syslog-ng persist file (no \"SLP4\" magic)",
                ))
            }
        }
        if bytes.len() < HEADER_SIZE {
            return Err(corrupt(
                path,
                bytes.len(),
                format!(
                    "{} bytes, shorter than the {HEADER_SIZE}-byte persist header",
                    bytes.len()
                ),
            ));
        }
        let key_count = be32(bytes, 8).unwrap_or(0) as usize;
        let (mut block, mut block_len) = FIRST_KEY_BLOCK;
        let mut pos = 0usize;
        let mut seen = 0usize;
        let mut visited = vec![block];
        let mut by_name: HashMap<Vec<u8>, usize> = HashMap::new();
        let mut entries: Vec<Entry> = Vec::new();
        while seen < key_count {
            let at = block + pos;
            let room = block_len.saturating_sub(pos);
            let Some(len) = be32(bytes, at).filter(|_| room >= 4) else {
                return Err(corrupt(
                    path,
                    at,
                    format!("key record {seen} of {key_count} runs past its key block"),
                ));
            };
            let len = len as usize;
            if len == 0 {
                let Some(next) = be32(bytes, at + 4).filter(|_| room >= 8) else {
                    return Err(corrupt(path, at, "key block chain link cut short"));
                };
                let next = next as usize;
                if next < HEADER_SIZE + 8 || next > bytes.len() {
                    return Err(corrupt(
                        path,
                        at + 4,
                        format!("key block chain offset {next} is outside the file"),
                    ));
                }
                let size = be32(bytes, next - 8).unwrap_or(0) as usize;
                if next.saturating_add(size) > bytes.len() {
                    return Err(corrupt(
                        path,
                        next - 8,
                        format!("key block of {size} bytes at {next} runs past the file end"),
                    ));
                }
                if visited.contains(&next) {
                    return Err(corrupt(
                        path,
                        at + 4,
                        format!("key block chain loops back to {next}"),
                    ));
                }
                visited.push(next);
                (block, block_len, pos) = (next, size, 0);
                continue;
            }
            let name_end = 4usize.saturating_add(len);
            let Some(handle) = be32(bytes, at.saturating_add(name_end))
                .filter(|_| room >= name_end.saturating_add(4))
            else {
                return Err(corrupt(
                    path,
                    at,
                    format!("key record of {len} name bytes runs past its key block"),
                ));
            };
            let name = bytes[at + 4..at + name_end].to_vec();
            pos += name_end + 4;
            seen += 1;
            let h = handle as usize;
            if h < HEADER_SIZE || h > bytes.len() {
                return Err(corrupt(
                    path,
                    at + name_end,
                    format!(
                        "entry {} points at {h}, outside the file's values",
                        String::from_utf8_lossy(&name)
                    ),
                ));
            }
            let size = be32(bytes, h - 8).unwrap_or(0) as usize;
            if size > MAX_VALUE {
                return Err(corrupt(
                    path,
                    h - 8,
                    format!(
                        "entry {} claims {size} bytes, more than syslog-ng's largest \
                         ({MAX_VALUE})",
                        String::from_utf8_lossy(&name)
                    ),
                ));
            }
            let Some(value) = bytes.get(h..h.saturating_add(size)) else {
                return Err(corrupt(
                    path,
                    h - 8,
                    format!(
                        "entry {} has {size} bytes at {h}, past the file end",
                        String::from_utf8_lossy(&name)
                    ),
                ));
            };
            let entry = Entry {
                name,
                handle,
                in_use: bytes[h - 4] != 0,
                version: bytes[h - 3],
                size: size as u32,
                value: value[..size.min(VALUE_PREFIX)].to_vec(),
            };
            // The last record of a name wins (syslog-ng appends, never updates in place).
            match by_name.get(&entry.name) {
                Some(&i) => entries[i] = entry,
                None => {
                    by_name.insert(entry.name.clone(), entries.len());
                    entries.push(entry);
                }
            }
        }
        Ok(Persist { entries })
    }
}

/// What a key says about the file it tracks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileKey {
    /// `file()` (`affile_sd`) or `wildcard-file()` (`wildcard_file_sd`).
    pub wildcard: bool,
    /// The 4.8.1+ form, with the hash of the file name.
    pub hash: Option<u32>,
    /// The source's `persist-name()`, when set.
    pub persist_name: Option<String>,
    /// The file name the key ends with (4.8.1+: its tail, cut to fit 1023 bytes).
    pub name: Option<Vec<u8>>,
}

impl FileKey {
    /// The file's full path when the key names it: the pre-4.8.1 name, or a 4.8.1+ tail
    /// whose hash is the key's (nothing was cut).
    pub fn path(&self) -> Option<PathBuf> {
        let name = self.name.as_ref()?;
        match self.hash {
            Some(h) if g_str_hash(name) != h => None,
            _ => Some(super::super::common::path_from_bytes(name)),
        }
    }
}

/// Recognises a file source's position key (`None` for any other key).
pub fn file_key(name: &[u8]) -> Option<FileKey> {
    if let Some(rest) = name.strip_prefix(b"affile_sd_curpos(") {
        return Some(FileKey {
            wildcard: false,
            hash: None,
            persist_name: None,
            name: Some(rest.strip_suffix(b")")?.to_vec()),
        });
    }
    let (wildcard, rest) = if let Some(r) = name.strip_prefix(b"affile_sd.") {
        (false, r)
    } else {
        (true, name.strip_prefix(b"wildcard_file_sd.")?)
    };
    // `<middle>.curpos` or `<middle>.curpos(<tail>)`; the tail may itself hold ".curpos(".
    let at = find(rest, b".curpos")?;
    let (middle, after) = (&rest[..at], &rest[at + b".curpos".len()..]);
    let tail = match after {
        [] => None,
        [b'(', t @ .., b')'] => Some(t.to_vec()),
        _ => return None,
    };
    let text = std::str::from_utf8(middle).ok()?;
    // 4.8.1+: the last dotted part is the hash; before 4.8.1 `affile_sd.<persist-name>.curpos`.
    let (persist_name, hash) = match text.rsplit_once('.') {
        Some((pn, h)) if h.bytes().all(|b| b.is_ascii_digit()) && !h.is_empty() => {
            (Some(pn.to_string()), h.parse::<u32>().ok())
        }
        _ if tail.is_some() || wildcard => (None, text.parse::<u32>().ok()),
        _ => (Some(text.to_string()), None),
    };
    if (wildcard || tail.is_some()) && hash.is_none() {
        return None;
    }
    Some(FileKey {
        wildcard,
        hash,
        persist_name,
        name: tail,
    })
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// glib's `g_str_hash` (djb2 over signed chars), as syslog-ng 4.8.1+ hashes a file name
/// into its position key.
pub fn g_str_hash(s: &[u8]) -> u32 {
    s.iter().fold(5381u32, |h, &c| {
        h.wrapping_mul(33).wrapping_add(c as i8 as i32 as u32)
    })
}

/// A file source's position (`LogProtoBufferedServerState`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FilePosition {
    /// Acknowledged up to here (`raw_stream_pos + buffer_pos`).
    pub acked: u64,
    /// Read up to here (`pending_raw_stream_pos + pending_buffer_pos`).
    pub read: u64,
    /// The file's size when syslog-ng opened it.
    pub size_at_open: u64,
    pub inode: u64,
    /// Bytes read but held back (a line without its newline yet), beyond `read`.
    pub pending_raw: u64,
}

/// Parses a 72-byte position value (`v`: its first bytes, `size`: its whole size); `at` is
/// its offset in the file (for errors).
pub fn file_position(
    path: &Path,
    at: usize,
    size: u32,
    v: &[u8],
) -> Result<FilePosition, StoreError> {
    if (size as usize) < POSITION_SIZE || v.len() < POSITION_SIZE {
        return Err(corrupt(
            path,
            at,
            format!(
                "a file position of {} bytes, shorter than the {POSITION_SIZE} of syslog-ng's",
                v.len()
            ),
        ));
    }
    if size as usize > POSITION_SIZE || v[0] > 1 {
        return Err(StoreError::Unsupported {
            path: path.into(),
            what: format!(
                "a file position of {size} bytes, version {} at byte {at} (drainguard reads \
                 the {POSITION_SIZE}-byte version 0 of syslog-ng 3.x to 4.11)",
                v[0]
            ),
        });
    }
    let big = v[1] & 1 == 1;
    let u32_at = |o: usize| {
        let b: [u8; 4] = v[o..o + 4].try_into().unwrap_or_default();
        if big {
            u32::from_be_bytes(b)
        } else {
            u32::from_le_bytes(b)
        }
    };
    let i64_at = |o: usize| {
        let b: [u8; 8] = v[o..o + 8].try_into().unwrap_or_default();
        if big {
            i64::from_be_bytes(b)
        } else {
            i64::from_le_bytes(b)
        }
    };
    let field = |o: usize, name: &str| -> Result<u64, StoreError> {
        u64::try_from(i64_at(o))
            .map_err(|_| corrupt(path, at + o, format!("negative {name} in a file position")))
    };
    let (buffer_pos, buffer_size, pending_buffer_pos) = (u32_at(4), u32_at(12), u32_at(20));
    if buffer_size > 0 && (buffer_pos > buffer_size || pending_buffer_pos > buffer_size) {
        return Err(corrupt(
            path,
            at + 4,
            format!(
                "buffer position {buffer_pos}/{pending_buffer_pos} beyond the buffer's \
                 {buffer_size} bytes (a torn read? re-read)"
            ),
        ));
    }
    let raw = field(24, "raw_stream_pos")?;
    let pending = field(32, "pending_raw_stream_pos")?;
    let pending_raw_size = u32_at(44) as i32;
    let sum = |a: u64, b: u32, o: usize| {
        a.checked_add(u64::from(b))
            .ok_or_else(|| corrupt(path, at + o, "file offset overflows"))
    };
    Ok(FilePosition {
        acked: sum(raw, buffer_pos, 24)?,
        read: sum(pending, pending_buffer_pos, 32)?,
        size_at_open: field(56, "file_size")?,
        inode: i64_at(64) as u64,
        pending_raw: u64::try_from(pending_raw_size).unwrap_or(0),
    })
}
