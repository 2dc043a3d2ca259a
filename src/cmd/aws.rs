//! `drainguard aws watch`: hold Auto Scaling terminations and spot interruptions until the
//! logs are drained. Exit 0 after a handled termination (drained) or when stopped before one;
//! otherwise the drain's exit code (3 deadline, 4 shipper dead, 5 interrupted), or 1 when the
//! lifecycle action could not be completed.

use std::time::Duration;

use super::Global;
use crate::aws::asg::Asg;
use crate::aws::doctor::{self as aws_doctor, AwsExpect};
use crate::aws::imds::{Imds, ImdsConfig};
use crate::aws::watch::{self, Drain, DrainResult, StopApps, WatchOptions};
use crate::exit::Exit;
use crate::root::Root;
use crate::settings::{Settings, DEFAULT_DEADLINE};
use crate::wait::StopFlag;

#[derive(Debug, clap::Subcommand)]
pub enum AwsCommand {
    /// Watch the instance metadata; on termination stop the apps, drain, heartbeat the
    /// lifecycle hook, and complete the lifecycle action (CONTINUE).
    Watch(Box<WatchArgs>),
}

/// Where AWS is (both overridable for tests).
#[derive(Debug, Clone, clap::Args)]
pub struct Endpoints {
    /// Instance metadata service (IMDSv2).
    #[arg(long, env = "DRAINGUARD_IMDS_ENDPOINT", default_value = crate::aws::imds::DEFAULT_ENDPOINT)]
    pub imds_endpoint: String,
    /// Auto Scaling API endpoint (default: the SDK's; AWS_ENDPOINT_URL_AUTO_SCALING works too).
    #[arg(long, value_name = "URL")]
    pub asg_endpoint: Option<String>,
    /// Lifetime of each IMDSv2 token.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "6h")]
    pub imds_token_ttl: Duration,
    /// Auto Scaling group (default: settings [aws] group, the instance tag, or the API).
    #[arg(long)]
    pub group: Option<String>,
    /// Termination lifecycle hook (default: settings [aws] hook, else the group's
    /// EC2_INSTANCE_TERMINATING hook).
    #[arg(long)]
    pub hook: Option<String>,
    /// Do not read the group from the instance tags in IMDS; ask the API.
    #[arg(long)]
    pub no_tags: bool,
}

#[derive(Debug, clap::Args)]
pub struct WatchArgs {
    #[command(flatten)]
    pub aws: Endpoints,
    /// Stop this systemd unit before draining (repeatable; default: settings `apps`).
    #[arg(long = "stop-unit", value_name = "UNIT")]
    pub stop_units: Vec<String>,
    /// Or run this shell command to stop the apps.
    #[arg(long, value_name = "CMD")]
    pub stop_command: Option<String>,
    /// Metadata poll interval.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "5s")]
    pub poll: Duration,
    /// On a spot notice, end the drain this long before the notice's time.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "20s")]
    pub spot_margin: Duration,
    /// Heartbeat interval (default: a third of the hook's HeartbeatTimeout).
    #[arg(long, value_parser = humantime::parse_duration)]
    pub heartbeat_every: Option<Duration>,
    /// Exit after one handled termination instead of idling until the system stops.
    #[arg(long)]
    pub once: bool,
    /// The drain: exactly `drainguard wait`'s options.
    #[command(flatten)]
    pub wait: super::wait::Args,
}

/// Runs `aws ...`; `stop` is the process's stop flag.
pub fn run(global: &Global, cmd: AwsCommand, stop: &StopFlag) -> anyhow::Result<Exit> {
    match cmd {
        AwsCommand::Watch(args) => run_watch(global, *args, stop),
    }
}

fn imds(e: &Endpoints) -> Imds {
    Imds::new(ImdsConfig {
        endpoint: e.imds_endpoint.trim_end_matches('/').to_string(),
        token_ttl: e.imds_token_ttl,
        ..ImdsConfig::default()
    })
}

