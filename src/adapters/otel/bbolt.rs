//! A read-only reader of bbolt database files (`go.etcd.io/bbolt`, the store of the
//! OpenTelemetry Collector's `file_storage` extension): one key's value, found by walking the
//! pages it lies on, nothing else read.
//!
//! Why not a crate: `bolt-lite` reads the whole file into memory and skips the meta checksum;
//! `bbolt-rs` locks the file and refuses `NoFreelistSync` databases (which file_storage always
//! writes). A bbolt reader must not lock: the collector holds `flock(LOCK_EX)` on its files
//! while it runs, and bbolt's own read-only open takes `LOCK_SH`, which would wait for it. So
//! this reader takes no lock, never writes, never maps the file (a writer may truncate or
//! grow it under a mapping), and reads with `pread` only the pages on the way to the key.
//!
//! # The layout (bbolt 1.3 `page.go`, `db.go`, `bucket.go`; host byte order, little-endian on
//! every platform the collector ships for)
//!
//! - Page *n* starts at `n * page_size` and spans `(overflow + 1) * page_size` bytes. Its
//!   16-byte header: `id u64, flags u16, count u16, overflow u32`; flags `0x01` branch,
//!   `0x02` leaf, `0x04` meta, `0x10` freelist. A page's `id` is its own number.
//! - Pages 0 and 1 are the meta pages: after the header, `magic u32 = 0xED0CDAED, version u32
//!   = 2, page_size u32, flags u32, root {pgid u64, sequence u64}, freelist u64, pgid u64 (the
//!   high-water mark: every page id is below it), txid u64, checksum u64` (FNV-1a 64 of the 56
//!   bytes before it; 0 is accepted, as bbolt does). The valid one with the higher txid is the
//!   current one (`DB.meta`). The page size comes from meta page 0, or is 4096 when that one
//!   is invalid (bbolt uses the OS page size then).
//! - A branch page holds `count` elements of 16 bytes, `pos u32, ksize u32, pgid u64`; a leaf
//!   page elements `flags u32, pos u32, ksize u32, vsize u32`. `pos` counts from the element's
//!   own address; a leaf's value follows its key. Keys are sorted (bytewise).
//! - A leaf element with flag `0x01` is a bucket: its value starts with `{root u64, sequence
//!   u64}`; `root == 0` is an inline bucket, whose leaf page image (header and elements)
//!   follows in the value itself.
//!
//! # Reading while the collector writes
//!
//! bbolt is copy-on-write: a commit writes new pages and then the other meta page, never a
//! page the current meta reaches. Pages the current meta (txid T) reaches are freed by the
//! next commit (T+1) and may be rewritten by the one after (T+2), which bbolt allows because it
//! cannot see this reader. So a read is consistent when the current meta is still T after
//! it: [`read_value`] checks that, and reads again when a commit came in between (or when
//! the pages looked broken and the meta moved meanwhile). A store that keeps changing under
//! every attempt is [`Error::Unstable`], which the adapter reports as unknown, never as
//! "nothing read".
//!
//! Every page id, count, position and size is checked against the page, the meta's high-water
//! mark and the file's size; the walk is depth-limited and never visits a page twice (a cycle
//! in a hostile file); at most [`READ_BUDGET`] bytes are read per attempt.

use std::collections::HashSet;
use std::fs::File;
use std::os::unix::fs::FileExt;

/// bbolt's magic number.
pub const MAGIC: u32 = 0xED0C_DAED;
/// The only file format version bbolt has written.
pub const VERSION: u32 = 2;

const PAGE_HEADER: usize = 16;
const ELEMENT: usize = 16;
const META_LEN: usize = 64;
const BRANCH: u16 = 0x01;
const LEAF: u16 = 0x02;
const META: u16 = 0x04;
const BUCKET_LEAF: u32 = 0x01;

