//! Re-assessing only what changed: `wait` on a store of 10^6 entries, where the shipper sets
//! a few cursors a second, costs the work of those cursors, not a stat of every file.
//!
//! After a full assessment ([`super::assess`]) a [`Tracker`] remembers, per entry group (one
//! file), where its report is and which directory and name its recorded path has. The
//! directories are watched (inotify, through a [`DirWatch`]) from before the full assessment
//! stats anything, so every change to a tracked file after its stat is an event naming it. A
//! round then re-assesses exactly:
//!
//! - the groups whose cursors the store's read set or appended (the reader says which:
//!   [`crate::adapters::StoreReader::changed`]);
//! - the groups whose recorded name an event names in their directory;
//! - the groups whose file is not at its recorded path (rotated, gone, held open deleted), on
//!   any event in their directory;
//! - the groups no event can vouch for, every round: a file with several hard links (a write
//!   through another directory's link is an event there), a symlink, a file held open after
//!   its deletion, a directory that cannot be watched (not a local file system, a symlink on
//!   its way, the watch limit, no permission).
//!
//! Each is re-assessed by the same engine, on a snapshot of just its cursors, and its report
//! and the totals are replaced in place (O(changed), not O(files)). Anything the tracker cannot
//! vouch for makes [`Tracker::update`] refuse (the caller then runs a full assessment): a
//! cursor whose identity or path changed, a new cursor, a lost watch or an event queue
//! overflow (the caller's [`Round::lost`]), an event on one of the directories' ancestors (a
//! directory replaced under the path), a change of the mount table, a grouping that does not
//! come out as the full assessment's. For a store with inputs, the directories the globs'
//! walk reads are watched too, and an event on a child a glob looks at (other than a content
//! change of a tracked file), a new entry, or a re-checked file not at its path refuses.
//! Entries without a path are not tracked at all.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use super::{Env, FileReport, FileState, ShipperBacklog};
use crate::cursor::{Cursor, Identity, OffsetUnit, StoreSnapshot};

/// Watches directories for changes to their children.
pub trait DirWatch {
    /// Starts watching `dir` (a path to open here); its watch id, or `None` when changes in it
    /// cannot be known through events (not a local file system, a symlink on the way, the
    /// watch limit, no permission): its files are then re-checked every round.
    fn watch(&mut self, dir: &Path) -> Option<i32>;
}

/// One event on a child of a watched directory.
#[derive(Debug, Clone)]
pub struct Event {
    /// The directory's watch.
    pub wd: i32,
    /// [`name_key`] of the child.
    pub key: u64,
    pub name: std::ffi::OsString,
    /// The child's content changed (IN_MODIFY, IN_CLOSE_WRITE), not the directory's entries
    /// or the child's attributes.
    pub content: bool,
}

/// What happened in the watched directories since the last round.
#[derive(Debug, Default)]
pub struct Round {
    pub events: Vec<Event>,
    /// A watch was lost or events were dropped (queue overflow), or an event named no
    /// child: nothing is vouched for.
    pub lost: bool,
}

/// The key of a child `name` of the directory watched as `wd` (what events are matched by).
pub fn name_key(wd: i32, name: &[u8]) -> u64 {
    foldhash::fast::FixedState::with_seed(0x6472_6169_6e67).hash_one((wd, name))
}

fn hash_of<T: std::hash::Hash>(t: T) -> u64 {
    foldhash::fast::FixedState::with_seed(0x7472_6163_6b65).hash_one(t)
}

/// The group a cursor belongs to: what the engine groups by (see `assess::group`); a
/// collision only puts two groups in one unit, which the engine's answer then shows.
fn group_key(c: &Cursor) -> u64 {
    match &c.identity {
        Identity::Path => hash_of((0u8, c.path.as_deref())),
        id => hash_of((1u8, id)),
    }
}

