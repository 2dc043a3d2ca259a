//! The latest committed state of a shipper's SQLite DB (Fluent Bit's tail DB, the awslogs
//! agent's state file), assembled in memory: reading it never writes, creates or locks
//! anything, anywhere.
//!
//! SQLite, even opened read-only, opens a WAL database's `-wal` and `-shm` read-write (creating
//! `-shm` when missing, writing it during WAL recovery) and takes fcntl locks on them, and it
//! cannot read a WAL database in a directory it cannot write. So drainguard does what SQLite's
//! own WAL recovery does, on bytes it only reads: it reads the main file and its `-wal` (plain
//! `O_RDONLY` opens of regular files, bounded by [`MAX_BYTES`]), applies the WAL's frames up
//! to its last valid commit frame (salts and the cumulative checksum as in SQLite's `wal.c`;
//! a frame being appended, or one of an older WAL generation, ends the scan), and hands the
//! result to SQLite as an in-memory database (`sqlite3_deserialize`). The `-shm` is never
//! opened.
//!
//! The image is consistent: a WAL writer appends frames to the WAL and writes the main file
//! only when it checkpoints, so a checkpoint during the read is noticed by comparing the main
//! file's identity, size and times before and after, and the read is taken again. A DB in
//! rollback journal mode (Fluent Bit's `db.journal_mode` other than WAL; the awslogs agent
//! always) whose `-journal` holds a live header is in the middle of a write: the read is taken
//! again, and a journal that stays (a write that was interrupted) is an error, because rolling
//! it back would mean writing the DB. A commit in rollback mode writes the main file while the
//! journal is live, so a read that overlaps one sees either the live journal or a changed
//! main file, and is taken again.
//!
//! Each kind of DB is described by a [`Kind`] (what it is, who writes it, how to clear a
//! journal that stays), used in every message.

use std::fs;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::error::{Position, StoreError};

/// A size no shipper state DB read here reaches (one row per tailed file): larger is not such
/// a DB.
pub const MAX_BYTES: u64 = 256 << 20;
/// Reads before giving up on a DB that keeps being checkpointed (or whose rollback journal
/// stays live); between two, a pause of `attempt` ms (at most half a second in all).
const ATTEMPTS: u64 = 32;

const WAL_HEADER: usize = 32;
const FRAME_HEADER: usize = 24;
/// WAL magic numbers: the low bit says the checksums are computed on big-endian words.
const WAL_MAGIC_LE: u32 = 0x377f_0682;
const WAL_MAGIC_BE: u32 = 0x377f_0683;
const WAL_VERSION: u32 = 3_007_000;
const DB_MAGIC: &[u8; 16] = b"SQLite format 3\0";
const JOURNAL_MAGIC: [u8; 8] = [0xd9, 0xd5, 0x05, 0xf9, 0x20, 0xa1, 0x63, 0xd7];

/// One kind of shipper DB, for the messages.
#[derive(Debug, Clone, Copy)]
pub struct Kind {
    /// What the DB is, after "not": `a Fluent Bit tail DB`.
    pub what: &'static str,
    /// What a path that is not a regular file should have been, and where to find the right
    /// one (after "is a directory, not ...").
    pub expected: &'static str,
    /// Who writes it, for the log line and the retry message: `Fluent Bit`.
    pub writer: &'static str,
    /// How to get a rollback journal that stays live rolled back without drainguard writing.
    pub journal_fix: &'static str,
}

/// A database image ready for `sqlite3_deserialize`.
#[derive(Debug)]
pub struct Image {
    /// The main file with the WAL's committed frames applied, in rollback-journal form (the
    /// header's read/write versions set to 1, since an in-memory DB has no WAL).
    pub bytes: Vec<u8>,
    /// How many WAL frames were applied (0: none, or no WAL).
    pub frames: usize,
}

