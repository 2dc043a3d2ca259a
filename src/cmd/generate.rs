//! `drainguard generate man|completions DIR` (hidden): the man pages and shell completions,
//! generated from the clap definitions so they never drift from the CLI. `scripts/dist.sh`
//! runs it with the built binary and the packages install what it writes (docs/packaging.md).

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap_complete::{Generator, Shell};

use crate::exit::Exit;
use crate::install::beneath::Beneath;
use crate::root::Root;

/// The shells completions are generated for.
pub const SHELLS: [Shell; 3] = [Shell::Bash, Shell::Zsh, Shell::Fish];

#[derive(Debug, clap::Subcommand)]
pub enum GenerateCommand {
    /// Man pages: drainguard.1 and drainguard-SUBCOMMAND.1 for each subcommand.
    Man {
        /// Directory to write the pages into (created if missing).
        dir: PathBuf,
    },
    /// Shell completions: drainguard.bash, _drainguard (zsh), drainguard.fish.
    Completions {
        /// Directory to write the scripts into (created if missing).
        dir: PathBuf,
    },
}

/// Writes the man pages or completions of `cli` (the whole command line's definition).
pub fn run(cmd: GenerateCommand, cli: &clap::Command) -> anyhow::Result<Exit> {
    let (dir, files) = match cmd {
        GenerateCommand::Man { dir } => (dir, man_pages(cli)?),
        GenerateCommand::Completions { dir } => (dir, completions(cli)),
    };
    std::fs::create_dir_all(&dir)
        .with_context(|| format!("creating {}", crate::display::path(&dir)))?;
    // Atomic writes that never follow a link planted in DIR (the ones install uses).
    let beneath = Beneath::open(&Root::new(Some(dir.clone())))?;
    for (name, content) in files {
        let path = dir.join(&name);
        beneath
            .write_atomic(&Path::new("/").join(&name), &content, 0o644, false)
            .with_context(|| format!("writing {}", crate::display::path(&path)))?;
        println!("{}", crate::display::path(&path));
    }
    Ok(Exit::Ok)
}

/// Every man page (file name, roff text): the top page and one per visible subcommand, nested
/// ones included (`drainguard-aws-watch.1`).
pub fn man_pages(cli: &clap::Command) -> anyhow::Result<Vec<(String, Vec<u8>)>> {
    fn walk(cmd: &clap::Command, out: &mut Vec<(String, Vec<u8>)>) -> std::io::Result<()> {
        let man = clap_mangen::Man::new(cmd.clone());
        let mut page = Vec::new();
        man.render(&mut page)?;
        out.push((man.get_filename(), page));
        for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
            walk(sub, out)?;
        }
        Ok(())
    }
    let mut cmd = cli.clone().disable_help_subcommand(true);
    cmd.build();
    let mut out = Vec::new();
    walk(&cmd, &mut out).context("rendering the man pages")?;
    Ok(out)
}

/// The completion scripts (file name, text) for [`SHELLS`].
pub fn completions(cli: &clap::Command) -> Vec<(String, Vec<u8>)> {
    SHELLS
        .iter()
        .map(|&shell| {
            let mut cmd = cli.clone();
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut cmd, "drainguard", &mut script);
            (shell.file_name("drainguard"), script)
        })
        .collect()
}
