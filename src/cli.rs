//! The command line (clap derive) and its dispatch. Each subcommand's arguments and its `run`
//! live with its command module ([`crate::cmd`]), which knows nothing of this one.

use clap::{Parser, Subcommand};

use crate::cmd::{self, Global};
use crate::exit::Exit;
use crate::wait::StopFlag;

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

impl Cli {
    /// Runs the parsed command line. `stop` is the process's one [`StopFlag`]: the commands
    /// that drain catch the termination signals on it.
    pub fn run(self, stop: &StopFlag) -> anyhow::Result<Exit> {
        let global = &self.global;
        match self.command {
            Command::Status(args) => cmd::status::run(global, args),
            Command::Wait(args) => cmd::wait::run(global, args, stop),
            Command::Install(args) => cmd::install::run(global, args),
            Command::Uninstall(args) => cmd::uninstall::run(global, args),
            Command::Check => cmd::check::run(global),
            Command::Doctor(args) => cmd::doctor::run(global, args),
            Command::Exporter(args) => cmd::exporter::run(global, args),
            Command::Generate(g) => {
                use clap::CommandFactory;
                cmd::generate::run(g, &Cli::command())
            }
            #[cfg(feature = "aws")]
            Command::Aws(c) => cmd::aws::run(global, c, stop),
        }
    }
}

#[cfg(test)]
mod generate_tests {
    use super::*;
    use crate::cmd::generate::{completions, man_pages};

    fn cli() -> clap::Command {
        use clap::CommandFactory;
        Cli::command()
    }

    #[test]
    fn one_man_page_per_visible_subcommand_and_none_for_generate() {
        let names: Vec<String> = man_pages(&cli())
            .unwrap()
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        for want in [
            "drainguard.1",
            "drainguard-status.1",
            "drainguard-wait.1",
            "drainguard-install.1",
            "drainguard-uninstall.1",
            "drainguard-check.1",
            "drainguard-doctor.1",
        ] {
            assert!(
                names.iter().any(|n| n == want),
                "{want} missing from {names:?}"
            );
        }
        assert!(!names.iter().any(|n| n.contains("generate")), "{names:?}");
        assert!(!names.iter().any(|n| n.contains("help")), "{names:?}");
    }

    #[test]
    fn wait_page_documents_its_deadline_option() {
        let pages = man_pages(&cli()).unwrap();
        let (_, wait) = pages
            .iter()
            .find(|(n, _)| n == "drainguard-wait.1")
            .unwrap();
        let text = String::from_utf8_lossy(wait);
        assert!(text.starts_with(".ie") || text.contains(".TH"), "{text}");
        assert!(text.contains("deadline"), "{text}");
    }

    #[test]
    fn completions_for_each_shell_name_the_subcommands() {
        let files = completions(&cli());
        let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["drainguard.bash", "_drainguard", "drainguard.fish"]);
        for (name, text) in &files {
            let text = String::from_utf8_lossy(text);
            for sub in ["status", "wait", "install", "uninstall", "check", "doctor"] {
                assert!(text.contains(sub), "{name} lacks {sub}: {text}");
            }
        }
    }
}
