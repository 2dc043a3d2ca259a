//! Pending bytes: is anything but an unterminated last line left to ship?
//!
//! The check is bounded: it skips holes (a hole reads as NUL bytes and holds no newline), finds
//! newlines with a vectorised byte search, and reads at most `limit` bytes of data after the
//! offset per file per assessment (the shipper's own maximum line length, capped at
//! [`READ_CAP`]), plus one last chunk at the end of the file when the limit is reached (complete
//! lines after an overlong one still ship). Without a newline in either, the answer is
//! [`Pending::LongLine`]: the line at the offset is longer than the limit and the shipper ships
//! nothing of it until a newline arrives. Answers are remembered by (dev, inode, size, offset)
//! across `wait` rounds in a [`TailCache`].

use std::collections::HashMap;
use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;
use std::sync::{Arc, Mutex};

/// The most bytes drainguard reads after one file's offset in one assessment, whatever the
/// shipper's own line limit (Filebeat's default `max_bytes`, 10 MiB).
pub const READ_CAP: u64 = 10 * 1024 * 1024;

/// Bytes per read, at most.
const CHUNK: usize = 64 * 1024;

/// Bytes of a file's first read: a text line is most often shorter, so most checks read
/// (and clear a buffer of) this much, not [`CHUNK`]; each further read doubles, up to it.
const FIRST: usize = 4 * 1024;

/// What the bytes `[offset, size)` of a file hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pending {
    /// At least one newline: a complete line is still unshipped.
    Line,
    /// No newline at all (every data byte was read, holes skipped): an unterminated last line.
    Unterminated,
    /// No newline in the first `limit` bytes of data after the offset: the line there is
    /// longer than the limit; nothing beyond it was read.
    LongLine { limit: u64 },
}

/// Classifies the bytes `[offset, size)` of the file at `path`, reading at most `limit` bytes
/// of data after `offset` and 64 KiB at the end (holes are skipped without reading). The file is opened non-blocking and must be a
/// regular file (a FIFO or device matched by a glob is an error, never a read that blocks).
pub fn scan_pending(path: &Path, offset: u64, size: u64, limit: u64) -> io::Result<Pending> {
    if offset >= size {
        return Ok(Pending::Unterminated);
    }
    let f = open_regular(path)?;
    scan_file(&f, offset, size, limit)
}

/// Opens `path` read-only and non-blocking, and checks it is a regular file.
fn open_regular(path: &Path) -> io::Result<File> {
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)?;
    let t = f.metadata()?.file_type();
    if !t.is_file() {
        let what = if t.is_fifo() {
            "a FIFO"
        } else if t.is_socket() {
            "a socket"
        } else if t.is_char_device() || t.is_block_device() {
            "a device"
        } else {
            "not a regular file"
        };
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "{} is {what}: its pending bytes are not read",
                path.display()
            ),
        ));
    }
    Ok(f)
}

fn scan_file(f: &File, offset: u64, size: u64, limit: u64) -> io::Result<Pending> {
    let mut buf = Vec::new();
    match search(f, &mut buf, offset, size, limit)? {
        Search::Found => Ok(Pending::Line),
        Search::Absent => Ok(Pending::Unterminated),
        // The line at the offset is longer than the limit. Complete lines after it would
        // still ship: the last chunk of the file is where they end.
        Search::Exhausted { at } => {
            let tail = at.max(size.saturating_sub(CHUNK as u64));
            match search(f, &mut buf, tail, size, CHUNK as u64)? {
                Search::Found => Ok(Pending::Line),
                Search::Absent | Search::Exhausted { .. } => Ok(Pending::LongLine { limit }),
            }
        }
    }
}

/// The outcome of looking for a newline in a byte range.
enum Search {
    Found,
    /// Every data byte of the range was read: no newline.
    Absent,
    /// `budget` bytes were read without a newline; the range continues at `at`.
    Exhausted {
        at: u64,
    },
}

