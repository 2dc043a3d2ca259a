//! Fluentd in_tail pos_files, written as `PositionFile` writes them: `%s\t%016x\t%016x\n`,
//! new entries appended, updates overwriting the 16 hex digits in place.

use std::fs::OpenOptions;
use std::io::{self, Seek, SeekFrom, Write};
use std::path::Path;

/// Fluentd's unwatched marker.
pub const UNWATCHED: u64 = u64::MAX;

/// One pos_file line.
pub fn line(path: &str, pos: u64, ino: u64) -> String {
    format!("{path}\t{pos:016x}\t{ino:016x}\n")
}

/// Appends an entry (a newly watched file).
pub fn append(file: &Path, path: &str, pos: u64, ino: u64) -> io::Result<u64> {
    let mut f = OpenOptions::new().create(true).append(true).open(file)?;
    let at = f.seek(SeekFrom::End(0))?;
    f.write_all(line(path, pos, ino).as_bytes())?;
    Ok(at)
}

/// Overwrites the position of the entry starting at byte `entry_at` in place, as
/// `FilePositionEntry#update_pos` does (seek + one write of 16 hex digits).
pub fn update_pos(file: &Path, entry_at: u64, path_len: usize, pos: u64) -> io::Result<()> {
    let mut f = OpenOptions::new().write(true).open(file)?;
    f.seek(SeekFrom::Start(entry_at + path_len as u64 + 1))?;
    f.write_all(format!("{pos:016x}").as_bytes())
}
