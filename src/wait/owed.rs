//! What was owed stays owed: a store that forgets a file is no evidence of delivery.
//!
//! Between two reads a store can lose entries for reasons that have nothing to do with
//! delivery: its checkpoint is deleted, the registry directory is removed (or recreated
//! empty), a state file is truncated, an operator cleans up. Comparing only the latest read
//! with the disk would then find nothing behind and release the host with bytes unshipped.
//!
//! So the wait loop remembers, per store, the cursors of every file that blocked at the last
//! full assessment, and before each assessment puts back every remembered cursor that its
//! store no longer has (same key, or same file identity under another key). The restored
//! cursor is assessed like any other: a file still on disk with bytes beyond the remembered
//! offset stays behind; a file that was deleted meanwhile is gone (nothing left to ship); a
//! store that records the file again with a newer offset replaces the remembered one. Only the
//! shipper's store can clear what is owed; its silence cannot.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use crate::backlog::Assessment;
use crate::cursor::{Cursor, Identity, ShipperKind, StoreSnapshot};

/// The cursors of the files that blocked at the last full assessment, per store.
#[derive(Debug, Default)]
pub struct Owed {
    stores: HashMap<(ShipperKind, PathBuf), Vec<Cursor>>,
    /// How many restored cursors each store had at the last read (to warn once per change).
    restored: HashMap<(ShipperKind, PathBuf), usize>,
}

impl Owed {
    /// True when the store's last restore put nothing back: while its reads only set or
    /// append cursors, none of its owed entries can have gone missing since.
    fn none_missing(&self, id: &(ShipperKind, PathBuf)) -> bool {
        self.restored.get(id) == Some(&0)
    }
}

impl Owed {
    /// Puts back into each snapshot the owed cursors that its store no longer records.
    /// `known[i]`: snapshot i's read only set or appended cursors of the read before it (its
    /// store forgot nothing since; then a store that had nothing missing is not scanned).
    pub fn restore(&mut self, snapshots: &mut [StoreSnapshot], known: &[bool]) {
        for (i, s) in snapshots.iter_mut().enumerate() {
            let id = (s.shipper, s.store.clone());
            let Some(owed) = self.stores.get(&id) else {
                continue;
            };
            if known.get(i) == Some(&true) && self.none_missing(&id) {
                continue;
            }
            let missing = still_missing(owed, &s.cursors);
            let before = self.restored.insert(id, missing.len()).unwrap_or(0);
            if missing.is_empty() {
                continue;
            }
            if before != missing.len() {
                tracing::warn!(
                shipper = %s.shipper,
                store = %crate::display::path(&s.store),
                entries = missing.len(),
                "the store no longer records files that were behind; keeping them owed at their last offsets"
                );
            }
            s.notes.push(format!(
                "{} entr{} that still had bytes to ship vanished from the store ({}); they stay \
                 owed at their last offsets until the store records them delivered or the files \
                 are deleted",
                missing.len(),
                if missing.len() == 1 { "y" } else { "ies" },
                sample_keys(&missing)
            ));
            s.cursors.extend(missing);
        }
    }

    /// Remembers, per store, the cursors of the files that block in `a` (assessed from
    /// `snapshots`, restored cursors included). A store missing from `a` keeps its memory.
    pub fn remember(&mut self, snapshots: &[StoreSnapshot], a: &Assessment) {
        for b in &a.shippers {
            let Some(s) = snapshots
                .iter()
                .find(|s| s.shipper == b.shipper && s.store == b.store)
            else {
                continue;
            };
            let blocking: HashSet<&str> = b
                .files
                .iter()
                .filter(|f| f.state.blocks())
                .flat_map(|f| f.keys.iter().map(|k| &**k))
                .collect();
            let cursors: Vec<Cursor> = s
                .cursors
                .iter()
                .filter(|c| blocking.contains(&*c.key))
                .cloned()
                .collect();
            let id = (s.shipper, s.store.clone());
            // The new list is taken from this snapshot: when nothing was put back into it,
            // the store itself records every one; else the next restore checks in full.
            if self.restored.get(&id).is_none_or(|&n| n == 0) {
                self.restored.insert(id.clone(), 0);
            } else {
                self.restored.remove(&id);
            }
            self.stores.insert(id, cursors);
        }
    }
}

