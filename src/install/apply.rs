//! Plans and their application: atomic writes, links, the manifest that makes `uninstall`
//! exact, and the `--dry-run` preview with diffs.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::{Deserialize, Serialize};

use crate::root::Root;

/// Where the install manifest lives (host path).
pub const MANIFEST: &str = "/var/lib/drainguard/install-manifest.json";

/// One step of a plan. Paths are host paths (mapped under `--root` when applied).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    WriteFile {
        path: PathBuf,
        content: String,
        mode: u32,
    },
    Symlink {
        path: PathBuf,
        target: PathBuf,
    },
    /// Move an existing link (the shipper's K links with `--reorder-shipper`).
    Rename {
        from: PathBuf,
        to: PathBuf,
    },
    /// A command run on the real root only (systemctl, update-rc.d), with its undo.
    Run {
        argv: Vec<String>,
        undo: Vec<Vec<String>>,
    },
}

/// What install will do.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    pub actions: Vec<Action>,
    /// Warnings and explanations shown with the plan.
    pub notes: Vec<String>,
}

/// What was done, in order, so it can be undone exactly.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub version: u32,
    pub records: Vec<Record>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Record {
    /// A directory that did not exist.
    Dir {
        path: PathBuf,
    },
    /// A file or link that did not exist.
    Created {
        path: PathBuf,
    },
    /// A file that existed, saved to `backup` first.
    Replaced {
        path: PathBuf,
        backup: PathBuf,
    },
    Renamed {
        from: PathBuf,
        to: PathBuf,
    },
    Ran {
        argv: Vec<String>,
        undo: Vec<Vec<String>>,
    },
}

/// Errors applying or undoing a plan.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("`{cmd}` failed: {why}")]
    Command { cmd: String, why: String },
    #[error("{path}: the install manifest is unreadable: {why}")]
    Manifest { path: PathBuf, why: String },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ApplyError + '_ {
    move |source| ApplyError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Writes `content` atomically: a temporary file in the same directory, fsync, mode, rename,
/// directory fsync.
pub fn write_atomic(path: &Path, content: &[u8], mode: u32) -> Result<(), ApplyError> {
    let dir = path.parent().unwrap_or(Path::new("/"));
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let tmp = dir.join(format!(".{name}.drainguard-tmp"));
    let mut f = fs::File::create(&tmp).map_err(io(&tmp))?;
    f.write_all(content).map_err(io(&tmp))?;
    f.set_permissions(fs::Permissions::from_mode(mode))
        .map_err(io(&tmp))?;
    f.sync_all().map_err(io(&tmp))?;
    fs::rename(&tmp, path).map_err(io(path))?;
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io(dir))
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

    fn owns(&self, path: &Path) -> bool {
        self.records.iter().any(|r| match r {
            Record::Created { path: p } | Record::Replaced { path: p, .. } => p == path,
            _ => false,
        })
    }
}

/// Creates the missing parents of `host` (recording them), outermost first.
fn ensure_parents(root: &Root, host: &Path, m: &mut Manifest) -> Result<(), ApplyError> {
    let mut missing = Vec::new();
    let mut dir = host.parent();
    while let Some(d) = dir {
        if root.host_to_local(d).exists() {
            break;
        }
        missing.push(d.to_path_buf());
        dir = d.parent();
    }
    for d in missing.into_iter().rev() {
        let local = root.host_to_local(&d);
        fs::create_dir(&local).map_err(io(&local))?;
        fs::set_permissions(&local, fs::Permissions::from_mode(0o755)).map_err(io(&local))?;
        m.records.push(Record::Dir { path: d });
    }
    Ok(())
}

/// Applies `plan` under `root`, extending and saving the manifest. Idempotent: identical files
/// and links are left alone.
pub fn apply(root: &Root, plan: &Plan) -> Result<Manifest, ApplyError> {
    let mut m = Manifest::load(root)?;
    for action in &plan.actions {
        match action {
            Action::WriteFile {
                path,
                content,
                mode,
            } => {
                let local = root.host_to_local(path);
                match fs::read(&local) {
                    Ok(old) if old == content.as_bytes() => continue,
                    Ok(_) if m.owns(path) => {}
                    Ok(_) => {
                        let mut b = local.as_os_str().to_owned();
                        b.push(".drainguard-backup");
                        let backup_local = PathBuf::from(b);
                        fs::copy(&local, &backup_local).map_err(io(&backup_local))?;
                        m.records.push(Record::Replaced {
                            path: path.clone(),
                            backup: root.local_to_host(&backup_local),
                        });
                    }
                    Err(_) => {
                        ensure_parents(root, path, &mut m)?;
                        m.records.push(Record::Created { path: path.clone() });
                    }
                }
                write_atomic(&local, content.as_bytes(), *mode)?;
            }
            Action::Symlink { path, target } => {
                let local = root.host_to_local(path);
                if fs::read_link(&local).is_ok_and(|t| t == *target) {
                    continue;
                }
                ensure_parents(root, path, &mut m)?;
                // Atomic: link under a temporary name, then rename over.
                let tmp = local.with_file_name(format!(
                    ".{}.drainguard-tmp",
                    local.file_name().unwrap_or_default().to_string_lossy()
                ));
                let _ = fs::remove_file(&tmp);
                symlink(target, &tmp).map_err(io(&tmp))?;
                fs::rename(&tmp, &local).map_err(io(&local))?;
                if !m.owns(path) {
                    m.records.push(Record::Created { path: path.clone() });
                }
            }
            Action::Rename { from, to } => {
                let (lf, lt) = (root.host_to_local(from), root.host_to_local(to));
                if !lf.exists() && fs::symlink_metadata(&lf).is_err() {
                    continue;
                }
                fs::rename(&lf, &lt).map_err(io(&lf))?;
                m.records.push(Record::Renamed {
                    from: from.clone(),
                    to: to.clone(),
                });
            }
            Action::Run { argv, undo } => {
                run(argv)?;
                m.records.push(Record::Ran {
                    argv: argv.clone(),
                    undo: undo.clone(),
                });
            }
        }
        save(root, &mut m)?;
    }
    save(root, &mut m)?;
    Ok(m)
}

