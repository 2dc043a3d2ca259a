//! Logstash `file` inputs: one store per input, its sincedb.
//!
//! Identity is inode + device; the device is rebuilt as `makedev(major, minor)` so it compares
//! with `st_dev`. Offsets mean "accepted into the pipeline queue"; the node stats API says
//! whether the pipelines still hold events. `pipeline` finds the inputs in the pipeline
//! configs, `settings` reads `logstash.yml`, `sincedb` parses the store.

pub mod api;
mod pipeline;
mod settings;
mod sincedb;

use std::path::PathBuf;

use crate::cursor::{InputSpec, OffsetMeaning, QueueState, ShipperKind, StoreSnapshot};
use crate::error::StoreError;

use super::common::{self, Store};
use super::{Readers, SourceOptions, StoreReader};

use super::shipper::{flag, getopt, Access, Api, ProcessMatch, ShipperInfo, Target};
pub use pipeline::{file_inputs, FileInput};
pub use settings::{parse_settings, Settings, SETTINGS};
use sincedb::FORMAT;
pub use sincedb::{makedev, parse};

/// Logstash.
pub static INFO: ShipperInfo = ShipperInfo {
    kind: ShipperKind::Logstash,
    name: "logstash",
    aliases: &[],
    processes: &[ProcessMatch {
        names: &["java", "logstash"],
        words: &["logstash"],
    }],
    flags: &[
        getopt(&["-f", "--path.config"], Target::Config),
        flag(&["--path.data"], Target::DataPath),
        flag(&["--path.settings"], Target::SettingsDir),
    ],
    services: &["logstash"],
    config_paths: &[],
    data_paths: &["/var/lib/logstash"],
    // The file input has no limit: buffers until the newline.
    max_line_bytes: None,
    glob_depth: 32,
    // Pipeline blocks.
    config_syntax: Some(r"(?m)^\s*(input|filter|output)\s*\{"),
    api: Some(Api {
        endpoints: &[api::PIPELINES],
        enable: api::ENABLE,
    }),
    access: Access::Reads { open, idle: None },
};

/// Default `path.data` of the deb/rpm packages.
pub const DEFAULT_DATA: &str = "/var/lib/logstash";

/// Opens one store per `file {}` input of the pipeline configs (`--config`, a file or a
/// directory of `*.conf`, else `/etc/logstash/conf.d`): its `sincedb_path`, else the
/// default sincedb Logstash names after its paths in `<path.data>/plugins/inputs/file/`.
/// `--store` names one sincedb. Without a readable pipeline config, every `.sincedb_*` of
/// that directory is read as one store.
pub fn open(opts: &SourceOptions) -> Result<Readers, StoreError> {
    let (settings, mut notes) = settings::load(opts);
    notes.extend(settings.notes.iter().cloned());
    let data = opts
        .data_path
        .clone()
        .or_else(|| settings.data.clone())
        .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA));
    let dir = opts.root.host_to_local(&data.join("plugins/inputs/file"));
    let (configured, inputs) = pipeline_inputs(opts, &dir)?;
    let reader = |store: Sincedbs, input: Option<FileInput>| {
        Box::new(LogstashReader {
            store,
            input,
            settings: settings.clone(),
            notes: notes.clone(),
            http: opts.http.clone(),
            root: opts.root.clone(),
        }) as Box<dyn StoreReader>
    };
    if opts.store.is_some() {
        let Some(path) = common::locate(opts, "logstash", &[])? else {
            return Ok(Vec::new());
        };
        let input = inputs
            .iter()
            .find(|(_, store)| matches!(store, Store::File(p) if *p == path))
            .map(|(i, _)| i.clone());
        return Ok(vec![reader(Sincedbs::One(Store::File(path)), input)]);
    }
    if inputs.is_empty() {
        // A pipeline config without file inputs: Logstash tails no file here (old sincedbs
        // in the directory belong to inputs that no longer exist).
        if !configured && !listing(&dir).is_empty() {
            return Ok(vec![reader(Sincedbs::Directory(dir), None)]);
        }
        if opts.data_path.is_some() || opts.config.is_some() {
            return Err(StoreError::NotFound {
                shipper: "logstash",
                looked_in: dir.display().to_string(),
                flag: "--store",
            });
        }
        return Ok(Vec::new());
    }
    Ok(inputs
        .into_iter()
        .map(|(input, store)| reader(Sincedbs::One(store), Some(input)))
        .collect())
}

