//! `drainguard install`: probe, plan, preview (`--dry-run`) or apply with a manifest.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;

use super::Global;
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
    /// Also install drainguard-exporter.service (`drainguard exporter`, Prometheus metrics
    /// on 127.0.0.1:10133), separate from the drain: stopping it drains nothing.
    #[arg(long)]
    pub exporter: bool,
    /// Show the plan and diffs; write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Install even when the binary the unit would run is in a build directory, under /tmp,
    /// or not executable by root (a warning instead of a refusal).
    #[arg(long)]
    pub force: bool,
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
        vec![crate::adapters::DEFAULT_SHIPPER.kind]
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
                service: None,
            })
            .collect();
    }
    let exec = match (&args.exec, root.dir()) {
        (Some(e), _) => e.clone(),
        (None, Some(_)) => PathBuf::from("/usr/local/bin/drainguard"),
        (None, None) => std::env::current_exe().context("locating this binary (use --exec)")?,
    };
    let exec = exec_word(&exec)?;
    let local = root.host_to_local(Path::new(&exec));
    if root.dir().is_some() && !local.exists() {
        tracing::warn!(%exec, "the drainguard binary is not there yet below --root; install it before booting");
    }
    if let Some(why) = exec_unfit(Path::new(&exec), &local, root.dir().is_none()) {
        let fix = "install drainguard first (its package puts it at /usr/bin/drainguard; \
                   or `cargo install --path .`, or copy it to /usr/local/bin) and run that one, \
                   or name it with --exec";
        if !args.force {
            anyhow::bail!(
                "refusing: the unit would run {exec}, which {why}; {fix} (--force installs anyway)"
            );
        }
        tracing::warn!("--force: the unit runs {exec}, which {why}; {fix}");
    }
    if let Some(s) = &args.shipper_service {
        // The probe looks the name up on disk before the init system is known: refuse what
        // neither grammar allows (a `/`, `..`, a newline ...) now; `plan` checks the exact one.
        let s = s.as_str();
        let what = install::plan::SHIPPER;
        install::names::unit(what, s).or_else(|_| install::names::script(what, s))?;
        // Recorded with the shippers, so `doctor` (and a later `install`) order against this
        // service, not against a known shipper's that happens to be installed.
        for sh in &mut settings.shippers {
            sh.service = Some(s.trim_end_matches(".service").to_string());
        }
    }
    let host = install::probe_for(&root, args.init, args.shipper_service.as_deref(), &settings);
    let opts = InstallOptions {
        exec,
        apps: settings.apps.clone(),
        deadline,
        reorder_shipper: args.reorder_shipper,
        aws: args.aws,
        exporter: args.exporter,
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

/// Why the unit must not run the binary at host path `exec` (found at `local`), or `None`.
/// `live`: installing on this host (a missing binary is then a problem too; under `--root`
/// the image may get it later).
fn exec_unfit(exec: &Path, local: &Path, live: bool) -> Option<String> {
    for tmp in ["/tmp", "/var/tmp", "/dev/shm"] {
        if exec.starts_with(tmp) {
            return Some(format!(
                "is under {tmp} (cleaned at boot and by tmpfiles, often mounted noexec)"
            ));
        }
    }
    // cargo's layout: <dir>/target[/<triple>]/{debug,release}/drainguard.
    let parts: Vec<&std::ffi::OsStr> = exec.iter().collect();
    let build = parts.iter().enumerate().any(|(i, c)| {
        *c == "target"
            && parts[i + 1..]
                .iter()
                .any(|c| *c == "debug" || *c == "release")
    });
    if build {
        return Some(
            "is in a cargo build directory (`cargo clean` or the next build removes or replaces it)"
                .into(),
        );
    }
    let meta = match std::fs::metadata(local) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !live => return None,
        Err(e) => return Some(format!("cannot be read ({e})")),
    };
    let mode = meta.permissions().mode();
    if !meta.is_file() {
        return Some("is not a regular file".into());
    }
    if mode & 0o111 == 0 {
        return Some(format!("is not executable (mode {:o})", mode & 0o7777));
    }
    if mode & 0o022 != 0 {
        return Some(format!(
            "is writable by group or others (mode {:o}): whoever can write it runs code as root at shutdown",
            mode & 0o7777
        ));
    }
    None
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn bin(dir: &Path, mode: u32) -> PathBuf {
        let p = dir.join("drainguard");
        fs::write(&p, "#!/bin/sh\n").unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(mode)).unwrap();
        p
    }

    #[test]
    fn build_dirs_and_tmp_are_unfit_wherever_the_file_is() {
        let d = tempfile::tempdir().unwrap();
        let ok = bin(d.path(), 0o755);
        for exec in [
            "/home/me/src/drainguard/target/release/drainguard",
            "/home/me/src/drainguard/target/x86_64-unknown-linux-gnu/release/drainguard",
            "/srv/ci/target/debug/drainguard",
            "/tmp/drainguard",
            "/var/tmp/dg/drainguard",
        ] {
            assert!(exec_unfit(Path::new(exec), &ok, true).is_some(), "{exec}");
        }
        for exec in [
            "/usr/bin/drainguard",
            "/opt/target/bin/drainguard",
            "/root/.cargo/bin/drainguard",
        ] {
            assert_eq!(exec_unfit(Path::new(exec), &ok, true), None, "{exec}");
        }
    }

    #[test]
    fn a_binary_root_cannot_run_or_others_can_replace_is_unfit() {
        let d = tempfile::tempdir().unwrap();
        let exec = Path::new("/usr/bin/drainguard");
        let why = exec_unfit(exec, &bin(d.path(), 0o644), true).unwrap();
        assert!(why.contains("not executable (mode 644)"), "{why}");
        let why = exec_unfit(exec, &bin(d.path(), 0o777), true).unwrap();
        assert!(why.contains("writable by group or others"), "{why}");
        assert!(exec_unfit(exec, d.path(), true)
            .unwrap()
            .contains("not a regular file"));
        let missing = d.path().join("nothing");
        assert!(exec_unfit(exec, &missing, true)
            .unwrap()
            .contains("cannot be read"));
        // Under --root the image may get its binary later (warned about separately).
        assert_eq!(exec_unfit(exec, &missing, false), None);
    }
}
