//! `drainguard check`: the boot-time check the unit's ExecStart runs. It validates the
//! settings and the shippers' configs and opens their stores (a broken configuration is exit 2,
//! which fails the unit loudly), but ignores the backlog (at boot, being behind is normal) and
//! a store that does not exist yet (the shipper may not have run yet).

use super::source::{nothing_found, SourceArgs};
use crate::cli::Global;
use crate::exit::Exit;

pub fn run(global: &Global) -> anyhow::Result<Exit> {
    let sources = SourceArgs::default().open_with(global, true)?;
    if sources.readers.is_empty() {
        println!("{}", nothing_found());
    }
    for r in &sources.readers {
        println!("ok: {} store found", r.shipper());
    }
    Ok(Exit::Ok)
}
