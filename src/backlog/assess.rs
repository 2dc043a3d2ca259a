//! The engine: one snapshot + the files on disk -> one [`ShipperBacklog`].
//!
//! 1. Entries are grouped per file (container streams share an inode; the file is shipped when
//!    the slowest entry is, so the group's offset is the minimum).
//! 2. Each group's recorded path is stat'ed in parallel and checked against its identity.
//! 3. Groups whose file is not at its path are looked up among the directory's other files
//!    (rotated), then among the inputs' glob matches (stores without paths), then among the
//!    shipper's open file descriptors (deleted but held open); else the file is gone.
//! 4. Glob matches that no entry claims are untracked backlog (minus exclusions, ignore_older
//!    and files too short to be ingested).

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use rayon::prelude::*;

use super::candidates::{expand_inputs, list_dir, stat_each, DiskFile, InodeIndex, Stat};
use super::tail::{scan_pending, Pending, TailCache, TailStamp, READ_CAP};
use super::{Detail, Env, FileReport, FileState, ShipperBacklog, Totals};
use crate::cursor::{
    Cursor, ExcludeRule, Identity, InputSpec, OffsetUnit, QueueSignal, StoreSnapshot,
};
use crate::fingerprint::FingerprintSpec;
use crate::process::ProcFs;

/// The entries of one file: its first cursor, the smallest offset, and what the other
/// entries add (container streams).
#[derive(Clone)]
struct Group<'a> {
    first: &'a Cursor,
    offset: u64,
    more: Option<Box<More<'a>>>,
}

/// The other entries of a group of several.
#[derive(Clone)]
struct More<'a> {
    keys: Vec<&'a Arc<str>>,
    /// The first recorded path among the entries (the first cursor's may be missing).
    hint: Option<&'a Arc<Path>>,
}

impl<'a> Group<'a> {
    /// The group of `c` alone (so far).
    fn of(c: &'a Cursor) -> Self {
        Group {
            first: c,
            offset: c.offset,
            more: None,
        }
    }

    fn identity(&self) -> &'a Identity {
        &self.first.identity
    }

    fn hint(&self) -> Option<&'a Path> {
        self.recorded().map(|p| &**p)
    }

    /// The recorded path, shared with the cursor (a report names the file by it).
    fn recorded(&self) -> Option<&'a Arc<Path>> {
        match &self.more {
            Some(m) => m.hint,
            None => self.first.path.as_ref(),
        }
    }

    fn unit(&self) -> OffsetUnit {
        self.first.unit
    }

    fn key(&self) -> &'a str {
        &self.first.key
    }

    /// The entries' keys, shared with the cursors.
    fn keys(&self) -> impl Iterator<Item = &'a Arc<str>> + '_ {
        let more = self.more.iter().flat_map(|m| m.keys.iter().copied());
        std::iter::once(&self.first.key).chain(more)
    }
}

/// The snapshot's entries grouped per file, in the order of each group's first cursor.
struct Groups<'a> {
    cursors: &'a [Cursor],
    /// The groups, when some entries share a file. Else (the common case) group `i` is cursor
    /// `i` alone, made when asked for: no list of 10^6 groups (24 MB) is held.
    merged: Option<Vec<Group<'a>>>,
}

impl<'a> Groups<'a> {
    fn len(&self) -> usize {
        self.merged.as_ref().map_or(self.cursors.len(), Vec::len)
    }

    /// Group `i` (`i < len()`).
    fn get(&self, i: usize) -> std::borrow::Cow<'_, Group<'a>> {
        match &self.merged {
            Some(groups) => std::borrow::Cow::Borrowed(&groups[i]),
            None => std::borrow::Cow::Owned(Group::of(&self.cursors[i])),
        }
    }
}

#[derive(Hash, PartialEq, Eq)]
enum GroupKey<'a> {
    DevIno(u64, u64),
    Ino(u64),
    Fingerprint(&'a FingerprintSpec, &'a str),
    Path(Option<&'a Path>),
}

/// Where a group's file was found. 32 bytes: one of these per file of the store while it is
/// assessed; the rare cases that carry a path of their own are boxed.
enum Location {
    /// At the path it was stat'ed under: its recorded path (mapped under the root), which
    /// the caller has, so it is not held here.
    Here {
        size: u64,
        dev_ino: (u64, u64),
        /// The file has more than one name (hard links).
        linked: bool,
    },
    /// Found by its identity under another name.
    Found(Box<Found>),
    /// Deleted, held open by the shipper.
    OpenDeleted(Box<OpenDeleted>),
    Gone,
}

