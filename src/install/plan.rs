//! From the probed host and the options to a [`Plan`].

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::apply::{Action, Plan};
use super::probe::{Host, Init};
use super::{names, systemd, sysv};
use crate::settings::Settings;

/// What the operator asked for.
#[derive(Debug, Clone)]
pub struct InstallOptions {
    pub exec: String,
    pub apps: Vec<String>,
    pub deadline: Duration,
    pub reorder_shipper: bool,
    pub aws: bool,
    /// Also install drainguard-exporter.service (systemd only).
    pub exporter: bool,
    /// The settings file content to write.
    pub settings: Settings,
}

/// Errors that stop the plan.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error(transparent)]
    Quote(#[from] systemd::Unquotable),
    #[error("{0}")]
    Order(String),
    #[error(transparent)]
    Name(#[from] names::NameError),
    #[error(
        "the deadline {} is longer than {}, the longest drain `install` sets up (the unit's \
         TimeoutStopSec is the deadline plus {}s, and a longer hold of shutdown is a hung host, \
         not a drain): give a shorter --deadline, or fix `deadline` in the settings file",
        humantime::format_duration(*.0),
        humantime::format_duration(MAX_DEADLINE),
        systemd::STOP_MARGIN.as_secs()
    )]
    Deadline(Duration),
    #[error(
        "--exporter: this host's systemd is {} (told by {}), and \
         drainguard-exporter.service needs systemd {min} or later: it runs as a dynamic user \
         (DynamicUser=) with its own StateDirectory=, and drainguard creates no user account. \
         Install without --exporter and serve the metrics through node_exporter's textfile \
         collector instead: run `drainguard status --textfile <its directory>` from cron or a \
         timer (docs/metrics.md)",
        .0.shown,
        .0.how,
        min = super::exporter::MIN_SYSTEMD
    )]
    OldSystemd(super::probe::SystemdVersion),
}

/// The longest deadline `install` accepts: a day ([`crate::settings::MAX_DEADLINE`], the one
/// every command uses). systemd itself takes time spans up to 2^64-1 µs (and `infinity`); a
/// drain that holds shutdown longer than a day is a fault.
pub const MAX_DEADLINE: Duration = crate::settings::MAX_DEADLINE;

/// What `--before` names are called in errors (they may come from the settings' `apps`).
const APP: &str = "--before (or `apps` in the settings)";
/// What the shipper's service name is called in errors.
pub const SHIPPER: &str = "--shipper-service";

use super::manifest::{AWS_UNIT, SETTINGS, UNIT};

/// Builds the plan for `host`.
pub fn plan(host: &Host, opts: &InstallOptions) -> Result<Plan, PlanError> {
    if opts.deadline > MAX_DEADLINE {
        return Err(PlanError::Deadline(opts.deadline));
    }
    check_names(host, opts)?;
    let mut p = Plan::default();
    p.actions.push(Action::WriteFile {
        path: SETTINGS.into(),
        content: format!(
            "# drainguard settings; written by `drainguard install`. Flags override these.\n{}",
            opts.settings.to_toml()
        ),
        mode: 0o644,
    });
    if host.shipper.is_none() {
        p.notes.push(format!(
            "no shipper service found ({}): drainguard is not ordered before any shipper; name \
             it with --shipper-service",
            crate::adapters::example_names()
        ));
    }
    if opts.exporter && host.init != Init::Systemd {
        p.notes.push(
            "--exporter installs a systemd unit only: with SysV init, run `drainguard exporter` \
             under your process supervisor, or `drainguard status --textfile` from cron"
                .into(),
        );
    }
    match host.init {
        Init::Systemd => systemd_plan(host, opts, &mut p)?,
        Init::SysvChkconfig | Init::SysvDebian => sysv_plan(host, opts, &mut p)?,
    }
    Ok(p)
}

/// Every name that goes into the unit or script, by the grammar of the init system in use.
fn check_names(host: &Host, opts: &InstallOptions) -> Result<(), names::NameError> {
    let check = match host.init {
        Init::Systemd => names::unit,
        Init::SysvChkconfig | Init::SysvDebian => names::script,
    };
    for a in &opts.apps {
        check(APP, a)?;
    }
    if let Some(s) = &host.shipper {
        check(SHIPPER, s)?;
    }
    Ok(())
}

