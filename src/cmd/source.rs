//! Shipper selection flags shared by `status`, `wait` and `aws watch`, turned into the
//! library's [`Selection`] and opened ([`Sources::open`]).

use std::path::PathBuf;

use super::Global;
use crate::cursor::ShipperKind;
use crate::root::Root;
pub use crate::sources::nothing_found;
use crate::sources::{Selection, Sources};

/// Which shippers to read, and where.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct SourceArgs {
    /// Check only this shipper (repeatable). Default: those in the settings file, else every
    /// shipper found on this host.
    #[arg(long = "shipper", value_name = "NAME", value_parser = ShipperKind::parse_supported)]
    pub shippers: Vec<ShipperKind>,
    /// The shipper's own config file (filebeat.yml, fluent-bit.conf ...). Needs exactly one
    /// shipper (Filebeat when none is named).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// The shipper's data directory (Filebeat `path.data`).
    #[arg(long, value_name = "DIR")]
    pub data_path: Option<PathBuf>,
    /// The progress store itself (Filebeat registry file or directory, SQLite DB ...).
    #[arg(long, alias = "store", value_name = "PATH")]
    pub registry: Option<PathBuf>,
    /// Pid of the shipper process (otherwise: its pidfile, then /proc by executable name).
    #[arg(long, value_name = "PID")]
    pub shipper_pid: Option<u32>,
}

impl SourceArgs {
    /// The selection these flags make.
    pub fn selection(&self) -> Selection {
        Selection {
            shippers: self.shippers.clone(),
            config: self.config.clone(),
            data_path: self.data_path.clone(),
            store: self.registry.clone(),
            shipper_pid: self.shipper_pid,
            missing_ok: false,
        }
    }

    /// Opens the selected shippers' stores.
    pub fn open(&self, global: &Global) -> anyhow::Result<Sources> {
        self.open_with(global, false)
    }

    /// Like [`open`](Self::open); with `missing_ok` a named shipper whose store does not exist
    /// yet is skipped (boot-time `check`: a shipper that has not run yet is not a config error).
    pub fn open_with(&self, global: &Global, missing_ok: bool) -> anyhow::Result<Sources> {
        let sel = Selection {
            missing_ok,
            ..self.selection()
        };
        Ok(Sources::open(
            &sel,
            Root::new(global.root.clone()),
            &global.settings,
        )?)
    }
}
