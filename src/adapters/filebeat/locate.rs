//! Finding Filebeat's config and registry: flags, then filebeat.yml (`path.data`,
//! `filebeat.registry.path`), then the usual install locations.

use std::path::{Path, PathBuf};

use super::config::{self, Config};
use super::FilebeatReader;
use crate::adapters::{Readers, SourceOptions, StoreReader};
use crate::error::{Position, StoreError};
use crate::root::Root;

/// Config files looked for when none is named (deb/rpm, docker).
const DEFAULT_CONFIGS: [&str; 2] = [
    "/etc/filebeat/filebeat.yml",
    "/usr/share/filebeat/filebeat.yml",
];
/// `path.data` of the usual installs (deb/rpm, docker).
const DEFAULT_DATA: [&str; 2] = ["/var/lib/filebeat", "/usr/share/filebeat/data"];
/// Elastic Agent runs Filebeat with its data under a per-component run directory: 8.x/9.x
/// `run/<component id>`, 7.x `run/default/filebeat--<version>`, and in the agent container
/// `state/data/run/<component id>`.
const AGENT_RUN_GLOBS: [&str; 3] = [
    "/opt/Elastic/Agent/data/elastic-agent-*/run/*",
    "/opt/Elastic/Agent/data/elastic-agent-*/run/default/filebeat--*",
    "/usr/share/elastic-agent/state/data/run/*",
];

/// Which format the registry is in, and where (local paths).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreLayout {
    /// 5.x–6.x single `registry` file.
    Legacy(PathBuf),
    /// 7.0–7.8 `registry/filebeat/data.json`.
    DataJson(PathBuf),
    /// 7.9+ memlog directory `registry/filebeat`.
    Memlog(PathBuf),
}

/// Opens Filebeat's registries: one, or one per Elastic Agent component that keeps one.
/// Empty when nothing was named and no Filebeat is installed.
pub fn open(opts: &SourceOptions) -> Result<Readers, StoreError> {
    Ok(open_readers(opts)?
        .into_iter()
        .map(|r| Box::new(r) as Box<dyn StoreReader>)
        .collect())
}

/// The first of [`open`]'s readers, concrete (for benches and examples).
pub fn open_reader(opts: &SourceOptions) -> Result<Option<FilebeatReader>, StoreError> {
    Ok(open_readers(opts)?.into_iter().next())
}

fn open_readers(opts: &SourceOptions) -> Result<Vec<FilebeatReader>, StoreError> {
    let root = &opts.root;
    let explicit = opts.config.is_some() || opts.data_path.is_some() || opts.store.is_some();
    let config_local = match &opts.config {
        Some(c) => Some(root.host_to_local(c)),
        None => DEFAULT_CONFIGS
            .iter()
            .map(|c| root.host_to_local(Path::new(c)))
            .find(|c| c.is_file()),
    };
    let config = match &config_local {
        Some(path) => {
            let text = crate::adapters::common::read_config_file(path)?;
            Some(config::parse(&text, path, root)?)
        }
        None => None,
    };
    let dirs = data_dirs(root, opts, config.as_ref(), config_local.as_deref());
    if dirs.is_empty() {
        return Ok(reader_at(opts, config, None, explicit)?
            .into_iter()
            .collect());
    }
    let mut readers = Vec::new();
    for dir in dirs {
        readers.extend(reader_at(opts, config.clone(), Some(dir), explicit)?);
    }
    Ok(readers)
}

/// The reader of the registry under `data_dir` (or the one `--registry`/the config names).
fn reader_at(
    opts: &SourceOptions,
    config: Option<Config>,
    data_dir: Option<PathBuf>,
    explicit: bool,
) -> Result<Option<FilebeatReader>, StoreError> {
    let root = &opts.root;
    let registry = match (&opts.store, &config) {
        (Some(store), _) => Some(root.host_to_local(store)),
        (
            None,
            Some(Config {
                registry_path: Some(r),
                ..
            }),
        ) if r.is_absolute() => Some(root.host_to_local(r)),
        (
            None,
            Some(Config {
                registry_path: Some(r),
                ..
            }),
        ) => data_dir.as_ref().map(|d| d.join(r)),
        _ => data_dir.as_ref().map(|d| d.join("registry")),
    };
    let layout = match registry.as_deref().map(layout_of).transpose()? {
        Some(Some(layout)) => layout,
        _ if explicit || config.is_some() => {
            let looked = registry
                .as_deref()
                .map(|r| crate::display::path(&root.local_to_host(r)))
                .unwrap_or_else(|| "no path.data".into());
            // A directory is there but holds no registry: not "has Filebeat run yet?".
            let (looked_in, flag) = match registry.as_deref().map(std::fs::metadata) {
                Some(Ok(m)) if m.is_dir() => (
                    format!(
                        "{looked}, a directory without meta.json, filebeat/meta.json or filebeat.db"
                    ),
                    "--registry <path.data>/registry or --data-path <path.data>",
                ),
                _ => (looked, "--data-path or --registry (has Filebeat run yet?)"),
            };
            return Err(StoreError::NotFound {
                shipper: "filebeat",
                looked_in,
                flag,
            });
        }
        _ => return Ok(None),
    };
    Ok(Some(FilebeatReader::new(
        root.clone(),
        layout,
        config,
        data_dir,
        opts.http.clone(),
    )))
}

