//! The install manifest: every directory, file and link `install` created, every file it
//! replaced or moved (with where the original was saved), and every command it ran with the
//! command that undoes it. `uninstall` replays it backwards.

use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::apply::ApplyError;
use crate::root::Root;

/// Where the install manifest lives (host path).
pub const MANIFEST: &str = "/var/lib/drainguard/install-manifest.json";
/// Where originals are saved before they are replaced, moved aside or removed (host path).
/// Backups never sit beside the original: a `K02filebeat.bak` in rc0.d would still be run.
pub const BACKUP_DIR: &str = "/var/lib/drainguard/backup";

/// What was done, in order, so it can be undone exactly.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub version: u32,
    pub records: Vec<Record>,
}

/// One thing install did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Record {
    /// A directory that did not exist.
    Dir { path: PathBuf },
    /// A file or link that did not exist.
    Created { path: PathBuf },
    /// A file or link that existed and was overwritten; the original was moved to `backup`.
    Replaced { path: PathBuf, backup: PathBuf },
    /// A file or link that existed and was removed; the original was moved to `backup`.
    Removed { path: PathBuf, backup: PathBuf },
    /// A link moved to a new name (the shipper's K links with `--reorder-shipper`).
    Renamed { from: PathBuf, to: PathBuf },
    /// A command run on the live host, and the commands that undo it.
    Ran {
        argv: Vec<String>,
        undo: Vec<Vec<String>>,
    },
}

impl Manifest {
    /// Loads the manifest under `root`; none yet is an empty one.
    pub fn load(root: &Root) -> Result<Manifest, ApplyError> {
        let local = root.host_to_local(Path::new(MANIFEST));
        match fs::read(&local) {
            Ok(b) => serde_json::from_slice(&b).map_err(|e| ApplyError::Manifest {
                path: local,
                why: e.to_string(),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Manifest {
                version: 1,
                records: vec![],
            }),
            Err(e) => Err(ApplyError::Io {
                path: local,
                source: e,
            }),
        }
    }

    /// True when `path` was created or replaced by install (so it may be overwritten freely).
    pub fn owns(&self, path: &Path) -> bool {
        self.records.iter().any(|r| match r {
            Record::Created { path: p } | Record::Replaced { path: p, .. } => p == path,
            _ => false,
        })
    }

    /// True when install created `path` (it did not exist before).
    pub fn created(&self, path: &Path) -> bool {
        self.records
            .iter()
            .any(|r| matches!(r, Record::Created { path: p } if p == path))
    }

    /// Drops the `Created` record of `path` (it was removed again by a later install).
    pub fn forget(&mut self, path: &Path) {
        self.records
            .retain(|r| !matches!(r, Record::Created { path: p } if p == path));
    }

    /// `path` (which install had replaced) is being removed: its record becomes `Removed`, so
    /// uninstall still restores the original. False when install had not replaced it.
    pub fn replaced_to_removed(&mut self, path: &Path) -> bool {
        for r in &mut self.records {
            if let Record::Replaced { path: p, backup } = r {
                if p == path {
                    *r = Record::Removed {
                        path: p.clone(),
                        backup: backup.clone(),
                    };
                    return true;
                }
            }
        }
        false
    }

    /// The saved copy of `path` (host path), mirroring its location below [`BACKUP_DIR`].
    pub fn backup_path(path: &Path) -> PathBuf {
        let rel = path.strip_prefix("/").unwrap_or(path);
        Path::new(BACKUP_DIR).join(rel)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_ownership() {
        let mut m = Manifest {
            version: 1,
            records: vec![
                Record::Created {
                    path: "/etc/a".into(),
                },
                Record::Replaced {
                    path: "/etc/b".into(),
                    backup: Manifest::backup_path(Path::new("/etc/b")),
                },
            ],
        };
        let text = serde_json::to_string(&m).unwrap();
        assert!(text.contains("\"kind\":\"replaced\""), "{text}");
        assert_eq!(serde_json::from_str::<Manifest>(&text).unwrap(), m);
        assert!(m.owns(Path::new("/etc/a")) && m.owns(Path::new("/etc/b")));
        assert!(m.created(Path::new("/etc/a")) && !m.created(Path::new("/etc/b")));
        m.forget(Path::new("/etc/a"));
        assert!(!m.owns(Path::new("/etc/a")));
        assert_eq!(
            Manifest::backup_path(Path::new("/etc/rc.d/rc0.d/K02filebeat")),
            PathBuf::from("/var/lib/drainguard/backup/etc/rc.d/rc0.d/K02filebeat")
        );
    }
}