// The size the comment above states (10^6 files: 32 MB while assessed, was 64).
const _: () = assert!(std::mem::size_of::<Option<Location>>() == 32);

/// A file found by its identity, not at its recorded path.
struct Found {
    local: PathBuf,
    size: u64,
    dev_ino: (u64, u64),
    linked: bool,
    /// The store recorded another path: rotated. Else (stores without paths) just found.
    rotated: bool,
}

/// A deleted file held open by the shipper's `pid`, read through `fd`.
struct OpenDeleted {
    pid: u32,
    fd: PathBuf,
    size: u64,
}

impl Location {
    fn from_file(f: &DiskFile, rotated: bool) -> Location {
        Location::Found(Box::new(Found {
            local: f.local.clone(),
            size: f.size,
            dev_ino: (f.dev, f.ino),
            linked: f.nlink > 1,
            rotated,
        }))
    }

    /// True when the file has more than one name (hard links).
    fn linked(&self) -> bool {
        match self {
            Location::Here { linked, .. } => *linked,
            Location::Found(f) => f.linked,
            Location::OpenDeleted(_) | Location::Gone => false,
        }
    }

    /// At its recorded path, or found without one (not rotated away, deleted or held open).
    fn here(&self) -> bool {
        matches!(self, Location::Here { .. }) || matches!(self, Location::Found(f) if !f.rotated)
    }

    /// The identity of the file found on disk, if any.
    fn dev_ino(&self) -> Option<(u64, u64)> {
        match self {
            Location::Here { dev_ino, .. } => Some(*dev_ino),
            Location::Found(f) => Some(f.dev_ino),
            Location::OpenDeleted(_) | Location::Gone => None,
        }
    }
}

/// Compares a snapshot with the files on disk.
pub fn assess(snapshot: &StoreSnapshot, env: &Env) -> ShipperBacklog {
    assess_groups(snapshot, env).0
}

/// Where one entry group's file was found, as [`assess_groups`] tells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Seen {
    /// At its recorded path (not rotated away, deleted or held open deleted).
    pub here: bool,
    /// The file found has several hard links.
    pub linked: bool,
}

