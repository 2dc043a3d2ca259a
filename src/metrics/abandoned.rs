//! `drainguard_abandoned_bytes_total{shipper,reason}`: bytes that can no longer be shipped
//! because their file went away (deleted, rotated away then deleted) or was truncated before
//! the shipper read them. A real counter: persisted in the state directory
//! (`abandoned.json`, written atomically) and only ever increased.
//!
//! What can be detected, honestly: between two assessments, a file seen behind (its entry at
//! `offset`, its end at `end`) that is now gone while its entry stays lost `end - offset` bytes
//! at least (the file may have grown since it was seen: a lower bound). A file truncated
//! under its entry (copytruncate) lost the bytes from the entry's offset to the end last seen.
//! Not counted: an entry the store itself dropped (how far the shipper got before forgetting
//! is unknown), a file never seen behind, and what happened while nothing observed.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::backlog::{Assessment, FileState};
use crate::install::beneath::{Beneath, BeneathError};
use crate::root::Root;

/// The state file's name in the state directory.
pub const FILE: &str = "abandoned.json";
/// The most files remembered as behind (the largest backlogs first): bounds the state file.
pub const MAX_SEEN: usize = 10_000;
/// The largest state file read.
const LIMIT: u64 = 8 << 20;
/// Every reason label.
pub const REASONS: [&str; 3] = ["deleted", "rotated", "truncated"];

/// A file last seen behind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seen {
    pub offset: u64,
    /// The entry's offset plus the bytes behind then.
    pub end: u64,
    /// It had been rotated (renamed) away from its input's path.
    #[serde(default)]
    pub rotated: bool,
}

/// The counters and what they are computed from.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Abandoned {
    /// `shipper` -> `reason` -> bytes.
    #[serde(default)]
    pub counters: BTreeMap<String, BTreeMap<String, u64>>,
    /// `shipper\tstore\tkeys` -> last seen behind.
    #[serde(default)]
    pub seen: BTreeMap<String, Seen>,
}

/// Errors of the state file.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error(transparent)]
    Io(#[from] BeneathError),
    #[error("{path}: not a drainguard abandoned-bytes state ({source}); remove it to start the counters again from 0")]
    Parse {
        path: String,
        source: serde_json::Error,
    },
}

impl Abandoned {
    /// The counters as (shipper, reason, bytes), every reason of every shipper in `shippers`
    /// or counted, zeros included (a counter that appears later loses its first increase).
    pub fn series(&self, shippers: &[&str]) -> Vec<(String, String, u64)> {
        let mut names: Vec<String> = shippers.iter().map(|s| s.to_string()).collect();
        names.extend(self.counters.keys().cloned());
        names.sort();
        names.dedup();
        let mut out = Vec::new();
        for s in names {
            for r in REASONS {
                let n = self
                    .counters
                    .get(&s)
                    .and_then(|m| m.get(r))
                    .copied()
                    .unwrap_or(0);
                out.push((s.clone(), r.to_string(), n));
            }
        }
        out
    }

    /// Total bytes counted for `shipper`.
    pub fn total(&self) -> u64 {
        self.counters
            .values()
            .flat_map(|m| m.values())
            .fold(0, |a, b| a.saturating_add(*b))
    }

    /// Counts what `a` shows was lost since the last observation and remembers what is behind
    /// now. Returns true when anything changed (the state should be saved).
    pub fn observe(&mut self, a: &Assessment) -> bool {
        let mut seen = BTreeMap::new();
        let mut changed = false;
        let mut behind: Vec<(u64, String, Seen)> = Vec::new();
        for b in &a.shippers {
            let store = crate::display::path(&b.store);
            for f in &b.files {
                let key = format!("{}\t{store}\t{}", b.shipper.name(), f.keys.join(","));
                let before = self.seen.get(&key).copied();
                let lost = match (&f.state, before) {
                    (FileState::Gone, Some(s)) => {
                        let reached = f.offset.unwrap_or(s.offset).max(s.offset);
                        let reason = if s.rotated { "rotated" } else { "deleted" };
                        Some((reason, s.end.saturating_sub(reached)))
                    }
                    (FileState::Truncated { offset, .. }, Some(s)) => {
                        Some(("truncated", s.end.saturating_sub(*offset)))
                    }
                    _ => None,
                };
                if let Some((reason, n)) = lost.filter(|(_, n)| *n > 0) {
                    let c = self
                        .counters
                        .entry(b.shipper.name().to_string())
                        .or_default()
                        .entry(reason.to_string())
                        .or_default();
                    *c = c.saturating_add(n);
                    changed = true;
                    continue;
                }
                if matches!(f.state, FileState::Truncated { .. }) {
                    // Counted (or nothing to count): not again while it stays truncated.
                    continue;
                }
                let Some(offset) = f.offset else { continue };
                let n = f.state.blocking_bytes();
                if n == 0 {
                    continue;
                }
                let s = Seen {
                    offset,
                    end: offset.saturating_add(n),
                    rotated: matches!(f.state, FileState::Rotated { .. })
                        || before.is_some_and(|b| b.rotated),
                };
                behind.push((n, key, s));
            }
        }
        behind.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
        behind.truncate(MAX_SEEN);
        for (_, k, s) in behind {
            seen.insert(k, s);
        }
        if seen != self.seen {
            self.seen = seen;
            changed = true;
        }
        changed
    }