/// Looks for a newline in `[from, to)`, reading at most `budget` bytes of data (holes are
/// skipped without reading: they hold no newline). The first read takes at most [`FIRST`]
/// bytes, each later one at most twice what `buf` holds, up to [`CHUNK`] (`buf` grows).
fn search(f: &File, buf: &mut Vec<u8>, from: u64, to: u64, budget: u64) -> io::Result<Search> {
    let mut budget = budget;
    let mut pos = from;
    while pos < to {
        // The next data extent [start, end); none left means only holes (NUL bytes) remain.
        let Some(start) = seek(f, pos, libc::SEEK_DATA)? else {
            break;
        };
        if start >= to {
            break;
        }
        let end = seek(f, start, libc::SEEK_HOLE)?.unwrap_or(to).min(to);
        let mut at = start;
        while at < end {
            if budget == 0 {
                return Ok(Search::Exhausted { at });
            }
            let next = buf.len().saturating_mul(2).clamp(FIRST, CHUNK);
            let want = (end - at).min(budget).min(next as u64) as usize;
            if buf.len() < want {
                buf.resize(want, 0);
            }
            let n = crate::safe_read::read_at(f, &mut buf[..want], at)?;
            if n == 0 {
                // The file shrank under us: the next assessment sees its new size.
                return Ok(Search::Absent);
            }
            if memchr::memchr(b'\n', &buf[..n]).is_some() {
                return Ok(Search::Found);
            }
            at += n as u64;
            budget -= n as u64;
        }
        pos = end.max(pos + 1);
    }
    Ok(Search::Absent)
}

/// `lseek(fd, pos, whence)` for SEEK_DATA/SEEK_HOLE: `None` when no data follows `pos`
/// (ENXIO). A file system without hole support reports the whole file as data.
fn seek(f: &File, pos: u64, whence: libc::c_int) -> io::Result<Option<u64>> {
    let Ok(at) = libc::off_t::try_from(pos) else {
        return Ok(None);
    };
    // SAFETY: lseek on a file descriptor we own; no memory is passed.
    let r = unsafe { libc::lseek(f.as_raw_fd(), at, whence) };
    if r >= 0 {
        return Ok(Some(r as u64));
    }
    let e = io::Error::last_os_error();
    match e.raw_os_error() {
        Some(libc::ENXIO) => Ok(None),
        // No SEEK_DATA/SEEK_HOLE here: everything from `pos` counts as data.
        Some(libc::EINVAL) if whence == libc::SEEK_DATA => Ok(Some(pos)),
        Some(libc::EINVAL) => Ok(None),
        _ => Err(e),
    }
}

/// Answers of `scan_pending` by the file's `TailStamp`, size, offset and limit, shared
/// across assessments (a `wait` round re-reads nothing whose answer it already has). Bounded:
/// it is emptied when it holds [`TailCache::MAX`] answers.
#[derive(Debug, Clone, Default)]
pub struct TailCache(Arc<Mutex<HashMap<TailKey, Pending>>>);

/// (stamp, size, offset, limit): shippers with different line limits tailing the same file
/// get their own answers.
type TailKey = (TailStamp, u64, u64, u64);

/// A file as the tail cache knows it: (dev, inode) and its change time (ctime), which every
/// write and truncation moves and no user can set. Size and offset alone are not enough: a
/// file truncated and written again to the same size holds other bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TailStamp {
    pub dev: u64,
    pub ino: u64,
    pub ctime: (i64, i64),
}

impl TailStamp {
    /// How long ago a file's change time must be for a later change to move it: file system
    /// timestamps are coarse (a clock tick; whole seconds on some file systems), so a file
    /// changed again within the same tick keeps its ctime.
    pub const SETTLED: std::time::Duration = std::time::Duration::from_secs(2);

    /// The stamp of the file at `path` if it is still `(dev, ino)` and changed at least
    /// [`TailStamp::SETTLED`] before `now`; `None` (scan, remember nothing) otherwise.
    pub fn of(
        path: &Path,
        (dev, ino): (u64, u64),
        now: std::time::SystemTime,
    ) -> Option<TailStamp> {
        use std::os::unix::fs::MetadataExt;
        let m = std::fs::metadata(path).ok()?;
        if (m.dev(), m.ino()) != (dev, ino) {
            return None;
        }
        let secs = u64::try_from(m.ctime()).ok()?;
        let nanos = u32::try_from(m.ctime_nsec())
            .ok()
            .filter(|n| *n < 1_000_000_000)?;
        let changed = std::time::UNIX_EPOCH.checked_add(std::time::Duration::new(secs, nanos))?;
        // A change time in the future (a clock set back) is never settled.
        let age = now.duration_since(changed).ok()?;
        (age >= Self::SETTLED).then_some(TailStamp {
            dev,
            ino,
            ctime: (m.ctime(), m.ctime_nsec()),
        })
    }
}