/// The cursors of `owed` that `cursors` no longer record: neither by key, nor by identity
/// (the same file under another key), nor, for path identities, by path. One pass over the
/// store's cursors with lookups in maps of the owed ones (a handful), so that a store of 10^6
/// entries costs no set of 10^6 keys per read.
fn still_missing(owed: &[Cursor], cursors: &[Cursor]) -> Vec<Cursor> {
    if owed.is_empty() {
        return Vec::new();
    }
    type Map<K> = HashMap<K, Vec<usize>, foldhash::fast::RandomState>;
    let (mut by_key, mut by_id, mut by_path): (Map<&str>, Map<&Identity>, Map<&Path>) =
        Default::default();
    for (i, c) in owed.iter().enumerate() {
        by_key.entry(&*c.key).or_default().push(i);
        match (&c.identity, c.path.as_deref()) {
            (Identity::Path, Some(p)) => by_path.entry(p).or_default().push(i),
            (Identity::Path, None) => {}
            (id, _) => by_id.entry(id).or_default().push(i),
        }
    }
    let mut present = vec![false; owed.len()];
    let mut mark = |hits: Option<&Vec<usize>>| {
        for &i in hits.into_iter().flatten() {
            present[i] = true;
        }
    };
    for c in cursors {
        mark(by_key.get(&*c.key));
        match (&c.identity, c.path.as_deref()) {
            (Identity::Path, Some(p)) => mark(by_path.get(p)),
            (Identity::Path, None) => {}
            (id, _) => mark(by_id.get(id)),
        }
    }
    owed.iter()
        .zip(present)
        .filter(|(_, here)| !here)
        .map(|(c, _)| c.clone())
        .collect()
}

/// Up to three keys, for the note.
fn sample_keys(cursors: &[Cursor]) -> String {
    let mut keys: Vec<String> = cursors
        .iter()
        .take(3)
        .map(|c| match &c.path {
            Some(p) => crate::display::path(p),
            None => c.key.to_string(),
        })
        .collect();
    if cursors.len() > 3 {
        keys.push(format!("and {} more", cursors.len() - 3));
    }
    keys.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backlog::FileState;
    use crate::testkit::report as fx;

    fn cursor(key: &str, identity: Identity, path: &str, offset: u64) -> Cursor {
        fx::cursor(key, identity, Some(path), offset)
    }

    fn snapshot(cursors: Vec<Cursor>) -> StoreSnapshot {
        fx::snapshot(ShipperKind::Filebeat, "/s", cursors)
    }

    /// An assessment where the files of `blocking` keys are behind, the others shipped.
    fn assessment(s: &StoreSnapshot, blocking: &[&str]) -> Assessment {
        let files = s
            .cursors
            .iter()
            .map(|c| {
                let state = if blocking.contains(&&*c.key) {
                    FileState::Behind {
                        bytes: 100 - c.offset,
                    }
                } else {
                    FileState::Shipped
                };
                let path = c.path.as_deref().unwrap_or(Path::new("")).to_string_lossy();
                fx::file(&path, &c.key, c.offset, Some(100), state)
            })
            .collect();
        fx::backlog(s.shipper, &s.store.to_string_lossy())
            .files(files)
            .inputs_known(false)
            .assessment()
    }

    fn keys(s: &StoreSnapshot) -> Vec<&str> {
        s.cursors.iter().map(|c| &*c.key).collect()
    }

    #[test]
    fn only_owed_cursors_the_store_forgot_are_put_back() {
        let ino = |i| Identity::Inode { ino: i };
        let first = snapshot(vec![
            cursor("a", ino(1), "/l/a", 10),
            cursor("b", ino(2), "/l/b", 100),
            cursor("c", ino(3), "/l/c", 20),
            cursor("p", Identity::Path, "/l/p", 5),
        ]);
        let mut owed = Owed::default();
        owed.remember(
            std::slice::from_ref(&first),
            &assessment(&first, &["a", "c", "p"]),
        );

        // The store lost every entry: the owed ones come back, the shipped one does not.
        let mut s = vec![snapshot(vec![])];
        owed.restore(&mut s, &[]);
        assert_eq!(keys(&s[0]), vec!["a", "c", "p"]);
        assert!(s[0].notes[0].contains("3 entries"), "{:?}", s[0].notes);

        // Same file under a new key (same identity) or, for path identities, the same path:
        // the store still records it; its new cursor counts, not the remembered one.
        let mut s = vec![snapshot(vec![
            cursor("a2", ino(1), "/l/a", 50),
            cursor("p2", Identity::Path, "/l/p", 7),
        ])];
        owed.restore(&mut s, &[]);
        assert_eq!(keys(&s[0]), vec!["a2", "p2", "c"]);

        // Once "c" is no longer blocking (e.g. its file was deleted: gone), it is forgotten.
        owed.remember(&s[..1], &assessment(&s[0], &["a2"]));
        let mut s = vec![snapshot(vec![])];
        owed.restore(&mut s, &[]);
        assert_eq!(keys(&s[0]), vec!["a2"]);
        // Another store's snapshot is left alone.
        let mut other = snapshot(vec![]);
        other.store = PathBuf::from("/other");
        let mut s = vec![other];
        owed.restore(&mut s, &[]);
        assert!(s[0].cursors.is_empty());
    }
}