/// What a cursor must keep for its group's watch to stay valid: its group, path and unit.
fn signature(c: &Cursor) -> u64 {
    hash_of((group_key(c), c.path.as_deref(), c.unit == OffsetUnit::Bytes))
}

/// The byte offset a cursor adds to the progress marker.
fn offset_of(c: &Cursor) -> u64 {
    if c.unit == OffsetUnit::Bytes {
        c.offset
    } else {
        0
    }
}

const NONE: u32 = u32::MAX;
/// The watch of a directory that cannot be watched: its files are re-checked every round.
const UNWATCHED: i32 = -1;
/// The watch of a directory that does not exist: its deepest existing ancestor is watched for
/// the name on the way ([`Dirs::guards`]), so it cannot appear without a refused round, and
/// its files (gone: nothing in them can change) are re-checked only when their cursors change.
const MISSING: i32 = -2;
/// Re-assessed every round.
const ALWAYS: u8 = 1;
/// Not at its recorded path: re-assessed on any event in its directory.
const ELSEWHERE: u8 = 2;
const IN_ALWAYS: u8 = 4;
const IN_ELSEWHERE: u8 = 8;

type Set = std::collections::HashSet<u64, foldhash::fast::RandomState>;

/// The watched directories of one store.
#[derive(Default)]
struct Dirs {
    /// Local directory -> its watch ([`UNWATCHED`], [`MISSING`]).
    map: HashMap<PathBuf, i32, foldhash::fast::RandomState>,
    /// Children of the directories' ancestors that, if changed, put another directory
    /// under a watched path.
    guards: Set,
    /// Children of watched directories that are not regular files (symlinks ...).
    odd: Set,
    /// Per watch: the children that decide what the inputs' globs match.
    globs: HashMap<i32, Vec<crate::glob_walk::NameFilter>, foldhash::fast::RandomState>,
}

impl Dirs {
    /// The watch of the directory of `local` and the name key of `local` in it.
    fn at(&mut self, local: &Path, watch: &mut dyn DirWatch) -> (i32, u64) {
        let (Some(dir), Some(name)) = (local.parent(), local.file_name()) else {
            return (UNWATCHED, 0);
        };
        let wd = match self.map.get(dir) {
            Some(&wd) => wd,
            None => {
                let wd = self.watch_dir(dir, watch);
                self.map.insert(dir.to_path_buf(), wd);
                wd
            }
        };
        (wd, name_key(wd, name.as_bytes()))
    }

    /// Watches `dir` (and its ancestors) for the children `filter` names: what the inputs'
    /// globs match; false when it cannot be watched.
    fn watch_glob(
        &mut self,
        dir: &Path,
        filter: crate::glob_walk::NameFilter,
        watch: &mut dyn DirWatch,
    ) -> bool {
        let wd = match self.map.get(dir) {
            Some(&wd) => wd,
            None => {
                let wd = self.watch_dir(dir, watch);
                self.map.insert(dir.to_path_buf(), wd);
                wd
            }
        };
        if wd < 0 {
            return false;
        }
        self.globs.entry(wd).or_default().push(filter);
        true
    }

    /// Watches `dir` and its ancestors; lists it for children that are not regular files.
    fn watch_dir(&mut self, dir: &Path, watch: &mut dyn DirWatch) -> i32 {
        if !dir.is_absolute() {
            return UNWATCHED;
        }
        let Some(wd) = watch.watch(dir) else {
            return self.watch_missing(dir, watch);
        };
        // Every ancestor, with the name of the child on the way: a rename or removal there
        // puts another directory under the path.
        let mut child = dir;
        while let (Some(parent), Some(name)) = (child.parent(), child.file_name()) {
            match watch.watch(parent) {
                Some(pwd) => {
                    self.guards.insert(name_key(pwd, name.as_bytes()));
                }
                None => return UNWATCHED,
            }
            child = parent;
        }
        match std::fs::read_dir(dir) {
            Ok(rd) => {
                for e in rd.flatten() {
                    if !e.file_type().is_ok_and(|t| t.is_file()) {
                        self.odd.insert(name_key(wd, e.file_name().as_bytes()));
                    }
                }
            }
            Err(_) => return UNWATCHED,
        }
        wd
    }

