//! The install manifest: every directory, file and link `install` created, every file it
//! replaced or moved (with where the original was saved), and every command it ran with the
//! command that undoes it. `uninstall` replays it backwards.
//!
//! The manifest decides what `uninstall` removes and runs as root, so it is not trusted as
//! written: it must match its checksum file (written beside it, both root-owned), and every
//! record must be one `install` can write ([`Manifest::validate`]): paths among the files
//! install owns (its unit, script, rc links, settings, their backups and parents), backups
//! exactly where install puts them, commands from a fixed list naming only drainguard's own
//! units and script. A record outside that set refuses the whole manifest.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::beneath::{Beneath, BeneathError};
use super::names;

/// Where the install manifest lives (host path).
pub const MANIFEST: &str = "/var/lib/drainguard/install-manifest.json";
/// The manifest's SHA-256 (hex, one per line: the current one, and during a save the
/// previous one too, so an interrupted save leaves a manifest that still verifies).
pub const CHECKSUM: &str = "/var/lib/drainguard/install-manifest.json.sha256";
/// Where originals are saved before they are replaced, moved aside or removed (host path).
/// Backups never sit beside the original: a `K02filebeat.bak` in rc0.d would still be run.
pub const BACKUP_DIR: &str = "/var/lib/drainguard/backup";
/// Manifests are small; a larger one is not ours.
pub const MANIFEST_LIMIT: u64 = 4 << 20;
/// The manifest format written now (1: records without content hashes).
pub const VERSION: u32 = 2;

/// What was done, in order, so it can be undone exactly.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub version: u32,
    pub records: Vec<Record>,
}

/// One thing install did. `sha256` is what install wrote there ([`fingerprint`]): uninstall
/// leaves a file that no longer matches (someone changed it since).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Record {
    /// A directory that did not exist.
    Dir { path: PathBuf },
    /// A file or link that did not exist.
    Created {
        path: PathBuf,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sha256: Option<String>,
    },
    /// A file or link that existed and was overwritten; the original was moved to `backup`.
    Replaced {
        path: PathBuf,
        backup: PathBuf,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sha256: Option<String>,
    },
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

/// Why a manifest is refused.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error(transparent)]
    Beneath(#[from] BeneathError),
    #[error(
        "{}: the install manifest is unreadable: {why}; fix or remove it, then re-run",
        crate::display::path(path)
    )]
    Parse { path: PathBuf, why: String },
    #[error(
        "{}: record {index} is not one `drainguard install` writes: {why}. The manifest was \
         changed by something else; nothing was done. Inspect it, restore what install wrote by \
         hand, and remove the manifest",
        crate::display::path(path)
    )]
    Invalid {
        path: PathBuf,
        index: usize,
        why: String,
    },
    #[error(
        "{}: does not match its checksum in {} (changed since `drainguard install` wrote it): \
         nothing was done. Inspect it; to accept it as it is now (it is still checked record by \
         record), remove the checksum file",
        crate::display::path(path),
        crate::display::path(checksum)
    )]
    Tampered { path: PathBuf, checksum: PathBuf },
}

/// The fingerprint of what is at `path` now: the SHA-256 of a regular file's content, or of
/// `symlink\0` and a link's target; `None` when nothing is there; `Some("other")` for
/// anything else (a directory, a FIFO ...), which matches no record.
pub fn fingerprint(b: &Beneath, path: &Path) -> Result<Option<String>, BeneathError> {
    use rustix::fs::FileType;
    let Some(meta) = b.meta(path)? else {
        return Ok(None);
    };
    Ok(Some(match meta.kind {
        FileType::RegularFile => match b.read(path, MANIFEST_LIMIT.saturating_mul(4)) {
            Ok(Some((content, _))) => sha256(&content),
            Ok(None) => return Ok(None),
            Err(BeneathError::TooLarge { .. }) => "other".into(),
            Err(e) => return Err(e),
        },
        FileType::Symlink => match b.read_link(path)? {
            Some(t) => link_fingerprint(&t),
            None => return Ok(None),
        },
        _ => "other".into(),
    }))
}

/// The fingerprint of a file with `content`.
pub fn sha256(content: &[u8]) -> String {
    hex::encode(Sha256::digest(content))
}

