//! Typed errors of the library. Every variant names what failed and where, and, where the
//! operator can act, what to do.

use std::path::PathBuf;

/// A position inside a store or config file, reported to the operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Position {
    /// 1-based line, when the format is line-oriented or the parser knows it.
    pub line: Option<u64>,
    /// 0-based byte offset into the file.
    pub byte: Option<u64>,
}

impl std::fmt::Display for Position {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.line, self.byte) {
            (Some(l), Some(b)) => write!(f, "line {l}, byte {b}"),
            (Some(l), None) => write!(f, "line {l}"),
            (None, Some(b)) => write!(f, "byte {b}"),
            (None, None) => f.write_str("unknown position"),
        }
    }
}

/// Errors reading a shipper's progress store or configuration.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot read {path}: {source}{hint}", hint = permission_hint(source))]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {what} at {pos}", what = clip(what))]
    Corrupt {
        path: PathBuf,
        pos: Position,
        what: String,
    },
    #[error("{path}: unsupported store format: {what}")]
    Unsupported { path: PathBuf, what: String },
    #[error("no {shipper} store found (looked in: {looked_in}); point to it with {flag}")]
    NotFound {
        shipper: &'static str,
        looked_in: String,
        flag: &'static str,
    },
    #[error("{path}: invalid configuration: {what}", what = clip(what))]
    Config { path: PathBuf, what: String },
    /// A path that must be a regular file is something else (directory, FIFO, socket ...).
    #[error("{path} is a {found}, not {expected}")]
    NotRegular {
        path: PathBuf,
        found: &'static str,
        expected: &'static str,
    },
}

/// The longest text of an error's `what` that is shown: parsers quote the offending input,
/// and a 300 KB line must not reach the journal.
pub const MAX_QUOTED: usize = 512;

/// `what`, cut to [`MAX_QUOTED`] bytes (at a character boundary) with the cut said. Used for
/// every error text and store note that may quote input.
pub fn clip(what: &str) -> std::borrow::Cow<'_, str> {
    if what.len() <= MAX_QUOTED {
        return what.into();
    }
    let mut end = MAX_QUOTED;
    while !what.is_char_boundary(end) {
        end -= 1;
    }
    format!(
        "{}… ({} more bytes not shown)",
        &what[..end],
        what.len() - end
    )
    .into()
}

/// What kind of file `meta` describes, for messages.
pub fn file_kind(meta: &std::fs::Metadata) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    let t = meta.file_type();
    if t.is_dir() {
        "directory"
    } else if t.is_fifo() {
        "FIFO"
    } else if t.is_socket() {
        "socket"
    } else if t.is_block_device() {
        "block device"
    } else if t.is_char_device() {
        "character device"
    } else if t.is_symlink() {
        "symbolic link"
    } else if t.is_file() {
        "regular file"
    } else {
        "special file"
    }
}

fn permission_hint(e: &std::io::Error) -> &'static str {
    if e.kind() == std::io::ErrorKind::PermissionDenied {
        " (permission denied: run as root or as the shipper's user, or grant read access)"
    } else {
        ""
    }
}

impl StoreError {
    /// Wraps an I/O error with the path it concerns.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        StoreError::Io {
            path: path.into(),
            source,
        }
    }

    /// `path` (described by `meta`) is not a regular file but must be `expected`.
    pub fn not_regular(
        path: impl Into<PathBuf>,
        meta: &std::fs::Metadata,
        expected: &'static str,
    ) -> Self {
        StoreError::NotRegular {
            path: path.into(),
            found: file_kind(meta),
            expected,
        }
    }

    /// A corrupt-input error at a position.
    pub fn corrupt(path: impl Into<PathBuf>, pos: Position, what: impl Into<String>) -> Self {
        StoreError::Corrupt {
            path: path.into(),
            pos,
            what: what.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clip_keeps_short_text_and_cuts_long_text_at_a_character_boundary() {
        assert_eq!(clip("short"), "short");
        let long = "é".repeat(MAX_QUOTED);
        let cut = clip(&long);
        assert!(cut.len() < MAX_QUOTED + 64, "{}", cut.len());
        assert!(cut.ends_with(&format!(
            "({} more bytes not shown)",
            long.len() - MAX_QUOTED
        )));
        let e = StoreError::corrupt("/s", Position::default(), "x".repeat(300_000));
        assert!(e.to_string().len() < 1024);
    }
}
