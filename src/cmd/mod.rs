//! The subcommands. Each module has its clap `Args` and a `run` that returns an
//! [`Exit`](crate::exit::Exit): they parse what the library needs and print what it returns
//! ([`crate::cli`] puts them together).

#[cfg(feature = "aws")]
pub mod aws;
pub mod check;
pub mod doctor;
pub mod exporter;
pub mod generate;
pub mod install;
pub mod source;
pub mod status;
pub mod uninstall;
pub mod wait;

use std::path::PathBuf;

/// Options every command takes.
#[derive(Debug, Clone, clap::Args)]
pub struct Global {
    /// Take every absolute path below DIR (containers, image builds, tests).
    #[arg(long, global = true, value_name = "DIR", env = "DRAINGUARD_ROOT")]
    pub root: Option<PathBuf>,
    /// drainguard's own settings file. Only the default may be absent; '' reads none.
    #[arg(
        long,
        global = true,
        value_name = "FILE",
        default_value = crate::settings::DEFAULT_PATH,
        value_parser = clap::builder::TypedValueParser::map(clap::builder::OsStringValueParser::new(), PathBuf::from)
    )]
    pub settings: PathBuf,
    /// More log output (-v debug, -vv trace). RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Quiet: no progress and no informational log lines, only warnings, errors and the
    /// result. RUST_LOG overrides.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
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