/// [`assess`], also saying per entry group (the first files of the backlog, one per group, in
/// the order of the groups' first cursors) where its file was found.
pub(super) fn assess_groups(snapshot: &StoreSnapshot, env: &Env) -> (ShipperBacklog, Vec<Seen>) {
    let specs = fingerprint_specs(&snapshot.cursors);
    let groups = group(&snapshot.cursors);
    let root = &env.root;

    // 2. The recorded path, in parallel and in directory order.
    // Without --root the recorded path is the one to open: borrowed, not copied.
    let mapped: Vec<Option<PathBuf>> = match root.dir() {
        None => Vec::new(),
        Some(_) => (0..groups.len())
            .map(|i| groups.get(i).hint().map(|h| root.host_to_local(h)))
            .collect(),
    };
    // The path each group's file is stat'ed (and, when found there, read) under.
    let stat_path = |i: usize| match root.dir() {
        None => groups.get(i).hint(),
        Some(_) => mapped[i].as_deref(),
    };
    // Each stat becomes its location as it is made (no list of stats or paths in between).
    let keep = |i: usize, p, st: Stat| {
        found_at(groups.get(i).identity(), p, st, &specs).then_some(Location::Here {
            size: st.size,
            dev_ino: (st.dev, st.ino),
            linked: st.nlink > 1,
        })
    };
    let mut locations: Vec<Option<Location>> = stat_each(groups.len(), &stat_path, keep);

    // The groups not found at their recorded path (few): the searches below visit only these.
    let mut missing: Vec<usize> = locations
        .par_iter()
        .enumerate()
        .filter_map(|(i, l)| l.is_none().then_some(i))
        .collect();

    // 3a. Rotated: the other files of the recorded path's directory, each directory listed once.
    let mut by_dir: HashMap<PathBuf, Vec<usize>> = HashMap::new();
    for &i in &missing {
        let g = groups.get(i);
        if !matches!(g.identity(), Identity::Path) {
            if let Some(dir) = g.hint().and_then(Path::parent) {
                by_dir.entry(root.host_to_local(dir)).or_default().push(i);
            }
        }
    }
    let moved: Vec<(usize, Location)> = by_dir
        .par_iter()
        .flat_map_iter(|(dir, members)| {
            let owned = list_dir(dir);
            let files: Vec<&DiskFile> = owned.iter().collect();
            let index = InodeIndex::new(files.iter().copied());
            members
                .iter()
                .filter_map(|&i| {
                    find(groups.get(i).identity(), &index, &files, &specs)
                        .map(|f| (i, Location::from_file(f, true)))
                })
                .collect::<Vec<_>>()
        })
        .collect();
    for (i, loc) in moved {
        locations[i] = Some(loc);
    }
    missing.retain(|&i| locations[i].is_none());

    // 3b. Stores without paths (or files moved elsewhere): the inputs' glob matches.
    let mut unreadable = Vec::new();
    let candidates = expand_inputs(root, snapshot.shipper, &snapshot.inputs, &mut unreadable);
    if !missing.is_empty() {
        let files: Vec<&DiskFile> = candidates.iter().map(|(f, _)| f).collect();
        let index = InodeIndex::new(files.iter().copied());
        for &i in &missing {
            let g = groups.get(i);
            if matches!(g.identity(), Identity::Path) {
                continue;
            }
            if let Some(f) = find(g.identity(), &index, &files, &specs) {
                // Without a recorded path, being found is not a rotation.
                locations[i] = Some(Location::from_file(f, g.hint().is_some()));
            }
        }
    }

    // 3c. Deleted but held open by the shipper.
    missing.retain(|&i| locations[i].is_none());
    if !missing.is_empty() && !env.shipper_pids.is_empty() {
        let open = ProcFs::default().deleted_open_files(&env.shipper_pids);
        for &i in &missing {
            let g = groups.get(i);
            let hit = match g.identity() {
                Identity::DevInode { dev, ino } => open.get(&(*dev, *ino)),
                Identity::Inode { ino } => open.iter().find(|((_, i), _)| i == ino).map(|(_, v)| v),
                Identity::Fingerprint { spec, value } => open.values().find(|od| {
                    spec.compute(&od.fd_path).ok().flatten().as_deref() == Some(&**value)
                }),
                Identity::Path => None,
            };
            if let Some(od) = hit {
                locations[i] = Some(Location::OpenDeleted(Box::new(OpenDeleted {
                    pid: od.pid,
                    fd: od.fd_path.clone(),
                    size: od.size,
                })));
            }
        }
    }

    // States, in parallel (partial-tail checks read file tails).
    let tails = Tails {
        cache: &env.tails,
        limit: snapshot.max_line_bytes.unwrap_or(READ_CAP).min(READ_CAP),
        shipper_limit: snapshot.max_line_bytes,
    };
    // 4a. Which files the entries claim (only needed when there are glob matches to filter).
    let claimed: HashSet<(u64, u64)> = if candidates.is_empty() {
        HashSet::new()
    } else {
        locations
            .iter()
            .filter_map(|l| l.as_ref()?.dev_ino())
            .collect()
    };
    let seen: Vec<Seen> = locations
        .par_iter()
        .map(|l| Seen {
            here: l.as_ref().is_some_and(Location::here),
            linked: l.as_ref().is_some_and(Location::linked),
        })
        .collect();
    let (mut files, omitted) = reports(root, &groups, &stat_path, locations, &tails, env.detail);

    // 4b. Untracked.
    let excludes: Vec<Vec<Exclude>> = snapshot.inputs.iter().map(compile_excludes).collect();
    let now = SystemTime::now();
    files.extend(candidates.iter().filter_map(|(f, input)| {
        if claimed.contains(&(f.dev, f.ino)) {
            return None;
        }
        let host = root.local_to_host(&f.local);
        if excludes[*input].iter().any(|x| x.matches(&host)) {
            return None;
        }
        let state = untracked_state(&snapshot.inputs[*input], f, now);
        Some(FileReport {
            path: host.into(),
            keys: Vec::new(),
            offset: None,
            size: Some(f.size),
            state,
        })
    }));

    let mut totals = totals(&files, omitted);
    let mut queues = queues(snapshot, env);
    // An input directory that could not be read may hold files nobody tracks.
    queues.extend(unreadable.into_iter().map(|hint| QueueSignal {
        source: super::verdict::UNREADABLE_INPUT.into(),
        state: crate::cursor::QueueState::Unknown { hint },
    }));
    totals.queue = super::QueueTotals::of(&queues);
    let mut backlog = ShipperBacklog {
        shipper: snapshot.shipper,
        store: snapshot.store.clone(),
        format: snapshot.format.clone(),
        offset_meaning: snapshot.offset_meaning,
        queues,
        skipped: snapshot.skipped.clone(),
        // Notes may quote the store's input: cut, so that a huge line never reaches a report.
        notes: snapshot
            .notes
            .iter()
            .map(|n| crate::error::clip(n).into_owned())
            .collect(),
        files,
        files_omitted: omitted,
        totals,
        inputs_known: !snapshot.inputs.is_empty(),
        verdict: super::Verdict::Behind,
        delivery: String::new(),
    };
    (backlog.verdict, backlog.delivery) = super::verdict::shipper_verdict(&backlog);
    (backlog, seen)
}