fn systemd_plan(host: &Host, opts: &InstallOptions, p: &mut Plan) -> Result<(), PlanError> {
    let apps = opts
        .apps
        .iter()
        .map(|a| names::unit(APP, a))
        .collect::<Result<Vec<_>, _>>()?;
    let shipper = host
        .shipper
        .as_deref()
        .map(|s| names::unit(SHIPPER, s))
        .transpose()?;
    let spec = systemd::UnitSpec {
        exec: opts.exec.clone(),
        shipper,
        apps,
        deadline: opts.deadline,
    };
    p.actions.push(Action::WriteFile {
        path: UNIT.into(),
        content: systemd::render(&spec)?,
        mode: 0o644,
    });
    let mut units = vec!["drainguard.service"];
    if opts.aws {
        p.actions.push(Action::WriteFile {
            path: AWS_UNIT.into(),
            content: systemd::render_aws(&opts.exec)?,
            mode: 0o644,
        });
        units.push("drainguard-aws.service");
    }
    if opts.exporter {
        match host.systemd_version() {
            Some(v) if v.at_most < super::exporter::MIN_SYSTEMD => {
                return Err(PlanError::OldSystemd(v));
            }
            Some(_) => {}
            None => p.notes.push(format!(
                "this tree's systemd version could not be told: drainguard-exporter.service \
                 needs systemd {} or later (DynamicUser= with StateDirectory=)",
                super::exporter::MIN_SYSTEMD
            )),
        }
        p.actions.push(Action::WriteFile {
            path: super::exporter::UNIT.into(),
            content: super::exporter::render(&opts.exec)?,
            mode: 0o644,
        });
        units.push("drainguard-exporter.service");
    }
    if host.systemd_running() {
        p.actions.push(Action::Run {
            argv: vec!["systemctl".into(), "daemon-reload".into()],
            undo: vec![vec!["systemctl".into(), "daemon-reload".into()]],
        });
        for u in units {
            // enable --now: a unit that never started runs no ExecStop at shutdown.
            p.actions.push(Action::Run {
                argv: vec![
                    "systemctl".into(),
                    "enable".into(),
                    "--now".into(),
                    u.into(),
                ],
                undo: vec![
                    vec!["systemctl".into(), "disable".into(), u.into()],
                    vec!["systemctl".into(), "stop".into(), u.into()],
                ],
            });
        }
    } else {
        for u in units {
            p.actions.push(Action::Symlink {
                path: PathBuf::from(format!("/etc/systemd/system/multi-user.target.wants/{u}")),
                target: PathBuf::from(format!("/etc/systemd/system/{u}")),
            });
        }
        p.notes.push(
            "systemd is not running here (or --root is set): the unit is enabled by its symlink; \
             it starts at the next boot (start it now with `systemctl start drainguard` on a live host)"
                .into(),
        );
    }
    Ok(())
}

