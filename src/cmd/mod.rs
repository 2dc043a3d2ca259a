//! The subcommands. Each module has its clap `Args` and a `run` that returns an [`Exit`].

#[cfg(feature = "aws")]
pub mod aws;
pub mod check;
pub mod doctor;
pub mod exporter;
pub mod generate;
pub mod install;
pub mod scrape;
pub mod source;
pub mod status;
pub mod uninstall;
pub mod wait;

use crate::cli::{Cli, Command};
use crate::exit::Exit;

/// Runs the parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<Exit> {
    match cli.command {
        Command::Status(args) => status::run(&cli.global, args),
        Command::Wait(args) => wait::run(&cli.global, args),
        Command::Install(args) => install::run(&cli.global, args),
        Command::Uninstall(args) => uninstall::run(&cli.global, args),
        Command::Check => check::run(&cli.global),
        Command::Exporter(args) => exporter::run(&cli.global, args),
        Command::Doctor(args) => doctor::run(&cli.global, args),
        Command::Generate(cmd) => generate::run(cmd),
        #[cfg(feature = "aws")]
        Command::Aws(cmd) => aws::run(&cli.global, cmd),
    }
}

/// Writes a command's report to stdout. The outcome is already decided: a report that cannot
/// be written (stdout closed by its reader) is warned about on stderr and never changes the
/// exit code.
pub fn print_report(write: impl FnOnce(&mut std::io::StdoutLock<'static>) -> std::io::Result<()>) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    if let Err(e) = write(&mut out).and_then(|()| out.flush()) {
        tracing::warn!(error = %e, "cannot write the report to stdout");
    }
}