/// The store's delivery signals, plus the shipper's TCP send queues when its offsets do not
/// prove delivery and it has signals at all (an output queue that is empty has only handed
/// the data to the kernel). Without any signal the verdict stays "unconfirmed".
pub(super) fn queues(snapshot: &StoreSnapshot, env: &Env) -> Vec<QueueSignal> {
    let mut q = snapshot.queues.clone();
    if !snapshot.offset_meaning.proves_delivery() && !q.is_empty() && !env.shipper_pids.is_empty() {
        let signal = env.send_queues.get_or_init(|| {
            crate::process::sockets::send_queue_signal(
                &ProcFs::default(),
                &env.shipper_pids,
                &env.peers,
            )
        });
        q.push(signal.clone());
    }
    q
}

/// The fingerprint specs the cursors use, each once, in the order they first appear.
fn fingerprint_specs(cursors: &[Cursor]) -> Vec<FingerprintSpec> {
    let add = |mut specs: Vec<FingerprintSpec>, spec: FingerprintSpec| {
        if !specs.contains(&spec) {
            specs.push(spec);
        }
        specs
    };
    cursors
        .par_iter()
        .filter_map(|c| match &c.identity {
            Identity::Fingerprint { spec, .. } => Some(**spec),
            _ => None,
        })
        .fold(Vec::new, add)
        .reduce(Vec::new, |a, b| b.into_iter().fold(a, add))
}

fn key_of(c: &Cursor) -> GroupKey<'_> {
    match &c.identity {
        Identity::DevInode { dev, ino } => GroupKey::DevIno(*dev, *ino),
        Identity::Inode { ino } => GroupKey::Ino(*ino),
        Identity::Fingerprint { spec, value } => GroupKey::Fingerprint(spec, value),
        Identity::Path => GroupKey::Path(c.path.as_deref()),
    }
}

fn group(cursors: &[Cursor]) -> Groups<'_> {
    use std::hash::BuildHasher;
    // Entries sharing a file are few (container streams): only identities whose hash is seen
    // twice go through a map. Sorting 10^6 hashes costs less than inserting 10^6 keys into a
    // map of 10^6 buckets (a cache miss and, for a new page, a fault each).
    let hasher = foldhash::fast::RandomState::default();
    // In parallel: the hashes' pages are first touched (faulted in) on every thread. The
    // common case (no shared file) keeps no group list; a shared one hashes again, once.
    let hash = |c: &Cursor| hasher.hash_one(key_of(c));
    let mut sorted: Vec<u64> = cursors.par_iter().map(hash).collect();
    sorted.par_sort_unstable();
    let shared: HashSet<u64, foldhash::fast::RandomState> = sorted
        .windows(2)
        .filter(|w| w[0] == w[1])
        .map(|w| w[0])
        .collect();
    drop(sorted);
    if shared.is_empty() {
        return Groups {
            cursors,
            merged: None,
        };
    }
    let mut index: HashMap<GroupKey<'_>, usize, foldhash::fast::RandomState> = HashMap::default();
    let mut groups: Vec<Group<'_>> = Vec::with_capacity(cursors.len());
    for c in cursors {
        if !shared.contains(&hash(c)) {
            groups.push(Group::of(c));
            continue;
        }
        match index.get(&key_of(c)) {
            Some(&i) => {
                let g = &mut groups[i];
                g.offset = g.offset.min(c.offset);
                let first = g.first.path.as_ref();
                let more = g.more.get_or_insert_with(|| {
                    Box::new(More {
                        keys: Vec::new(),
                        hint: first,
                    })
                });
                more.keys.push(&c.key);
                if more.hint.is_none() {
                    more.hint = c.path.as_ref();
                }
            }
            None => {
                index.insert(key_of(c), groups.len());
                groups.push(Group::of(c));
            }
        }
    }
    Groups {
        cursors,
        merged: Some(groups),
    }
}

