//! The memlog state of a read that is the only one (`status`): the checkpoint's entries in a
//! list, in order, with no map over them. A map of every key costs the reading thread a
//! random probe and first-touched slots per entry (10^6 in a big checkpoint), yet log.json's
//! ops look up only the keys they name: those alone are indexed, found in one parallel pass.
//!
//! The list holds exactly what [`super::memlog::Entries`] would hold, in the same order: a
//! `set` replaces an entry in place or appends it, a `remove` moves the last entry into the
//! hole. A checkpoint with a key twice, or an op on a key the scan did not see, is handed back
//! for the map to take over.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::hash::BuildHasher;
use std::sync::Arc;

use rayon::prelude::*;
use serde::Deserialize;

use super::entry::Entry;

type Hasher = foldhash::fast::RandomState;

/// Entries in the order a map of them would hold them.
pub type Listed = Vec<(Arc<str>, Entry)>;

/// The entries of a one-shot read, and where the keys log.json names are among them.
#[derive(Debug, Default)]
pub struct List {
    entries: Listed,
    /// Every key a line of log.json names: where it is in `entries`, or `None` when absent.
    index: HashMap<Box<str>, Option<usize>, Hasher>,
}

/// A key that the scan of log.json did not see: the map must take over.
#[derive(Debug)]
pub struct Unindexed;

#[derive(Deserialize)]
struct KeyOnly<'a> {
    #[serde(borrow, alias = "K")]
    k: Cow<'a, str>,
}

impl List {
    /// The checkpoint's entries, or them back when a key is there twice (a map keeps the
    /// first position and the last value: the caller's map does that).
    pub fn new(entries: Listed) -> Result<List, Listed> {
        let hasher = Hasher::default();
        let mut hashes: Vec<u64> = entries
            .par_iter()
            .map(|(k, _)| hasher.hash_one(&**k))
            .collect();
        hashes.par_sort_unstable();
        let twice: HashSet<u64, Hasher> = hashes
            .windows(2)
            .filter(|w| w[0] == w[1])
            .map(|w| w[0])
            .collect();
        drop(hashes);
        // Equal hashes are almost always equal keys; the rare collision is checked exactly.
        if !twice.is_empty() {
            let mut seen: HashSet<&str, Hasher> = HashSet::default();
            let repeated = entries
                .iter()
                .filter(|(k, _)| twice.contains(&hasher.hash_one(&**k)))
                .any(|(k, _)| !seen.insert(k));
            if repeated {
                return Err(entries);
            }
        }
        Ok(List {
            entries,
            index: HashMap::default(),
        })
    }

    /// Indexes every key that a line of `log` names (a superset of what its ops look up:
    /// any line that parses as an object with a `k` counts).
    pub fn index_keys(&mut self, log: &[u8]) {
        let mut keys: HashSet<Cow<'_, str>, Hasher> = HashSet::default();
        for line in log.split(|&b| b == b'\n') {
            if let Ok(KeyOnly { k }) = serde_json::from_slice(line) {
                if !self.index.contains_key(&*k) {
                    keys.insert(k);
                }
            }
        }
        if keys.is_empty() {
            return;
        }
        let found: Vec<(usize, &Arc<str>)> = self
            .entries
            .par_iter()
            .enumerate()
            .filter(|(_, (k, _))| keys.contains(&**k))
            .map(|(i, (k, _))| (i, k))
            .collect();
        let mut index: HashMap<Box<str>, Option<usize>, Hasher> =
            keys.iter().map(|k| (Box::from(&**k), None)).collect();
        for (i, k) in found {
            index.insert(Box::from(&**k), Some(i));
        }
        self.index.extend(index);
    }

    /// `set`: in place when the key is there, else appended. The entry back when the key is
    /// not indexed.
    pub fn set(&mut self, key: &str, entry: Entry) -> Result<(), Entry> {
        let Some(slot) = self.index.get_mut(key) else {
            return Err(entry);
        };
        match *slot {
            Some(i) => self.entries[i].1 = entry,
            None => {
                *slot = Some(self.entries.len());
                self.entries.push((Arc::from(key), entry));
            }
        }
        Ok(())
    }

    /// `remove`: the last entry moves into the hole. True when the key was there.
    pub fn remove(&mut self, key: &str) -> Result<bool, Unindexed> {
        let slot = self.index.get_mut(key).ok_or(Unindexed)?;
        let Some(i) = slot.take() else {
            return Ok(false);
        };
        self.entries.swap_remove(i);
        if let Some((moved, _)) = self.entries.get(i) {
            // A key not in the index is never looked up: nothing to keep for it.
            if let Some(at) = self.index.get_mut(&**moved) {
                *at = Some(i);
            }
        }
        Ok(true)
    }

    pub fn into_entries(self) -> Listed {
        self.entries
    }
}