/// Page sizes accepted from a meta page (bbolt takes any; real files use the OS page size).
const MIN_PAGE: u32 = 512;
const MAX_PAGE: u32 = 1 << 20;
/// The deepest a B+tree walk goes (a real tree of 2^32 keys is about 10 deep).
const MAX_DEPTH: usize = 64;
/// The most bytes one attempt reads (a checkpoint of 10^5 files is about 150 MB).
pub const READ_BUDGET: u64 = 1 << 30;
/// How many times a read that a commit overtook is made again.
pub const ATTEMPTS: usize = 8;

/// Where the pages come from: a file read with `pread`, or bytes in memory (tests, fuzzing).
pub trait Source {
    /// The current size in bytes.
    fn size(&self) -> std::io::Result<u64>;
    /// Fills `buf` from byte `offset`; an error when the file ends first.
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> std::io::Result<()>;
}

impl Source for File {
    fn size(&self) -> std::io::Result<u64> {
        Ok(self.metadata()?.len())
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> std::io::Result<()> {
        self.read_exact_at(buf, offset)
    }
}

impl Source for [u8] {
    fn size(&self) -> std::io::Result<u64> {
        Ok(self.len() as u64)
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> std::io::Result<()> {
        let start = usize::try_from(offset).map_err(|_| eof())?;
        let end = start.checked_add(buf.len()).ok_or_else(eof)?;
        let src = self.get(start..end).ok_or_else(eof)?;
        buf.copy_from_slice(src);
        Ok(())
    }
}

fn eof() -> std::io::Error {
    std::io::Error::from(std::io::ErrorKind::UnexpectedEof)
}

/// Why a value could not be read.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading the file failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The file is not a bbolt database, or its pages are broken (a stable meta: not a read
    /// that a commit overtook). `at` is the byte offset in the file.
    #[error("{what}")]
    Corrupt { at: u64, what: String },
    /// Every attempt was overtaken by a commit: what the store holds is not known.
    #[error(
        "the database changed during each of {ATTEMPTS} reads (last: {last}): its content \
         is not known"
    )]
    Unstable { last: String },
}

fn corrupt(at: u64, what: impl Into<String>) -> Error {
    Error::Corrupt {
        at,
        what: what.into(),
    }
}

/// A valid meta page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Meta {
    pub page_size: u32,
    pub root: u64,
    pub freelist: u64,
    pub pgid: u64,
    pub txid: u64,
}

/// FNV-1a 64.
fn fnv1a64(data: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in data {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}
fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}
fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

/// Decodes the meta page image `page` (header and meta), `Err` saying what is wrong.
fn decode_meta(page: &[u8]) -> Result<Meta, String> {
    let flags = u16_at(page, 8);
    if flags & META == 0 {
        return Err(format!("page flags {flags:#x}, not a meta page"));
    }
    let m = &page[PAGE_HEADER..PAGE_HEADER + META_LEN];
    let magic = u32_at(m, 0);
    if magic != MAGIC {
        return Err(format!("magic {magic:#010x}, not bbolt's {MAGIC:#010x}"));
    }
    let version = u32_at(m, 4);
    if version != VERSION {
        return Err(format!("format version {version}, only {VERSION} is known"));
    }
    let sum = u64_at(m, 56);
    if sum != 0 && sum != fnv1a64(&m[..56]) {
        return Err("checksum mismatch (a meta page being written, or damaged)".into());
    }
    let meta = Meta {
        page_size: u32_at(m, 8),
        root: u64_at(m, 16),
        freelist: u64_at(m, 32),
        pgid: u64_at(m, 40),
        txid: u64_at(m, 48),
    };
    if !(MIN_PAGE..=MAX_PAGE).contains(&meta.page_size) {
        return Err(format!("page size {} out of range", meta.page_size));
    }
    if meta.root >= meta.pgid || meta.root < 2 {
        return Err(format!(
            "root page {} outside pages 2..{}",
            meta.root, meta.pgid
        ));
    }
    Ok(meta)
}