/// Whether any pipeline config exists, and its `file` inputs, each with where its progress
/// is recorded (`dir`: the sincedb directory under `path.data`, for inputs without
/// `sincedb_path`).
fn pipeline_inputs(
    opts: &SourceOptions,
    dir: &std::path::Path,
) -> Result<(bool, Vec<(FileInput, Store)>), StoreError> {
    let conf = opts
        .config
        .clone()
        .unwrap_or_else(|| PathBuf::from("/etc/logstash/conf.d"));
    let local = opts.root.host_to_local(&conf);
    let files: Vec<PathBuf> = if local.is_dir() {
        let mut v: Vec<PathBuf> = std::fs::read_dir(&local)
            .map_err(|e| StoreError::io(&local, e))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "conf"))
            .collect();
        v.sort();
        v
    } else if local.exists() {
        // A file, or something else (a FIFO...) that reading then names.
        vec![local.clone()]
    } else {
        vec![]
    };
    let configured = !files.is_empty();
    let mut out = Vec::new();
    for f in files {
        let text = common::read_config_file(&f)?;
        for input in file_inputs(&text) {
            let store = match input.sincedb_path.as_deref() {
                // Logstash expands the variables before it names the sincedb after the paths.
                _ if input.paths.iter().any(|p| common::unexpanded(p)) => Store::unknown(
                    &f,
                    format!(
                        "file input {}: its paths hold a substitution drainguard cannot expand \
                         (and the sincedb is named after the expanded paths); give the sincedb \
                         with --store",
                        input.paths.join(",")
                    ),
                ),
                None => Store::File(dir.join(input.default_sincedb_name())),
                Some("/dev/null") => Store::unknown(
                    &f,
                    format!(
                        "file input {} has `sincedb_path => \"/dev/null\"`: Logstash records its \
                         progress nowhere, so what it still owes cannot be known; point \
                         sincedb_path at a file (or leave it unset)",
                        input.paths.join(",")
                    ),
                ),
                Some(p) => Store::configured(&opts.root, std::path::Path::new(p), &f, |p| {
                    format!(
                        "file input {}: sincedb_path {p:?} is a substitution drainguard cannot \
                         expand; give the sincedb with --store",
                        input.paths.join(",")
                    )
                }),
            };
            out.push((input, store));
        }
    }
    Ok((configured, out))
}

/// What one reader reads: an input's sincedb (which Logstash writes once the input has read
/// something), or unknown; or, without a pipeline config, every `.sincedb_*` of a directory,
/// listed at each read.
#[derive(Debug, Clone)]
enum Sincedbs {
    One(Store),
    Directory(PathBuf),
}

/// The `.sincedb_*` files of `dir`, sorted.
fn listing(dir: &std::path::Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(rd) => rd
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .filter(|p| {
                p.file_name()
                    .is_some_and(|n| n.as_encoded_bytes().starts_with(b".sincedb_"))
            })
            .collect(),
        Err(_) => Vec::new(),
    };
    v.sort();
    v
}

struct LogstashReader {
    store: Sincedbs,
    /// The pipeline's input for this store (unknown for a `--store` it does not name).
    input: Option<FileInput>,
    settings: Settings,
    notes: Vec<String>,
    http: super::http::Http,
    root: crate::root::Root,
}

impl StoreReader for LogstashReader {
    fn shipper(&self) -> ShipperKind {
        ShipperKind::Logstash
    }
    fn watch_paths(&self) -> Vec<PathBuf> {
        match &self.store {
            Sincedbs::One(store) => store.parent_dir(),
            Sincedbs::Directory(d) => vec![d.clone()],
        }
    }
    fn read(&mut self) -> Result<StoreSnapshot, StoreError> {
        let mut snap = match &self.store {
            Sincedbs::One(Store::Unknown { config, why }) => {
                let what = "logstash file input progress";
                let mut snap = common::unassessable(ShipperKind::Logstash, config, what, why);
                snap.notes.extend(self.notes.iter().cloned());
                return Ok(snap);
            }
            Sincedbs::One(Store::File(p)) if !p.exists() => common::not_written_yet(
                common::snapshot(ShipperKind::Logstash, p, FORMAT, OffsetMeaning::Buffered),
                &self.root.local_to_host(p),
                "Logstash writes the sincedb once the input has read something",
                &self
                    .input
                    .as_ref()
                    .map_or_else(|| "this input".to_string(), |i| i.paths.join(",")),
            ),
            Sincedbs::One(Store::File(p)) => parse(p, &common::read_bytes(p)?)?,
            Sincedbs::Directory(d) => {
                let mut all =
                    common::snapshot(ShipperKind::Logstash, d, FORMAT, OffsetMeaning::Buffered);
                for f in listing(d) {
                    all.cursors
                        .extend(parse(&f, &common::read_bytes(&f)?)?.cursors);
                }
                all
            }
        };
        snap.notes.extend(self.notes.iter().cloned());
        if let Some(input) = &self.input {
            let mut spec = InputSpec::globs("file", &input.paths, &[]);
            spec.exclude = input.exclude_rules();
            snap.inputs.push(spec);
        }
        snap.queues = vec![self.api_signal()];
        Ok(snap)
    }
}

impl LogstashReader {
    fn api_signal(&self) -> crate::cursor::QueueSignal {
        let Some(api) = &self.settings.api else {
            return common::unknown_queue(
                "logstash pipeline",
                &format!("the monitoring API is off (api.enabled: false in {SETTINGS}); turn it on so _node/stats/pipelines can be checked"),
            );
        };
        let mut q = api::logstash_stats(&self.http, api);
        if let (QueueState::Unknown { hint }, Some(range)) =
            (&mut q.state, &self.settings.port_range)
        {
            hint.push_str(&format!(
                " (api.http.port is the range {range}: Logstash binds its first free port; set \
                 one port in {SETTINGS})"
            ));
        }
        q
    }
}