    /// `dir`, which could not be watched: [`MISSING`] when it does not exist (no entry at all,
    /// not even a dangling symlink, at its first missing component), with that component's
    /// name in its deepest existing ancestor watched (after the watch is in place the
    /// component is looked up again: one created meanwhile is an event or is seen);
    /// [`UNWATCHED`] otherwise.
    fn watch_missing(&mut self, dir: &Path, watch: &mut dyn DirWatch) -> i32 {
        let absent = |p: &Path| {
            std::fs::symlink_metadata(p).is_err_and(|e| e.kind() == std::io::ErrorKind::NotFound)
        };
        if !absent(dir) {
            return UNWATCHED;
        }
        // The first missing component: its parent is there.
        let mut first = dir;
        let parent = loop {
            let Some(parent) = first.parent() else {
                return UNWATCHED;
            };
            match std::fs::symlink_metadata(parent) {
                Ok(_) => break parent,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => first = parent,
                Err(_) => return UNWATCHED,
            }
        };
        let Some(name) = first.file_name() else {
            return UNWATCHED;
        };
        let pwd = match self.map.get(parent) {
            Some(&wd) => wd,
            None => {
                let wd = self.watch_dir(parent, watch);
                self.map.insert(parent.to_path_buf(), wd);
                wd
            }
        };
        if pwd < 0 || !absent(first) {
            return UNWATCHED;
        }
        self.guards.insert(name_key(pwd, name.as_bytes()));
        MISSING
    }
}

/// The local path of a cursor's recorded path (`None` without one).
fn local_path<'a>(root: &crate::root::Root, c: &'a Cursor) -> Option<std::borrow::Cow<'a, Path>> {
    let host = c.path.as_deref()?;
    Some(match root.dir() {
        None => std::borrow::Cow::Borrowed(host),
        Some(_) => std::borrow::Cow::Owned(root.host_to_local(host)),
    })
}

/// The directories a snapshot's files are in, watched before its full assessment.
pub struct Prepared {
    /// Per cursor: its recorded path's directory watch and name key.
    at: Vec<(i32, u64)>,
    dirs: Dirs,
    mounts: Vec<u8>,
}

/// A store's inputs as far as the tracker depends on them.
fn inputs_key(snapshot: &StoreSnapshot) -> u64 {
    hash_of(format!("{:?}", snapshot.inputs))
}

impl Prepared {
    /// Watches the directories of `snapshot`'s recorded paths (and their ancestors): call it
    /// before the full assessment. `None` for a store this module does not track.
    pub fn new(snapshot: &StoreSnapshot, env: &Env, watch: &mut dyn DirWatch) -> Option<Prepared> {
        if u32::try_from(snapshot.cursors.len()).is_err() {
            return None;
        }
        let mounts = mount_table();
        let mut p = Prepared {
            at: Vec::with_capacity(snapshot.cursors.len()),
            dirs: Dirs::default(),
            mounts,
        };
        // The inputs' globs: every directory their walk reads, for the children it looks at
        // (a new matching file, or a directory on the way appearing, is an event there).
        if !snapshot.inputs.is_empty() {
            let dirs =
                super::candidates::input_dirs(&env.root, snapshot.shipper, &snapshot.inputs)?;
            for (dir, filter) in dirs {
                if !p.dirs.watch_glob(&dir, filter, watch) {
                    return None;
                }
            }
        }
        for c in &snapshot.cursors {
            let local = local_path(&env.root, c)?;
            p.at.push(p.dirs.at(&local, watch));
        }
        Some(p)
    }

