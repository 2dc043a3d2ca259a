//! `syslog-ng.persist` files in the exact SLP4 layout syslog-ng's `persist-state.c` writes:
//! values allocated from 4096 in 8-byte steps behind an 8-byte big-endian header, key
//! records appended to the first key block and, once it is full, to 4096-byte key blocks
//! allocated as values and chained from the previous block, the file grown in 16 KiB steps.

use std::io;
use std::path::Path;

/// One entry to write.
#[derive(Debug, Clone)]
pub struct Value {
    pub name: Vec<u8>,
    pub value: Vec<u8>,
    pub in_use: bool,
    pub version: u8,
}

impl Value {
    /// An in-use, version-4 entry.
    pub fn new(name: impl Into<Vec<u8>>, value: impl Into<Vec<u8>>) -> Value {
        Value {
            name: name.into(),
            value: value.into(),
            in_use: true,
            version: 4,
        }
    }
}

/// The pre-4.8.1 key of a `file()` or `wildcard-file()` file.
pub fn legacy_key(path: &str) -> String {
    format!("affile_sd_curpos({path})")
}

/// The 4.8.1+ key: `affile_sd` (`file()`) or `wildcard_file_sd`, the persist name, the
/// `g_str_hash` of the path and as much of the path's end as fits in 1023 bytes.
pub fn key(wildcard: bool, persist_name: Option<&str>, path: &str) -> Vec<u8> {
    let prefix = if wildcard {
        "wildcard_file_sd"
    } else {
        "affile_sd"
    };
    let hash = crate::adapters::syslogng::persist::g_str_hash(path.as_bytes());
    let base = match persist_name {
        Some(pn) => format!("{prefix}.{pn}.{hash}.curpos"),
        None => format!("{prefix}.{hash}.curpos"),
    };
    let mut out = base.clone().into_bytes();
    if base.len() < 1024 - 3 {
        let room = 1024 - base.len() - 3;
        let p = path.as_bytes();
        out.push(b'(');
        out.extend_from_slice(&p[p.len().saturating_sub(room)..]);
        out.push(b')');
    }
    out
}

/// A 72-byte file position (`LogProtoBufferedServerState`) in host byte order: acked up to
/// `acked`, read up to `read`, the file's size when opened and its inode. The offsets are
/// split between the buffer start and the position in it, as syslog-ng records them.
pub fn position(acked: u64, read: u64, size_at_open: u64, inode: u64) -> Vec<u8> {
    position_in(
        acked,
        read,
        size_at_open,
        inode,
        cfg!(target_endian = "big"),
    )
}

/// [`position`] in the byte order `big_endian` (the state's header says which).
pub fn position_in(
    acked: u64,
    read: u64,
    size_at_open: u64,
    inode: u64,
    big_endian: bool,
) -> Vec<u8> {
    let split = |o: u64| {
        let in_buf = o.min(30_000);
        (o - in_buf, in_buf as u32)
    };
    let (raw, buffer_pos) = split(acked);
    let (pending_raw, pending_pos) = split(read);
    let mut v = vec![0u8; 72];
    v[1] = u8::from(big_endian);
    let put32 = |v: &mut Vec<u8>, at: usize, x: u32| {
        let b = if big_endian {
            x.to_be_bytes()
        } else {
            x.to_le_bytes()
        };
        v[at..at + 4].copy_from_slice(&b);
    };
    let put64 = |v: &mut Vec<u8>, at: usize, x: u64| {
        let b = if big_endian {
            x.to_be_bytes()
        } else {
            x.to_le_bytes()
        };
        v[at..at + 8].copy_from_slice(&b);
    };
    put32(&mut v, 4, buffer_pos);
    put32(&mut v, 8, pending_pos);
    put32(&mut v, 12, 65536);
    put32(&mut v, 20, pending_pos);
    put64(&mut v, 24, raw);
    put64(&mut v, 32, pending_raw);
    put32(&mut v, 40, buffer_pos);
    put64(&mut v, 56, size_at_open);
    put64(&mut v, 64, inode);
    v
}

/// The bytes of a persist file holding `values` (in this order; a repeated name is
/// appended again, as syslog-ng does when it re-allocates an entry).
pub fn bytes(values: &[Value]) -> Vec<u8> {
    const HEADER: usize = 4096;
    const GROW: usize = 16384;
    const MAX_ENTRY: usize = 8448;
    let mut f = vec![0u8; GROW];
    f[..4].copy_from_slice(b"SLP4");
    let mut ofs = HEADER;
    let (mut key_block, mut key_size, mut key_ofs) = (64usize, HEADER - 64, 0usize);
    let mut count = 0u32;
    let grow = |f: &mut Vec<u8>, ofs: usize| {
        while ofs + MAX_ENTRY >= f.len() {
            let n = f.len() + GROW;
            f.resize(n, 0);
        }
    };
    let alloc = |f: &mut Vec<u8>, ofs: &mut usize, size: usize, in_use: bool, version: u8| {
        let padded = size.div_ceil(8) * 8;
        let h = *ofs + 8;
        f[*ofs..*ofs + 4].copy_from_slice(&(size as u32).to_be_bytes());
        f[*ofs + 4] = u8::from(in_use);
        f[*ofs + 5] = version;
        *ofs += padded + 8;
        grow(f, *ofs);
        h
    };
    for v in values {
        let h = alloc(&mut f, &mut ofs, v.value.len(), v.in_use, v.version);
        f[h..h + v.value.len()].copy_from_slice(&v.value);
        let record = 4 + v.name.len() + 4;
        // 8 bytes stay free in every block for the chain link.
        if key_ofs + record > key_size - 8 {
            let nb = alloc(&mut f, &mut ofs, 4096, true, 0);
            let at = key_block + key_ofs;
            f[at..at + 4].copy_from_slice(&0u32.to_be_bytes());
            f[at + 4..at + 8].copy_from_slice(&(nb as u32).to_be_bytes());
            (key_block, key_size, key_ofs) = (nb, 4096, 0);
        }
        let at = key_block + key_ofs;
        f[at..at + 4].copy_from_slice(&(v.name.len() as u32).to_be_bytes());
        f[at + 4..at + 4 + v.name.len()].copy_from_slice(&v.name);
        f[at + 4 + v.name.len()..at + record].copy_from_slice(&(h as u32).to_be_bytes());
        key_ofs += record;
        count += 1;
        f[8..12].copy_from_slice(&count.to_be_bytes());
    }
    f
}

/// Writes a persist file holding `values` at `path` (atomically, by rename, as syslog-ng
/// commits a new one at start).
pub fn write(path: &Path, values: &[Value]) -> io::Result<()> {
    let tmp = path.with_extension("persist-");
    std::fs::write(&tmp, bytes(values))?;
    std::fs::rename(tmp, path)
}
