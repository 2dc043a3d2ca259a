//! `drainguard install`: probe, plan, preview (`--dry-run`) or apply with a manifest.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;

use crate::cli::Global;
use crate::cursor::ShipperKind;
use crate::exit::Exit;
use crate::install::{self, Init, InstallOptions};
use crate::root::Root;
use crate::settings::{
    Settings, ShipperKindName, ShipperSettings, DEFAULT_DEADLINE, DEFAULT_LOG_FILE,
};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Applications that must stop before the drain (repeatable): systemd units, or SysV
    /// init script names.
    #[arg(long = "before", value_name = "APP")]
    pub apps: Vec<String>,
    /// The init system (default: detected).
    #[arg(long, value_enum)]
    pub init: Option<Init>,
    /// The shipper's service / init script name (default: detected: filebeat, fluent-bit ...).
    #[arg(long, value_name = "NAME")]
    pub shipper_service: Option<String>,
    /// The shipper whose store `wait` reads (written to the settings; default: auto-detect).
    #[arg(long = "shipper", value_enum)]
    pub shippers: Vec<ShipperKind>,
    /// The shipper's config file, data directory or store, written to the settings.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[arg(long, value_name = "DIR")]
    pub data_path: Option<PathBuf>,
    #[arg(long, value_name = "PATH")]
    pub registry: Option<PathBuf>,
    /// The shipper's pidfile, written to the settings (when its process name is unusual).
    #[arg(long, value_name = "FILE")]
    pub shipper_pid_file: Option<PathBuf>,
    /// How long the drain may hold shutdown.
    #[arg(long, value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub deadline: Option<Duration>,
    /// The drainguard binary the unit runs (default: this one; under --root /usr/local/bin/drainguard).
    #[arg(long, value_name = "PATH")]
    pub exec: Option<PathBuf>,
    /// SysV: when no K number fits, move the shipper's K links after drainguard's.
    #[arg(long)]
    pub reorder_shipper: bool,
    /// Where `wait` appends its run summaries (written to the settings).
    #[arg(long, value_name = "FILE")]
    pub log_file: Option<PathBuf>,
    /// Also install drainguard-aws.service (`drainguard aws watch`).
    #[arg(long)]
    pub aws: bool,
    /// Show the plan and diffs; write nothing.
    #[arg(long)]
    pub dry_run: bool,
}

pub fn run(global: &Global, args: Args) -> anyhow::Result<Exit> {
    if args.aws && args.exec.is_none() && !cfg!(feature = "aws") {
        anyhow::bail!(
            "--aws installs a unit running `drainguard aws watch`, but this binary was built \
             without the `aws` feature: rebuild with `cargo build --release --features aws`, \
             or name a binary that has it with --exec"
        );
    }
    let root = Root::new(global.root.clone());
    let mut settings = Settings::load_or_default(&root, &global.settings)?;
    let deadline = args
        .deadline
        .or(settings.deadline)
        .unwrap_or(DEFAULT_DEADLINE);
    settings.deadline = Some(deadline);
    settings.log_file = Some(
        args.log_file
            .clone()
            .or(settings.log_file.take())
            .unwrap_or_else(|| PathBuf::from(DEFAULT_LOG_FILE)),
    );
    if !args.apps.is_empty() {
        settings.apps = args.apps.clone();
    }
    let kinds: Vec<ShipperKind> = if args.shippers.is_empty()
        && (args.config.is_some()
            || args.data_path.is_some()
            || args.registry.is_some()
            || args.shipper_pid_file.is_some())
    {
        vec![ShipperKind::Filebeat]
    } else {
        args.shippers.clone()
    };
    if !kinds.is_empty() {
        settings.shippers = kinds
            .iter()
            .map(|k| ShipperSettings {
                kind: ShipperKindName(*k),
                config: args.config.clone(),
                data_path: args.data_path.clone(),
                store: args.registry.clone(),
                pid_file: args.shipper_pid_file.clone(),
            })
            .collect();
    }
    let exec = match (&args.exec, root.dir()) {
        (Some(e), _) => e.clone(),
        (None, Some(_)) => PathBuf::from("/usr/local/bin/drainguard"),
        (None, None) => std::env::current_exe().context("locating this binary (use --exec)")?,
    };
    let exec = exec_word(&exec)?;
    if root.dir().is_some() && !root.host_to_local(std::path::Path::new(&exec)).exists() {
        tracing::warn!(%exec, "the drainguard binary is not there yet below --root; install it before booting");
    }
    if let Some(s) = &args.shipper_service {
        // The probe looks the name up on disk before the init system is known: refuse what
        // neither grammar allows (a `/`, `..`, a newline ...) now; `plan` checks the exact one.
        let s = s.as_str();
        let what = install::plan::SHIPPER;
        install::names::unit(what, s).or_else(|_| install::names::script(what, s))?;
    }
    let host = install::probe_for(&root, args.init, args.shipper_service.as_deref(), &settings);
    let opts = InstallOptions {
        exec,
        apps: settings.apps.clone(),
        deadline,
        reorder_shipper: args.reorder_shipper,
        aws: args.aws,
        settings,
    };
    let plan = install::plan(&host, &opts)?;
    println!(
        "init: {}; shipper service: {}",
        host.init,
        host.shipper.as_deref().unwrap_or("(none found)")
    );
    if args.dry_run {
        print!("{}", install::preview(&root, &plan)?);
        println!("dry run: nothing was written");
        return Ok(Exit::Ok);
    }
    for n in &plan.notes {
        println!("note: {n}");
    }
    install::apply(&root, &plan)?;
    println!("installed; check it with `drainguard doctor`, remove it with `drainguard uninstall`");
    Ok(Exit::Ok)
}

/// The binary path as it goes into the unit and the script: absolute and UTF-8, else refused
/// (a unit file is UTF-8 text; a relative ExecStop is rejected by systemd).
fn exec_word(exec: &std::path::Path) -> anyhow::Result<String> {
    let shown = crate::display::path(exec);
    let Some(s) = exec.to_str() else {
        anyhow::bail!("--exec {shown}: not UTF-8, so it cannot be written into a unit file; install drainguard at a plain path");
    };
    if !exec.is_absolute() {
        anyhow::bail!("--exec {shown}: must be an absolute path");
    }
    Ok(s.to_string())
}