    /// Fully assesses `snapshot` and builds the tracker of that assessment; the tracker is
    /// `None` when the engine's groups do not come out as the tracker's.
    pub fn assess(self, snapshot: &StoreSnapshot, env: &Env) -> (ShipperBacklog, Option<Tracker>) {
        let (backlog, seen) = super::assess::assess_groups(snapshot, env);
        let t = self.finish(snapshot, &backlog, &seen);
        (backlog, t)
    }

    fn finish(
        self,
        snapshot: &StoreSnapshot,
        backlog: &ShipperBacklog,
        seen: &[super::assess::Seen],
    ) -> Option<Tracker> {
        let n = snapshot.cursors.len();
        if self.at.len() != n {
            return None;
        }
        let mut t = Tracker {
            unit_of: Vec::with_capacity(n),
            sig: Vec::with_capacity(n),
            offsets: Vec::with_capacity(n),
            next: Vec::with_capacity(n),
            first: Vec::new(),
            last: Vec::new(),
            file_of: Vec::new(),
            unit_dir: Vec::new(),
            unit_name: Vec::new(),
            flags: Vec::new(),
            by_group: HashMap::with_capacity_and_hasher(n, Default::default()),
            names: Vec::new(),
            always: Vec::new(),
            elsewhere: HashMap::default(),
            dirs: self.dirs,
            mounts: self.mounts,
            inputs: inputs_key(snapshot),
            globbed: !snapshot.inputs.is_empty(),
            bytes_behind: 0,
            partial_tail: 0,
            marker: 0,
        };
        for (i, c) in snapshot.cursors.iter().enumerate() {
            t.push_cursor(c, self.at[i]);
        }
        let units = t.first.len();
        // The engine's files start with one per group, in the order of their first cursors
        // (then the untracked ones): checked key by key, so that a change in how it groups
        // turns this tracker off.
        if backlog.files.len() < units || seen.len() != units {
            return None;
        }
        if backlog.files[units..].iter().any(|f| !f.keys.is_empty())
            || (snapshot.inputs.is_empty() && backlog.files.len() != units)
        {
            return None;
        }
        for u in 0..units {
            let lead = &snapshot.cursors[t.first[u] as usize];
            if backlog.files[u].keys.first().map(|k| &**k) != Some(&*lead.key) {
                return None;
            }
            t.file_of[u] = u as u32;
        }
        for (u, f) in backlog.files.iter().enumerate().take(units) {
            let odd = t.dirs.odd.contains(&t.unit_name[u]);
            t.set_flags(u as u32, f, seen[u], odd);
        }
        for f in &backlog.files {
            t.count(f, true);
        }
        t.names = (0..units as u32)
            .map(|u| (t.unit_name[u as usize], u))
            .collect();
        t.names.sort_unstable();
        Some(t)
    }
}

/// What a full assessment's groups need to be re-assessed alone (see the module docs).
pub struct Tracker {
    /// Per cursor: its group (unit), [`signature`], the offset counted in the marker, and
    /// the next cursor of its group ([`NONE`]: the last).
    unit_of: Vec<u32>,
    sig: Vec<u64>,
    offsets: Vec<u64>,
    next: Vec<u32>,
    /// Per unit: its first and last cursor, its file report's index, its recorded path's
    /// directory watch and name key, and its flags.
    first: Vec<u32>,
    last: Vec<u32>,
    file_of: Vec<u32>,
    unit_dir: Vec<i32>,
    unit_name: Vec<u64>,
    flags: Vec<u8>,
    by_group: HashMap<u64, u32, foldhash::fast::RandomState>,
    /// (name key, unit), sorted.
    names: Vec<(u64, u32)>,
    always: Vec<u32>,
    elsewhere: HashMap<i32, Vec<u32>, foldhash::fast::RandomState>,
    dirs: Dirs,
    mounts: Vec<u8>,
    /// [`inputs_key`] of the store at the full assessment, and whether it has inputs (then
    /// the untracked files it found stay as they were while no event can change them).
    inputs: u64,
    globbed: bool,
    /// Exact sums (the backlog's totals saturate).
    bytes_behind: u128,
    partial_tail: u128,
    marker: u128,
}

