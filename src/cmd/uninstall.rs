//! `drainguard uninstall`: replays the install manifest backwards: removes what install
//! created, restores what it replaced or moved, undoes the commands it ran.

use crate::cli::Global;
use crate::exit::Exit;
use crate::install;
use crate::root::Root;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Show what would be removed or restored; change nothing.
    #[arg(long)]
    pub dry_run: bool,
}

pub fn run(global: &Global, args: Args) -> anyhow::Result<Exit> {
    let root = Root::new(global.root.clone());
    let done = install::undo(&root, args.dry_run)?;
    if done.is_empty() {
        println!("nothing to uninstall (no install manifest)");
    }
    for line in done {
        println!("{}{line}", if args.dry_run { "would " } else { "" });
    }
    Ok(Exit::Ok)
}
