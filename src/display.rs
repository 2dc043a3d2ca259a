//! Showing paths safely: in tables, logs and JSON a path is one unambiguous line.
//!
//! Bytes that are not UTF-8 are written as `\xNN`, control characters (newline, tab ...) as
//! `\n`, `\t` or `\xNN`, and a backslash as `\\`, so a file named with a newline cannot forge a
//! table row and a non-UTF-8 name survives into JSON (where a plain `PathBuf` cannot go).

use std::fmt::Write as _;
use std::path::Path;

use serde::Serializer;

/// The escaped, single-line form of a path.
pub fn path(p: &Path) -> String {
    let bytes = p.as_os_str().as_encoded_bytes();
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\t' => out.push_str("\\t"),
                '\r' => out.push_str("\\r"),
                c if c.is_control() => {
                    let _ = write!(out, "\\u{{{:x}}}", c as u32);
                }
                c => out.push(c),
            }
        }
        for b in chunk.invalid() {
            let _ = write!(out, "\\x{b:02x}");
        }
    }
    out
}

/// serde `serialize_with` for a path: the escaped form.
pub fn ser_path<S: Serializer>(p: &Path, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&path(p))
}

/// serde `serialize_with` for an optional path.
pub fn ser_opt_path<S: Serializer, P: AsRef<Path>>(p: &Option<P>, s: S) -> Result<S::Ok, S::Error> {
    match p {
        Some(p) => s.serialize_str(&path(p.as_ref())),
        None => s.serialize_none(),
    }
}

/// Bytes as a short human figure: `812 B`, `4.0 KiB`, `1.5 GiB`.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut v = n as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.1} {}", UNITS[unit])
}

/// An error and its causes joined by ": ", each cause shown once: a message that already
/// includes its cause's text (a `{source}` in the message) does not repeat it.
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let text = c.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        cause = c.source();
    }
    out
}

/// `t` as RFC 3339 (UTC; whole seconds, or milliseconds with `millis`). A clock outside
/// 1970–9999, which RFC 3339 as humantime writes it cannot show (it panics), is shown as its
/// Unix time in seconds (`unix:-86400`): the system clock is outside input.
pub fn timestamp(t: std::time::SystemTime, millis: bool) -> String {
    const YEAR_10000: u64 = 253_402_300_800;
    match t.duration_since(std::time::UNIX_EPOCH) {
        Ok(d) if d.as_secs() < YEAR_10000 => {
            if millis {
                humantime::format_rfc3339_millis(t).to_string()
            } else {
                humantime::format_rfc3339_seconds(t).to_string()
            }
        }
        _ => format!("unix:{:.0}", unix_seconds(t).floor()),
    }
}

/// `t` as Unix time in seconds, negative before 1970.
pub fn unix_seconds(t: std::time::SystemTime) -> f64 {
    match t.duration_since(std::time::UNIX_EPOCH) {
        Ok(d) => d.as_secs_f64(),
        Err(e) => -e.duration().as_secs_f64(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;

    #[test]
    fn escapes_newlines_backslashes_and_invalid_bytes() {
        assert_eq!(path(Path::new("/var/log/a b.log")), "/var/log/a b.log");
        assert_eq!(path(Path::new("/x/a\nb")), "/x/a\\nb");
        assert_eq!(path(Path::new("/x/a\\b")), "/x/a\\\\b");
        let p = Path::new(OsStr::from_bytes(b"/x/\xffq\xc3\xa9"));
        assert_eq!(path(p), "/x/\\xffqé");
    }

    #[test]
    fn byte_figures() {
        assert_eq!(bytes(0), "0 B");
        assert_eq!(bytes(1023), "1023 B");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(3 << 30), "3.0 GiB");
    }
}
