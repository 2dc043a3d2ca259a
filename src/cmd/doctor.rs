//! `drainguard doctor`: exit 0 healthy, 1 problems found.

use std::time::Duration;

use crate::cli::Global;
use crate::doctor::{self, Expect, Severity};
use crate::exit::Exit;
use crate::install::{self, Init};
use crate::root::Root;
use crate::settings::{Settings, DEFAULT_DEADLINE};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The unit or init script that runs the drain (a hand-written one, say).
    #[arg(long, default_value = "drainguard")]
    pub unit: String,
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
    };
    let findings = doctor::check(&host, &expect);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&findings)?);
    } else if findings.is_empty() {
        println!(
            "healthy: {:?}, the drain runs at shutdown in the right order",
            host.init
        );
    } else {
        for f in &findings {
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
    Ok(if findings.iter().any(|f| f.severity == Severity::Error) {
        Exit::Behind
    } else {
        Exit::Ok
    })
}
