//! One assessment for the metrics (`status --format prometheus`, `--textfile`, `exporter`):
//! every store read on its own (one that fails is `store_up 0`, the others still count), the
//! backlog assessed, the oldest backlog dated, the last drain record and the abandoned-bytes
//! counters read. [`Observer::scrape`] is the only place the metrics obtain an assessment.
//!
//! A long-running observer (the exporter) finds the stores again on a bounded schedule
//! ([`Discovery`]): a shipper installed or started after it appears, a store that vanished
//! takes its series with it, unless it was named (`--registry`, `--data-path`, or `store` /
//! `data_path` in the settings file): a named store that is gone stays as `store_up 0` (and
//! `delivery_confirmed 0`), so that an alert on it fires.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use crate::metrics::abandoned::Abandoned;
use crate::metrics::{FailedStore, Scrape};
use crate::root::Root;
use crate::sources::{Selection, Sources};

/// Default state directory (a host path, mapped under `--root`): the drain log and the
/// abandoned-bytes counters.
pub const DEFAULT_STATE_DIR: &str = "/var/lib/drainguard";

/// `dir` (a host path below `root`) with every link in it resolved: the real directory, as
/// a host path. For a directory systemd hands over (`$STATE_DIRECTORY`: with `DynamicUser=`
/// a link into /var/lib/private), resolved once so that the writer, which follows no link,
/// can use it. A path that resolves outside `root` is refused.
pub fn resolve_dir(root: &Root, dir: &Path) -> std::io::Result<PathBuf> {
    let real = std::fs::canonicalize(root.host_to_local(dir))?;
    if !real.is_dir() {
        return Err(std::io::Error::other("not a directory"));
    }
    if let Some(r) = root.dir() {
        if !real.starts_with(std::fs::canonicalize(r)?) {
            return Err(std::io::Error::other(format!(
                "it resolves to {}, outside the root",
                crate::display::path(&real)
            )));
        }
    }
    Ok(root.local_to_host(&real))
}

/// The stores and what the metrics remember between scrapes.
pub struct Observer {
    pub sources: Sources,
    pub pid_override: Option<u32>,
    /// Host path of the state directory (the drain log is read there).
    pub state_dir: PathBuf,
    /// Host path of the directory of the abandoned-bytes counters: the state directory,
    /// unless the exporter was given its own (`--counter-dir`).
    pub counter_dir: PathBuf,
    /// Count abandoned bytes between scrapes and save the counters (the exporter and
    /// `status --textfile`); otherwise they are only read.
    pub count_abandoned: bool,
    abandoned: Option<Abandoned>,
    /// Per reader: the store as its last read named it, so that a store failing later keeps
    /// the same `store` label.
    names: Vec<Option<String>>,
    discovery: Option<Discovery>,
    /// The stores named explicitly, per shipper: the path named, and the labels its readers
    /// last had (kept while the shipper has no reader: the store is gone).
    named: Vec<NamedStore>,
}

/// A store named explicitly ([`named_stores`]).
#[derive(Debug, Clone)]
struct NamedStore {
    shipper: crate::cursor::ShipperKind,
    path: PathBuf,
    labels: Vec<String>,
}

/// The stores `sel` and the settings file name explicitly: `--registry`/`--data-path` (for
/// the one shipper they apply to), and `store`/`data_path` of the settings' shippers.
fn named_stores(sel: &Selection, settings: &crate::settings::Settings) -> Vec<NamedStore> {
    let mut out = Vec::new();
    let mut add = |shipper, path: &Option<PathBuf>| {
        if let Some(path) = path {
            out.push(NamedStore {
                shipper,
                path: path.clone(),
                labels: Vec::new(),
            });
        }
    };
    if sel.store.is_some() || sel.data_path.is_some() {
        // The one shipper they apply to, as the selection picks it.
        let kind = match (sel.shippers.as_slice(), settings.shippers.as_slice()) {
            ([one], _) => Some(*one),
            ([], []) => Some(crate::adapters::DEFAULT_SHIPPER.kind),
            ([], [one]) => Some(one.kind.0),
            _ => None,
        };
        if let Some(kind) = kind {
            add(kind, &sel.store.clone().or_else(|| sel.data_path.clone()));
        }
    }
    for sh in &settings.shippers {
        let kind = sh.kind.0;
        if !sel.shippers.is_empty() && !sel.shippers.contains(&kind) {
            continue;
        }
        if sel.store.is_none() && sel.data_path.is_none() {
            add(kind, &sh.store.clone().or_else(|| sh.data_path.clone()));
        }
    }
    out
}