/// `path.data` (local): flag, config, `path.home`/data, the config's directory for a tar
/// install, then the usual locations; else every Elastic Agent run directory that keeps a
/// registry (each component runs its own Filebeat).
fn data_dirs(
    root: &Root,
    opts: &SourceOptions,
    config: Option<&Config>,
    config_local: Option<&Path>,
) -> Vec<PathBuf> {
    if let Some(d) = &opts.data_path {
        return vec![root.host_to_local(d)];
    }
    if let Some(c) = config {
        if let Some(d) = &c.path_data {
            return vec![root.host_to_local(d)];
        }
        if let Some(home) = &c.path_home {
            return vec![root.host_to_local(home).join("data")];
        }
    }
    let mut candidates: Vec<PathBuf> = DEFAULT_DATA
        .iter()
        .map(|d| root.host_to_local(Path::new(d)))
        .collect();
    // A tar install keeps filebeat.yml and data/ side by side.
    if let Some(dir) = config_local.and_then(Path::parent) {
        candidates.push(dir.join("data"));
    }
    // A registry we may not look at counts as found: reading it then says "permission denied".
    let has_registry = |d: &PathBuf| match std::fs::metadata(d.join("registry")) {
        Ok(_) => true,
        Err(e) => e.kind() == std::io::ErrorKind::PermissionDenied,
    };
    if let Some(plain) = candidates.into_iter().find(has_registry) {
        return vec![plain];
    }
    let mut agents = Vec::new();
    for pattern in AGENT_RUN_GLOBS {
        let agent = root.host_to_local(Path::new(pattern));
        if let Ok(paths) = crate::glob_walk::expand(&agent.to_string_lossy(), 8) {
            agents.extend(paths.into_iter().filter(has_registry));
        }
    }
    agents
}

/// The layout at a registry path: a file is the legacy array; a directory holds
/// `filebeat/meta.json` (or is that `filebeat` directory itself). `Ok(None)`: nothing there.
fn layout_of(registry: &Path) -> Result<Option<StoreLayout>, StoreError> {
    let meta = match std::fs::metadata(registry) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(StoreError::io(registry, e)),
    };
    if meta.is_file() {
        return file_layout(registry);
    }
    if !meta.is_dir() {
        return Err(StoreError::not_regular(
            registry,
            &meta,
            "a Filebeat registry: point --registry at path.data/registry (a file for 5.x-6.x, a directory holding filebeat/meta.json for 7.x+)",
        ));
    }
    let dir = if is_file(&registry.join("meta.json"))? {
        registry.to_path_buf()
    } else if is_file(&registry.join("filebeat/meta.json"))? {
        registry.join("filebeat")
    } else if is_file(&registry.join("filebeat.db"))? {
        return Err(bbolt_unsupported(&registry.join("filebeat.db")));
    } else {
        return Ok(None);
    };
    let meta_path = dir.join("meta.json");
    let bytes = crate::adapters::common::read_bytes(&meta_path)?;
    #[derive(serde::Deserialize)]
    struct Meta {
        version: String,
    }
    let m: Meta = serde_json::from_slice(&bytes).map_err(|e| {
        StoreError::corrupt(
            &meta_path,
            Position {
                line: Some(e.line() as u64),
                byte: None,
            },
            format!("expected {{\"version\": \"0\" or \"1\"}}: {e}"),
        )
    })?;
    match m.version.as_str() {
        "1" => Ok(Some(StoreLayout::Memlog(dir))),
        "0" => Ok(Some(StoreLayout::DataJson(dir.join("data.json")))),
        other => Err(StoreError::Unsupported {
            path: meta_path,
            what: format!(
                "registry meta version {other:?} (known: \"0\" for 7.0-7.8, \"1\" for 7.9+)"
            ),
        }),
    }
}

/// `--registry` naming a file: the legacy array itself, or a file inside a 7.x store
/// directory (`meta.json`, `log.json`, `data.json`, a checkpoint), which means that directory.
fn file_layout(file: &Path) -> Result<Option<StoreLayout>, StoreError> {
    let name = file.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let in_store_dir = matches!(name, "meta.json" | "log.json" | "data.json" | "active.dat")
        || name
            .strip_suffix(".json")
            .is_some_and(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()));
    if name == "filebeat.db" {
        return Err(bbolt_unsupported(file));
    }
    match file.parent() {
        Some(dir) if in_store_dir && is_file(&dir.join("meta.json"))? => layout_of(dir),
        _ if name == "data.json" => Ok(Some(StoreLayout::DataJson(file.to_path_buf()))),
        _ => Ok(Some(StoreLayout::Legacy(file.to_path_buf()))),
    }
}

fn bbolt_unsupported(path: &Path) -> StoreError {
    StoreError::Unsupported {
        path: path.to_path_buf(),
        what: "the bbolt registry backend (filebeat.registry.type: bbolt) is not supported yet; \
               use the default memlog backend"
            .into(),
    }
}

/// Like `Path::is_file`, but a permission error is an error, not "absent" (an unreadable
/// store must say "permission denied", not "has Filebeat run yet?").
fn is_file(path: &Path) -> Result<bool, StoreError> {
    match std::fs::metadata(path) {
        Ok(m) => Ok(m.is_file()),
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
            ) =>
        {
            Ok(false)
        }
        Err(e) => Err(StoreError::io(path, e)),
    }
}