/// What identifies one version of a file.
#[derive(Debug, PartialEq, Eq)]
struct Version {
    dev: u64,
    ino: u64,
    size: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl Version {
    fn of(m: &fs::Metadata) -> Version {
        Version {
            dev: m.dev(),
            ino: m.ino(),
            size: m.size(),
            mtime: (m.mtime(), m.mtime_nsec()),
            ctime: (m.ctime(), m.ctime_nsec()),
        }
    }
}

/// Why one read was not usable.
enum Retry {
    /// The main file changed while it was read (a checkpoint).
    Changed,
    /// A rollback journal is live: a write transaction is under way (or was interrupted).
    HotJournal,
}

/// Reads `db` and its `-wal` into an [`Image`] of the latest committed state.
pub fn take(db: &Path, kind: &Kind) -> Result<Image, StoreError> {
    let mut last = Retry::Changed;
    for attempt in 1..=ATTEMPTS {
        match take_once(db, kind)? {
            Ok(image) => return Ok(image),
            Err(why) => {
                tracing::debug!(
                    attempt,
                    writer = kind.writer,
                    "DB changed while it was read; reading again"
                );
                last = why;
                std::thread::sleep(std::time::Duration::from_millis(attempt));
            }
        }
    }
    Err(StoreError::corrupt(
        db,
        Position::default(),
        match last {
            Retry::Changed => format!(
                "the DB changed during each of {ATTEMPTS} reads ({} writes it continuously?); \
                 try again",
                kind.writer
            ),
            Retry::HotJournal => format!(
                "its rollback journal {} stays live (a write that was interrupted): the DB's \
                 committed state needs that journal rolled back, which would write the DB; {}",
                crate::display::path(&sibling(db, "-journal")),
                kind.journal_fix
            ),
        },
    ))
}

/// One read; `Ok(Err(_))` when it must be taken again.
fn take_once(db: &Path, kind: &Kind) -> Result<Result<Image, Retry>, StoreError> {
    let journal = sibling(db, "-journal");
    let (main, before) = read_file(db, kind)?
        .ok_or_else(|| StoreError::io(db, std::io::Error::from(std::io::ErrorKind::NotFound)))?;
    if journal_is_live(&journal, kind)? {
        return Ok(Err(Retry::HotJournal));
    }
    let wal_path = sibling(db, "-wal");
    let wal = read_file(&wal_path, kind)?.map(|(bytes, _)| bytes);
    if journal_is_live(&journal, kind)? {
        return Ok(Err(Retry::HotJournal));
    }
    let after = fs::metadata(db).map_err(|e| StoreError::io(db, e))?;
    if Version::of(&after) != before {
        return Ok(Err(Retry::Changed));
    }
    build(&wal_path, main, wal.as_deref().unwrap_or_default(), kind).map(Ok)
}

fn check_size(path: &Path, len: u64, kind: &Kind) -> Result<(), StoreError> {
    if len > MAX_BYTES {
        return Err(StoreError::corrupt(
            path,
            Position::default(),
            format!(
                "larger than {} (it holds one row per tailed file): not {}",
                crate::display::bytes(MAX_BYTES),
                kind.what
            ),
        ));
    }
    Ok(())
}

/// `<path><suffix>`.
pub fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// The bytes of the regular file `path` and the version read; None when it does not exist.
/// Never blocks on a FIFO, never reads more than [`MAX_BYTES`].
fn read_file(path: &Path, kind: &Kind) -> Result<Option<(Vec<u8>, Version)>, StoreError> {
    let (f, meta) = match crate::safe_read::open_expecting(path, kind.expected) {
        Ok(opened) => opened,
        Err(StoreError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            return Ok(None)
        }
        Err(e) => return Err(e),
    };
    check_size(path, meta.len(), kind)?;
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    f.take(MAX_BYTES.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|e| StoreError::io(path, e))?;
    check_size(path, bytes.len() as u64, kind)?;
    Ok(Some((bytes, Version::of(&meta))))
}

/// True when `journal` exists and starts with a rollback journal's magic (a live header: a
/// zero-length or zeroed journal, as `TRUNCATE` and `PERSIST` leave it, is not live).
fn journal_is_live(journal: &Path, kind: &Kind) -> Result<bool, StoreError> {
    let (f, _) = match crate::safe_read::open_expecting(journal, kind.expected) {
        Ok(opened) => opened,
        Err(StoreError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            return Ok(false)
        }
        Err(e) => return Err(e),
    };
    let mut head = Vec::with_capacity(JOURNAL_MAGIC.len());
    f.take(JOURNAL_MAGIC.len() as u64)
        .read_to_end(&mut head)
        .map_err(|e| StoreError::io(journal, e))?;
    Ok(head == JOURNAL_MAGIC)
}

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// SQLite's WAL checksum over `data` (a multiple of 8 bytes), continuing from `s`.
fn checksum(big_endian: bool, data: &[u8], s: (u32, u32)) -> (u32, u32) {
    let (mut s0, mut s1) = s;
    for w in data.chunks_exact(8) {
        let word = |i: usize| {
            let b = [w[i], w[i + 1], w[i + 2], w[i + 3]];
            if big_endian {
                u32::from_be_bytes(b)
            } else {
                u32::from_le_bytes(b)
            }
        };
        s0 = s0.wrapping_add(word(0)).wrapping_add(s1);
        s1 = s1.wrapping_add(word(4)).wrapping_add(s0);
    }
    (s0, s1)
}

/// The committed frames of a WAL: the page size, how many frames (from the first) belong to
/// complete transactions, and the database size in pages after the last of them. None when
/// the WAL holds no committed transaction (missing, empty, a bad header: SQLite ignores it).
fn committed_frames(wal: &[u8]) -> Option<(usize, usize, u64)> {
    if wal.len() < WAL_HEADER {
        return None;
    }
    let magic = be32(wal, 0);
    let big_endian = match magic {
        WAL_MAGIC_LE => false,
        WAL_MAGIC_BE => true,
        _ => return None,
    };
    let page_size = be32(wal, 8);
    if be32(wal, 4) != WAL_VERSION
        || !page_size.is_power_of_two()
        || !(512..=65536).contains(&page_size)
    {
        return None;
    }
    let mut sum = checksum(big_endian, &wal[..24], (0, 0));
    if sum != (be32(wal, 24), be32(wal, 28)) {
        return None;
    }
    let salt = &wal[16..24];
    let page_size = page_size as usize;
    let frame_len = FRAME_HEADER + page_size;
    let (mut frames, mut committed, mut db_pages) = (0usize, 0usize, 0u64);
    for frame in wal[WAL_HEADER..].chunks_exact(frame_len) {
        let (pgno, truncate) = (be32(frame, 0), be32(frame, 4));
        if pgno == 0 || &frame[8..16] != salt {
            break;
        }
        sum = checksum(big_endian, &frame[..8], sum);
        sum = checksum(big_endian, &frame[FRAME_HEADER..], sum);
        if sum != (be32(frame, 16), be32(frame, 20)) {
            break;
        }
        frames += 1;
        if truncate != 0 {
            committed = frames;
            db_pages = u64::from(truncate);
        }
    }
    (committed > 0).then_some((page_size, committed, db_pages))
}

/// The page size the main file's header states (bytes 16–17, big-endian; 1 means 65536).
fn db_page_size(main: &[u8]) -> Option<usize> {
    let raw = u16::from_be_bytes([*main.get(16)?, *main.get(17)?]);
    Some(if raw == 1 { 65536 } else { usize::from(raw) })
}

/// Applies `wal`'s committed frames to `main` (SQLite's recovery: the latest frame of each page
/// wins; the database ends at the last commit's size); errors name `wal_path` and the byte in
/// it. A main file that is empty, or no SQLite DB at all, is left as it is (SQLite
/// itself then ignores the WAL, or says it is not a database).
pub fn build(
    wal_path: &Path,
    mut main: Vec<u8>,
    wal: &[u8],
    kind: &Kind,
) -> Result<Image, StoreError> {
    let corrupt = |byte: u64, what: String| {
        StoreError::corrupt(
            wal_path,
            Position {
                line: None,
                byte: Some(byte),
            },
            what,
        )
    };
    let mut frames = 0;
    if main.starts_with(DB_MAGIC) {
        if let Some((page_size, committed, db_pages)) = committed_frames(wal) {
            if db_page_size(&main) != Some(page_size) {
                return Err(corrupt(
                    8,
                    format!(
                        "the WAL's page size {page_size} differs from its DB's ({}): the -wal \
                         belongs to another database",
                        db_page_size(&main).unwrap_or(0)
                    ),
                ));
            }
            let size = db_pages
                .checked_mul(page_size as u64)
                .filter(|&s| s <= MAX_BYTES)
                .ok_or_else(|| {
                    corrupt(
                        WAL_HEADER as u64,
                        format!(
                            "a commit frame makes the DB {db_pages} pages of {page_size} bytes, \
                             more than {} (not {})",
                            crate::display::bytes(MAX_BYTES),
                            kind.what
                        ),
                    )
                })?;
            // `size` <= MAX_BYTES, so it fits a usize here.
            let size = usize::try_from(size).unwrap_or(usize::MAX);
            let frame_len = FRAME_HEADER + page_size;
            let mut image = vec![0u8; size];
            let keep = main.len().min(size);
            image[..keep].copy_from_slice(&main[..keep]);
            for frame in wal[WAL_HEADER..].chunks_exact(frame_len).take(committed) {
                let pgno = be32(frame, 0) as usize;
                let start = (pgno - 1) * page_size;
                if let Some(page) = image.get_mut(start..start + page_size) {
                    page.copy_from_slice(&frame[FRAME_HEADER..]);
                }
            }
            main = image;
            frames = committed;
        }
    }
    // An in-memory database has no WAL: read/write versions 1 (rollback journal).
    if main.starts_with(DB_MAGIC) && main.len() >= 20 {
        main[18] = 1;
        main[19] = 1;
    }
    Ok(Image {
        bytes: main,
        frames,
    })
}

/// An in-memory SQLite connection holding `image` (read-only use: nothing of it reaches a
/// file). An empty image (an empty DB file) is an empty database.
pub fn connect(image: &Image) -> rusqlite::Result<rusqlite::Connection> {
    let mut conn = rusqlite::Connection::open_in_memory()?;
    if !image.bytes.is_empty() {
        conn.deserialize_read_exact(rusqlite::MAIN_DB, &image.bytes[..], image.bytes.len(), true)?;
    }
    Ok(conn)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rusqlite::Connection;

    const T: Kind = Kind {
        what: "a test DB",
        expected: "a test DB file",
        writer: "the test",
        journal_fix: "run the test's writer once",
    };

    /// A WAL DB with one table, its main file checkpointed at `base`, then `commits` more
    /// transactions in its WAL only. Returns (dir, db path, the offsets each commit set).
    fn wal_db(commits: i64) -> (tempfile::TempDir, PathBuf, Connection) {
        let d = tempfile::tempdir().unwrap();
        let db = d.path().join("t.db");
        let c = Connection::open(&db).unwrap();
        c.pragma_update(None, "journal_mode", "WAL").unwrap();
        c.pragma_update(None, "wal_autocheckpoint", 0).unwrap();
        c.execute_batch(
            "CREATE TABLE t (id INTEGER PRIMARY KEY, v INTEGER); INSERT INTO t VALUES (1, 0);",
        )
        .unwrap();
        c.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
            .unwrap();
        for n in 1..=commits {
            c.execute("UPDATE t SET v = ?1 WHERE id = 1", [n]).unwrap();
        }
        (d, db, c)
    }

    fn value(image: &Image) -> i64 {
        let mut c = Connection::open_in_memory().unwrap();
        c.deserialize_read_exact(rusqlite::MAIN_DB, &image.bytes[..], image.bytes.len(), true)
            .unwrap();
        c.query_row("SELECT v FROM t WHERE id = 1", [], |r| r.get(0))
            .unwrap()
    }

    #[test]
    fn the_wal_commits_are_applied_on_top_of_the_main_file() {
        let (_d, db, _c) = wal_db(5);
        let wal = fs::read(sibling(&db, "-wal")).unwrap();
        assert!(wal.len() > WAL_HEADER, "the commits live in the WAL");
        let image = take(&db, &T).unwrap();
        assert!(image.frames >= 5, "{}", image.frames);
        assert_eq!(value(&image), 5);
        // The main file alone still says 0: the answer came from the WAL.
        let main_only = build(Path::new("t.db-wal"), fs::read(&db).unwrap(), &[], &T).unwrap();
        assert_eq!(value(&main_only), 0);
    }

    /// A WAL cut anywhere (a frame being appended) yields the last transaction complete before
    /// the cut, never an error, a torn page or a later one.
    #[test]
    fn a_wal_cut_at_any_byte_gives_the_last_complete_commit() {
        let (_d, db, _c) = wal_db(4);
        let main = fs::read(&db).unwrap();
        let wal = fs::read(sibling(&db, "-wal")).unwrap();
        let page = be32(&wal, 8) as usize;
        let frame = FRAME_HEADER + page;
        // Which commit each frame count ends: frames are one page each here.
        let mut seen = Vec::new();
        for cut in (0..=wal.len()).step_by(97).chain([wal.len()]) {
            let image = build(Path::new("t.db-wal"), main.clone(), &wal[..cut], &T).unwrap();
            let v = value(&image);
            let whole_frames = cut.saturating_sub(WAL_HEADER) / frame;
            assert!(image.frames <= whole_frames, "cut {cut}");
            seen.push(v);
        }
        assert!(seen.windows(2).all(|w| w[0] <= w[1]), "{seen:?}");
        assert_eq!(seen.first(), Some(&0));
        assert_eq!(seen.last(), Some(&4));
    }

    #[test]
    fn a_frame_with_a_bad_checksum_ends_the_wal() {
        let (_d, db, _c) = wal_db(3);
        let main = fs::read(&db).unwrap();
        let mut wal = fs::read(sibling(&db, "-wal")).unwrap();
        let page = be32(&wal, 8) as usize;
        // Flip a byte of the second frame's page: frames from there on are not committed.
        let second = WAL_HEADER + FRAME_HEADER + page + FRAME_HEADER + 10;
        wal[second] ^= 0xff;
        let image = build(Path::new("t.db-wal"), main, &wal, &T).unwrap();
        assert_eq!(image.frames, 1);
        assert_eq!(value(&image), 1);
    }

    #[test]
    fn an_older_generation_salt_or_bad_header_is_ignored() {
        let (_d, db, _c) = wal_db(2);
        let main = fs::read(&db).unwrap();
        let wal = fs::read(sibling(&db, "-wal")).unwrap();
        let mut salted = wal.clone();
        salted[16] ^= 1; // the header's salt no longer matches any frame's (header checksum too)
        assert_eq!(
            value(&build(Path::new("t.db-wal"), main.clone(), &salted, &T).unwrap()),
            0
        );
        let mut version = wal.clone();
        version[7] ^= 1;
        assert_eq!(
            build(Path::new("t.db-wal"), main.clone(), &version, &T)
                .unwrap()
                .frames,
            0
        );
        assert_eq!(
            value(&build(Path::new("t.db-wal"), main, &wal, &T).unwrap()),
            2
        );
    }

    #[test]
    fn huge_commit_sizes_and_foreign_page_sizes_are_errors_not_allocations() {
        let (_d, db, _c) = wal_db(1);
        let main = fs::read(&db).unwrap();
        let wal = fs::read(sibling(&db, "-wal")).unwrap();
        // A main file whose header says another page size.
        let mut other = main.clone();
        other[16..18].copy_from_slice(&512u16.to_be_bytes());
        let e = build(Path::new("t.db-wal"), other, &wal, &T).unwrap_err();
        assert!(e.to_string().contains("page size"), "{e}");
        // A commit frame claiming 2^32-1 pages, with its checksums recomputed.
        let mut big = wal.clone();
        let page = be32(&big, 8) as usize;
        let frames = (big.len() - WAL_HEADER) / (FRAME_HEADER + page);
        let be = be32(&big, 0) == WAL_MAGIC_BE;
        let mut sum = checksum(be, &big[..24], (0, 0));
        for i in 0..frames {
            let at = WAL_HEADER + i * (FRAME_HEADER + page);
            if be32(&big, at + 4) != 0 {
                big[at + 4..at + 8].copy_from_slice(&u32::MAX.to_be_bytes());
            }
            sum = checksum(be, &big[at..at + 8], sum);
            sum = checksum(be, &big[at + FRAME_HEADER..at + FRAME_HEADER + page], sum);
            big[at + 16..at + 20].copy_from_slice(&sum.0.to_be_bytes());
            big[at + 20..at + 24].copy_from_slice(&sum.1.to_be_bytes());
        }
        let e = build(Path::new("t.db-wal"), main, &big, &T).unwrap_err();
        assert!(e.to_string().contains("pages of"), "{e}");
    }

    #[test]
    fn a_live_rollback_journal_is_read_again_then_refused() {
        let d = tempfile::tempdir().unwrap();
        let db = d.path().join("t.db");
        let c = Connection::open(&db).unwrap();
        c.execute_batch(
            "CREATE TABLE t (id INTEGER PRIMARY KEY, v INTEGER); INSERT INTO t VALUES (1, 7);",
        )
        .unwrap();
        drop(c);
        assert_eq!(value(&take(&db, &T).unwrap()), 7);
        let journal = sibling(&db, "-journal");
        // PERSIST leaves a zeroed header: not live.
        fs::write(&journal, [0u8; 512]).unwrap();
        assert_eq!(value(&take(&db, &T).unwrap()), 7);
        let mut live = JOURNAL_MAGIC.to_vec();
        live.resize(512, 0);
        fs::write(&journal, live).unwrap();
        let e = take(&db, &T).unwrap_err().to_string();
        assert!(
            e.contains("rollback journal") && e.contains("stays live"),
            "{e}"
        );
    }

    #[test]
    fn a_directory_or_fifo_is_refused_without_blocking() {
        let d = tempfile::tempdir().unwrap();
        let e = take(d.path(), &T).unwrap_err().to_string();
        assert!(e.contains("is a directory, not a test DB"), "{e}");
        let fifo = d.path().join("fifo.db");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let e = take(&fifo, &T).unwrap_err().to_string();
        assert!(e.contains("is a FIFO, not a test DB"), "{e}");
    }
}