/// The fingerprint of a link to `target`.
pub fn link_fingerprint(target: &Path) -> String {
    let mut h = Sha256::new();
    h.update(b"symlink\0");
    h.update(target.as_os_str().as_encoded_bytes());
    hex::encode(h.finalize())
}

impl Manifest {
    /// Loads, verifies and validates the manifest; none yet is an empty one.
    pub fn load(b: &Beneath, root_shown: &Path) -> Result<Manifest, ManifestError> {
        let host = Path::new(MANIFEST);
        let shown = root_shown.join(host.strip_prefix("/").unwrap_or(host));
        let Some((bytes, _)) = b.read(host, MANIFEST_LIMIT)? else {
            return Ok(Manifest {
                version: VERSION,
                records: vec![],
            });
        };
        if let Some((sums, _)) = b.read(Path::new(CHECKSUM), 4096)? {
            let have = sha256(&bytes);
            let ok = String::from_utf8_lossy(&sums)
                .lines()
                .any(|l| l.trim() == have);
            if !ok {
                let checksum = root_shown.join(CHECKSUM.trim_start_matches('/'));
                return Err(ManifestError::Tampered {
                    path: shown,
                    checksum,
                });
            }
        } else {
            tracing::warn!(
                manifest = %crate::display::path(&shown),
                "the install manifest has no checksum file (written by an older drainguard, or \
                 removed to accept it): its records are still checked one by one"
            );
        }
        let m: Manifest = serde_json::from_slice(&bytes).map_err(|e| ManifestError::Parse {
            path: shown.clone(),
            why: e.to_string(),
        })?;
        if !(1..=VERSION).contains(&m.version) {
            return Err(ManifestError::Parse {
                path: shown,
                why: format!(
                    "version {} is not one this drainguard reads (1 to {VERSION})",
                    m.version
                ),
            });
        }
        m.validate()
            .map_err(|(index, why)| ManifestError::Invalid {
                path: shown,
                index,
                why,
            })?;
        Ok(m)
    }

    /// Writes the manifest and its checksum atomically (checksum first listing the old and
    /// new sums, then the manifest, then the checksum with the new sum only).
    pub fn save(&self, b: &Beneath, chown_root: bool) -> Result<(), BeneathError> {
        let text = serde_json::to_string_pretty(self).expect("manifest serializes");
        let new = sha256(text.as_bytes());
        let old = b
            .read(Path::new(MANIFEST), MANIFEST_LIMIT)
            .ok()
            .flatten()
            .map(|(c, _)| sha256(&c));
        let (m, c) = (Path::new(MANIFEST), Path::new(CHECKSUM));
        if let Some(old) = old.filter(|o| *o != new) {
            b.write_atomic(c, format!("{new}\n{old}\n").as_bytes(), 0o644, chown_root)?;
        }
        b.write_atomic(m, text.as_bytes(), 0o644, chown_root)?;
        b.write_atomic(c, format!("{new}\n").as_bytes(), 0o644, chown_root)
    }

    /// Every record is one install writes; `Err((index, why))` names the first that is not.
    pub fn validate(&self) -> Result<(), (usize, String)> {
        for (i, r) in self.records.iter().enumerate() {
            check_record(r).map_err(|why| (i, why))?;
        }
        Ok(())
    }

    /// True when `path` was created or replaced by install (so it may be overwritten freely).
    pub fn owns(&self, path: &Path) -> bool {
        self.records.iter().any(|r| match r {
            Record::Created { path: p, .. } | Record::Replaced { path: p, .. } => p == path,
            _ => false,
        })
    }

    /// True when install created `path` (it did not exist before).
    pub fn created(&self, path: &Path) -> bool {
        self.records
            .iter()
            .any(|r| matches!(r, Record::Created { path: p, .. } if p == path))
    }

    /// Notes that install wrote `sha` at `path` (a file it owns, written again).
    pub fn rewrote(&mut self, path: &Path, sha: &str) {
        for r in &mut self.records {
            match r {
                Record::Created { path: p, sha256 }
                | Record::Replaced {
                    path: p, sha256, ..
                } if p == path => {
                    *sha256 = Some(sha.to_string());
                }
                _ => {}
            }
        }
    }

