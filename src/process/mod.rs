//! Finding a shipper's processes, the deleted files they still hold open, and the bytes
//! still unacknowledged in their TCP send queues ([`sockets`]).
//!
//! Processes are always looked up in the real `/proc` (the process namespace is the host's
//! even when files are read below `--root`); a pidfile is a host path and is mapped.

use std::collections::HashMap;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

pub mod sockets;

use crate::cursor::ShipperKind;
use crate::root::Root;
use crate::safe_read::{self, Limit};

/// The executable names a shipper's process runs as (`/proc/<pid>/exe` basename or `comm`),
/// and, for interpreters, a word its command line must contain.
fn process_names(kind: ShipperKind) -> (&'static [&'static str], Option<&'static str>) {
    match kind {
        ShipperKind::Filebeat => (&["filebeat"], None),
        ShipperKind::FluentBit => (&["fluent-bit", "td-agent-bit", "flb-pipeline"], None),
        ShipperKind::Vector => (&["vector"], None),
        ShipperKind::Promtail => (&["promtail"], None),
        ShipperKind::Alloy => (&["alloy", "grafana-agent"], None),
        ShipperKind::Fluentd => (&["fluentd", "ruby", "td-agent"], Some("fluentd")),
        ShipperKind::Rsyslog => (&["rsyslogd"], None),
        ShipperKind::Logstash => (&["java", "logstash"], Some("logstash")),
    }
}

/// Where processes are found: the `/proc` directory (overridable for tests).
#[derive(Debug, Clone)]
pub struct ProcFs {
    dir: PathBuf,
}

impl Default for ProcFs {
    fn default() -> Self {
        ProcFs {
            dir: PathBuf::from("/proc"),
        }
    }
}

impl ProcFs {
    /// True when `pid` exists and is not a zombie.
    pub fn is_alive(&self, pid: u32) -> bool {
        match safe_read::read_text(&self.dir.join(pid.to_string()).join("stat"), Limit::SMALL) {
            // The state is the first field after the parenthesised command name.
            Ok(stat) => match stat.rfind(')') {
                Some(i) => !matches!(stat[i + 1..].trim_start().chars().next(), Some('Z' | 'X')),
                None => true,
            },
            Err(_) => false,
        }
    }

    /// Reads a pidfile (host path under `root`): the first whitespace-separated number.
    pub fn read_pidfile(&self, root: &Root, pidfile: &Path) -> Option<u32> {
        let local = root.host_to_local(pidfile);
        let text = match safe_read::read_text(&local, Limit::SMALL) {
            Ok(t) => t,
            Err(e) => {
                if !e.is_not_found() {
                    tracing::warn!(error = %e, "pidfile ignored");
                }
                return None;
            }
        };
        text.split_whitespace().next()?.parse().ok()
    }

    /// The live processes of `kind`: the pidfile's pid when given and alive, else every process
    /// whose executable (or `comm`) is one of the shipper's names.
    pub fn find(&self, root: &Root, kind: ShipperKind, pidfile: Option<&Path>) -> Vec<u32> {
        if let Some(pf) = pidfile {
            if let Some(pid) = self.read_pidfile(root, pf) {
                if self.is_alive(pid) {
                    return vec![pid];
                }
            }
        }
        let (names, cmdline_word) = process_names(kind);
        let Ok(entries) = fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        let mut pids: Vec<u32> = entries
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
            .filter(|pid| {
                let dir = self.dir.join(pid.to_string());
                let exe_name = fs::read_link(dir.join("exe"))
                    .ok()
                    .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()));
                let comm = safe_read::read_text(&dir.join("comm"), Limit::SMALL)
                    .map(|c| c.trim_end().to_string())
                    .unwrap_or_default();
                let name_ok = names
                    .iter()
                    .any(|n| exe_name.as_deref() == Some(*n) || comm == *n);
                let word_ok = match cmdline_word {
                    None => true,
                    Some(w) => safe_read::read(&dir.join("cmdline"), Limit::SMALL)
                        .map(|c| c.windows(w.len()).any(|win| win == w.as_bytes()))
                        .unwrap_or(false),
                };
                name_ok && word_ok && self.is_alive(*pid)
            })
            .collect();
        pids.sort_unstable();
        pids
    }

    /// Deleted files still held open by `pids`: (device, inode) -> the holder and its size.
    /// Unreadable fd directories (another user's process without root) are skipped.
    pub fn deleted_open_files(&self, pids: &[u32]) -> HashMap<(u64, u64), OpenDeleted> {
        let mut out = HashMap::new();
        for &pid in pids {
            let fd_dir = self.dir.join(pid.to_string()).join("fd");
            let Ok(entries) = fs::read_dir(&fd_dir) else {
                continue;
            };
            for entry in entries.flatten() {
                let link = entry.path();
                let Ok(target) = fs::read_link(&link) else {
                    continue;
                };
                if !target
                    .as_os_str()
                    .as_encoded_bytes()
                    .ends_with(b" (deleted)")
                {
                    continue;
                }
                // Following the fd link reaches the deleted inode itself.
                let Ok(meta) = fs::metadata(&link) else {
                    continue;
                };
                if !meta.is_file() {
                    continue;
                }
                out.insert(
                    (meta.dev(), meta.ino()),
                    OpenDeleted {
                        pid,
                        fd_path: link,
                        size: meta.len(),
                    },
                );
            }
        }
        out
    }
}

/// A deleted file still held open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenDeleted {
    pub pid: u32,
    /// `/proc/<pid>/fd/<n>`: reading it reads the deleted file.
    pub fd_path: PathBuf,
    pub size: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn own_process_is_alive_and_bogus_is_not() {
        let p = ProcFs::default();
        assert!(p.is_alive(std::process::id()));
        assert!(!p.is_alive(u32::MAX - 1));
    }

    #[test]
    fn pidfile_is_read_under_root() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("run")).unwrap();
        fs::write(
            dir.path().join("run/x.pid"),
            format!("{}\n", std::process::id()),
        )
        .unwrap();
        let root = Root::new(Some(dir.path().to_path_buf()));
        let p = ProcFs::default();
        let found = p.find(&root, ShipperKind::Filebeat, Some(Path::new("/run/x.pid")));
        assert_eq!(found, vec![std::process::id()]);
    }

    #[test]
    fn finds_deleted_file_held_open_by_this_process() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("held.log");
        let mut f = fs::File::create(&path).unwrap();
        f.write_all(b"0123456789\n").unwrap();
        let meta = fs::metadata(&path).unwrap();
        fs::remove_file(&path).unwrap();
        let found = ProcFs::default().deleted_open_files(&[std::process::id()]);
        let od = found
            .get(&(meta.dev(), meta.ino()))
            .expect("held file found");
        assert_eq!(od.size, 11);
        assert_eq!(od.pid, std::process::id());
        drop(f);
    }
}