    /// Reads the state from `dir` (a host path below `root`); empty when there is none.
    pub fn load(root: &Root, dir: &Path) -> Result<Abandoned, StateError> {
        let host = dir.join(FILE);
        let Some((bytes, _)) = Beneath::open(root)?.read(&host, LIMIT)? else {
            return Ok(Abandoned::default());
        };
        serde_json::from_slice(&bytes).map_err(|source| StateError::Parse {
            path: crate::display::path(&root.host_to_local(&host)),
            source,
        })
    }

    /// Counts what `a` shows against the state saved in `dir` and saves the result: the
    /// file read, observed and rewritten under the state lock (`crate::wait::STATE_LOCK`
    /// in `dir`, as the drain log is), so two counting processes (the exporter and `status
    /// --textfile` from cron, sharing a directory) count each loss once and never write a
    /// counter back down. A state that cannot be read is never overwritten (the error).
    pub fn update(root: &Root, dir: &Path, a: &Assessment) -> Result<Abandoned, StateError> {
        // Nothing to write (the usual scrape of an idle host): no lock, no write.
        let mut state = Abandoned::load(root, dir)?;
        if !state.observe(a) {
            return Ok(state);
        }
        // Again under the lock, from what is saved now (another process may have written).
        let b = Beneath::open(root)?;
        b.make_parents(&dir.join(FILE))?;
        let _lock = crate::wait::lock_state(&b, root, dir);
        let mut state = Abandoned::load(root, dir)?;
        if state.observe(a) {
            state.save(root, dir)?;
        }
        Ok(state)
    }

