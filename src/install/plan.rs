//! From the probed host and the options to a [`Plan`].

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::apply::{Action, Plan};
use super::probe::{Host, Init};
use super::{systemd, sysv};
use crate::settings::Settings;

/// What the operator asked for.
#[derive(Debug, Clone)]
pub struct InstallOptions {
    pub exec: String,
    pub apps: Vec<String>,
    pub deadline: Duration,
    pub reorder_shipper: bool,
    pub aws: bool,
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
}

pub const UNIT: &str = "/etc/systemd/system/drainguard.service";
pub const AWS_UNIT: &str = "/etc/systemd/system/drainguard-aws.service";
pub const SETTINGS: &str = crate::settings::DEFAULT_PATH;

/// Builds the plan for `host`.
pub fn plan(host: &Host, opts: &InstallOptions) -> Result<Plan, PlanError> {
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
        p.notes.push(
            "no shipper service found (filebeat, fluent-bit, vector ...): drainguard is not ordered \
             before any shipper; name it with --shipper-service"
                .into(),
        );
    }
    match host.init {
        Init::Systemd => systemd_plan(host, opts, &mut p)?,
        Init::SysvChkconfig | Init::SysvDebian => sysv_plan(host, opts, &mut p)?,
    }
    Ok(p)
}

fn systemd_plan(host: &Host, opts: &InstallOptions, p: &mut Plan) -> Result<(), PlanError> {
    let apps: Vec<String> = opts.apps.iter().map(|a| unit_name(a)).collect();
    let spec = systemd::UnitSpec {
        exec: opts.exec.clone(),
        shipper: host.shipper.as_deref().map(unit_name),
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
    let apps: Vec<(String, u8)> = opts
        .apps
        .iter()
        .map(|a| {
            let name = a.trim_end_matches(".service").to_string();
            let k = host.k_number(0, &name).unwrap_or(0);
            if k == 0 {
                p.notes.push(format!(
                    "app {name} has no K link in rc0.d: it is not stopped by rc at halt"
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
        let script = host.root.host_to_local(&Path::new(host.init_d()).join(s));
        let text = std::fs::read_to_string(script).unwrap_or_default();
        if host.init == Init::SysvChkconfig && !text.contains("/var/lock/subsys") {
            p.notes.push(format!(
                "{s}'s init script never creates /var/lock/subsys/{s}: rc skips its K script at halt, \
                 so it dies in halt's killall after the network is down (drainguard still waits before that)"
            ));
        }
    }
    let (kill, reorder) = match sysv::choose_k(&apps, shipper_k) {
        Ok(k) => (k, None),
        Err(why) if !opts.reorder_shipper => return Err(PlanError::Order(why)),
        Err(_) => {
            let low = apps.iter().map(|(_, k)| *k).max().unwrap_or(0);
            let ours = (low + 5).min(97);
            (
                ours,
                shipper_k.map(|(s, k)| (s.to_string(), k, (ours + 5).min(99))),
            )
        }
    };
    let start = host
        .shipper
        .as_deref()
        .and_then(|s| host.s_number(3, s))
        .map_or(99, |s| (s + 1).min(99));
    let spec = sysv::ScriptSpec {
        exec: opts.exec.clone(),
        init: host.init,
        shipper: host.shipper.clone(),
        apps: apps.iter().map(|(a, _)| a.clone()).collect(),
        start,
        kill,
    };
    let script = Path::new(host.init_d()).join("drainguard");
    p.actions.push(Action::WriteFile {
        path: script.clone(),
        content: sysv::render(&spec),
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
            "moving {s}'s K links from K{old:02} to K{new:02} (undone by uninstall)"
        ));
    }
    let live_debian = host.init == Init::SysvDebian && host.root.dir().is_none();
    if live_debian {
        // insserv orders it from the LSB header (Required-Stop: shipper, X-Stop-After: apps).
        p.actions.push(Action::Run {
            argv: vec!["update-rc.d".into(), "drainguard".into(), "defaults".into()],
            undo: vec![vec![
                "update-rc.d".into(),
                "-f".into(),
                "drainguard".into(),
                "remove".into(),
            ]],
        });
    } else {
        // Relative, as chkconfig and update-rc.d write them (rcN.d sits beside init.d).
        let target = PathBuf::from("../init.d/drainguard");
        // Halt AND reboot (and single-user) run the drain; runlevels 2-5 start it (the lock).
        for level in [0u8, 1, 6] {
            p.actions.push(Action::Symlink {
                path: host.rc_dir(level).join(format!("K{kill:02}drainguard")),
                target: target.clone(),
            });
        }
        for level in 2u8..=5 {
            p.actions.push(Action::Symlink {
                path: host.rc_dir(level).join(format!("S{start:02}drainguard")),
                target: target.clone(),
            });
        }
    }
    if host.root.dir().is_none() {
        p.actions.push(Action::Run {
            argv: vec![
                host.root
                    .host_to_local(&script)
                    .to_string_lossy()
                    .into_owned(),
                "start".into(),
            ],
            undo: vec![],
        });
    } else {
        p.notes.push(
            "--root is set: the init script is not started; its lock file is created at the next boot"
                .into(),
        );
    }
    Ok(())
}

/// `app` -> `app.service` (other unit types are kept).
fn unit_name(name: &str) -> String {
    if name.contains('.') {
        name.to_string()
    } else {
        format!("{name}.service")
    }
}