impl Tracker {
    /// Sum of the byte offsets of the store's cursors (the wait loop's progress marker).
    pub fn marker(&self) -> u64 {
        u64::try_from(self.marker).unwrap_or(u64::MAX)
    }

    /// Adds cursor `c` (the next position), in a known unit or a new one; returns its unit
    /// and whether the unit is new.
    fn push_cursor(&mut self, c: &Cursor, at: (i32, u64)) -> (u32, bool) {
        let i = self.unit_of.len() as u32;
        let g = group_key(c);
        let mut new = false;
        let u = match self.by_group.get(&g) {
            Some(&u) => {
                let last = self.last[u as usize];
                self.next[last as usize] = i;
                self.last[u as usize] = i;
                u
            }
            None => {
                let u = self.first.len() as u32;
                self.by_group.insert(g, u);
                self.first.push(i);
                self.last.push(i);
                self.file_of.push(NONE);
                // The group's recorded path is its first cursor's (every cursor has one).
                self.unit_dir.push(at.0);
                self.unit_name.push(at.1);
                self.flags.push(0);
                new = true;
                u
            }
        };
        self.unit_of.push(u);
        self.next.push(NONE);
        self.sig.push(signature(c));
        let o = offset_of(c);
        self.offsets.push(o);
        self.marker += u128::from(o);
        (u, new)
    }

    fn set_flags(&mut self, u: u32, f: &FileReport, seen: super::assess::Seen, odd: bool) {
        let ui = u as usize;
        let wd = self.unit_dir[ui];
        let always = wd == UNWATCHED
            || seen.linked
            || odd
            || matches!(f.state, FileState::OpenDeleted { .. });
        let mut fl = self.flags[ui] & (IN_ALWAYS | IN_ELSEWHERE);
        if always {
            fl |= ALWAYS;
            if fl & IN_ALWAYS == 0 {
                self.always.push(u);
                fl |= IN_ALWAYS;
            }
        }
        if !seen.here {
            fl |= ELSEWHERE;
            if fl & IN_ELSEWHERE == 0 {
                self.elsewhere.entry(wd).or_default().push(u);
                fl |= IN_ELSEWHERE;
            }
        }
        self.flags[ui] = fl;
    }

    /// Counts one file's share into the exact sums (`add`), or takes it out.
    fn count(&mut self, f: &FileReport, add: bool) {
        let b = u128::from(f.state.blocking_bytes());
        let p = match f.state {
            FileState::PartialTail { bytes } => u128::from(bytes),
            _ => 0,
        };
        if add {
            self.bytes_behind += b;
            self.partial_tail += p;
        } else {
            self.bytes_behind -= b;
            self.partial_tail -= p;
        }
    }