fn matches(identity: &Identity, f: &DiskFile, specs: &[FingerprintSpec]) -> bool {
    match identity {
        Identity::DevInode { dev, ino } => f.dev == *dev && f.ino == *ino,
        Identity::Inode { ino } => f.ino == *ino,
        Identity::Fingerprint { spec, value } => f.fingerprint(specs, spec) == Some(&**value),
        Identity::Path => true,
    }
}

/// [`matches`] for the file stat'ed at `p`: only a fingerprint needs the file itself (and a
/// copy of its path); inode identities compare the stat.
fn found_at(identity: &Identity, p: &Path, st: Stat, specs: &[FingerprintSpec]) -> bool {
    match identity {
        Identity::Fingerprint { .. } => {
            matches(identity, &DiskFile::from_stat(p.to_path_buf(), st), specs)
        }
        Identity::DevInode { dev, ino } => st.dev == *dev && st.ino == *ino,
        Identity::Inode { ino } => st.ino == *ino,
        Identity::Path => true,
    }
}

/// The groups' reports, in group order, and how many shipped files a [`Detail::Top`] summary
/// left out (counted, not reported). `stat_path(i)` is the path group `i` was stat'ed under.
fn reports<'p>(
    root: &crate::root::Root,
    groups: &Groups<'p>,
    stat_path: &(dyn Fn(usize) -> Option<&'p Path> + Sync),
    locations: Vec<Option<Location>>,
    tails: &Tails,
    detail: Detail,
) -> (Vec<FileReport>, usize) {
    let report_of = |i: usize, loc: Option<Location>| {
        let g = groups.get(i);
        report(root, &g, stat_path(i), loc.unwrap_or(Location::Gone), tails)
    };
    let Detail::Top(n) = detail else {
        let files = locations
            .into_par_iter()
            .enumerate()
            .map(|(i, loc)| report_of(i, loc))
            .collect();
        return (files, 0);
    };
    // A file at its recorded path and at its end is shipped (what `progress` says): its row
    // would be its recorded path, its offset and size (the offset). Those are only counted
    // here; every other file gets its report.
    let (kept, shipped): (Vec<(usize, FileReport)>, Vec<usize>) = locations
        .into_par_iter()
        .enumerate()
        .partition_map(|(i, loc)| {
            let g = groups.get(i);
            match (&loc, g.hint()) {
                (Some(Location::Here { size, .. }), Some(h))
                    if g.unit() == OffsetUnit::Bytes
                        && g.offset == *size
                        && !h.as_os_str().is_empty() =>
                {
                    rayon::iter::Either::Right(i)
                }
                _ => rayon::iter::Either::Left((i, report_of(i, loc))),
            }
        });
    // Rows go to the files that block first, then to the others by path: the shipped files
    // that can be shown are the first `room` by path (their paths are distinct: each is the
    // file found at its recorded path).
    let blocking = kept.iter().filter(|(_, f)| f.state.blocks()).count();
    let room = n.saturating_sub(blocking);
    let mut shown: Vec<usize> = shipped;
    let omitted = shown.len().saturating_sub(room);
    if omitted > 0 {
        let hint = |i: usize| groups.get(i).hint().unwrap_or(Path::new(""));
        let by_path = |a: &usize, b: &usize| super::order::path_order(hint(*a), hint(*b));
        if room > 0 {
            shown.select_nth_unstable_by(room - 1, by_path);
        }
        shown.truncate(room);
        shown.sort_unstable();
    }
    let mut files = Vec::with_capacity(kept.len() + shown.len());
    let mut shown = shown.into_iter().peekable();
    for (i, f) in kept {
        while let Some(s) = shown.next_if(|&s| s < i) {
            files.push(shipped_report(&groups.get(s)));
        }
        files.push(f);
    }
    files.extend(shown.map(|s| shipped_report(&groups.get(s))));
    (files, omitted)
}

