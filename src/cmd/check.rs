//! `drainguard check`: the boot-time check the unit's ExecStart runs. It validates the
//! settings and opens the shippers' stores (a config error is exit 2), but ignores the
//! backlog: at boot, being behind is normal.

use super::source::{nothing_found, SourceArgs};
use crate::cli::Global;
use crate::exit::Exit;

pub fn run(global: &Global) -> anyhow::Result<Exit> {
    let sources = SourceArgs::default().open(global)?;
    if sources.readers.is_empty() {
        println!("{}", nothing_found());
    }
    for r in &sources.readers {
        println!("ok: {} store found", r.shipper());
    }
    Ok(Exit::Ok)
}