    /// Brings `backlog` (the last assessment of this store, full or from this tracker) up to
    /// date with `snapshot` (the store's next read, whose reader set or appended the cursors
    /// at `changed` and nothing else) and the events of `round`, re-assessing only what
    /// changed. False when that cannot be vouched for: `backlog` is then untouched, this
    /// tracker is not (drop it and assess fully).
    pub fn update(
        &mut self,
        snapshot: &StoreSnapshot,
        changed: &[u32],
        round: &Round,
        env: &Env,
        watch: &mut dyn DirWatch,
        backlog: &mut ShipperBacklog,
    ) -> bool {
        if round.lost || inputs_key(snapshot) != self.inputs || mount_table() != self.mounts {
            return false;
        }
        let known_units = self.first.len();
        let mut dirty: Vec<u32> = Vec::new();
        let (mut by_event, mut by_elsewhere) = (0usize, 0usize);
        for &pos in changed {
            let p = pos as usize;
            let Some(c) = snapshot.cursors.get(p) else {
                return false;
            };
            if p == self.unit_of.len() {
                // A new entry may claim a file found untracked through the globs.
                if self.globbed {
                    return false;
                }
                // Appended: a new group, or one more cursor of a known one.
                let Some(local) = local_path(&env.root, c) else {
                    return false;
                };
                let at = self.dirs.at(&local, watch);
                let (u, new) = self.push_cursor(c, at);
                if new {
                    let i = self.names.partition_point(|&(k, _)| k < at.1);
                    self.names.insert(i, (at.1, u));
                }
                dirty.push(u);
                continue;
            }
            if p > self.unit_of.len() || signature(c) != self.sig[p] {
                return false;
            }
            let o = offset_of(c);
            self.marker = self.marker - u128::from(self.offsets[p]) + u128::from(o);
            self.offsets[p] = o;
            dirty.push(self.unit_of[p]);
        }
        if snapshot.cursors.len() != self.unit_of.len() {
            return false;
        }
        for ev in &round.events {
            let (wd, key) = (ev.wd, ev.key);
            if self.dirs.guards.contains(&key) {
                return false;
            }
            let at = self.names.partition_point(|&(k, _)| k < key);
            let before = dirty.len();
            dirty.extend(
                self.names[at..]
                    .iter()
                    .take_while(|&&(k, _)| k == key)
                    .map(|&(_, u)| u),
            );
            by_event += dirty.len() - before;
            // A child the globs look at: only a tracked file's content may change.
            if let Some(filters) = self.dirs.globs.get(&wd) {
                let tracked_content = ev.content && dirty.len() > before;
                if !tracked_content && filters.iter().any(|f| f.matches(&ev.name)) {
                    return false;
                }
            }
            // Files not at their recorded path, on any event in their directory.
            if let Some(us) = self.elsewhere.get(&wd) {
                let flags = &self.flags;
                by_elsewhere += us.len();
                dirty.extend(
                    us.iter()
                        .copied()
                        .filter(|&u| flags[u as usize] & ELSEWHERE != 0),
                );
            }
        }
        dirty.extend(
            self.always
                .iter()
                .copied()
                .filter(|&u| self.flags[u as usize] & ALWAYS != 0),
        );
        // The lists keep units whose flag is cleared (filtered above): never removed.
        dirty.sort_unstable_by_key(|&u| self.first[u as usize]);
        dirty.dedup();
        tracing::debug!(
            changed = changed.len(),
            events = round.events.len(),
            by_event,
            by_elsewhere,
            always = self.always.len(),
            dirty = dirty.len(),
            "incremental round"
        );
        self.reassess(snapshot, &dirty, known_units, env, backlog)
    }

