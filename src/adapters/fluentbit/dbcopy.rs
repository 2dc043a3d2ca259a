//! A private copy of a Fluent Bit DB, so that reading it never writes or locks anything of
//! Fluent Bit's.
//!
//! SQLite, even opened read-only, opens a WAL database's `-wal` and `-shm` read-write (creating
//! `-shm` when missing, writing it during WAL recovery) and takes fcntl locks on them, and it
//! cannot read a WAL database in a directory it cannot write. So drainguard copies the main
//! file and its `-wal` (and a `-journal`, for rollback-journal DBs) into a fresh private
//! directory under the system temp dir (`$TMPDIR`, mode 0700) and opens the copy; the copy is
//! removed when the read is done.
//!
//! The copy is consistent: Fluent Bit appends frames to the WAL and writes the main file only
//! when it checkpoints. A frame being appended while the WAL is copied is cut off by SQLite's
//! own WAL checksums (only frames up to the last complete commit count); a checkpoint while
//! the main file is copied is noticed by comparing the main file's identity, size and times
//! before and after, and the copy is taken again.

use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{Position, StoreError};

/// A size no Fluent Bit tail DB reaches (one row per tailed file): larger is not such a DB.
pub const MAX_BYTES: u64 = 256 << 20;
/// Copies taken before giving up on a DB that keeps being checkpointed; between two, a pause
/// of `attempt` ms lets a checkpoint in progress finish (at most half a second in all).
const ATTEMPTS: u64 = 32;

/// The private copy; its directory is removed on drop.
#[derive(Debug)]
pub struct DbCopy {
    dir: PathBuf,
    /// The copied main file.
    pub main: PathBuf,
}

impl Drop for DbCopy {
    fn drop(&mut self) {
        if let Err(e) = fs::remove_dir_all(&self.dir) {
            tracing::warn!(dir = %crate::display::path(&self.dir), error = %e, "cannot remove the private copy of the fluent-bit DB");
        }
    }
}

/// What identifies one version of the main file.
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

/// What went wrong while copying: the shipper's file, or our private copy.
enum CopyError {
    /// Reading the shipper's file failed, or it is not a tail DB: the read fails.
    Source(StoreError),
    /// Creating or writing the private copy failed (temp dir read-only, full, missing).
    Temp(StoreError),
}

/// Copies `db` (with its `-wal` / `-journal`) into a private directory. `Ok(Err(why))` when
/// no private copy can be made (the temp dir is read-only, full or missing).
pub fn take(db: &Path) -> Result<Result<DbCopy, StoreError>, StoreError> {
    for attempt in 1..=ATTEMPTS {
        match take_once(db) {
            Ok(Some(copy)) => return Ok(Ok(copy)),
            Ok(None) => {
                tracing::debug!(
                    attempt,
                    "fluent-bit DB changed while it was copied; copying again"
                );
                std::thread::sleep(std::time::Duration::from_millis(attempt));
            }
            Err(CopyError::Source(e)) => return Err(e),
            Err(CopyError::Temp(e)) => return Ok(Err(e)),
        }
    }
    Err(StoreError::corrupt(
        db,
        Position::default(),
        format!(
            "the DB changed during each of {ATTEMPTS} copies (Fluent Bit checkpoints it \
             continuously?); try again"
        ),
    ))
}

/// One copy; None when the main file changed meanwhile.
fn take_once(db: &Path) -> Result<Option<DbCopy>, CopyError> {
    let copy = private_dir().map_err(CopyError::Temp)?;
    let Some(before) = copy_file(db, &copy.main, true)? else {
        return Err(CopyError::Source(StoreError::io(
            db,
            io::Error::from(io::ErrorKind::NotFound),
        )));
    };
    for suffix in ["-wal", "-journal"] {
        copy_file(&sibling(db, suffix), &sibling(&copy.main, suffix), false)?;
    }
    let after = fs::metadata(db).map_err(|e| CopyError::Source(StoreError::io(db, e)))?;
    Ok((Version::of(&after) == before).then_some(copy))
}

/// Checks that `db` is a regular file of at most [`MAX_BYTES`], without blocking on a FIFO.
pub fn check_regular(db: &Path) -> Result<(), StoreError> {
    let f = open_source(db)?;
    let meta = f.metadata().map_err(|e| StoreError::io(db, e))?;
    check_meta(db, &meta)
}