/// Reads both meta pages and returns the current one (the valid one with the higher txid).
pub fn current_meta(src: &(impl Source + ?Sized)) -> Result<Meta, Error> {
    let size = src.size()?;
    let mut first = [0u8; PAGE_HEADER + META_LEN];
    if size < first.len() as u64 {
        return Err(corrupt(
            0,
            format!("{size} bytes: too short for a bbolt file"),
        ));
    }
    src.read_at(0, &mut first)?;
    let m0 = decode_meta(&first);
    let page_size = m0.as_ref().map_or(4096, |m| m.page_size);
    let mut second = [0u8; PAGE_HEADER + META_LEN];
    let m1 = if size >= u64::from(page_size) + second.len() as u64 {
        src.read_at(u64::from(page_size), &mut second)?;
        decode_meta(&second).and_then(|m| {
            if m.page_size == page_size {
                Ok(m)
            } else {
                Err(format!(
                    "page size {} differs from meta page 0's {page_size}",
                    m.page_size
                ))
            }
        })
    } else {
        Err(format!("the file ends ({size} bytes) before it"))
    };
    match (m0, m1) {
        (Ok(a), Ok(b)) => Ok(if b.txid > a.txid { b } else { a }),
        (Ok(a), Err(_)) => Ok(a),
        (Err(_), Ok(b)) => Ok(b),
        (Err(e0), Err(e1)) => Err(corrupt(
            0,
            format!("no valid meta page: page 0: {e0}; page 1: {e1}"),
        )),
    }
}

/// One page (with its overflow pages) read from the file, or an inline bucket's page image.
struct Page {
    buf: Vec<u8>,
    /// The file offset of `buf[0]` (for errors; an inline page: its bucket value's offset).
    at: u64,
    flags: u16,
    count: usize,
}

impl Page {
    fn parse(buf: Vec<u8>, at: u64) -> Result<Page, Error> {
        if buf.len() < PAGE_HEADER {
            return Err(corrupt(at, "page shorter than its header"));
        }
        let flags = u16_at(&buf, 8);
        let count = usize::from(u16_at(&buf, 10));
        let elements = PAGE_HEADER + count * ELEMENT;
        if elements > buf.len() {
            return Err(corrupt(
                at,
                format!(
                    "{count} elements do not fit in a page of {} bytes",
                    buf.len()
                ),
            ));
        }
        Ok(Page {
            buf,
            at,
            flags,
            count,
        })
    }

    /// Bytes `[start, start + len)` of element `i`'s data (`pos` counts from the element).
    fn slice(&self, i: usize, pos: u32, len: u64) -> Result<&[u8], Error> {
        let elem = PAGE_HEADER + i * ELEMENT;
        let start = (elem as u64).checked_add(u64::from(pos));
        let end = start.and_then(|s| s.checked_add(len));
        match (start, end) {
            (Some(s), Some(e)) if e <= self.buf.len() as u64 => {
                Ok(&self.buf[s as usize..e as usize])
            }
            _ => Err(corrupt(
                self.at + elem as u64,
                format!(
                    "element {i} points past its page (pos {pos}, {len} bytes, page of {})",
                    self.buf.len()
                ),
            )),
        }
    }

    fn element(&self, i: usize) -> &[u8] {
        let e = PAGE_HEADER + i * ELEMENT;
        &self.buf[e..e + ELEMENT]
    }

    fn branch_key(&self, i: usize) -> Result<&[u8], Error> {
        let e = self.element(i);
        self.slice(i, u32_at(e, 0), u64::from(u32_at(e, 4)))
    }

    fn branch_child(&self, i: usize) -> u64 {
        u64_at(self.element(i), 8)
    }

    /// Leaf element `i`: its flags, key and value.
    fn leaf(&self, i: usize) -> Result<(u32, &[u8], &[u8]), Error> {
        let e = self.element(i);
        let (flags, pos, ksize, vsize) = (u32_at(e, 0), u32_at(e, 4), u32_at(e, 8), u32_at(e, 12));
        let kv = self.slice(i, pos, u64::from(ksize) + u64::from(vsize))?;
        let (k, v) = kv.split_at(ksize as usize);
        Ok((flags, k, v))
    }

