//! Logstash sincedb files as `SincedbRecordSerializer` writes them (v2:
//! `inode major minor pos last_changed path`), via temp file + rename.

use std::io;
use std::path::Path;

/// One sincedb record; `path` `None` gives the v1 four-field form.
pub fn record(ino: u64, major: u64, minor: u64, pos: u64, path: Option<&str>) -> String {
    match path {
        Some(p) => format!("{ino} {major} {minor} {pos} 1764031111.852678 {p}\n"),
        None => format!("{ino} {major} {minor} {pos}\n"),
    }
}

/// The device major/minor of `st_dev`, as Ruby's `File::Stat#dev_major/#dev_minor`.
pub fn major_minor(dev: u64) -> (u64, u64) {
    (
        u64::from(libc::major(dev as libc::dev_t)),
        u64::from(libc::minor(dev as libc::dev_t)),
    )
}

/// Writes a sincedb atomically (tmp + rename), like `FileHelper.write_atomically`.
pub fn write(file: &Path, records: &[String]) -> io::Result<()> {
    let tmp = file.with_extension("tmp");
    std::fs::write(&tmp, records.concat())?;
    std::fs::rename(tmp, file)
}
