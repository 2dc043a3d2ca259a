//! `drainguard uninstall`: replays the install manifest backwards: removes what install
//! created, restores what it replaced or moved, undoes the commands it ran.

use super::Global;
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
    let u = install::undo(&root, args.dry_run)?;
    if u.done.is_empty() && u.left.is_empty() {
        println!("nothing to uninstall (no install manifest)");
    }
    for line in &u.done {
        println!("{}{line}", if args.dry_run { "would " } else { "" });
    }
    // Changed since install: reported, not removed (exit 1, as doctor's findings).
    for line in &u.left {
        println!(
            "{}left: {line}",
            if args.dry_run { "would be " } else { "" }
        );
    }
    Ok(if u.left.is_empty() {
        Exit::Ok
    } else {
        Exit::Behind
    })
}
