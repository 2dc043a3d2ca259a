//! Registry keys: which file an entry tracks, and how it names it.
//!
//! - `filebeat::logs::[<meta hash>-]native::<inode>-<device>` (log/container input),
//!   `filebeat::logs::path::<path>`, `filebeat::logs::inode_marker::...`
//! - `filestream::<input id | .global>::<native|path|inode_marker|fingerprint>::<...>`
//! - anything else (`journald::`, `aws-s3::` ...) does not describe a file.

/// What a key says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Key<'a> {
    /// The log input (identity from the value's `FileStateOS`, or the path).
    Log { path_identity: bool },
    /// A filestream input's file.
    Filestream { input: &'a str, file: FileId<'a> },
    /// Not a file: counted under this prefix.
    NotAFile { prefix: &'a str },
}

/// A filestream file id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileId<'a> {
    Native {
        ino: u64,
        dev: u64,
    },
    Path(&'a str),
    InodeMarker {
        ino: u64,
    },
    Fingerprint(&'a str),
    /// An identity drainguard cannot match (e.g. `growing_fingerprint`), by name.
    Unsupported(&'a str),
}

const MARKERS: [&str; 5] = [
    "::native::",
    "::path::",
    "::inode_marker::",
    "::fingerprint::",
    "::growing_fingerprint::",
];

/// Parses a registry key. `None` when a file key is malformed (the caller reports it).
pub fn parse(key: &str) -> Option<Key<'_>> {
    if let Some(id) = key.strip_prefix("filebeat::logs::") {
        let path_identity = id.starts_with("path::");
        return Some(Key::Log { path_identity });
    }
    if let Some(rest) = key.strip_prefix("filestream::") {
        // The input id is user-chosen and may contain "::": the file id starts at the first
        // identity marker.
        let (at, marker) = MARKERS
            .iter()
            .filter_map(|m| rest.find(m).map(|i| (i, *m)))
            .min_by_key(|(i, _)| *i)?;
        let input = &rest[..at];
        let value = &rest[at + marker.len()..];
        let file = match marker {
            "::native::" => {
                let (ino, dev) = parse_ino_dev(value)?;
                FileId::Native { ino, dev }
            }
            "::path::" => FileId::Path(value),
            "::inode_marker::" => {
                let ino = value.split('-').next()?.parse().ok()?;
                FileId::InodeMarker { ino }
            }
            "::fingerprint::" => {
                let hex = value.split('-').next()?;
                if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return None;
                }
                FileId::Fingerprint(hex)
            }
            _ => FileId::Unsupported(marker.trim_matches(':')),
        };
        return Some(Key::Filestream { input, file });
    }
    let prefix = match key.find("::") {
        Some(i) => &key[..i + 2],
        None => key,
    };
    Some(Key::NotAFile { prefix })
}

/// `<inode>-<device>[-<suffix>]`.
fn parse_ino_dev(s: &str) -> Option<(u64, u64)> {
    let mut parts = s.split('-');
    let ino = parts.next()?.parse().ok()?;
    let dev = parts.next()?.parse().ok()?;
    Some((ino, dev))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_input_keys() {
        assert_eq!(
            parse("filebeat::logs::native::13643776-64768"),
            Some(Key::Log {
                path_identity: false
            })
        );
        assert_eq!(
            parse("filebeat::logs::1b59052b95e61943-native::13643776-64768"),
            Some(Key::Log {
                path_identity: false
            })
        );
        assert_eq!(
            parse("filebeat::logs::path::/var/log/a.log"),
            Some(Key::Log {
                path_identity: true
            })
        );
    }

    #[test]
    fn filestream_keys() {
        assert_eq!(
            parse("filestream::my::id::native::12-34"),
            Some(Key::Filestream {
                input: "my::id",
                file: FileId::Native { ino: 12, dev: 34 }
            })
        );
        assert_eq!(
            parse("filestream::.global::path::/var/log/x y.log"),
            Some(Key::Filestream {
                input: ".global",
                file: FileId::Path("/var/log/x y.log")
            })
        );
        let fp = "a".repeat(64);
        assert_eq!(
            parse(&format!("filestream::in::fingerprint::{fp}")),
            Some(Key::Filestream {
                input: "in",
                file: FileId::Fingerprint(&fp)
            })
        );
        assert_eq!(parse("filestream::in::fingerprint::nothex"), None);
        assert_eq!(parse("filestream::in::native::x-1"), None);
        assert_eq!(
            parse("filestream::in::inode_marker::77-abc"),
            Some(Key::Filestream {
                input: "in",
                file: FileId::InodeMarker { ino: 77 }
            })
        );
    }

    #[test]
    fn other_prefixes_are_not_files() {
        assert_eq!(
            parse("journald::system::cursor"),
            Some(Key::NotAFile {
                prefix: "journald::"
            })
        );
        assert_eq!(parse("weird"), Some(Key::NotAFile { prefix: "weird" }));
    }
}
