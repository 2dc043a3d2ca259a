//! Applying a plan: atomic writes and links (temp + fsync + rename + directory fsync), explicit
//! modes, root ownership, originals saved before anything is overwritten, and every step
//! recorded in the [`Manifest`] so [`undo`] removes exactly what was added.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{symlink, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use super::manifest::{Manifest, Record, MANIFEST};
use crate::root::Root;

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
    /// Remove a file or link (a stale link of an earlier install with another K number).
    Remove {
        path: PathBuf,
    },
    /// A command run on the live host only (systemctl, update-rc.d), with its undo.
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

/// Errors applying or undoing a plan.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error("{}: {source}", crate::display::path(path))]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("`{cmd}` failed: {why}")]
    Command { cmd: String, why: String },
    #[error(
        "{}: the install manifest is unreadable: {why}; fix or remove it, then re-run",
        crate::display::path(path)
    )]
    Manifest { path: PathBuf, why: String },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ApplyError + '_ {
    move |source| ApplyError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn sync_dir(dir: &Path) -> Result<(), ApplyError> {
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io(dir))
}

fn tmp_name(path: &Path) -> PathBuf {
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    path.with_file_name(format!(".{name}.drainguard-tmp"))
}

/// Writes `content` atomically: a temporary file in the same directory, mode, owner root
/// (`chown_root`: on the real root; image builds under `--root` may run unprivileged),
/// fsync, rename, directory fsync.
pub fn write_atomic(
    path: &Path,
    content: &[u8],
    mode: u32,
    chown_root: bool,
) -> Result<(), ApplyError> {
    let dir = path.parent().unwrap_or(Path::new("/"));
    let tmp = tmp_name(path);
    // A leftover of an interrupted run is ours; create_new never follows a planted link.
    let _ = fs::remove_file(&tmp);
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&tmp)
        .map_err(io(&tmp))?;
    f.write_all(content).map_err(io(&tmp))?;
    f.set_permissions(fs::Permissions::from_mode(mode))
        .map_err(io(&tmp))?;
    if chown_root {
        std::os::unix::fs::fchown(&f, Some(0), Some(0)).map_err(io(&tmp))?;
    }
    f.sync_all().map_err(io(&tmp))?;
    fs::rename(&tmp, path).map_err(io(path))?;
    sync_dir(dir)
}

/// Creates a symlink atomically: under a temporary name, then renamed over `path`.
fn symlink_atomic(target: &Path, path: &Path) -> Result<(), ApplyError> {
    let tmp = tmp_name(path);
    let _ = fs::remove_file(&tmp);
    symlink(target, &tmp).map_err(io(&tmp))?;
    fs::rename(&tmp, path).map_err(io(path))?;
    sync_dir(path.parent().unwrap_or(Path::new("/")))
}