impl TailCache {
    /// The most answers kept.
    pub const MAX: usize = 1 << 17;

    /// The answer for the file `stamp` of `size` bytes at `offset` under `limit`, scanned by
    /// `scan` unless known.
    pub fn get_or_scan(
        &self,
        stamp: TailStamp,
        (offset, size, limit): (u64, u64, u64),
        scan: impl FnOnce() -> io::Result<Pending>,
    ) -> io::Result<Pending> {
        let key = (stamp, size, offset, limit);
        if let Some(p) = self.lock().get(&key) {
            return Ok(*p);
        }
        let p = scan()?;
        let mut map = self.lock();
        if map.len() >= Self::MAX {
            map.clear();
        }
        map.insert(key, p);
        Ok(p)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<TailKey, Pending>> {
        // A panic elsewhere while holding the lock leaves a map of valid answers.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Seek, SeekFrom, Write};

    const MIB: u64 = 1024 * 1024;

    fn file(content: &[u8]) -> tempfile::NamedTempFile {
        let f = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(f.path(), content).unwrap();
        f
    }

    /// A file of `size` bytes that is one hole except for `data` written at each offset.
    fn sparse(size: u64, data: &[(u64, &[u8])]) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.as_file().set_len(size).unwrap();
        for (at, bytes) in data {
            f.seek(SeekFrom::Start(*at)).unwrap();
            f.write_all(bytes).unwrap();
        }
        f.as_file().sync_all().unwrap();
        f
    }

    /// Bytes this thread has read through read(2)-like calls so far (`rchar` of
    /// /proc/thread-self/io): an independent count of what a scan read.
    fn rchar() -> u64 {
        let io = std::fs::read_to_string("/proc/thread-self/io").unwrap();
        io.lines()
            .find_map(|l| l.strip_prefix("rchar: "))
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    }

    /// Scans and returns the answer with the bytes read doing it (the read of
    /// /proc/thread-self/io itself adds at most a page).
    fn counted(path: &Path, offset: u64, size: u64, limit: u64) -> (Pending, u64) {
        let before = rchar();
        let p = scan_pending(path, offset, size, limit).unwrap();
        (p, rchar() - before)
    }

    #[test]
    fn newline_in_pending_region() {
        let f = file(b"one\ntwo\nthr");
        let p = |o| scan_pending(f.path(), o, 11, READ_CAP).unwrap();
        assert_eq!(p(0), Pending::Line);
        assert_eq!(p(4), Pending::Line);
        assert_eq!(p(8), Pending::Unterminated, "only 'thr' left");
        assert_eq!(p(11), Pending::Unterminated);
    }

    #[test]
    fn long_partial_line_spanning_chunks() {
        let mut content = b"head\n".to_vec();
        content.extend(std::iter::repeat_n(b'x', 3 * CHUNK));
        let f = file(&content);
        let size = content.len() as u64;
        let p = |o| scan_pending(f.path(), o, size, READ_CAP).unwrap();
        assert_eq!(p(5), Pending::Unterminated);
        assert_eq!(p(0), Pending::Line);
    }

    #[test]
    fn sparse_gigabyte_without_newline_reads_at_most_the_limit() {
        // 1 GiB, of which 4 MiB are data (no newline) at the end: more data than the limit.
        let size = 1024 * MIB;
        let data = vec![b'x'; 4 * MIB as usize];
        let f = sparse(size, &[(size - 4 * MIB, &data)]);
        let limit = MIB;
        let (p, read) = counted(f.path(), 0, size, limit);
        assert_eq!(p, Pending::LongLine { limit });
        let end_chunk = CHUNK as u64;
        assert!(
            read <= limit + end_chunk + 4096,
            "read {read} bytes, limit {limit} + the last {end_chunk}"
        );
        assert!(
            read >= limit,
            "read {read} bytes: the whole limit is searched"
        );
    }

    #[test]
    fn holes_are_skipped_without_reading_them() {
        // 1 GiB of hole and one unterminated 100-byte data block at its end.
        let size = 1024 * MIB;
        let f = sparse(size, &[(size - 100, &[b'y'; 100])]);
        let first_data = seek(f.as_file(), 0, libc::SEEK_DATA).unwrap();
        assert!(
            first_data.is_some_and(|d| d >= size - 64 * 1024),
            "this file system reports no hole (first data at {first_data:?})"
        );
        let (p, read) = counted(f.path(), 0, size, READ_CAP);
        assert_eq!(p, Pending::Unterminated, "a hole holds no newline");
        assert!(
            read <= 8192 + 4096,
            "read {read} bytes of a 1 GiB sparse file"
        );
    }

    #[test]
    fn newline_after_a_hole_is_found() {
        let size = 1024 * MIB;
        let f = sparse(size, &[(size - 10, b"tail line\n")]);
        let (p, read) = counted(f.path(), 0, size, 64 * 1024);
        assert_eq!(p, Pending::Line);
        assert!(read <= 8192 + 4096, "read {read} bytes");
    }

    #[test]
    fn newline_five_mebibytes_after_the_offset_is_found_within_the_default_limit() {
        let mut content = b"shipped\n".to_vec();
        content.extend(std::iter::repeat_n(b'z', 5 * MIB as usize));
        content.extend(b"\nnext");
        let f = file(&content);
        let size = content.len() as u64;
        let (p, read) = counted(f.path(), 8, size, READ_CAP);
        assert_eq!(p, Pending::Line);
        assert!(read <= 5 * MIB + 2 * CHUNK as u64, "read {read} bytes");
        // With a limit below the line's length, and a last line longer than the end chunk, the
        // newline between them is not looked for: a long line (docs/wait.md says so).
        content.extend(std::iter::repeat_n(b'w', 2 * CHUNK));
        let f = file(&content);
        let size = content.len() as u64;
        assert_eq!(
            scan_pending(f.path(), 8, size, MIB).unwrap(),
            Pending::LongLine { limit: MIB }
        );
    }

    #[test]
    fn complete_lines_after_an_overlong_line_are_pending_lines() {
        // A 2 MiB line at the offset, then complete lines: the shipper skips or truncates the
        // long one once its newline is there, and ships the rest.
        let mut content = vec![b'l'; 2 * MIB as usize];
        content.extend(b"\nnext line\nlast line\n");
        let f = file(&content);
        let size = content.len() as u64;
        let (p, read) = counted(f.path(), 0, size, MIB);
        assert_eq!(p, Pending::Line);
        assert!(read <= MIB + CHUNK as u64 + 4096, "read {read} bytes");
    }

    #[test]
    fn a_fifo_is_refused_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("pipe.log");
        let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        // No writer: a blocking open would hang here.
        let e = scan_pending(&fifo, 0, 10, READ_CAP).unwrap_err();
        assert!(e.to_string().contains("FIFO"), "{e}");
    }

