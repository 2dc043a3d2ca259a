//! `drainguard install` and `drainguard uninstall`.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;

use crate::cli::Global;
use crate::cursor::ShipperKind;
use crate::exit::Exit;
use crate::install::{self, Init, InstallOptions};
use crate::root::Root;
use crate::settings::{Settings, ShipperKindName, ShipperSettings, DEFAULT_DEADLINE};

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
    /// How long the drain may hold shutdown.
    #[arg(long, value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub deadline: Option<Duration>,
    /// The drainguard binary the unit runs (default: this one; under --root /usr/local/bin/drainguard).
    #[arg(long, value_name = "PATH")]
    pub exec: Option<PathBuf>,
    /// SysV: when no K number fits, move the shipper's K links after drainguard's.
    #[arg(long)]
    pub reorder_shipper: bool,
    /// Also install drainguard-aws.service (`drainguard aws watch`).
    #[arg(long)]
    pub aws: bool,
    /// Show the plan and diffs; write nothing.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, clap::Args)]
pub struct UninstallArgs {
    /// Show what would be removed or restored; change nothing.
    #[arg(long)]
    pub dry_run: bool,
}

pub fn run(global: &Global, args: Args) -> anyhow::Result<Exit> {
    let root = Root::new(global.root.clone());
    let mut settings = Settings::load(&root, &global.settings)?;
    let deadline = args
        .deadline
        .or(settings.deadline)
        .unwrap_or(DEFAULT_DEADLINE);
    settings.deadline = Some(deadline);
    if !args.apps.is_empty() {
        settings.apps = args.apps.clone();
    }
    let kinds: Vec<ShipperKind> = if args.shippers.is_empty()
        && (args.config.is_some() || args.data_path.is_some() || args.registry.is_some())
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
                pid_file: None,
            })
            .collect();
    }
    let exec = match (&args.exec, root.dir()) {
        (Some(e), _) => e.clone(),
        (None, Some(_)) => PathBuf::from("/usr/local/bin/drainguard"),
        (None, None) => std::env::current_exe().context("locating this binary (use --exec)")?,
    };
    let host = install::probe(&root, args.init, args.shipper_service.as_deref());
    let opts = InstallOptions {
        exec: exec.to_string_lossy().into_owned(),
        apps: settings.apps.clone(),
        deadline,
        reorder_shipper: args.reorder_shipper,
        aws: args.aws,
        settings,
    };
    let plan = install::plan(&host, &opts)?;
    println!(
        "init: {:?}; shipper service: {}",
        host.init,
        host.shipper.as_deref().unwrap_or("(none found)")
    );
    if args.dry_run {
        print!("{}", install::preview(&root, &plan));
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

pub fn run_uninstall(global: &Global, args: UninstallArgs) -> anyhow::Result<Exit> {
    let root = Root::new(global.root.clone());
    let done = install::undo(&root, args.dry_run)?;
    if done.is_empty() {
        println!("nothing to uninstall (no install manifest)");
    }
    for line in done {
        println!("{}{line}", if args.dry_run { "would " } else { "" });
    }
    Ok(Exit::Ok)
}
