//! The command line (clap derive). Each subcommand's arguments live with its command module.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::cmd;

const EXIT_CODES: &str = "\
Exit codes:
  0  drained (status, wait) / healthy (doctor) / success
  1  status: bytes behind; doctor: problems found; wait: internal error
  2  usage or configuration error
  3  wait: deadline passed with bytes unshipped
  4  wait: shipper dead while bytes are behind
  5  wait: interrupted (SIGTERM/SIGINT)";

/// Hold shutdown or termination until every log shipper has delivered every byte.
#[derive(Debug, Parser)]
#[command(name = "drainguard", version, about, after_help = EXIT_CODES)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

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

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show, per file, how many bytes each shipper still owes.
    Status(cmd::status::Args),
    /// Hold until every shipper has delivered everything, or the deadline passes.
    Wait(cmd::wait::Args),
    /// Put `drainguard wait` into the shutdown sequence (systemd or SysV init).
    Install(cmd::install::Args),
    /// Remove exactly what `install` wrote and restore what it changed.
    Uninstall(cmd::uninstall::Args),
    /// Boot-time check of the settings and stores (ignores the backlog).
    Check,
    /// Check the shutdown integration (ours or hand-made) and explain each problem.
    Doctor(cmd::doctor::Args),
    /// Serve the backlog as Prometheus metrics over HTTP (/metrics).
    Exporter(cmd::exporter::Args),
    /// Man pages and shell completions from these definitions (packaging; hidden).
    #[command(subcommand, hide = true)]
    Generate(cmd::generate::GenerateCommand),
    /// AWS Auto Scaling / spot: drain before the instance is terminated (feature `aws`).
    #[cfg(feature = "aws")]
    #[command(subcommand)]
    Aws(cmd::aws::AwsCommand),
}