fn open_source(from: &Path) -> Result<fs::File, StoreError> {
    fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(from)
        .map_err(|e| StoreError::io(from, e))
}

fn too_big(from: &Path) -> StoreError {
    StoreError::corrupt(
        from,
        Position::default(),
        format!(
            "larger than {} (a Fluent Bit tail DB holds one row per file): not a tail DB",
            crate::display::bytes(MAX_BYTES)
        ),
    )
}

fn check_meta(from: &Path, meta: &fs::Metadata) -> Result<(), StoreError> {
    if !meta.is_file() {
        return Err(StoreError::not_regular(
            from,
            meta,
            "a Fluent Bit tail DB file: point to the file a tail input names in `DB`",
        ));
    }
    if meta.len() > MAX_BYTES {
        return Err(too_big(from));
    }
    Ok(())
}

/// `<path><suffix>`.
fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// Copies the regular file `from` to the new file `to`; returns the version copied, or None
/// when `from` does not exist and is not `required`. Never blocks on a FIFO, never reads more
/// than [`MAX_BYTES`].
fn copy_file(from: &Path, to: &Path, required: bool) -> Result<Option<Version>, CopyError> {
    let mut src = match open_source(from) {
        Ok(f) => f,
        Err(StoreError::Io { source, .. })
            if source.kind() == io::ErrorKind::NotFound && !required =>
        {
            return Ok(None)
        }
        Err(e) => return Err(CopyError::Source(e)),
    };
    let source_error = |e| CopyError::Source(StoreError::io(from, e));
    let meta = src.metadata().map_err(source_error)?;
    check_meta(from, &meta).map_err(CopyError::Source)?;
    let temp_error = |e| CopyError::Temp(StoreError::io(to, e));
    let mut dst = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(to)
        .map_err(temp_error)?;
    let mut buf = vec![0u8; 64 << 10];
    let mut copied = 0u64;
    loop {
        let n = match src.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(source_error(e)),
        };
        copied = copied.saturating_add(n as u64);
        if copied > MAX_BYTES {
            return Err(CopyError::Source(too_big(from)));
        }
        dst.write_all(&buf[..n]).map_err(temp_error)?;
    }
    Ok(Some(Version::of(&meta)))
}

/// A new directory only this process uses, under the system temp dir.
fn private_dir() -> Result<DbCopy, StoreError> {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let base = std::env::temp_dir();
    let mut last = None;
    for _ in 0..16 {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let dir = base.join(format!(
            "drainguard-fluent-bit-{}-{}-{nanos:x}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        match fs::DirBuilder::new().mode(0o700).create(&dir) {
            Ok(()) => {
                let main = dir.join("db");
                return Ok(DbCopy { dir, main });
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last = Some(e),
            Err(e) => return Err(StoreError::io(&base, e)),
        }
    }
    Err(StoreError::io(
        &base,
        last.unwrap_or_else(|| io::Error::other("no free name")),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_copy_holds_main_and_wal_and_is_removed_on_drop() {
        let d = tempfile::tempdir().unwrap();
        let db = d.path().join("t.db");
        fs::write(&db, b"main").unwrap();
        fs::write(sibling(&db, "-wal"), b"wal").unwrap();
        let copy = take(&db).unwrap().unwrap();
        assert_eq!(fs::read(&copy.main).unwrap(), b"main");
        assert_eq!(fs::read(sibling(&copy.main, "-wal")).unwrap(), b"wal");
        assert!(!sibling(&copy.main, "-journal").exists());
        let dir = copy.dir.clone();
        assert!(dir.starts_with(std::env::temp_dir()));
        drop(copy);
        assert!(!dir.exists());
    }

    #[test]
    fn a_directory_or_fifo_is_refused_without_blocking() {
        let d = tempfile::tempdir().unwrap();
        let e = take(d.path()).unwrap_err().to_string();
        assert!(
            e.contains("is a directory, not a Fluent Bit tail DB"),
            "{e}"
        );
        let fifo = d.path().join("fifo.db");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let e = take(&fifo).unwrap_err().to_string();
        assert!(e.contains("is a FIFO, not a Fluent Bit tail DB"), "{e}");
    }
}
