use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use drainguard::cli::Cli;
use drainguard::exit::Exit;
use tracing_subscriber::EnvFilter;

#[global_allocator]
static ALLOC: drainguard::huge_pages::HugePageAdvice = drainguard::huge_pages::HugePageAdvice;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                Exit::Usage.into()
            } else {
                Exit::Ok.into()
            };
        }
    };
    let default = match cli.global.verbose {
        0 if cli.global.quiet => "warn",
        0 => "info",
        1 => "debug",
        _ => "trace",
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default)),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    // The process's one stop flag: the commands that drain catch the termination signals on
    // it, and everything that waits watches it.
    let stop = drainguard::wait::StopFlag::new();
    match cli.run(&stop) {
        Ok(exit) => exit.into(),
        Err(e) => {
            let e: &(dyn std::error::Error + 'static) = e.as_ref();
            eprintln!("drainguard: error: {}", drainguard::display::error_chain(e));
            Exit::Usage.into()
        }
    }
}
