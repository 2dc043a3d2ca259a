//! The subcommands. Each module has its clap `Args` and a `run` that returns an [`Exit`].

#[cfg(feature = "aws")]
pub mod aws;
pub mod check;
pub mod doctor;
pub mod install;
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
        Command::Doctor(args) => doctor::run(&cli.global, args),
        #[cfg(feature = "aws")]
        Command::Aws(cmd) => aws::run(&cli.global, cmd),
    }
}

/// An error and its causes on one line, each said once: the library's errors already name
/// their cause (`cannot read X: No such file or directory`), so a cause whose text ends the
/// line so far is not repeated (`{:#}` would print it twice).
pub fn error_text(e: &anyhow::Error) -> String {
    let mut text = e.to_string();
    for cause in e.chain().skip(1) {
        let c = cause.to_string();
        if !text.ends_with(&c) {
            text.push_str(": ");
            text.push_str(&c);
        }
    }
    text
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_cause_already_in_the_message_is_said_once() {
        let io = std::io::Error::from(std::io::ErrorKind::NotFound);
        let store = crate::error::StoreError::io("/etc/x.conf", io);
        let e = anyhow::Error::new(store).context("reading the vector store");
        let text = super::error_text(&e);
        assert_eq!(text.matches("entity not found").count(), 1, "{text}");
        assert!(
            text.starts_with("reading the vector store: cannot read /etc/x.conf: "),
            "{text}"
        );
    }
}