fn save(root: &Root, m: &mut Manifest) -> Result<(), ApplyError> {
    let host = Path::new(MANIFEST);
    if !root.host_to_local(host).exists() {
        ensure_parents(root, host, m)?;
    }
    let text = serde_json::to_string_pretty(m).expect("manifest serializes");
    write_atomic(&root.host_to_local(host), text.as_bytes(), 0o644)
}

fn run(argv: &[String]) -> Result<(), ApplyError> {
    let cmd = argv.join(" ");
    let out = Command::new(&argv[0])
        .args(&argv[1..])
        .output()
        .map_err(|e| ApplyError::Command {
            cmd: cmd.clone(),
            why: e.to_string(),
        })?;
    if out.status.success() {
        Ok(())
    } else {
        Err(ApplyError::Command {
            cmd,
            why: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        })
    }
}

/// Undoes every record in reverse order and removes the manifest; returns what was done.
pub fn undo(root: &Root, dry_run: bool) -> Result<Vec<String>, ApplyError> {
    let m = Manifest::load(root)?;
    let mut done = Vec::new();
    for r in m.records.iter().rev() {
        let line = match r {
            Record::Ran { undo, .. } => {
                for u in undo {
                    if !dry_run {
                        // Best effort: the unit may already be gone.
                        if let Err(e) = run(u) {
                            tracing::warn!(error = %e, "undo step failed");
                        }
                    }
                }
                format!(
                    "run {}",
                    undo.iter()
                        .map(|u| u.join(" "))
                        .collect::<Vec<_>>()
                        .join("; ")
                )
            }
            Record::Created { path } => {
                if !dry_run {
                    let local = root.host_to_local(path);
                    fs::remove_file(&local)
                        .or_else(ignore_missing)
                        .map_err(io(&local))?;
                }
                format!("remove {}", crate::display::path(path))
            }
            Record::Replaced { path, backup } => {
                if !dry_run {
                    let (lp, lb) = (root.host_to_local(path), root.host_to_local(backup));
                    fs::rename(&lb, &lp).map_err(io(&lb))?;
                }
                format!("restore {} from its backup", crate::display::path(path))
            }
            Record::Renamed { from, to } => {
                if !dry_run {
                    let (lf, lt) = (root.host_to_local(from), root.host_to_local(to));
                    fs::rename(&lt, &lf).map_err(io(&lt))?;
                }
                format!(
                    "move {} back to {}",
                    crate::display::path(to),
                    crate::display::path(from)
                )
            }
            Record::Dir { path } => {
                if !dry_run {
                    let local = root.host_to_local(path);
                    if local
                        == root
                            .host_to_local(Path::new(MANIFEST))
                            .parent()
                            .unwrap_or(Path::new("/"))
                    {
                        let _ = fs::remove_file(root.host_to_local(Path::new(MANIFEST)));
                    }
                    // Only if empty: anything else in it is not ours.
                    if let Err(e) = fs::remove_dir(&local) {
                        tracing::warn!(dir = %crate::display::path(path), error = %e, "left in place");
                    }
                }
                format!("remove directory {}", crate::display::path(path))
            }
        };
        done.push(line);
    }
    if !dry_run {
        let local = root.host_to_local(Path::new(MANIFEST));
        fs::remove_file(&local)
            .or_else(ignore_missing)
            .map_err(io(&local))?;
    }
    Ok(done)
}

fn ignore_missing(e: std::io::Error) -> std::io::Result<()> {
    if e.kind() == std::io::ErrorKind::NotFound {
        Ok(())
    } else {
        Err(e)
    }
}

/// The plan as text: each action, with a unified diff for files.
pub fn preview(root: &Root, plan: &Plan) -> String {
    let mut out = String::new();
    for n in &plan.notes {
        out.push_str(&format!("note: {n}\n"));
    }
    for a in &plan.actions {
        match a {
            Action::WriteFile {
                path,
                content,
                mode,
            } => {
                let old = fs::read_to_string(root.host_to_local(path)).unwrap_or_default();
                if old == *content {
                    out.push_str(&format!("unchanged {}\n", crate::display::path(path)));
                    continue;
                }
                out.push_str(&format!(
                    "write {} (mode {mode:o})\n",
                    crate::display::path(path)
                ));
                let diff = similar::TextDiff::from_lines(&old, content);
                out.push_str(
                    &diff
                        .unified_diff()
                        .header(
                            &format!("a{}", path.display()),
                            &format!("b{}", path.display()),
                        )
                        .to_string(),
                );
            }
            Action::Symlink { path, target } => out.push_str(&format!(
                "link {} -> {}\n",
                crate::display::path(path),
                crate::display::path(target)
            )),
            Action::Rename { from, to } => out.push_str(&format!(
                "move {} -> {}\n",
                crate::display::path(from),
                crate::display::path(to)
            )),
            Action::Run { argv, .. } => out.push_str(&format!("run {}\n", argv.join(" "))),
        }
    }
    out
}
