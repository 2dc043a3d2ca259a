//! Applying a plan: atomic writes and links (temp + fsync + rename + directory fsync), explicit
//! modes, root ownership, originals saved before anything is overwritten, and every step
//! recorded in the [`Manifest`] so [`undo`] removes exactly what was added. Every path goes
//! through [`Beneath`]: resolved below the root, never through a symbolic link.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::beneath::{Beneath, BeneathError};
use super::manifest::{self, fingerprint, Manifest, ManifestError, Record, MANIFEST};
use crate::root::Root;

/// One step of a plan. Paths are host paths (resolved under `--root` when applied).
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
    #[error(transparent)]
    Beneath(#[from] BeneathError),
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    #[error("`{cmd}` failed: {why}")]
    Command { cmd: String, why: String },
    #[error("`{cmd}` is not run: {why}")]
    Refused { cmd: String, why: String },
    #[error(
        "{}: already exists; moving {} there would replace it. Move it away, then re-run",
        crate::display::path(to),
        crate::display::path(from)
    )]
    Occupied { from: PathBuf, to: PathBuf },
}

/// Runs one command (the real one, or a test's recorder).
pub type Runner<'a> = dyn FnMut(&[String]) -> Result<(), ApplyError> + 'a;

/// The largest existing file compared with what install would write (ours are far smaller).
const COMPARE_LIMIT: u64 = 1 << 20;

/// What a uninstall did (or, dry, would do), and what it left because it is not as install
/// wrote it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Undone {
    pub done: Vec<String>,
    pub left: Vec<String>,
}

fn shown(p: &Path) -> String {
    crate::display::path(p)
}

/// drainguard's run-time files in `dir` (a host path): the drain log (and its rotated
/// copy), the abandoned-bytes counters and the state lock. Every drain (or the exporter)
/// writes them, never `install`, so no manifest lists them and uninstall leaves them.
fn runtime_files(root: &Root, dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(root.host_to_local(dir)) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .flatten()
        .take(4096)
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| {
            n.starts_with(crate::wait::DRAIN_LOG)
                || n == crate::wait::STATE_LOCK
                || n == crate::metrics::abandoned::FILE
        })
        .collect();
    names.sort();
    names
}

/// Creates the missing parents of `host`, recording them.
fn parents(b: &Beneath, host: &Path, m: &mut Manifest) -> Result<(), ApplyError> {
    for d in b.make_parents(host)? {
        m.records.push(Record::Dir { path: d });
    }
    Ok(())
}

/// Moves the existing `path` to its backup location; returns the backup's host path.
fn save_original(b: &Beneath, path: &Path, m: &mut Manifest) -> Result<PathBuf, ApplyError> {
    let backup = Manifest::backup_path(path);
    parents(b, &backup, m)?;
    b.rename(path, &backup)?;
    Ok(backup)
}

/// Applies `plan` under `root`, extending and saving the manifest after every step.
/// Idempotent: identical files and links are left alone. Commands run only on the real root.
pub fn apply(root: &Root, plan: &Plan) -> Result<Manifest, ApplyError> {
    let live = root.dir().is_none();
    apply_with(root, plan, &mut |argv: &[String]| {
        if live {
            run(argv)
        } else {
            Err(ApplyError::Refused {
                cmd: argv.join(" "),
                why: "--root is set (commands act on the running host, not on the tree)".into(),
            })
        }
    })
}

/// [`apply`] with `runner` running the commands.
pub fn apply_with(root: &Root, plan: &Plan, runner: &mut Runner) -> Result<Manifest, ApplyError> {
    let b = Beneath::open(root)?;
    let chown = root.dir().is_none();
    let mut m = Manifest::load(&b, &root_shown(root))?;
    preflight(&b, plan)?;
    for action in &plan.actions {
        let step = apply_one(&b, action, chown, &mut m, runner);
        // Saved after every step, and after a failed one: what was done is undoable.
        let saved = parents(&b, Path::new(MANIFEST), &mut m)
            .and_then(|()| m.save(&b, chown).map_err(ApplyError::from));
        step?;
        saved?;
    }
    parents(&b, Path::new(MANIFEST), &mut m)?;
    m.save(&b, chown)?;
    Ok(m)
}

