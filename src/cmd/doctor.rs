//! `drainguard doctor`: exit 0 healthy, 1 problems found.

use std::time::Duration;

use super::source::SourceArgs;
use super::Global;
use crate::doctor::{self, Expect, Severity};
use crate::exit::Exit;
use crate::install::{self, Init};
use crate::root::Root;
use crate::settings::{Settings, DEFAULT_DEADLINE};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The unit or init script that runs the drain (a hand-written one, say). Default: every
    /// unit and init script that is a shutdown hook concerning a shipper.
    #[arg(long)]
    pub unit: Option<String>,
    /// Apps that must stop first (default: from the settings file).
    #[arg(long = "before", value_name = "APP")]
    pub apps: Vec<String>,
    /// The drain deadline to check timeouts against (default: settings, else 25m).
    #[arg(long, value_parser = humantime::parse_duration)]
    pub deadline: Option<Duration>,
    #[arg(long, value_enum)]
    pub init: Option<Init>,
    #[arg(long, value_name = "NAME")]
    pub shipper_service: Option<String>,
    /// Print the findings as JSON.
    #[arg(long)]
    pub json: bool,
    /// Also check the AWS side: IMDSv2, the lifecycle hook, IAM, drainguard-aws.service.
    #[cfg(feature = "aws")]
    #[arg(long)]
    pub aws: bool,
    #[cfg(feature = "aws")]
    #[command(flatten)]
    pub aws_endpoints: super::aws::Endpoints,
}

pub fn run(global: &Global, args: Args) -> anyhow::Result<Exit> {
    let root = Root::new(global.root.clone());
    let settings = Settings::load(&root, &global.settings)?;
    let host = install::probe_for(&root, args.init, args.shipper_service.as_deref(), &settings);
    let expect = Expect {
        unit: args.unit,
        apps: if args.apps.is_empty() {
            settings.apps.clone()
        } else {
            args.apps
        },
        deadline: args
            .deadline
            .or(settings.deadline)
            .unwrap_or(DEFAULT_DEADLINE),
        stores: settings
            .shippers
            .iter()
            .flat_map(|s| [&s.config, &s.data_path, &s.store])
            .flatten()
            .map(|p| p.to_string_lossy().into_owned())
            .collect(),
    };
    let mut report = doctor::check(&host, &expect);
    report.findings.extend(store_findings(global));
    #[cfg(feature = "aws")]
    if args.aws {
        super::aws::doctor_findings(global, &args.aws_endpoints, expect.deadline, &mut report)?;
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        for h in &report.hooks {
            println!("hook {}: {}", h.name, h.why);
        }
        print(&report.findings);
        for s in &report.skipped {
            println!("skipped {}: {}\n  why: {}", s.id, s.check, s.why);
        }
        if report.findings.is_empty() {
            use clap::ValueEnum;
            let init = host
                .init
                .to_possible_value()
                .expect("every init has a name");
            println!(
                "healthy ({}): the drain runs at shutdown in the right order{}",
                init.get_name(),
                if report.skipped.is_empty() {
                    ""
                } else {
                    ", as far as checked (see skipped)"
                }
            );
        }
    }
    Ok(
        if report
            .findings
            .iter()
            .any(|f| f.severity == Severity::Error)
        {
            Exit::Behind
        } else {
            Exit::Ok
        },
    )
}

/// The stores' side: DG014 for each store that can never prove delivery, DG017 for shipper
/// configs or stores that cannot be read (the same reading `status` and `wait` do).
fn store_findings(global: &Global) -> Vec<doctor::Finding> {
    let unreadable = |what: String, e: &dyn std::fmt::Display| {
        doctor::findings::finding(
            "DG017",
            Severity::Error,
            format!("{what} cannot be read: {e}"),
            "`wait` cannot assess what it cannot read: every shutdown will hold until the \
             deadline, then exit 2.",
            "fix the file named above (`drainguard status` shows the same error)".into(),
        )
    };
    let mut sources = match SourceArgs::default().open_with(global, true) {
        Ok(s) => s,
        Err(e) => {
            return vec![unreadable(
                "the shippers' configuration".into(),
                &format!("{e:#}"),
            )]
        }
    };
    let _round = sources.http.round();
    let mut out = Vec::new();
    for r in sources.readers.iter_mut() {
        match r.read() {
            Ok(snap) => out.extend(doctor::stores::check(&sources.root, &[snap])),
            Err(e) => out.push(unreadable(format!("the {} store", r.shipper()), &e)),
        }
    }
    out
}

/// Prints findings for a person: severity, id and problem, then why and the fix.
pub fn print(findings: &[doctor::Finding]) {
    for f in findings {
        let sev = match f.severity {
            Severity::Error => "ERROR",
            Severity::Warning => "warning",
        };
        println!(
            "{sev} {}: {}\n  why: {}\n  fix: {}",
            f.id, f.problem, f.explanation, f.fix
        );
    }
}