    /// The file offset of leaf element `i`'s value (for errors).
    fn value_at(&self, i: usize) -> u64 {
        let e = self.element(i);
        let elem = (PAGE_HEADER + i * ELEMENT) as u64;
        self.at + elem + u64::from(u32_at(e, 4)) + u64::from(u32_at(e, 8))
    }
}

/// One attempt's walk: the meta it follows, what it read.
struct Walk<'a, S: Source + ?Sized> {
    src: &'a S,
    meta: Meta,
    size: u64,
    visited: HashSet<u64>,
    read: u64,
}

impl<S: Source + ?Sized> Walk<'_, S> {
    fn page(&mut self, id: u64, from: u64) -> Result<Page, Error> {
        if id < 2 || id >= self.meta.pgid {
            return Err(corrupt(
                from,
                format!("page id {id} outside pages 2..{}", self.meta.pgid),
            ));
        }
        if !self.visited.insert(id) {
            return Err(corrupt(
                from,
                format!("page {id} is reached twice (a cycle)"),
            ));
        }
        let ps = u64::from(self.meta.page_size);
        let at = id
            .checked_mul(ps)
            .filter(|a| a + PAGE_HEADER as u64 <= self.size);
        let Some(at) = at else {
            return Err(corrupt(
                from,
                format!(
                    "page {id} lies past the end of the file ({} bytes)",
                    self.size
                ),
            ));
        };
        let mut head = [0u8; PAGE_HEADER];
        self.src.read_at(at, &mut head)?;
        let stored = u64_at(&head, 0);
        if stored != id {
            return Err(corrupt(at, format!("page {id} says it is page {stored}")));
        }
        let overflow = u64::from(u32_at(&head, 12));
        let len = overflow
            .checked_add(1)
            .and_then(|n| n.checked_mul(ps))
            .filter(|len| id.saturating_add(overflow) < self.meta.pgid && at + len <= self.size);
        let Some(len) = len else {
            return Err(corrupt(
                at,
                format!(
                    "page {id} with {overflow} overflow pages runs past the file ({} bytes) or \
                     the last page ({})",
                    self.size, self.meta.pgid
                ),
            ));
        };
        self.read = self.read.saturating_add(len);
        if self.read > READ_BUDGET {
            return Err(corrupt(
                at,
                format!("more than {READ_BUDGET} bytes on the way to the key"),
            ));
        }
        let mut buf = vec![0u8; len as usize];
        self.src.read_at(at, &mut buf)?;
        Page::parse(buf, at)
    }

    /// The leaf element `key` in the tree rooted at `root` (a page id, or an inline page).
    fn find(&mut self, mut page: Page, key: &[u8]) -> Result<Option<(Page, usize)>, Error> {
        for _ in 0..MAX_DEPTH {
            if page.flags & LEAF != 0 {
                for i in 0..page.count {
                    let (_, k, _) = page.leaf(i)?;
                    if k == key {
                        return Ok(Some((page, i)));
                    }
                }
                return Ok(None);
            }
            if page.flags & BRANCH == 0 {
                return Err(corrupt(
                    page.at,
                    format!("page flags {:#x}: neither branch nor leaf", page.flags),
                ));
            }
            if page.count == 0 {
                return Err(corrupt(page.at, "empty branch page"));
            }
            // The last element whose key is <= `key` (bbolt's `searchPage`), the first when
            // every key is greater.
            let mut child = 0;
            for i in 0..page.count {
                if page.branch_key(i)? <= key {
                    child = i;
                } else {
                    break;
                }
            }
            let id = page.branch_child(child);
            let from = page.at + (PAGE_HEADER + child * ELEMENT) as u64;
            page = self.page(id, from)?;
        }
        Err(corrupt(
            page.at,
            format!("tree deeper than {MAX_DEPTH} levels"),
        ))
    }

    /// Opens the bucket whose leaf value is `value` (at file offset `at`).
    fn bucket(&mut self, value: &[u8], at: u64) -> Result<Page, Error> {
        if value.len() < 16 {
            return Err(corrupt(
                at,
                format!("bucket value of {} bytes", value.len()),
            ));
        }
        match u64_at(value, 0) {
            0 => Page::parse(value[16..].to_vec(), at + 16),
            root => self.page(root, at),
        }
    }

    /// The value of `key` inside the nested buckets `path`.
    fn get(&mut self, path: &[&[u8]], key: &[u8]) -> Result<Option<Vec<u8>>, Error> {
        let root = self.meta.root;
        let mut page = self.page(root, 0)?;
        for name in path {
            let Some((leaf, i)) = self.find(page, name)? else {
                return Ok(None);
            };
            let (flags, _, v) = leaf.leaf(i)?;
            if flags & BUCKET_LEAF == 0 {
                return Err(corrupt(
                    leaf.value_at(i),
                    format!("{} is a key, not a bucket", String::from_utf8_lossy(name)),
                ));
            }
            let at = leaf.value_at(i);
            page = self.bucket(v, at)?;
        }
        let Some((leaf, i)) = self.find(page, key)? else {
            return Ok(None);
        };
        let (flags, _, v) = leaf.leaf(i)?;
        if flags & BUCKET_LEAF != 0 {
            return Err(corrupt(
                leaf.value_at(i),
                format!("{} is a bucket, not a key", String::from_utf8_lossy(key)),
            ));
        }
        Ok(Some(v.to_vec()))
    }
}

