//! The one way drainguard reads a file that someone else controls: shipper stores and configs,
//! the settings file, impstats logs, sincedbs, checkpoints, the unit files, drop-ins and
//! `system.conf` doctor reads, pidfiles and `/proc` files.
//!
//! Such a path may name anything: a FIFO (whose `open()` blocks until a writer appears), a
//! directory, a device that never ends (`/dev/zero`) or a multi-gigabyte file. So every read
//! here opens with `O_NONBLOCK | O_CLOEXEC | O_NOCTTY` (a FIFO opens at once instead of
//! blocking), checks with `fstat` on the open descriptor that it is a regular file (refusing
//! anything else with an error naming the path and what it is), and reads at most a [`Limit`]
//! (an error naming the limit when the file is larger). Regular files ignore `O_NONBLOCK`, so
//! reads behave as usual afterwards.
//!
//! The limits are far above any real store or config, so hitting one means the file is not
//! what its name says: [`Limit::STORE`] (1 GiB: a Filebeat registry of 10^6 entries is about
//! 300 MB), [`Limit::CONFIG`] (16 MiB), [`Limit::SMALL`] (1 MiB: pidfiles, `/proc` files, unit
//! files, drop-ins).

use std::fs::{File, Metadata};
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use crate::error::{Position, StoreError};

/// The most drainguard reads of one file, and what kind of file that bound is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    pub bytes: u64,
    pub what: &'static str,
}

impl Limit {
    /// Shipper stores: registries, checkpoints, state files, sincedbs, pos_files, ledgers.
    pub const STORE: Limit = Limit {
        bytes: 1 << 30,
        what: "a shipper store",
    };
    /// Shipper configs and drainguard's settings file.
    pub const CONFIG: Limit = Limit {
        bytes: 16 << 20,
        what: "a configuration file",
    };
    /// Pidfiles, `/proc` files, unit files and drop-ins.
    pub const SMALL: Limit = Limit {
        bytes: 1 << 20,
        what: "a pidfile, /proc file or unit file",
    };
}

/// What [`open`] says a non-regular file should have been.
const EXPECTED: &str = "a regular file: drainguard reads only regular files (a FIFO or device \
                        can block or never end); point it at the shipper's real file";

/// Opens `path` for reading without blocking and checks that it is a regular file (symlinks
/// are followed, as the shippers follow them). Returns the file and its metadata.
pub fn open(path: &Path) -> Result<(File, Metadata), StoreError> {
    open_expecting(path, EXPECTED)
}

/// [`open`], saying what the file should have been (`expected`, e.g. "a Fluent Bit tail DB
/// file: ...") when it is not a regular file.
pub fn open_expecting(path: &Path, expected: &'static str) -> Result<(File, Metadata), StoreError> {
    // stat first: opening a device can have effects of its own (a tape rewinds); the fstat
    // below still decides, on the descriptor itself.
    let meta = std::fs::metadata(path).map_err(|e| StoreError::io(path, e))?;
    if !meta.is_file() {
        return Err(StoreError::not_regular(path, &meta, expected));
    }
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY | libc::O_CLOEXEC)
        .open(path)
        .map_err(|e| StoreError::io(path, e))?;
    let meta = f.metadata().map_err(|e| StoreError::io(path, e))?;
    if !meta.is_file() {
        return Err(StoreError::not_regular(path, &meta, expected));
    }
    Ok((f, meta))
}

/// Reads the whole of `path`, at most `limit` bytes (a larger file is an error, checked before
/// reading anything and again while reading, for a file that grows meanwhile).
pub fn read(path: &Path, limit: Limit) -> Result<Vec<u8>, StoreError> {
    read_from(path, 0, limit)
}

/// Reads `path` from byte `offset` to its end, at most `limit` bytes.
pub fn read_from(path: &Path, offset: u64, limit: Limit) -> Result<Vec<u8>, StoreError> {
    let (mut f, meta) = open(path)?;
    let left = meta.len().saturating_sub(offset);
    if left > limit.bytes {
        return Err(too_large(path, limit));
    }
    if offset > 0 {
        f.seek(SeekFrom::Start(offset))
            .map_err(|e| StoreError::io(path, e))?;
    }
    // The size is only a hint (a file may grow; /proc files say 0): the bound is `take`.
    let mut buf = Vec::with_capacity(usize::try_from(left).unwrap_or(0));
    (&mut f)
        .take(limit.bytes.saturating_add(1))
        .read_to_end(&mut buf)
        .map_err(|e| StoreError::io(path, e))?;
    if buf.len() as u64 > limit.bytes {
        return Err(too_large(path, limit));
    }
    Ok(buf)
}

/// One `pread(2)` of up to `buf.len()` bytes at `at` of `f` (retried when interrupted; the
/// file's position does not move); fewer bytes near its end, 0 past it.
pub fn read_at(f: &File, buf: &mut [u8], at: u64) -> std::io::Result<usize> {
    use std::os::unix::fs::FileExt;
    loop {
        match f.read_at(buf, at) {
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            r => return r,
        }
    }
}

/// Opens `path` (see [`open`]) for a streaming read of at most `limit` bytes: a file larger
/// than `limit` is refused before anything is read, and the reader yields at most `limit + 1`
/// bytes (a file that grows meanwhile), so a caller that got more than `limit` returns
/// [`too_large`].
pub fn open_limited(path: &Path, limit: Limit) -> Result<std::io::Take<File>, StoreError> {
    let (f, meta) = open(path)?;
    if meta.len() > limit.bytes {
        return Err(too_large(path, limit));
    }
    Ok(f.take(limit.bytes.saturating_add(1)))
}