fn run_watch(global: &Global, args: WatchArgs, stop: &StopFlag) -> anyhow::Result<Exit> {
    let settings = Settings::load(&Root::new(global.root.clone()), &global.settings)?;
    let aws_settings = settings.aws.clone().unwrap_or_default();
    // The termination signals stop the watch before a termination, and interrupt the drain
    // during one (the drain watches the same flag).
    let _signals = stop
        .catch_signals()
        .ok_or_else(|| anyhow::anyhow!("cannot catch SIGTERM/SIGINT"))?;
    let imds = imds(&args.aws);
    let asg = match Asg::new(args.aws.asg_endpoint.as_deref()) {
        Ok(a) => Some(a),
        Err(e) => {
            tracing::error!(error = %e, "no Auto Scaling client: draining without holding the lifecycle hook");
            None
        }
    };
    let opts = WatchOptions {
        poll: args.poll,
        deadline: args
            .wait
            .deadline
            .or(settings.deadline)
            .unwrap_or(DEFAULT_DEADLINE),
        spot_margin: args.spot_margin,
        stop: StopApps {
            units: if args.stop_units.is_empty() && args.stop_command.is_none() {
                settings.apps.clone()
            } else {
                args.stop_units.clone()
            },
            command: args.stop_command.clone(),
        },
        group: args.aws.group.clone().or(aws_settings.group),
        hook: args.aws.hook.clone().or(aws_settings.hook),
        use_tags: !args.aws.no_tags,
        heartbeat_every: args.heartbeat_every,
        ..WatchOptions::default()
    };
    let mut drain = WaitDrain {
        global: global.clone(),
        args: Some(args.wait),
        stop: stop.clone(),
    };
    let Some(report) = watch::run(&imds, asg.as_ref(), &mut drain, &opts, stop) else {
        tracing::info!("stopped before any termination");
        return Ok(Exit::Ok);
    };
    tracing::info!(
        outcome = %report.drain.outcome,
        completed = report.completed,
        heartbeats = report.heartbeats_sent,
        "termination handled"
    );
    let exit = if report.target.is_some() && !report.completed {
        Exit::Behind
    } else {
        report.drain.exit
    };
    if !args.once {
        tracing::info!("idle until the system stops");
        while !stop.is_stopped() {
            std::thread::sleep(Duration::from_millis(200));
        }
    }
    Ok(exit)
}

/// The drain of `drainguard wait` ([`super::wait::drain`]: the same sources, rules, run
/// record and report) with the deadline set.
struct WaitDrain {
    global: Global,
    args: Option<super::wait::Args>,
    stop: StopFlag,
}

impl Drain for WaitDrain {
    fn drain(&mut self, deadline: Duration) -> DrainResult {
        let Some(mut args) = self.args.take() else {
            return DrainResult::error("the drain already ran".into());
        };
        args.deadline = Some(deadline);
        // The signals are caught on the flag already (run_watch).
        match super::wait::drain(&self.global, &args, &self.stop, false) {
            Ok(report) => DrainResult::from(&report),
            Err(e) => DrainResult::error(format!("{e:#}")),
        }
    }
}

/// `doctor --aws`: the AWS findings.
pub fn doctor_findings(
    global: &Global,
    e: &Endpoints,
    deadline: Duration,
    report: &mut crate::doctor::Report,
) -> anyhow::Result<()> {
    let root = Root::new(global.root.clone());
    let settings = Settings::load(&root, &global.settings)?;
    let aws_settings = settings.aws.clone().unwrap_or_default();
    let imds = imds(e);
    let asg = Asg::new(e.asg_endpoint.as_deref())?;
    let check_unit = root.dir().is_none() && std::path::Path::new("/run/systemd/system").is_dir();
    if !check_unit {
        report.skip(
            "AWS005",
            format!("whether {} is active", aws_doctor::UNIT),
            "live state: only a running systemd knows (`systemctl is-active`), and there is none here (under --root, or systemd not running)",
        );
    }
    report.findings.extend(aws_doctor::check(
        &imds,
        Some(&asg),
        &AwsExpect {
            deadline,
            group: e.group.clone().or(aws_settings.group),
            hook: e.hook.clone().or(aws_settings.hook),
            use_tags: !e.no_tags,
            unit: aws_doctor::UNIT.to_string(),
            check_unit,
        },
    ));
    Ok(())
}