    /// Re-assesses the units `dirty` (ordered by first cursor) on a snapshot of their
    /// cursors, and puts their reports and totals in `backlog`.
    fn reassess(
        &mut self,
        snapshot: &StoreSnapshot,
        dirty: &[u32],
        known_units: usize,
        env: &Env,
        backlog: &mut ShipperBacklog,
    ) -> bool {
        let mut idx: Vec<u32> = Vec::new();
        for &u in dirty {
            let mut i = self.first[u as usize];
            while i != NONE {
                idx.push(i);
                i = self.next[i as usize];
            }
        }
        idx.sort_unstable();
        let sub = StoreSnapshot {
            shipper: snapshot.shipper,
            store: snapshot.store.clone(),
            format: snapshot.format.clone(),
            cursors: idx
                .iter()
                .map(|&i| snapshot.cursors[i as usize].clone())
                .collect(),
            skipped: Vec::new(),
            inputs: Vec::new(),
            offset_meaning: snapshot.offset_meaning,
            queues: Vec::new(),
            notes: Vec::new(),
            max_line_bytes: snapshot.max_line_bytes,
        };
        let (fresh, seen) = if dirty.is_empty() {
            (None, Vec::new())
        } else {
            let (b, seen) = super::assess::assess_groups(&sub, env);
            (Some(b), seen)
        };
        let files = fresh.map(|b| b.files).unwrap_or_default();
        // One report per unit, in the same order, or the units are not the engine's groups.
        if files.len() != dirty.len() || seen.len() != dirty.len() {
            return false;
        }
        for ((f, &u), s) in files.iter().zip(dirty).zip(&seen) {
            if f.keys.first().map(|k| &**k)
                != Some(&*snapshot.cursors[self.first[u as usize] as usize].key)
            {
                return false;
            }
            // Not at its path: the full assessment would look for it among the glob matches.
            if self.globbed && !s.here {
                return false;
            }
        }
        // From here on nothing can fail: the backlog is updated.
        for ((f, u), s) in files.into_iter().zip(dirty.iter().copied()).zip(seen) {
            let lead = &snapshot.cursors[self.first[u as usize] as usize];
            // A name that became a symlink (or anything but a regular file) since.
            let odd = local_path(&env.root, lead).is_some_and(|l| {
                std::fs::symlink_metadata(&l).is_ok_and(|m| !m.file_type().is_file())
            });
            self.set_flags(u, &f, s, odd);
            self.count(&f, true);
            let fi = self.file_of[u as usize];
            if (u as usize) < known_units && fi != NONE {
                let old = std::mem::replace(&mut backlog.files[fi as usize], f);
                self.count(&old, false);
                let t = &mut backlog.totals;
                unstate(t, &old);
                state(t, &backlog.files[fi as usize]);
            } else {
                self.file_of[u as usize] = backlog.files.len() as u32;
                state(&mut backlog.totals, &f);
                backlog.totals.files += 1;
                backlog.files.push(f);
            }
        }
        let t = &mut backlog.totals;
        t.bytes_behind = u64::try_from(self.bytes_behind).unwrap_or(u64::MAX);
        t.partial_tail_bytes = u64::try_from(self.partial_tail).unwrap_or(u64::MAX);
        // What the snapshot itself says (queues, notes, skipped entries) is taken afresh. The
        // input directories the last full assessment could not read stay unreadable until the
        // next one walks the globs again: files there are tracked by nobody.
        let unreadable: Vec<_> = backlog
            .queues
            .iter()
            .filter(|q| q.source == super::UNREADABLE_INPUT)
            .cloned()
            .collect();
        backlog.queues = super::assess::queues(snapshot, env);
        // A snapshot may say the same of a directory itself (Datadog's conf.d does, should its
        // reader ever report changes): once is enough, as in a full assessment.
        for q in unreadable {
            if !backlog.queues.contains(&q) {
                backlog.queues.push(q);
            }
        }
        backlog.totals.queue = super::QueueTotals::of(&backlog.queues);
        backlog.skipped = snapshot.skipped.clone();
        backlog.notes = snapshot
            .notes
            .iter()
            .map(|n| crate::error::clip(n).into_owned())
            .collect();
        backlog.format = snapshot.format.clone();
        backlog.offset_meaning = snapshot.offset_meaning;
        backlog.inputs_known = !snapshot.inputs.is_empty();
        (backlog.verdict, backlog.delivery) = super::verdict::shipper_verdict(backlog);
        true
    }
}

/// Counts `f` in the totals' per-state figures.
fn state(t: &mut super::Totals, f: &FileReport) {
    if f.state.blocks() {
        t.blocking_files += 1;
    }
    *t.by_state.entry(f.state.name()).or_default() += 1;
}

/// Takes `f` out of the totals' per-state figures.
fn unstate(t: &mut super::Totals, f: &FileReport) {
    if f.state.blocks() {
        t.blocking_files -= 1;
    }
    let name = f.state.name();
    if let Some(n) = t.by_state.get_mut(name) {
        *n -= 1;
        if *n == 0 {
            t.by_state.remove(name);
        }
    }
}

/// This process's mount table (a mount over a watched directory is no event in it).
fn mount_table() -> Vec<u8> {
    std::fs::read("/proc/self/mountinfo").unwrap_or_default()
}