/// Reads `path` as UTF-8 text (see [`read`]); invalid UTF-8 is an error naming its line and
/// byte.
pub fn read_text(path: &Path, limit: Limit) -> Result<String, StoreError> {
    let bytes = read(path, limit)?;
    String::from_utf8(bytes).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        let line = e.as_bytes()[..at].iter().filter(|b| **b == b'\n').count() as u64 + 1;
        StoreError::corrupt(
            path,
            Position {
                line: Some(line),
                byte: Some(at as u64),
            },
            "not valid UTF-8 text",
        )
    })
}

/// Like [`read_text`], but a file that does not exist is `Ok(None)`.
pub fn read_text_if_exists(path: &Path, limit: Limit) -> Result<Option<String>, StoreError> {
    match read_text(path, limit) {
        Ok(t) => Ok(Some(t)),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e),
    }
}

/// The error for a file larger than `limit`.
pub fn too_large(path: &Path, limit: Limit) -> StoreError {
    StoreError::TooLarge {
        path: path.to_path_buf(),
        limit: limit.bytes,
        what: limit.what,
    }
}

/// The byte where the nesting of YAML/JSON/TOML flow collections (`[` and `{`) in `text`
/// first exceeds `max` levels, counted cheaply (quoted strings and `#` comments skipped);
/// `None` when it never does. Parsers spend time quadratic in the nesting depth before their
/// own recursion limit fires; this pre-scan refuses such a text in linear time.
pub fn too_deep(text: &[u8], max: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut quote: Option<u8> = None;
    let mut i = 0;
    while i < text.len() {
        let b = text[i];
        match quote {
            Some(q) => {
                if b == b'\\' && q == b'"' {
                    i += 1;
                } else if b == q || b == b'\n' {
                    quote = None;
                }
            }
            None => match b {
                b'"' | b'\'' => quote = Some(b),
                b'#' if i == 0 || text[i - 1].is_ascii_whitespace() => {
                    while i < text.len() && text[i] != b'\n' {
                        i += 1;
                    }
                }
                b'[' | b'{' => {
                    depth += 1;
                    if depth > max {
                        return Some(i);
                    }
                }
                b']' | b'}' => depth = depth.saturating_sub(1),
                _ => {}
            },
        }
        i += 1;
    }
    None
}

/// The nesting depth configs and stores may have: far above any real file (their parsers'
/// own limits are 128).
pub const MAX_NESTING: usize = 128;

/// Refuses a text nested deeper than [`MAX_NESTING`] (see [`too_deep`]) before it is
/// parsed, naming the file, line and byte.
pub fn check_nesting(path: &Path, text: &[u8]) -> Result<(), StoreError> {
    let Some(at) = too_deep(text, MAX_NESTING) else {
        return Ok(());
    };
    let line = text[..at].iter().filter(|b| **b == b'\n').count() as u64 + 1;
    Err(StoreError::corrupt(
        path,
        Position {
            line: Some(line),
            byte: Some(at as u64),
        },
        format!("nested deeper than {MAX_NESTING} levels of [ or {{ (not a real file; refused before parsing)"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_a_fifo_without_blocking() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("fifo");
        let c = std::ffi::CString::new(p.as_os_str().as_encoded_bytes()).unwrap();
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let err = read(&p, Limit::STORE).unwrap_err();
        assert!(matches!(err, StoreError::NotRegular { .. }), "{err}");
        assert!(err.to_string().contains("FIFO"), "{err}");
        assert!(err.to_string().contains("fifo"), "names the path: {err}");
    }

    #[test]
    fn refuses_directories_and_devices() {
        let d = tempfile::tempdir().unwrap();
        let err = read(d.path(), Limit::STORE).unwrap_err();
        assert!(err.to_string().contains("a directory"), "{err}");
        let err = read(Path::new("/dev/zero"), Limit::STORE).unwrap_err();
        assert!(err.to_string().contains("character device"), "{err}");
    }

    #[test]
    fn refuses_files_over_the_limit_before_reading() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("big");
        let f = File::create(&p).unwrap();
        f.set_len(Limit::CONFIG.bytes + 1).unwrap();
        let err = read(&p, Limit::CONFIG).unwrap_err();
        assert!(matches!(err, StoreError::TooLarge { .. }), "{err}");
        assert!(err.to_string().contains("16.0 MiB"), "{err}");
        f.set_len(Limit::CONFIG.bytes).unwrap();
        assert_eq!(
            read(&p, Limit::CONFIG).unwrap().len() as u64,
            Limit::CONFIG.bytes
        );
    }

    #[test]
    fn reads_proc_files_whose_size_is_zero() {
        let text = read_text(Path::new("/proc/self/stat"), Limit::SMALL).unwrap();
        assert!(text.starts_with(&std::process::id().to_string()), "{text}");
    }

    #[test]
    fn bad_utf8_names_line_and_byte() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("c");
        std::fs::write(&p, b"ok\nbad \xff here\n").unwrap();
        let err = read_text(&p, Limit::CONFIG).unwrap_err().to_string();
        assert!(err.contains("line 2, byte 7"), "{err}");
        assert!(err.contains("UTF-8"), "{err}");
    }

    #[test]
    fn nesting_prescan_skips_strings_and_comments() {
        assert_eq!(too_deep(b"a: [1, {b: [2]}]", 3), None);
        assert_eq!(too_deep(b"a: [1, {b: [2]}]", 2), Some(11));
        assert_eq!(too_deep(b"a: '[[[[' # [[[[\nb: \"[\\\"[\"", 0), None);
        let deep = "[".repeat(200_000);
        assert_eq!(too_deep(deep.as_bytes(), 128), Some(128));
        let p = Path::new("x.yml");
        assert!(check_nesting(p, deep.as_bytes()).is_err());
        assert!(check_nesting(p, b"filebeat.inputs: [{paths: [/a]}]").is_ok());
    }
}