/// Creates the missing parents of `host` (recording them), outermost first.
fn ensure_parents(root: &Root, host: &Path, m: &mut Manifest) -> Result<(), ApplyError> {
    let mut missing = Vec::new();
    let mut dir = host.parent();
    while let Some(d) = dir {
        if fs::symlink_metadata(root.host_to_local(d)).is_ok() {
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

/// Moves the existing `path` to its backup location; returns the backup's host path.
fn save_original(root: &Root, path: &Path, m: &mut Manifest) -> Result<PathBuf, ApplyError> {
    let backup = Manifest::backup_path(path);
    ensure_parents(root, &backup, m)?;
    let (lp, lb) = (root.host_to_local(path), root.host_to_local(&backup));
    fs::rename(&lp, &lb).map_err(io(&lp))?;
    Ok(backup)
}

fn exists(local: &Path) -> bool {
    fs::symlink_metadata(local).is_ok()
}

/// Applies `plan` under `root`, extending and saving the manifest after every step.
/// Idempotent: identical files and links are left alone.
pub fn apply(root: &Root, plan: &Plan) -> Result<Manifest, ApplyError> {
    let chown = root.dir().is_none();
    let mut m = Manifest::load(root)?;
    for action in &plan.actions {
        match action {
            Action::WriteFile {
                path,
                content,
                mode,
            } => {
                let local = root.host_to_local(path);
                let same = fs::read(&local).is_ok_and(|old| old == content.as_bytes())
                    && fs::metadata(&local)
                        .is_ok_and(|md| md.permissions().mode() & 0o7777 == *mode);
                if same {
                    continue;
                }
                if !exists(&local) {
                    ensure_parents(root, path, &mut m)?;
                    m.records.push(Record::Created { path: path.clone() });
                } else if !m.owns(path) {
                    // The file stays in place until the atomic rename; the backup is the
                    // same inode (a hard link) or a copy with the original's owner and mode.
                    let backup = Manifest::backup_path(path);
                    ensure_parents(root, &backup, &mut m)?;
                    let lb = root.host_to_local(&backup);
                    let _ = fs::remove_file(&lb);
                    if fs::hard_link(&local, &lb).is_err() {
                        let md = fs::metadata(&local).map_err(io(&local))?;
                        fs::copy(&local, &lb).map_err(io(&lb))?;
                        std::os::unix::fs::chown(&lb, Some(md.uid()), Some(md.gid()))
                            .map_err(io(&lb))?;
                    }
                    m.records.push(Record::Replaced {
                        path: path.clone(),
                        backup,
                    });
                }
                write_atomic(&local, content.as_bytes(), *mode, chown)?;
            }
            Action::Symlink { path, target } => {
                let local = root.host_to_local(path);
                if fs::read_link(&local).is_ok_and(|t| t == *target) {
                    continue;
                }
                if !exists(&local) {
                    ensure_parents(root, path, &mut m)?;
                    m.records.push(Record::Created { path: path.clone() });
                } else if !m.owns(path) {
                    let backup = save_original(root, path, &mut m)?;
                    m.records.push(Record::Replaced {
                        path: path.clone(),
                        backup,
                    });
                }
                symlink_atomic(target, &local)?;
            }
            Action::Rename { from, to } => {
                let (lf, lt) = (root.host_to_local(from), root.host_to_local(to));
                if !exists(&lf) {
                    continue;
                }
                fs::rename(&lf, &lt).map_err(io(&lf))?;
                sync_dir(lt.parent().unwrap_or(Path::new("/")))?;
                m.records.push(Record::Renamed {
                    from: from.clone(),
                    to: to.clone(),
                });
            }
            Action::Remove { path } => {
                let local = root.host_to_local(path);
                if !exists(&local) {
                    continue;
                }
                if m.created(path) {
                    fs::remove_file(&local).map_err(io(&local))?;
                    m.forget(path);
                } else if m.replaced_to_removed(path) {
                    // Ours over a saved original: drop ours, the original stays saved.
                    fs::remove_file(&local).map_err(io(&local))?;
                } else {
                    let backup = save_original(root, path, &mut m)?;
                    m.records.push(Record::Removed {
                        path: path.clone(),
                        backup,
                    });
                }
                sync_dir(local.parent().unwrap_or(Path::new("/")))?;
            }
            Action::Run { argv, undo } => {
                run(argv)?;
                let rec = Record::Ran {
                    argv: argv.clone(),
                    undo: undo.clone(),
                };
                // Re-running install runs the command again but records it once.
                if !m.records.contains(&rec) {
                    m.records.push(rec);
                }
            }
        }
        save(root, &mut m)?;
    }
    save(root, &mut m)?;
    Ok(m)
}

fn save(root: &Root, m: &mut Manifest) -> Result<(), ApplyError> {
    let host = Path::new(MANIFEST);
    ensure_parents(root, host, m)?;
    let text = serde_json::to_string_pretty(m).expect("manifest serializes");
    write_atomic(
        &root.host_to_local(host),
        text.as_bytes(),
        0o644,
        root.dir().is_none(),
    )
}

fn run(argv: &[String]) -> Result<(), ApplyError> {
    let cmd = argv.join(" ");
    tracing::info!(%cmd, "running");
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

fn daemon_reload() -> Vec<String> {
    vec!["systemctl".into(), "daemon-reload".into()]
}

/// Undoes every record in reverse order and removes the manifest; returns what was (or, with
/// `dry_run`, would be) done. `systemctl daemon-reload` runs once, after the unit files are
/// gone, whatever its place in the manifest.
pub fn undo(root: &Root, dry_run: bool) -> Result<Vec<String>, ApplyError> {
    let m = Manifest::load(root)?;
    let manifest_local = root.host_to_local(Path::new(MANIFEST));
    let mut done = Vec::new();
    let mut reload = false;
    for r in m.records.iter().rev() {
        let line = match r {
            Record::Ran { undo, .. } => {
                let mut shown = Vec::new();
                for u in undo {
                    if *u == daemon_reload() {
                        reload = true;
                        continue;
                    }
                    if !dry_run {
                        // Best effort: the unit may already be gone.
                        if let Err(e) = run(u) {
                            tracing::warn!(error = %e, "undo step failed");
                        }
                    }
                    shown.push(u.join(" "));
                }
                if shown.is_empty() {
                    continue;
                }
                format!("run {}", shown.join("; "))
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
            Record::Replaced { path, backup } | Record::Removed { path, backup } => {
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
                    if Some(local.as_path()) == manifest_local.parent() {
                        fs::remove_file(&manifest_local)
                            .or_else(ignore_missing)
                            .map_err(io(&manifest_local))?;
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
    if reload {
        if !dry_run {
            if let Err(e) = run(&daemon_reload()) {
                tracing::warn!(error = %e, "daemon-reload failed");
            }
        }
        done.push("run systemctl daemon-reload".into());
    }
    if !dry_run {
        fs::remove_file(&manifest_local)
            .or_else(ignore_missing)
            .map_err(io(&manifest_local))?;
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

#[cfg(test)]
mod tests {
    use super::*;

    use crate::install::temp_root as tree;

    #[test]
    fn a_replaced_file_comes_back_with_its_owner_and_mode() {
        let (d, root) = tree();
        let f = d.path().join("etc/x.toml");
        fs::create_dir_all(f.parent().unwrap()).unwrap();
        fs::write(&f, "mine\n").unwrap();
        fs::set_permissions(&f, fs::Permissions::from_mode(0o600)).unwrap();
        // Another owner when the test runs as root (as in CI); the same otherwise.
        let _ = std::os::unix::fs::chown(&f, Some(1234), Some(5678));
        let before = fs::metadata(&f).unwrap();
        let plan = Plan {
            actions: vec![Action::WriteFile {
                path: "/etc/x.toml".into(),
                content: "ours\n".into(),
                mode: 0o644,
            }],
            notes: vec![],
        };
        apply(&root, &plan).unwrap();
        assert_eq!(fs::read_to_string(&f).unwrap(), "ours\n");
        undo(&root, false).unwrap();
        let after = fs::metadata(&f).unwrap();
        assert_eq!(fs::read_to_string(&f).unwrap(), "mine\n");
        assert_eq!(
            (after.uid(), after.gid(), after.permissions().mode()),
            (before.uid(), before.gid(), before.permissions().mode())
        );
    }

    #[test]
    fn atomic_write_sets_mode_and_leaves_no_temp() {
        let (d, _) = tree();
        let p = d.path().join("f");
        write_atomic(&p, b"x", 0o640, false).unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"x");
        assert_eq!(
            fs::metadata(&p).unwrap().permissions().mode() & 0o7777,
            0o640
        );
        assert_eq!(fs::read_dir(d.path()).unwrap().count(), 1);
    }

    #[test]
    fn foreign_link_is_saved_outside_its_directory_and_restored() {
        let (d, root) = tree();
        let rc0 = d.path().join("etc/rc0.d");
        fs::create_dir_all(&rc0).unwrap();
        symlink("../init.d/other", rc0.join("K30drainguard")).unwrap();
        let plan = Plan {
            actions: vec![
                Action::Symlink {
                    path: "/etc/rc0.d/K30drainguard".into(),
                    target: "../init.d/drainguard".into(),
                },
                Action::Remove {
                    path: "/etc/rc0.d/K30drainguard".into(),
                },
            ],
            notes: vec![],
        };
        apply(&root, &plan).unwrap();
        // Nothing but our own link in rc0.d: the saved original would be run by rc otherwise.
        assert_eq!(fs::read_dir(&rc0).unwrap().count(), 0);
        undo(&root, false).unwrap();
        assert_eq!(
            fs::read_link(rc0.join("K30drainguard")).unwrap(),
            PathBuf::from("../init.d/other")
        );
        assert!(!d.path().join("var").exists());
    }

    #[test]
    fn a_link_created_then_removed_leaves_nothing_to_undo() {
        let (d, root) = tree();
        fs::create_dir_all(d.path().join("etc/rc0.d")).unwrap();
        let link = Action::Symlink {
            path: "/etc/rc0.d/K30drainguard".into(),
            target: "../init.d/drainguard".into(),
        };
        apply(
            &root,
            &Plan {
                actions: vec![link],
                notes: vec![],
            },
        )
        .unwrap();
        let remove = Action::Remove {
            path: "/etc/rc0.d/K30drainguard".into(),
        };
        let m = apply(
            &root,
            &Plan {
                actions: vec![remove],
                notes: vec![],
            },
        )
        .unwrap();
        assert!(!m.owns(Path::new("/etc/rc0.d/K30drainguard")));
        assert_eq!(
            undo(&root, false).unwrap(),
            vec![
                "remove directory /var/lib/drainguard",
                "remove directory /var/lib",
                "remove directory /var"
            ]
        );
    }

    #[test]
    fn commands_are_recorded_once_and_daemon_reload_is_undone_last() {
        let (d, root) = tree();
        let log = d.path().join("log");
        let sh = |line: &str| {
            vec![
                "sh".to_string(),
                "-c".to_string(),
                format!("echo {line} >> '{}'", log.display()),
            ]
        };
        let plan = Plan {
            actions: vec![
                Action::Run {
                    argv: sh("reload"),
                    undo: vec![daemon_reload()],
                },
                Action::Run {
                    argv: sh("enable"),
                    undo: vec![sh("disable")],
                },
            ],
            notes: vec![],
        };
        apply(&root, &plan).unwrap();
        let m = apply(&root, &plan).unwrap();
        assert_eq!(
            fs::read_to_string(&log).unwrap(),
            "reload\nenable\nreload\nenable\n"
        );
        assert_eq!(
            m.records
                .iter()
                .filter(|r| matches!(r, Record::Ran { .. }))
                .count(),
            2
        );
        let done = undo(&root, true).unwrap();
        assert!(done[0].starts_with("run sh -c echo disable"), "{done:?}");
        assert_eq!(done.last().unwrap(), "run systemctl daemon-reload");
        assert_eq!(
            done.iter().filter(|l| l.contains("daemon-reload")).count(),
            1
        );
    }
}