/// The report of a file found at its recorded path with its offset at its end.
fn shipped_report(g: &Group<'_>) -> FileReport {
    FileReport {
        path: g
            .recorded()
            .cloned()
            .unwrap_or_else(|| Arc::from(Path::new(g.key()))),
        keys: g.keys().cloned().collect(),
        offset: Some(g.offset),
        size: Some(g.offset),
        state: FileState::Shipped,
    }
}

/// Finds the file with `identity` among `files` (inode identities through the index).
fn find<'a>(
    identity: &Identity,
    index: &InodeIndex<'a>,
    files: &[&'a DiskFile],
    specs: &[FingerprintSpec],
) -> Option<&'a DiskFile> {
    match identity {
        Identity::DevInode { dev, ino } => index.dev_ino(*dev, *ino),
        Identity::Inode { ino } => index.ino(*ino),
        Identity::Fingerprint { .. } => files.iter().copied().find(|f| matches(identity, f, specs)),
        Identity::Path => None,
    }
}

/// How the pending bytes of behind files are checked: at most `limit` bytes read per file,
/// answers remembered in `cache`.
struct Tails<'a> {
    cache: &'a TailCache,
    limit: u64,
    shipper_limit: Option<u64>,
}

/// The report of group `g`, whose file is at `loc` (`stat_path`: the path it was stat'ed
/// under, which a file found there is read through).
fn report(
    root: &crate::root::Root,
    g: &Group<'_>,
    stat_path: Option<&Path>,
    loc: Location,
    tails: &Tails,
) -> FileReport {
    let recorded = || g.recorded().cloned();
    let (path, size, state) = match loc {
        Location::Here { size, dev_ino, .. } => {
            // `Here` is only made for a group stat'ed under its path.
            debug_assert!(stat_path.is_some(), "a location found at no path");
            let state = match stat_path {
                Some(local) => progress(local, Some(dev_ino), g, size, tails),
                // Never so; if it were, a file that cannot be read is owed: never "gone"
                // (which does not block) and never "shipped".
                None => FileState::Behind {
                    bytes: size.saturating_sub(g.offset).max(1),
                },
            };
            // Found at its recorded path: the report names it by that (shared, not copied).
            (recorded(), Some(size), state)
        }
        Location::Found(f) if !f.rotated => {
            let state = progress(&f.local, Some(f.dev_ino), g, f.size, tails);
            let path = match g.recorded() {
                Some(h) => Some(h.clone()),
                None => Some(root.local_to_host(&f.local).into()),
            };
            (path, Some(f.size), state)
        }
        Location::Found(f) => {
            let now_at = root.local_to_host(&f.local);
            let state = match progress(&f.local, Some(f.dev_ino), g, f.size, tails) {
                FileState::Behind { bytes } => FileState::Rotated {
                    now_at,
                    behind: bytes,
                },
                FileState::Shipped => FileState::Rotated { now_at, behind: 0 },
                other => other,
            };
            (recorded(), Some(f.size), state)
        }
        Location::OpenDeleted(od) => {
            let OpenDeleted { pid, fd, size } = *od;
            let state = match progress(&fd, None, g, size, tails) {
                FileState::Behind { bytes } => FileState::OpenDeleted { pid, behind: bytes },
                FileState::Shipped => FileState::OpenDeleted { pid, behind: 0 },
                other => other,
            };
            (recorded(), Some(size), state)
        }
        Location::Gone => (recorded(), None, FileState::Gone),
    };
    let path = match path {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Arc::from(Path::new(g.key())),
    };
    FileReport {
        path,
        keys: g.keys().cloned().collect(),
        offset: Some(g.offset),
        size,
        state,
    }
}

