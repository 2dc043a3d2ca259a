//! One assessment for the metrics (`status --format prometheus`, `--textfile`, `exporter`):
//! every store read on its own (one that fails is `store_up 0`, the others still count), the
//! backlog assessed, the oldest backlog dated, the last drain record and the abandoned-bytes
//! counters read. [`Observer::scrape`] is the only place the metrics obtain an assessment.

use std::path::PathBuf;
use std::time::{Instant, SystemTime};

use crate::metrics::abandoned::Abandoned;
use crate::metrics::{FailedStore, Scrape};
use crate::sources::Sources;

/// Default state directory (a host path, mapped under `--root`): the drain log and the
/// abandoned-bytes counters.
pub const DEFAULT_STATE_DIR: &str = "/var/lib/drainguard";

/// The stores and what the metrics remember between scrapes.
pub struct Observer {
    pub sources: Sources,
    pub pid_override: Option<u32>,
    /// Host path of the state directory.
    pub state_dir: PathBuf,
    /// Count abandoned bytes between scrapes and save the counters (the exporter and
    /// `status --textfile`); otherwise they are only read.
    pub count_abandoned: bool,
    abandoned: Option<Abandoned>,
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
            state_dir,
            count_abandoned,
            abandoned: None,
        }
    }

    /// Reads every store, assesses, and gathers everything a scrape exposes.
    pub fn scrape(&mut self) -> Scrape {
        let t = Instant::now();
        let now = SystemTime::now();
        let mut ok = Vec::new();
        let mut failed = Vec::new();
        {
            // One round: a monitoring API several stores read is asked once.
            let _round = self.sources.http.round();
            for (i, r) in self.sources.readers.iter_mut().enumerate() {
                match r.read() {
                    Ok(s) => ok.push((i, s)),
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot read a store; store_up is 0");
                        let store = r
                            .watch_paths()
                            .first()
                            .map(|p| crate::display::path(p))
                            .unwrap_or_default();
                        failed.push(FailedStore {
                            shipper: r.shipper(),
                            store,
                            error: e.to_string(),
                        });
                    }
                }
            }
        }
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

    /// The counters, updated with `a` (and saved) when counting.
    fn abandoned(&mut self, a: &crate::backlog::Assessment) -> Abandoned {
        let root = self.sources.root.clone();
        if self.abandoned.is_none() || !self.count_abandoned {
            match Abandoned::load(&root, &self.state_dir) {
                Ok(s) => self.abandoned = Some(s),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read the abandoned-bytes counters");
                    if self.count_abandoned {
                        // Never overwrite a state that cannot be read: count nothing.
                        return Abandoned::default();
                    }
                    self.abandoned = Some(Abandoned::default());
                }
            }
        }
        let state = self.abandoned.get_or_insert_with(Abandoned::default);
        if self.count_abandoned && state.observe(a) {
            if let Err(e) = state.save(&root, &self.state_dir) {
                tracing::warn!(error = %e, "cannot save the abandoned-bytes counters");
            }
        }
        state.clone()
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
        }
    }
}
