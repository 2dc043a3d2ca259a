//! `drainguard check`: the boot-time check the unit's ExecStart runs. It validates the
//! settings and the shippers' configs and opens their stores (a broken configuration is exit 2,
//! which fails the unit loudly), but ignores the backlog (at boot, being behind is normal) and
//! a store that does not exist yet (the shipper may not have run yet). A store that can never
//! prove delivery as configured is a warning with its fix (exit 0: a failed ExecStart would
//! keep the unit from running its ExecStop at shutdown).

use super::source::SourceArgs;
use super::Global;
use crate::exit::Exit;

pub fn run(global: &Global) -> anyhow::Result<Exit> {
    let mut sources = SourceArgs::default().open_with(global, true)?;
    if sources.readers.is_empty() {
        // Not "nothing to drain": at boot a shipper may not have written its store yet, and a
        // running shipper drainguard cannot read is warned about above (stderr).
        println!(
            "no shipper store to check yet (a shipper that has not run yet, or one drainguard \
             cannot read: see any warning above); `drainguard status` shows what is owed"
        );
    }
    let _round = sources.http.round();
    for r in sources.readers.iter_mut() {
        match r.read() {
            Ok(snap) => {
                let warnings =
                    crate::doctor::stores::check(&sources.root, std::slice::from_ref(&snap));
                if warnings.is_empty() {
                    println!(
                        "ok: {} store {}: delivery can be proven",
                        snap.shipper,
                        crate::display::path(&sources.root.local_to_host(&snap.store))
                    );
                }
                super::doctor::print(&warnings);
            }
            Err(e) => println!(
                "warning: the {} store cannot be read now: {e}; `drainguard status` shows \
                 whether this lasts",
                r.shipper()
            ),
        }
    }
    Ok(Exit::Ok)
}