/// Every path the plan touches (and its backup, and the manifest) resolves below the root
/// without a link, before anything is written: a refused install writes nothing. (Each step
/// checks again as it goes.)
fn preflight(b: &Beneath, plan: &Plan) -> Result<(), ApplyError> {
    let mut paths = vec![PathBuf::from(MANIFEST)];
    for a in &plan.actions {
        match a {
            Action::WriteFile { path, .. }
            | Action::Symlink { path, .. }
            | Action::Remove { path } => {
                paths.push(path.clone());
                paths.push(Manifest::backup_path(path));
            }
            Action::Rename { from, to } => paths.extend([from.clone(), to.clone()]),
            Action::Run { .. } => {}
        }
    }
    for p in paths {
        b.missing_parents(&p)?;
    }
    Ok(())
}

/// How the root is shown in messages (the local path of `/`).
fn root_shown(root: &Root) -> PathBuf {
    root.dir()
        .map_or_else(|| PathBuf::from("/"), Path::to_path_buf)
}

fn apply_one(
    b: &Beneath,
    action: &Action,
    chown: bool,
    m: &mut Manifest,
    runner: &mut Runner,
) -> Result<(), ApplyError> {
    match action {
        Action::WriteFile {
            path,
            content,
            mode,
        } => {
            let same = matches!(b.read(path, COMPARE_LIMIT),
                Ok(Some((old, meta))) if old == content.as_bytes() && meta.mode == *mode);
            if same {
                return Ok(());
            }
            let sha = manifest::sha256(content.as_bytes());
            if b.meta(path)?.is_none() {
                parents(b, path, m)?;
                m.records.push(Record::Created {
                    path: path.clone(),
                    sha256: Some(sha),
                });
            } else if m.owns(path) {
                m.rewrote(path, &sha);
            } else {
                // The file stays in place until the atomic rename; the backup is the same
                // inode (a hard link) or a copy with the original's owner and mode.
                let backup = Manifest::backup_path(path);
                parents(b, &backup, m)?;
                b.keep_copy(path, &backup)?;
                m.records.push(Record::Replaced {
                    path: path.clone(),
                    backup,
                    sha256: Some(sha),
                });
            }
            b.write_atomic(path, content.as_bytes(), *mode, chown)?;
        }
        Action::Symlink { path, target } => {
            if b.read_link(path)?.is_some_and(|t| t == *target) {
                return Ok(());
            }
            let sha = manifest::link_fingerprint(target);
            if b.meta(path)?.is_none() {
                parents(b, path, m)?;
                m.records.push(Record::Created {
                    path: path.clone(),
                    sha256: Some(sha),
                });
            } else if m.owns(path) {
                m.rewrote(path, &sha);
            } else {
                let backup = save_original(b, path, m)?;
                m.records.push(Record::Replaced {
                    path: path.clone(),
                    backup,
                    sha256: Some(sha),
                });
            }
            b.symlink_atomic(target, path)?;
        }
        Action::Rename { from, to } => {
            if b.meta(from)?.is_none() {
                return Ok(());
            }
            if b.meta(to)?.is_some() {
                return Err(ApplyError::Occupied {
                    from: from.clone(),
                    to: to.clone(),
                });
            }
            b.rename(from, to)?;
            m.records.push(Record::Renamed {
                from: from.clone(),
                to: to.clone(),
            });
        }
        Action::Remove { path } => {
            if b.meta(path)?.is_none() {
                return Ok(());
            }
            if m.created(path) {
                b.remove_file(path)?;
                m.forget(path);
            } else if m.replaced_to_removed(path) {
                // Ours over a saved original: drop ours, the original stays saved.
                b.remove_file(path)?;
            } else {
                let backup = save_original(b, path, m)?;
                m.records.push(Record::Removed {
                    path: path.clone(),
                    backup,
                });
            }
        }
        Action::Run { argv, undo } => {
            let listed = manifest::allowed_command(argv, false)
                && undo.iter().all(|u| manifest::allowed_command(u, true));
            if !listed {
                return Err(ApplyError::Refused {
                    cmd: argv.join(" "),
                    why: "not one of the commands install runs".into(),
                });
            }
            runner(argv)?;
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
    Ok(())
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
/// `dry_run`, would be) done, and what was left because it changed since install.
/// `systemctl daemon-reload` runs once, after the unit files are gone, whatever its place in
/// the manifest. Recorded commands run only on the real root, never under `--root`.
pub fn undo(root: &Root, dry_run: bool) -> Result<Undone, ApplyError> {
    undo_with(root, dry_run, &mut |argv: &[String]| run(argv))
}

/// [`undo`] with `runner` running the commands.
pub fn undo_with(root: &Root, dry_run: bool, runner: &mut Runner) -> Result<Undone, ApplyError> {
    let b = Beneath::open(root)?;
    let live = root.dir().is_none();
    let m = Manifest::load(&b, &root_shown(root))?;
    // Every recorded path resolves below the root without a link before anything is undone.
    for r in &m.records {
        match r {
            Record::Dir { path } | Record::Created { path, .. } => {
                b.missing_parents(path)?;
            }
            Record::Replaced { path, backup, .. } | Record::Removed { path, backup } => {
                b.missing_parents(path)?;
                b.missing_parents(backup)?;
            }
            Record::Renamed { from, to } => {
                b.missing_parents(from)?;
                b.missing_parents(to)?;
            }
            Record::Ran { .. } => {}
        }
    }
    let mut u = Undone::default();
    let mut reload = false;
    let mut command = |argv: &[String], u: &mut Undone| {
        let line = argv.join(" ");
        if !live {
            u.done.push(format!(
                "skip `{line}` (--root is set: run it on the booted host if it applies)"
            ));
            return;
        }
        if !dry_run {
            // Best effort: the unit may already be gone.
            if let Err(e) = runner(argv) {
                tracing::warn!(error = %e, "undo step failed");
            }
        }
        u.done.push(format!("run {line}"));
    };
    for r in m.records.iter().rev() {
        match r {
            Record::Ran { undo, .. } => {
                for argv in undo {
                    if *argv == daemon_reload() {
                        reload = true;
                    } else {
                        command(argv, &mut u);
                    }
                }
            }
            Record::Created { path, sha256 } => {
                let now = fingerprint(&b, path)?;
                if now.is_none() {
                    continue;
                }
                if sha256.is_some() && now != *sha256 {
                    u.left.push(format!(
                        "{}: changed since install (not what install wrote): left in place",
                        shown(path)
                    ));
                    continue;
                }
                if !dry_run {
                    b.remove_file(path)?;
                }
                u.done.push(format!("remove {}", shown(path)));
            }
            Record::Replaced {
                path,
                backup,
                sha256,
            } => {
                if b.meta(backup)?.is_none() {
                    u.left.push(format!(
                        "{}: its saved original {} is missing: left as it is",
                        shown(path),
                        shown(backup)
                    ));
                    continue;
                }
                let now = fingerprint(&b, path)?;
                if sha256.is_some() && now.is_some() && now != *sha256 {
                    u.left.push(format!(
                        "{}: changed since install: left in place; the original is kept at {}",
                        shown(path),
                        shown(backup)
                    ));
                    continue;
                }
                if !dry_run {
                    b.rename(backup, path)?;
                }
                u.done
                    .push(format!("restore {} from its backup", shown(path)));
            }
            Record::Removed { path, backup } => {
                if b.meta(backup)?.is_none() {
                    u.left.push(format!(
                        "{}: its saved original {} is missing",
                        shown(path),
                        shown(backup)
                    ));
                    continue;
                }
                if b.meta(path)?.is_some() {
                    u.left.push(format!(
                        "{}: exists again: left in place; the original is kept at {}",
                        shown(path),
                        shown(backup)
                    ));
                    continue;
                }
                if !dry_run {
                    b.rename(backup, path)?;
                }
                u.done
                    .push(format!("restore {} from its backup", shown(path)));
            }
            Record::Renamed { from, to } => {
                if b.meta(to)?.is_none() || b.meta(from)?.is_some() {
                    u.left.push(format!(
                        "{}: not moved back to {} (it is gone, or that name is taken)",
                        shown(to),
                        shown(from)
                    ));
                    continue;
                }
                if !dry_run {
                    b.rename(to, from)?;
                }
                u.done
                    .push(format!("move {} back to {}", shown(to), shown(from)));
            }
            Record::Dir { path } => {
                if !dry_run {
                    if Some(path.as_path()) == Path::new(MANIFEST).parent() {
                        b.remove_file(Path::new(MANIFEST))?;
                        b.remove_file(Path::new(manifest::CHECKSUM))?;
                    }
                    // Only if empty: anything else in it is not install's.
                    if let Err(e) = b.remove_dir(path) {
                        tracing::debug!(dir = %shown(path), error = %e, "left in place");
                    }
                }
                let runtime = runtime_files(root, path);
                let stays = if dry_run {
                    !runtime.is_empty()
                } else {
                    root.host_to_local(path).symlink_metadata().is_ok()
                };
                u.done.push(if !stays {
                    format!("remove directory {}", shown(path))
                } else if !runtime.is_empty() {
                    format!(
                        "keep directory {}: it holds drainguard's run-time state ({}), which no \
                         install wrote and uninstall leaves by design (the drain history and \
                         the abandoned-bytes counters); remove it yourself when no longer wanted",
                        shown(path),
                        runtime.join(", ")
                    )
                } else {
                    format!("keep directory {}: not empty", shown(path))
                });
            }
        }
    }
    if reload {
        command(&daemon_reload(), &mut u);
    }
    if !dry_run {
        b.remove_file(Path::new(MANIFEST))?;
        b.remove_file(Path::new(manifest::CHECKSUM))?;
    }
    Ok(u)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};

    use crate::install::temp_root as tree;

    const SETTINGS: &str = "/etc/drainguard/drainguard.toml";

    #[test]
    fn a_replaced_file_comes_back_with_its_owner_and_mode() {
        let (d, root) = tree();
        let f = d.path().join(SETTINGS.trim_start_matches('/'));
        fs::create_dir_all(f.parent().unwrap()).unwrap();
        fs::write(&f, "mine\n").unwrap();
        fs::set_permissions(&f, fs::Permissions::from_mode(0o600)).unwrap();
        // Another owner when the test runs as root (as in CI); the same otherwise.
        let _ = std::os::unix::fs::chown(&f, Some(1234), Some(5678));
        let before = fs::metadata(&f).unwrap();
        let plan = Plan {
            actions: vec![Action::WriteFile {
                path: SETTINGS.into(),
                content: "ours\n".into(),
                mode: 0o644,
            }],
            notes: vec![],
        };
        apply(&root, &plan).unwrap();
        assert_eq!(fs::read_to_string(&f).unwrap(), "ours\n");
        let u = undo(&root, false).unwrap();
        assert!(u.left.is_empty(), "{u:?}");
        let after = fs::metadata(&f).unwrap();
        assert_eq!(fs::read_to_string(&f).unwrap(), "mine\n");
        assert_eq!(
            (after.uid(), after.gid(), after.permissions().mode()),
            (before.uid(), before.gid(), before.permissions().mode())
        );
    }

    #[test]
    fn a_file_changed_since_install_is_reported_and_left() {
        let (d, root) = tree();
        let plan = Plan {
            actions: vec![Action::WriteFile {
                path: SETTINGS.into(),
                content: "ours\n".into(),
                mode: 0o644,
            }],
            notes: vec![],
        };
        apply(&root, &plan).unwrap();
        let f = d.path().join(SETTINGS.trim_start_matches('/'));
        fs::write(&f, "edited by the operator\n").unwrap();
        let dry = undo(&root, true).unwrap();
        let u = undo(&root, false).unwrap();
        assert_eq!(dry.left, u.left);
        assert_eq!(u.left.len(), 1, "{u:?}");
        assert!(u.left[0].contains("changed since install"), "{u:?}");
        assert_eq!(fs::read_to_string(&f).unwrap(), "edited by the operator\n");
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
            undo(&root, false).unwrap().done,
            vec![
                "remove directory /var/lib/drainguard",
                "remove directory /var/lib",
                "remove directory /var"
            ]
        );
    }

    /// The drain log, its lock and the abandoned-bytes counters are written by drains, not by
    /// install: uninstall leaves them (and so their directory) and says so, with and without
    /// --dry-run; it never says it removed a directory that stays.
    #[test]
    fn uninstall_keeps_the_state_directory_s_run_time_files_and_says_so() {
        let (d, root) = tree();
        let plan = Plan {
            actions: vec![Action::WriteFile {
                path: "/etc/drainguard/drainguard.toml".into(),
                content: "x".into(),
                mode: 0o644,
            }],
            notes: vec![],
        };
        apply(&root, &plan).unwrap();
        let state = d.path().join("var/lib/drainguard");
        for f in ["drains.jsonl", "state.lock", "abandoned.json"] {
            fs::write(state.join(f), "{}\n").unwrap();
        }
        let keep = "keep directory /var/lib/drainguard: it holds drainguard's run-time state \
                    (abandoned.json, drains.jsonl, state.lock)";
        let dry = undo(&root, true).unwrap();
        assert!(
            dry.done.iter().any(|l| l.starts_with(keep)),
            "{:?}",
            dry.done
        );
        let u = undo(&root, false).unwrap();
        assert!(u.done.iter().any(|l| l.starts_with(keep)), "{:?}", u.done);
        assert!(
            !u.done
                .iter()
                .any(|l| l.contains("remove directory /var/lib/drainguard")
                    || l.contains("remove directory /var/lib\"")),
            "{:?}",
            u.done
        );
        assert!(u.left.is_empty(), "by design, not a change: {:?}", u.left);
        for f in ["drains.jsonl", "state.lock", "abandoned.json"] {
            assert!(state.join(f).is_file(), "{f}");
        }
        assert!(!d.path().join("etc/drainguard").exists());
        // A file of someone else's: kept, and said as such.
        let (d, root) = tree();
        apply(&root, &plan).unwrap();
        fs::write(d.path().join("var/lib/drainguard/notes.txt"), "mine").unwrap();
        let u = undo(&root, false).unwrap();
        assert!(
            u.done
                .iter()
                .any(|l| l == "keep directory /var/lib/drainguard: not empty"),
            "{:?}",
            u.done
        );
    }

    fn argv(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn commands_are_recorded_once_and_daemon_reload_is_undone_last() {
        let (_d, root) = tree();
        let plan = Plan {
            actions: vec![
                Action::Run {
                    argv: daemon_reload(),
                    undo: vec![daemon_reload()],
                },
                Action::Run {
                    argv: argv(&["systemctl", "enable", "--now", "drainguard.service"]),
                    undo: vec![argv(&["systemctl", "disable", "drainguard.service"])],
                },
            ],
            notes: vec![],
        };
        let mut ran = Vec::new();
        let mut rec = |a: &[String]| {
            ran.push(a.join(" "));
            Ok(())
        };
        apply_with(&root, &plan, &mut rec).unwrap();
        let m = apply_with(&root, &plan, &mut rec).unwrap();
        assert_eq!(
            ran,
            [
                "systemctl daemon-reload",
                "systemctl enable --now drainguard.service"
            ]
            .repeat(2)
        );
        assert_eq!(
            m.records
                .iter()
                .filter(|r| matches!(r, Record::Ran { .. }))
                .count(),
            2
        );
        // Under --root the recorded undo commands are shown, never run.
        let mut undone = Vec::new();
        let u = undo_with(&root, false, &mut |a: &[String]| {
            undone.push(a.join(" "));
            Ok(())
        })
        .unwrap();
        assert!(undone.is_empty(), "{undone:?}");
        assert!(
            u.done[0].starts_with("skip `systemctl disable drainguard.service` (--root is set"),
            "{u:?}"
        );
        assert!(u.done.last().unwrap().contains("systemctl daemon-reload"));
        assert_eq!(
            u.done
                .iter()
                .filter(|l| l.contains("daemon-reload"))
                .count(),
            1
        );
    }

    #[test]
    fn commands_are_never_run_under_root_and_only_from_the_list() {
        let (d, root) = tree();
        let plan = Plan {
            actions: vec![Action::Run {
                argv: daemon_reload(),
                undo: vec![],
            }],
            notes: vec![],
        };
        let e = apply(&root, &plan).unwrap_err();
        assert!(e.to_string().contains("--root is set"), "{e}");
        let log = d.path().join("ran");
        let plan = Plan {
            actions: vec![Action::Run {
                argv: argv(&["sh", "-c", &format!("touch {}", log.display())]),
                undo: vec![],
            }],
            notes: vec![],
        };
        let e = apply_with(&root, &plan, &mut |a: &[String]| run(a)).unwrap_err();
        assert!(e.to_string().contains("not one of the commands"), "{e}");
        assert!(!log.exists());
    }
}