/// What a consistent read found: the value (`None`: no such bucket or key) and the meta it
/// was read under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Read {
    pub value: Option<Vec<u8>>,
    pub meta: Meta,
    /// Attempts a commit overtook before this one.
    pub retries: usize,
}

/// Reads `key` in the nested buckets `path` (file_storage: `["default"]`), consistently: the
/// current meta is the same before and after (see the module docs), else read again, at
/// most [`ATTEMPTS`] times. `pause(n)` runs before attempt `n` (n >= 1): a sleep for a file,
/// nothing for bytes in memory.
pub fn read_value(
    src: &(impl Source + ?Sized),
    path: &[&[u8]],
    key: &[u8],
    mut pause: impl FnMut(usize),
) -> Result<Read, Error> {
    let mut last = String::new();
    for attempt in 0..ATTEMPTS {
        if attempt > 0 {
            pause(attempt);
        }
        // Both meta pages unreadable is a broken file, not a race: bbolt writes one at a
        // time.
        let meta = current_meta(src)?;
        let mut walk = Walk {
            src,
            meta,
            size: src.size()?,
            visited: HashSet::new(),
            read: 0,
        };
        let got = walk.get(path, key);
        let after = current_meta(src);
        let stable = matches!(&after, Ok(m) if *m == meta);
        match got {
            Ok(value) if stable => {
                return Ok(Read {
                    value,
                    meta,
                    retries: attempt,
                })
            }
            Err(e @ Error::Corrupt { .. }) if stable => return Err(e),
            Err(Error::Io(e)) if stable && e.kind() != std::io::ErrorKind::UnexpectedEof => {
                return Err(Error::Io(e))
            }
            Err(Error::Io(_)) if stable => {
                return Err(corrupt(walk.size, "the file ends inside a page"))
            }
            Ok(_) => last = format!("txid {} became {}", meta.txid, txid_of(&after)),
            Err(e) => last = format!("txid {} became {}: {e}", meta.txid, txid_of(&after)),
        }
    }
    Err(Error::Unstable { last })
}

fn txid_of(m: &Result<Meta, Error>) -> String {
    match m {
        Ok(m) => m.txid.to_string(),
        Err(e) => format!("unreadable ({e})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv_matches_go() {
        // hash/fnv New64a of "" and "a".
        assert_eq!(fnv1a64(b""), 0xcbf29ce484222325);
        assert_eq!(fnv1a64(b"a"), 0xaf63dc4c8601ec8c);
    }
}