    /// Writes the state to `dir` atomically (temporary file, fsync, rename), creating `dir`.
    pub fn save(&self, root: &Root, dir: &Path) -> Result<(), StateError> {
        let host = dir.join(FILE);
        let b = Beneath::open(root)?;
        b.make_parents(&host)?;
        let text = serde_json::to_vec(self).expect("the state serializes");
        b.write_atomic(&host, &text, 0o644, false)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backlog::FileReport;
    use crate::cursor::ShipperKind;
    use crate::testkit::report as fx;
    use std::path::PathBuf;

    fn assessment(files: Vec<FileReport>) -> Assessment {
        fx::backlog(ShipperKind::Filebeat, "/var/lib/filebeat/registry")
            .files(files)
            .assessment()
    }

    fn file(key: &str, offset: u64, state: FileState) -> FileReport {
        fx::file(&format!("/var/log/{key}"), key, offset, None, state)
    }

    #[test]
    fn a_file_deleted_while_behind_counts_its_unread_bytes_once() {
        let mut a = Abandoned::default();
        assert!(a.observe(&assessment(vec![file(
            "a",
            100,
            FileState::Behind { bytes: 50 }
        )])));
        assert_eq!(a.total(), 0);
        // Deleted after the shipper got 20 bytes further.
        assert!(a.observe(&assessment(vec![file("a", 120, FileState::Gone)])));
        assert_eq!(a.counters["filebeat"]["deleted"], 30);
        // Still gone: not counted again.
        a.observe(&assessment(vec![file("a", 120, FileState::Gone)]));
        assert_eq!(a.total(), 30);
    }

    #[test]
    fn rotated_then_deleted_counts_as_rotated_and_truncation_counts_once() {
        let mut a = Abandoned::default();
        let rotated = FileState::Rotated {
            now_at: PathBuf::from("/var/log/a.1"),
            behind: 10,
        };
        a.observe(&assessment(vec![
            file("a", 0, rotated),
            file("b", 40, FileState::Behind { bytes: 60 }),
        ]));
        let truncated = FileState::Truncated {
            offset: 70,
            size: 5,
        };
        a.observe(&assessment(vec![
            file("a", 0, FileState::Gone),
            file("b", 70, truncated.clone()),
        ]));
        assert_eq!(a.counters["filebeat"]["rotated"], 10);
        assert_eq!(a.counters["filebeat"]["truncated"], 30);
        a.observe(&assessment(vec![file("b", 70, truncated)]));
        assert_eq!(a.total(), 40, "a truncation stays counted once");
        let s = a.series(&["filebeat", "vector"]);
        assert_eq!(s.len(), 6, "every reason of every shipper: {s:?}");
    }

    #[test]
    fn a_file_shipped_before_it_went_away_or_never_seen_behind_counts_nothing() {
        let mut a = Abandoned::default();
        a.observe(&assessment(vec![
            file("a", 100, FileState::Behind { bytes: 50 }),
            file("c", 10, FileState::Shipped),
        ]));
        a.observe(&assessment(vec![
            file("a", 150, FileState::Shipped),
            file("c", 10, FileState::Gone),
        ]));
        a.observe(&assessment(vec![file("a", 150, FileState::Gone)]));
        assert_eq!(a.total(), 0);
    }

    /// Two counting processes in one directory (the exporter and `status --textfile`): each
    /// update reads the saved state under the state lock, so a loss is counted once and a
    /// counter is never written back down by a process that did not see it.
    #[test]
    fn two_counters_in_one_directory_count_each_loss_once_and_never_go_down() {
        let t = tempfile::tempdir().unwrap();
        let root = Root::new(Some(t.path().to_path_buf()));
        let dir = Path::new("/var/lib/drainguard");
        let behind = assessment(vec![file("a", 100, FileState::Behind { bytes: 50 })]);
        let gone = assessment(vec![file("a", 100, FileState::Gone)]);
        // Both see a.log behind; the first to look after it went counts it.
        Abandoned::update(&root, dir, &behind).unwrap();
        Abandoned::update(&root, dir, &behind).unwrap();
        assert_eq!(Abandoned::update(&root, dir, &gone).unwrap().total(), 50);
        assert_eq!(Abandoned::update(&root, dir, &gone).unwrap().total(), 50);
        // One that never saw it, seeing another file behind, keeps the count.
        let other = assessment(vec![file("b", 0, FileState::Behind { bytes: 7 })]);
        assert_eq!(Abandoned::update(&root, dir, &other).unwrap().total(), 50);
        assert_eq!(Abandoned::load(&root, dir).unwrap().total(), 50);
        assert!(t.path().join("var/lib/drainguard/state.lock").is_file());
        // A state that cannot be read is not overwritten.
        std::fs::write(t.path().join("var/lib/drainguard/abandoned.json"), "{").unwrap();
        assert!(Abandoned::update(&root, dir, &gone).is_err());
        assert_eq!(
            std::fs::read(t.path().join("var/lib/drainguard/abandoned.json")).unwrap(),
            b"{"
        );
    }

    #[test]
    fn the_state_survives_a_save_and_load_below_the_root() {
        let t = tempfile::tempdir().unwrap();
        let root = Root::new(Some(t.path().to_path_buf()));
        let dir = Path::new("/var/lib/drainguard");
        assert_eq!(Abandoned::load(&root, dir).unwrap(), Abandoned::default());
        let mut a = Abandoned::default();
        a.observe(&assessment(vec![file(
            "a",
            1,
            FileState::Behind { bytes: 9 },
        )]));
        a.observe(&assessment(vec![file("a", 1, FileState::Gone)]));
        a.save(&root, dir).unwrap();
        assert!(t.path().join("var/lib/drainguard/abandoned.json").is_file());
        assert_eq!(Abandoned::load(&root, dir).unwrap(), a);
        std::fs::write(t.path().join("var/lib/drainguard/abandoned.json"), "{").unwrap();
        let e = Abandoned::load(&root, dir).unwrap_err().to_string();
        assert!(
            e.contains("abandoned.json") && e.contains("remove it"),
            "{e}"
        );
    }
}