/// The state of a found file of `size` bytes (read through `local`; `dev_ino` keys the cached
/// answer of its pending bytes).
fn progress(
    local: &Path,
    dev_ino: Option<(u64, u64)>,
    g: &Group<'_>,
    size: u64,
    tails: &Tails,
) -> FileState {
    match g.unit() {
        OffsetUnit::Bytes => {}
        OffsetUnit::Lines => {
            return FileState::Incomparable {
                reason: format!("offset {} counts lines (compressed file)", g.offset),
            }
        }
        OffsetUnit::DecompressedBytes => {
            return FileState::Incomparable {
                reason: format!("offset {} counts decompressed bytes", g.offset),
            }
        }
    }
    let o = g.offset;
    if o == size {
        FileState::Shipped
    } else if o > size {
        FileState::Truncated { offset: o, size }
    } else {
        let scan = || scan_pending(local, o, size, tails.limit);
        // Remembered only for a file that is still the one stat saw and whose change time
        // has settled (a rewrite to the same size must not get the old answer).
        let stamp = dev_ino.and_then(|id| TailStamp::of(local, id, SystemTime::now()));
        let pending = match stamp {
            Some(stamp) => tails.cache.get_or_scan(stamp, (o, size, tails.limit), scan),
            None => scan(),
        };
        let bytes = size - o;
        match pending {
            Ok(Pending::Unterminated) => FileState::PartialTail { bytes },
            Ok(Pending::LongLine { limit }) => FileState::LongLine {
                bytes,
                limit,
                shipper_limit: tails.shipper_limit,
            },
            Ok(Pending::Line) => FileState::Behind { bytes },
            // A read error cannot prove a partial tail: count the bytes as behind.
            Err(e) => {
                tracing::debug!(file = %local.display(), error = %e, "pending bytes not read; counted as behind");
                FileState::Behind { bytes }
            }
        }
    }
}

fn untracked_state(input: &InputSpec, f: &DiskFile, now: SystemTime) -> FileState {
    if let (Some(limit), Some(mtime)) = (input.ignore_older, f.mtime) {
        if now.duration_since(mtime).is_ok_and(|age| age > limit) {
            return FileState::Ignored {
                reason: format!(
                    "not modified for longer than ignore_older ({})",
                    humantime::format_duration(limit)
                ),
            };
        }
    }
    if let Some(min) = input.min_size {
        if f.size < min {
            return FileState::Ignored {
                reason: format!("shorter than the {min}-byte fingerprint window: never ingested"),
            };
        }
    }
    FileState::Untracked { bytes: f.size }
}

enum Exclude {
    Regex(regex::bytes::Regex),
    Glob(glob::Pattern),
}

impl Exclude {
    fn matches(&self, host: &Path) -> bool {
        match self {
            Exclude::Regex(r) => r.is_match(host.as_os_str().as_encoded_bytes()),
            Exclude::Glob(g) => g.matches_path(host),
        }
    }
}

fn compile_excludes(input: &InputSpec) -> Vec<Exclude> {
    input
        .exclude
        .iter()
        .filter_map(|rule| match rule {
            ExcludeRule::Regex(r) => match regex::bytes::Regex::new(r) {
                Ok(r) => Some(Exclude::Regex(r)),
                Err(e) => {
                    tracing::warn!(input = %input.name, pattern = %r, error = %e, "exclusion is not a valid regex; ignored");
                    None
                }
            },
            ExcludeRule::Glob(g) => match glob::Pattern::new(g) {
                Ok(g) => Some(Exclude::Glob(g)),
                Err(e) => {
                    tracing::warn!(input = %input.name, pattern = %g, error = %e, "exclusion is not a valid glob; ignored");
                    None
                }
            },
        })
        .collect()
}

/// The totals of `files` and of `shipped` more files that have no report (the queue figures
/// are added by the caller).
pub(crate) fn totals(files: &[FileReport], shipped: usize) -> Totals {
    let mut t = Totals {
        files: files.len() + shipped,
        ..Totals::default()
    };
    // Shipped files are most of a large store: counted apart, not looked up one by one.
    let mut shipped = shipped;
    for f in files {
        if matches!(f.state, FileState::Shipped) {
            shipped += 1;
            continue;
        }
        let b = f.state.blocking_bytes();
        if b > 0 {
            t.blocking_files += 1;
            // Sizes are the file system's (sparse files reach 2^63): saturate, never wrap.
            t.bytes_behind = t.bytes_behind.saturating_add(b);
        }
        if let FileState::PartialTail { bytes } = f.state {
            t.partial_tail_bytes = t.partial_tail_bytes.saturating_add(bytes);
        }
        *t.by_state.entry(f.state.name()).or_default() += 1;
    }
    if shipped > 0 {
        t.by_state.insert(FileState::Shipped.name(), shipped);
    }
    t
}
