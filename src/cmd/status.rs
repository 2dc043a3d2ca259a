//! `drainguard status`: the backlog table or JSON, exit 0 drained / 1 behind / 2 config error.

use crate::cli::Global;
use crate::exit::Exit;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print the versioned JSON report instead of the table.
    #[arg(long)]
    pub json: bool,
}

pub fn run(global: &Global, args: Args) -> anyhow::Result<Exit> {
    let _ = (global, args);
    anyhow::bail!("status lands with issue #2")
}