fn sysv_plan(host: &Host, opts: &InstallOptions, p: &mut Plan) -> Result<(), PlanError> {
    let live = host.root.dir().is_none();
    let debian = host.init == Init::SysvDebian;
    let apps: Vec<(String, u8)> = opts
        .apps
        .iter()
        .map(|a| {
            // Checked by `check_names`: the bare script name.
            let name = a.strip_suffix(".service").unwrap_or(a).to_string();
            if !host.has_script(&name) {
                p.notes.push(format!(
                    "app {name} has no init script in {}: check the name given to --before",
                    host.init_d()
                ));
            }
            let k = host.k_number(0, &name).unwrap_or(0);
            if k == 0 {
                p.notes.push(format!(
                    "app {name} has no K link in {}: rc does not stop it at halt",
                    host.rc_dir(0).display()
                ));
            }
            (name, k)
        })
        .collect();
    let shipper_k = host
        .shipper
        .as_deref()
        .and_then(|s| host.k_number(0, s).map(|k| (s, k)));
    if let Some(s) = host.shipper.as_deref() {
        if host.init == Init::SysvChkconfig && !sysv::creates_lock(&host.script_text(s)) {
            p.notes.push(format!(
                "{s}'s init script never creates /var/lock/subsys/{s} (the stock Filebeat RPM script \
                 does this): rc skips its K script at halt, so it dies in halt's killall after the \
                 network is down (drainguard still waits before that); `drainguard doctor` explains the fix"
            ));
        }
    }
    let spec_for = |kill: u8, start: u8| sysv::ScriptSpec {
        exec: opts.exec.clone(),
        init: host.init,
        shipper: host.shipper.clone(),
        apps: apps.iter().map(|(a, _)| a.clone()).collect(),
        start,
        kill,
        deadline: opts.deadline,
    };
    let script = Path::new(host.init_d()).join("drainguard");
    if debian && live {
        // update-rc.d hands the LSB header to insserv, which orders the links itself (and
        // renumbers the shipper when it must stop later): no K number to choose here.
        p.actions.push(Action::WriteFile {
            path: script.clone(),
            content: sysv::render(&spec_for(1, 1)),
            mode: 0o755,
        });
        p.actions.push(Action::Run {
            argv: vec!["update-rc.d".into(), "drainguard".into(), "defaults".into()],
            undo: vec![vec![
                "update-rc.d".into(),
                "-f".into(),
                "drainguard".into(),
                "remove".into(),
            ]],
        });
        start_now(&script, p);
        return Ok(());
    }
    let (kill, reorder) = match sysv::choose_k(&apps, shipper_k, debian) {
        Ok(k) => (k, None),
        Err(why) if !opts.reorder_shipper => return Err(PlanError::Order(why)),
        Err(_) => {
            let low = apps.iter().map(|(_, k)| *k).max().unwrap_or(0);
            let (ours, theirs) = if debian {
                (low + 1, low + 2)
            } else {
                ((low + 5).min(97), (low + 10).min(99))
            };
            (ours, shipper_k.map(|(s, k)| (s.to_string(), k, theirs)))
        }
    };
    let start = host
        .shipper
        .as_deref()
        .and_then(|s| host.s_number(3, s))
        .map_or(99, |s| (s + 1).min(99));
    p.actions.push(Action::WriteFile {
        path: script.clone(),
        content: sysv::render(&spec_for(kill, start)),
        mode: 0o755,
    });
    if let Some((s, old, new)) = reorder {
        for level in [0u8, 1, 6] {
            let dir = host.rc_dir(level);
            if host.k_number(level, &s) == Some(old) {
                p.actions.push(Action::Rename {
                    from: dir.join(format!("K{old:02}{s}")),
                    to: dir.join(format!("K{new:02}{s}")),
                });
            }
        }
        p.notes.push(format!(
            "moving {s}'s K links from K{old:02} to K{new:02} (undone by uninstall; a later \
             `chkconfig {s} reset` would move them back, and `drainguard doctor` would say so)"
        ));
    }
    // Relative, as chkconfig and insserv write them (rcN.d sits beside init.d).
    let target = PathBuf::from("../init.d/drainguard");
    let mut wanted = Vec::new();
    // Halt AND reboot (and single-user) run the drain; runlevels 2-5 start it (touch the lock).
    for level in [0u8, 1, 6] {
        wanted.push(host.rc_dir(level).join(format!("K{kill:02}drainguard")));
    }
    for level in 2u8..=5 {
        wanted.push(host.rc_dir(level).join(format!("S{start:02}drainguard")));
    }
    // Links of an earlier install with other numbers would run the drain twice or too early.
    for level in 0u8..=6 {
        for stale in host.links_of(level, "drainguard") {
            if !wanted.contains(&stale) {
                p.actions.push(Action::Remove { path: stale });
            }
        }
    }
    for path in wanted {
        p.actions.push(Action::Symlink {
            path,
            target: target.clone(),
        });
    }
    if live {
        start_now(&script, p);
    } else {
        p.notes.push(
            "--root is set: the init script is not started; it starts (and creates its lock \
             file) at the next boot"
                .into(),
        );
    }
    Ok(())
}

/// Starts the script now: on RHEL-style rc the lock file it creates is what makes rc run its
/// K script at halt. Uninstall stops it again, which runs one (usually instant) drain.
fn start_now(script: &Path, p: &mut Plan) {
    let s = script.to_string_lossy().into_owned();
    p.actions.push(Action::Run {
        argv: vec![s.clone(), "start".into()],
        undo: vec![vec![s, "stop".into()]],
    });
}