/// How the stores are found again: the selection they were opened with, at most every
/// `every` (a `/proc` walk and a look at every shipper's usual locations: cheap, but not
/// for every scrape).
#[derive(Debug, Clone)]
pub struct Discovery {
    pub selection: Selection,
    pub root: Root,
    pub settings_path: PathBuf,
    pub every: Duration,
    /// When the stores were last found (`None`: at the next scrape).
    pub last: Option<Instant>,
}

/// What makes two readers the same store: its shipper, the paths it watches and the processes
/// it was found through.
type ReaderKey = (&'static str, Vec<PathBuf>, Vec<u32>);

fn reader_key(s: &Sources, i: usize) -> ReaderKey {
    let r = &s.readers[i];
    (
        r.shipper().name(),
        r.watch_paths(),
        s.owners.get(i).cloned().unwrap_or_default(),
    )
}

/// What makes two openings the same stores: the keys of their readers.
fn identity(s: &Sources) -> Vec<ReaderKey> {
    let mut v: Vec<_> = (0..s.readers.len()).map(|i| reader_key(s, i)).collect();
    v.sort();
    v
}

impl Observer {
    pub fn new(
        sources: Sources,
        pid_override: Option<u32>,
        state_dir: PathBuf,
        count_abandoned: bool,
    ) -> Observer {
        Observer {
            sources,
            pid_override,
            counter_dir: state_dir.clone(),
            state_dir,
            count_abandoned,
            abandoned: None,
            names: Vec::new(),
            discovery: None,
            named: Vec::new(),
        }
    }

    /// Finds the stores again before a scrape once `d.every` has passed since the last time.
    pub fn with_discovery(mut self, mut d: Discovery) -> Observer {
        d.last = Some(Instant::now());
        self.named = named_stores(&d.selection, &self.sources.settings);
        self.discovery = Some(d);
        self
    }

    /// When due, opens the selection again and, when that finds other stores (or the same
    /// stores through other processes), takes the new ones; the same stores keep their
    /// readers (and their incremental state). A failed opening keeps the stores as they are.
    /// Returns true when the stores changed.
    pub fn rediscover(&mut self) -> bool {
        let Some(d) = &mut self.discovery else {
            return false;
        };
        if d.last.is_some_and(|l| l.elapsed() < d.every) {
            return false;
        }
        d.last = Some(Instant::now());
        let mut found = match Sources::open(&d.selection, d.root.clone(), &d.settings_path) {
            Ok(f) => f,
            Err(e) => {
                tracing::warn!(error = %e, "finding the stores again failed; keeping those found before");
                return false;
            }
        };
        if identity(&found) == identity(&self.sources) {
            return false;
        }
        tracing::info!(
            before = self.sources.readers.len(),
            now = found.readers.len(),
            "the stores changed"
        );
        // A store found again keeps the name its last read gave it (a store failing later
        // keeps its `store` label); the names are per reader, so they follow the readers.
        let mut names: std::collections::HashMap<ReaderKey, String> =
            (0..self.sources.readers.len())
                .filter_map(|i| {
                    Some((
                        reader_key(&self.sources, i),
                        self.names.get(i).cloned().flatten()?,
                    ))
                })
                .collect();
        self.names = (0..found.readers.len())
            .map(|i| names.remove(&reader_key(&found, i)))
            .collect();
        // What was learned about receivers and tails still holds.
        found.peers = std::mem::take(&mut self.sources.peers);
        found.tails = std::mem::take(&mut self.sources.tails);
        self.sources = found;
        true
    }

    /// Reads every store, assesses, and gathers everything a scrape exposes.
    pub fn scrape(&mut self) -> Scrape {
        self.rediscover();
        let t = Instant::now();
        let now = SystemTime::now();
        let mut ok = Vec::new();
        let mut failed = Vec::new();
        {
            // One round: a monitoring API several stores read is asked once.
            let _round = self.sources.http.round();
            self.names.resize(self.sources.readers.len(), None);
            for (i, r) in self.sources.readers.iter_mut().enumerate() {
                match r.read() {
                    Ok(s) => {
                        self.names[i] = Some(crate::display::path(&s.store));
                        ok.push((i, s))
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot read a store; store_up is 0");
                        // Named as when it was read; never read yet: by what it watches.
                        let store = self.names[i].clone().unwrap_or_else(|| {
                            r.watch_paths()
                                .first()
                                .map(|p| crate::display::path(p))
                                .unwrap_or_default()
                        });
                        failed.push(FailedStore {
                            shipper: r.shipper(),
                            store,
                            error: e.to_string(),
                        });
                    }
                }
            }
        }
        failed.extend(self.named_gone(&ok, &failed));
        let (idx, snaps): (Vec<usize>, Vec<_>) = ok.into_iter().unzip();
        let assessment = if failed.is_empty() {
            self.sources.assess_snapshots(&snaps, self.pid_override)
        } else {
            self.subset(&idx)
                .assess_snapshots(&snaps, self.pid_override)
        };
        // The process keeps the readers' state, not the snapshots (10^6 entries).
        drop(snaps);
        let oldest = assessment
            .shippers
            .iter()
            .zip(&idx)
            .map(|(b, i)| {
                let root = self
                    .sources
                    .roots
                    .get(*i)
                    .cloned()
                    .flatten()
                    .unwrap_or_else(|| self.sources.root.clone());
                crate::metrics::oldest_backlog(&b.files, &root, now)
            })
            .collect();
        let mut kinds: Vec<_> = self.sources.readers.iter().map(|r| r.shipper()).collect();
        kinds.sort_by_key(|k| k.name());
        kinds.dedup();
        let shippers_up = kinds
            .into_iter()
            .map(|k| {
                (
                    k,
                    !self.sources.shipper_pids(k, self.pid_override).is_empty(),
                )
            })
            .collect();
        let duration = t.elapsed();
        let root = self.sources.root.clone();
        let last_drain = match crate::wait::last_drain(&root, &self.state_dir) {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the last drain record");
                None
            }
        };
        let abandoned = self.abandoned(&assessment);
        let names: Vec<&str> = assessment
            .shippers
            .iter()
            .map(|s| s.shipper.name())
            .collect();
        let abandoned = abandoned.series(&names);
        Scrape {
            assessment,
            failed,
            shippers_up,
            oldest,
            duration,
            last_drain,
            abandoned,
        }
    }

    /// The named stores whose shipper has no reader now (the store vanished, so the last
    /// finding opened none): `store_up 0` under the labels they last had (the named path
    /// when never read). A shipper with readers keeps its labels up to date here.
    fn named_gone(
        &mut self,
        ok: &[(usize, crate::cursor::StoreSnapshot)],
        failed: &[FailedStore],
    ) -> Vec<FailedStore> {
        let mut out = Vec::new();
        for n in &mut self.named {
            let now: Vec<String> = ok
                .iter()
                .filter(|(_, s)| s.shipper == n.shipper)
                .map(|(_, s)| crate::display::path(&s.store))
                .chain(
                    failed
                        .iter()
                        .filter(|f| f.shipper == n.shipper)
                        .map(|f| f.store.clone()),
                )
                .collect();
            if !now.is_empty() {
                n.labels = now;
                continue;
            }
            let labels = if n.labels.is_empty() {
                vec![crate::display::path(&n.path)]
            } else {
                n.labels.clone()
            };
            let error = format!(
                "the named store {} is gone (nothing found there)",
                crate::display::path(&n.path)
            );
            tracing::warn!(shipper = n.shipper.name(), "{error}; store_up is 0");
            out.extend(labels.into_iter().map(|store| FailedStore {
                shipper: n.shipper,
                store,
                error: error.clone(),
            }));
        }
        out
    }

    /// The counters, updated with `a` (and saved) when counting: read, counted and written
    /// back under the state lock at every scrape ([`Abandoned::update`]), so another process
    /// counting in the same directory loses nothing. Otherwise only read.
    fn abandoned(&mut self, a: &crate::backlog::Assessment) -> Abandoned {
        let root = self.sources.root.clone();
        if self.count_abandoned {
            return match Abandoned::update(&root, &self.counter_dir, a) {
                Ok(s) => {
                    self.abandoned = Some(s.clone());
                    s
                }
                Err(e) => {
                    // Never overwrite a state that cannot be read: count nothing, show the
                    // last counters read.
                    tracing::warn!(error = %e, "cannot update the abandoned-bytes counters");
                    self.abandoned.clone().unwrap_or_default()
                }
            };
        }
        match Abandoned::load(&root, &self.counter_dir) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the abandoned-bytes counters");
                Abandoned::default()
            }
        }
    }

    /// The sources of the stores read (`ok`'s indices), for an assessment without the others.
    fn subset(&self, ok: &[usize]) -> Sources {
        let s = &self.sources;
        Sources {
            root: s.root.clone(),
            settings: s.settings.clone(),
            readers: Vec::new(),
            owners: ok
                .iter()
                .map(|i| s.owners.get(*i).cloned().unwrap_or_default())
                .collect(),
            roots: ok
                .iter()
                .map(|i| s.roots.get(*i).cloned().flatten())
                .collect(),
            pid_files: s.pid_files.clone(),
            auto_detected: s.auto_detected,
            peers: s.peers.clone(),
            tails: s.tails.clone(),
            http: s.http.clone(),
            pid_override: s.pid_override,
            incremental: Default::default(),
            published: Default::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::adapters::StoreReader;
    use crate::cursor::{ShipperKind, StoreSnapshot};
    use crate::error::StoreError;
    use crate::testkit::report as fx;

    #[test]
    fn the_named_stores_are_those_the_flags_or_the_settings_give_a_path() {
        use crate::settings::{Settings, ShipperKindName, ShipperSettings};
        let names = |sel: &Selection, settings: &Settings| -> Vec<(ShipperKind, PathBuf)> {
            named_stores(sel, settings)
                .into_iter()
                .map(|n| (n.shipper, n.path))
                .collect()
        };
        let none = Settings::default();
        assert!(
            names(&Selection::default(), &none).is_empty(),
            "auto-discovered"
        );
        let by_flag = Selection {
            data_path: Some("/var/lib/filebeat".into()),
            ..Default::default()
        };
        assert_eq!(
            names(&by_flag, &none),
            [(ShipperKind::Filebeat, PathBuf::from("/var/lib/filebeat"))]
        );
        let vector = |store: Option<&str>| ShipperSettings {
            kind: ShipperKindName(ShipperKind::Vector),
            config: None,
            data_path: None,
            store: store.map(PathBuf::from),
            pid_file: None,
            service: None,
        };
        let settings = Settings {
            shippers: vec![vector(Some("/var/lib/vector"))],
            ..Default::default()
        };
        assert_eq!(
            names(&Selection::default(), &settings),
            [(ShipperKind::Vector, PathBuf::from("/var/lib/vector"))]
        );
        // The flag names the settings' one shipper's store instead.
        assert_eq!(
            names(&by_flag, &settings),
            [(ShipperKind::Vector, PathBuf::from("/var/lib/filebeat"))]
        );
        // A shipper in the settings without a path is found, not named.
        let bare = Settings {
            shippers: vec![vector(None)],
            ..Default::default()
        };
        assert!(names(&Selection::default(), &bare).is_empty());
    }

    /// A store at `/s/registry.json` (watched through `/s`) whose reads fail once `fail` is set.
    struct Flaky {
        fail: std::sync::Arc<std::sync::atomic::AtomicBool>,
    }

    impl StoreReader for Flaky {
        fn shipper(&self) -> ShipperKind {
            ShipperKind::Filebeat
        }
        fn watch_paths(&self) -> Vec<PathBuf> {
            vec![PathBuf::from("/s")]
        }
        fn read(&mut self) -> Result<StoreSnapshot, StoreError> {
            if self.fail.load(std::sync::atomic::Ordering::SeqCst) {
                return Err(StoreError::io(
                    std::path::Path::new("/s/registry.json"),
                    std::io::Error::from_raw_os_error(libc::EACCES),
                ));
            }
            let mut s = fx::snapshot(ShipperKind::Filebeat, "/s/registry.json", vec![]);
            s.inputs = vec![fx::input("/nonexistent-drainguard-test/*.log")];
            Ok(s)
        }
    }

    fn series<'a>(text: &'a str, name: &str) -> Vec<&'a str> {
        text.lines()
            .filter(|l| l.starts_with(&format!("{name}{{")))
            .collect()
    }

    #[test]
    fn a_store_failing_mid_scrape_keeps_its_series_name_and_is_not_confirmed() {
        let fail = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let sources = Sources {
            readers: vec![Box::new(Flaky { fail: fail.clone() })],
            ..Sources::default()
        };
        let dir = tempfile::tempdir().unwrap();
        let mut obs = Observer::new(sources, None, dir.path().join("state"), false);
        let o = crate::metrics::Options::default();
        let ok = crate::metrics::encode(&obs.scrape(), &o);
        let up = r#"drainguard_store_up{shipper="filebeat",store="/s/registry.json"}"#;
        let confirmed =
            r#"drainguard_delivery_confirmed{shipper="filebeat",store="/s/registry.json"}"#;
        assert!(ok.contains(&format!("{up} 1")), "{ok}");
        assert!(ok.contains(&format!("{confirmed} 1")), "{ok}");
        fail.store(true, std::sync::atomic::Ordering::SeqCst);
        let failed = crate::metrics::encode(&obs.scrape(), &o);
        // The same series goes to 0 (an alert on it fires), not a new one under another name.
        assert_eq!(
            series(&failed, "drainguard_store_up"),
            [format!("{up} 0")],
            "{failed}"
        );
        assert_eq!(
            series(&failed, "drainguard_delivery_confirmed"),
            [format!("{confirmed} 0")],
            "{failed}"
        );
        assert!(
            series(&failed, "drainguard_backlog_bytes").is_empty(),
            "no backlog is claimed for a store that was not read: {failed}"
        );
    }
}