    /// Drops the `Created` record of `path` (it was removed again by a later install).
    pub fn forget(&mut self, path: &Path) {
        self.records
            .retain(|r| !matches!(r, Record::Created { path: p, .. } if p == path));
    }

    /// `path` (which install had replaced) is being removed: its record becomes `Removed`, so
    /// uninstall still restores the original. False when install had not replaced it.
    pub fn replaced_to_removed(&mut self, path: &Path) -> bool {
        for r in &mut self.records {
            if let Record::Replaced {
                path: p, backup, ..
            } = r
            {
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

/// drainguard's unit (host path).
pub const UNIT: &str = "/etc/systemd/system/drainguard.service";
/// The AWS watcher's unit (host path).
pub const AWS_UNIT: &str = "/etc/systemd/system/drainguard-aws.service";
/// The settings file install writes (host path).
pub const SETTINGS: &str = crate::settings::DEFAULT_PATH;

/// The files install writes outside the rc directories (host paths).
const OWN_FILES: [&str; 9] = [
    SETTINGS,
    UNIT,
    AWS_UNIT,
    super::exporter::UNIT,
    "/etc/systemd/system/multi-user.target.wants/drainguard.service",
    "/etc/systemd/system/multi-user.target.wants/drainguard-aws.service",
    "/etc/systemd/system/multi-user.target.wants/drainguard-exporter.service",
    "/etc/init.d/drainguard",
    "/etc/rc.d/init.d/drainguard",
];

/// Our units, the only ones a recorded command may name.
const OWN_UNITS: [&str; 3] = [
    "drainguard.service",
    "drainguard-aws.service",
    "drainguard-exporter.service",
];
/// Our init scripts, the only ones a recorded command may run.
const OWN_SCRIPTS: [&str; 2] = ["/etc/init.d/drainguard", "/etc/rc.d/init.d/drainguard"];

/// The rc directories of both layouts.
fn rc_dirs() -> impl Iterator<Item = PathBuf> {
    (0..=6).flat_map(|l| {
        [
            PathBuf::from(format!("/etc/rc{l}.d")),
            PathBuf::from(format!("/etc/rc.d/rc{l}.d")),
        ]
    })
}

/// A plain absolute UTF-8 path (install writes no other).
fn plain(p: &Path) -> bool {
    super::beneath::plain(p) && p.to_str().is_some()
}

/// `K30drainguard` / `S99filebeat`: the kind letter, the number, the script name.
fn rc_link(p: &Path) -> Option<(char, u8, String)> {
    let dir = p.parent()?;
    if !rc_dirs().any(|d| d == dir) {
        return None;
    }
    let name = p.file_name()?.to_str()?;
    let kind = name.chars().next().filter(|c| *c == 'K' || *c == 'S')?;
    let num = name.get(1..3)?;
    if !num.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let script = name.get(3..)?;
    names::script("rc link", script).ok()?;
    Some((kind, num.parse().ok()?, script.to_string()))
}

/// A file or link install may write (not a backup).
fn own_file(p: &Path) -> bool {
    plain(p) && (OWN_FILES.iter().any(|f| Path::new(f) == p) || rc_link(p).is_some())
}

/// A directory install may create: a parent of a file it writes, of a backup, or of the
/// manifest.
fn own_dir(p: &Path) -> bool {
    if !plain(p) || p == Path::new("/") {
        return false;
    }
    let rc = rc_dirs().map(|d| d.join("K00x"));
    let files: Vec<PathBuf> = OWN_FILES.iter().map(PathBuf::from).chain(rc).collect();
    let backups = files.iter().map(|f| Manifest::backup_path(f));
    files
        .iter()
        .cloned()
        .chain(backups)
        .chain([PathBuf::from(MANIFEST)])
        .any(|f| f.starts_with(p) && f != p)
}

fn check_path(p: &Path) -> Result<(), String> {
    if own_file(p) {
        Ok(())
    } else if !plain(p) {
        Err(format!(
            "{} is not a plain absolute path",
            crate::display::path(p)
        ))
    } else {
        Err(format!(
            "{} is not a file install writes",
            crate::display::path(p)
        ))
    }
}

fn check_backup(path: &Path, backup: &Path) -> Result<(), String> {
    check_path(path)?;
    if backup != Manifest::backup_path(path) {
        return Err(format!(
            "the backup of {} is recorded at {}, not at {}",
            crate::display::path(path),
            crate::display::path(backup),
            crate::display::path(&Manifest::backup_path(path))
        ));
    }
    Ok(())
}

fn check_sha(sha: &Option<String>) -> Result<(), String> {
    match sha {
        Some(s) if s.len() != 64 || !s.bytes().all(|b| b.is_ascii_hexdigit()) => {
            Err(format!("{s:?} is not a SHA-256"))
        }
        _ => Ok(()),
    }
}

fn check_record(r: &Record) -> Result<(), String> {
    match r {
        Record::Dir { path } => {
            if own_dir(path) {
                Ok(())
            } else {
                Err(format!(
                    "{} is not a directory install creates",
                    crate::display::path(path)
                ))
            }
        }
        Record::Created { path, sha256 } => {
            check_path(path)?;
            check_sha(sha256)
        }
        Record::Replaced {
            path,
            backup,
            sha256,
        } => {
            check_backup(path, backup)?;
            check_sha(sha256)
        }
        Record::Removed { path, backup } => check_backup(path, backup),
        Record::Renamed { from, to } => match (rc_link(from), rc_link(to)) {
            (Some((k1, _, n1)), Some((k2, _, n2)))
                if k1 == k2 && n1 == n2 && from.parent() == to.parent() =>
            {
                Ok(())
            }
            _ => Err(format!(
                "moving {} to {} is not renumbering one rc link",
                crate::display::path(from),
                crate::display::path(to)
            )),
        },
        Record::Ran { argv, undo } => {
            if !allowed_command(argv, false) {
                return Err(format!("the command {argv:?} is not one install runs"));
            }
            match undo.iter().find(|u| !allowed_command(u, true)) {
                Some(u) => Err(format!("the undo command {u:?} is not one uninstall runs")),
                None => Ok(()),
            }
        }
    }
}

/// The fixed list of commands install runs (`undo == false`) and uninstall runs to undo
/// them (`undo == true`): systemctl on drainguard's own units, update-rc.d / chkconfig on
/// its own script, and that script itself. Nothing else is ever run from a manifest.
pub fn allowed_command(argv: &[String], undo: bool) -> bool {
    let a: Vec<&str> = argv.iter().map(String::as_str).collect();
    let unit = |u: &str| OWN_UNITS.contains(&u);
    let script = |s: &str| OWN_SCRIPTS.contains(&s);
    match (undo, a.as_slice()) {
        (_, ["systemctl", "daemon-reload"]) => true,
        (false, ["systemctl", "enable", "--now", u]) => unit(u),
        (false, ["update-rc.d", "drainguard", "defaults"]) => true,
        (false, ["chkconfig", "--add", "drainguard"]) => true,
        (false, [s, "start"]) => script(s),
        (true, ["systemctl", "disable" | "stop", u]) => unit(u),
        (true, ["update-rc.d", "-f", "drainguard", "remove"]) => true,
        (true, ["chkconfig", "--del", "drainguard"]) => true,
        (true, [s, "stop"]) => script(s),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn records_round_trip_and_ownership() {
        let mut m = Manifest {
            version: VERSION,
            records: vec![
                Record::Created {
                    path: "/etc/init.d/drainguard".into(),
                    sha256: Some(sha256(b"x")),
                },
                Record::Replaced {
                    path: "/etc/drainguard/drainguard.toml".into(),
                    backup: Manifest::backup_path(Path::new("/etc/drainguard/drainguard.toml")),
                    sha256: None,
                },
            ],
        };
        let text = serde_json::to_string(&m).unwrap();
        assert!(text.contains("\"kind\":\"replaced\""), "{text}");
        assert_eq!(serde_json::from_str::<Manifest>(&text).unwrap(), m);
        let (a, b) = (
            Path::new("/etc/init.d/drainguard"),
            Path::new("/etc/drainguard/drainguard.toml"),
        );
        assert!(m.owns(a) && m.owns(b));
        assert!(m.created(a) && !m.created(b));
        m.forget(a);
        assert!(!m.owns(a));
        assert_eq!(
            Manifest::backup_path(Path::new("/etc/rc.d/rc0.d/K02filebeat")),
            PathBuf::from("/var/lib/drainguard/backup/etc/rc.d/rc0.d/K02filebeat")
        );
        assert!(m.validate().is_ok());
    }

    #[test]
    fn records_install_never_writes_are_refused() {
        let bad = [
            Record::Created {
                path: "/etc/passwd".into(),
                sha256: None,
            },
            Record::Created {
                path: "/etc/systemd/system/../../passwd".into(),
                sha256: None,
            },
            Record::Created {
                path: "etc/init.d/drainguard".into(),
                sha256: None,
            },
            Record::Created {
                path: "/etc/rc0.d/K01../../passwd".into(),
                sha256: None,
            },
            Record::Created {
                path: "/etc/./init.d/drainguard".into(),
                sha256: None,
            },
            Record::Created {
                path: "/etc/init.d//drainguard".into(),
                sha256: None,
            },
            Record::Created {
                path: "/etc/init.d/drainguard".into(),
                sha256: Some("; rm -rf /".into()),
            },
            Record::Dir {
                path: "/usr".into(),
            },
            Record::Dir { path: "/".into() },
            Record::Replaced {
                path: "/etc/init.d/drainguard".into(),
                backup: "/etc/shadow".into(),
                sha256: None,
            },
            Record::Removed {
                path: "/etc/rc0.d/K01apache2".into(),
                backup: "/var/lib/drainguard/backup/../../../etc/rc0.d/K01apache2".into(),
            },
            Record::Renamed {
                from: "/etc/rc0.d/K02filebeat".into(),
                to: "/etc/rc0.d/K03apache2".into(),
            },
            Record::Renamed {
                from: "/etc/rc0.d/K02filebeat".into(),
                to: "/etc/rc6.d/K03filebeat".into(),
            },
            Record::Ran {
                argv: strings(&["systemctl", "daemon-reload"]),
                undo: vec![strings(&["sh", "-c", "touch /tmp/p"])],
            },
            Record::Ran {
                argv: strings(&["systemctl", "daemon-reload"]),
                undo: vec![strings(&["systemctl", "disable", "sshd.service"])],
            },
            Record::Ran {
                argv: strings(&["touch", "/tmp/p"]),
                undo: vec![],
            },
            Record::Ran {
                argv: strings(&["systemctl", "daemon-reload"]),
                undo: vec![strings(&["/etc/init.d/ssh", "stop"])],
            },
        ];
        for r in bad {
            let m = Manifest {
                version: VERSION,
                records: vec![r.clone()],
            };
            assert!(m.validate().is_err(), "{r:?}");
        }
        let good = [
            Record::Dir {
                path: "/var/lib/drainguard/backup/etc/rc.d/rc0.d".into(),
            },
            Record::Dir {
                path: "/etc/systemd/system/multi-user.target.wants".into(),
            },
            Record::Renamed {
                from: "/etc/rc.d/rc0.d/K02filebeat".into(),
                to: "/etc/rc.d/rc0.d/K30filebeat".into(),
            },
            Record::Removed {
                path: "/etc/rc0.d/K30drainguard".into(),
                backup: "/var/lib/drainguard/backup/etc/rc0.d/K30drainguard".into(),
            },
            Record::Ran {
                argv: strings(&["systemctl", "enable", "--now", "drainguard.service"]),
                undo: vec![
                    strings(&["systemctl", "disable", "drainguard.service"]),
                    strings(&["systemctl", "stop", "drainguard.service"]),
                ],
            },
            Record::Ran {
                argv: strings(&["/etc/init.d/drainguard", "start"]),
                undo: vec![strings(&["/etc/init.d/drainguard", "stop"])],
            },
        ];
        for r in good {
            let m = Manifest {
                version: VERSION,
                records: vec![r.clone()],
            };
            assert!(m.validate().is_ok(), "{r:?}");
        }
    }

    #[test]
    fn unknown_kinds_and_fields_are_refused() {
        for text in [
            r#"{"version":2,"records":[{"kind":"exec","argv":["sh"]}]}"#,
            r#"{"version":2,"records":[{"kind":"created","path":"/etc/init.d/drainguard","then":"x"}]}"#,
            r#"{"version":2,"records":[],"hook":"x"}"#,
        ] {
            assert!(serde_json::from_str::<Manifest>(text).is_err(), "{text}");
        }
    }
}