    #[test]
    fn cache_answers_without_scanning_again_until_the_key_changes() {
        let cache = TailCache::default();
        let mut scans = 0;
        let stamp = TailStamp {
            dev: 1,
            ino: 2,
            ctime: (1_700_000_000, 5),
        };
        let mut ask = |stamp, size| {
            cache
                .get_or_scan(stamp, (10, size, READ_CAP), || {
                    scans += 1;
                    Ok(Pending::Line)
                })
                .unwrap()
        };
        assert_eq!(ask(stamp, 100), Pending::Line);
        assert_eq!(ask(stamp, 100), Pending::Line);
        assert_eq!(ask(stamp, 200), Pending::Line);
        let rewritten = TailStamp {
            ctime: (1_700_000_000, 6),
            ..stamp
        };
        assert_eq!(ask(rewritten, 100), Pending::Line);
        assert_eq!(scans, 3, "same (stamp, size, offset) scanned once");
    }

    /// A file is stamped only once its change time has settled, and only as the file it was.
    #[test]
    fn a_file_changed_just_now_or_replaced_has_no_stamp() {
        use std::os::unix::fs::MetadataExt;
        let f = file(b"a line\n");
        let m = std::fs::metadata(f.path()).unwrap();
        let id = (m.dev(), m.ino());
        let changed = m.modified().unwrap();
        assert_eq!(
            TailStamp::of(f.path(), id, changed),
            None,
            "changed just now"
        );
        let later = changed + TailStamp::SETTLED + std::time::Duration::from_secs(1);
        let s = TailStamp::of(f.path(), id, later).expect("settled");
        assert_eq!((s.dev, s.ino), id);
        assert_eq!(
            TailStamp::of(f.path(), (id.0, id.1 + 1), later),
            None,
            "another file"
        );
        let past = changed - std::time::Duration::from_secs(60);
        assert_eq!(
            TailStamp::of(f.path(), id, past),
            None,
            "a change time in the future"
        );
    }
}
