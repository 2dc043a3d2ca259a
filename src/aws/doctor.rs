//! `doctor --aws`: the AWS side of the integration, as doctor findings (ids AWS0xx).

use std::time::Duration;

use super::asg::{Asg, AsgError, Target};
use super::imds::{Imds, ImdsError};
use super::watch::{heartbeat_warning, WatchOptions, INSTANCE_ID_PATH};
use crate::doctor::findings::finding;
use crate::doctor::{Finding, Severity};

/// The unit `install --aws` writes.
pub const UNIT: &str = "drainguard-aws.service";

/// What to check against.
#[derive(Debug, Clone)]
pub struct AwsExpect {
    pub deadline: Duration,
    pub group: Option<String>,
    pub hook: Option<String>,
    pub use_tags: bool,
    pub unit: String,
    /// Ask systemd whether the unit is active (only on a live systemd host, not under --root).
    pub check_unit: bool,
}

/// Runs every AWS check.
pub fn check(imds: &Imds, asg: Option<&Asg>, e: &AwsExpect) -> Vec<Finding> {
    use Severity::*;
    let mut out = Vec::new();
    let instance_id = match imds.get(INSTANCE_ID_PATH) {
        Ok(Some(id)) => Some(id.trim().to_string()),
        Ok(None) => {
            out.push(finding(
                "AWS001",
                Error,
                format!(
                    "the instance metadata at {} has no instance-id",
                    imds.endpoint()
                ),
                "Without the instance id drainguard cannot name the lifecycle action to complete.",
                "run on an EC2 instance (or point --imds-endpoint at the right service)".into(),
            ));
            None
        }
        Err(err) => {
            let fix = match err {
                ImdsError::TokenRefused(_) => "enable IMDSv2: aws ec2 modify-instance-metadata-options --http-tokens required --http-endpoint enabled --http-put-response-hop-limit 2",
                _ => "check that the metadata service is enabled for this instance (HttpEndpoint=enabled) and reachable (no firewall/proxy on 169.254.169.254)",
            };
            out.push(finding(
"AWS001", Error, format!("instance metadata (IMDSv2) not usable: {err}"),
                "drainguard learns of a termination only from the instance metadata (IMDSv2 with a session token).",
                fix.into()));
            None
        }
    };
    if let (Some(asg), Some(id)) = (asg, instance_id.as_deref()) {
        check_hook(imds, asg, id, e, &mut out);
    }
    if e.check_unit {
        let active = std::process::Command::new("systemctl")
            .args(["is-active", "--quiet", &e.unit])
            .status()
            .is_ok_and(|s| s.success());
        if !active {
            out.push(finding(
"AWS005", Error, format!("{} is not active", e.unit),
                "Nobody watches the metadata: terminations proceed without a drain and the hook runs into its timeout.",
                format!("drainguard install --aws ..., then systemctl enable --now {}", e.unit)));
        }
    }
    out
}

fn check_hook(imds: &Imds, asg: &Asg, id: &str, e: &AwsExpect, out: &mut Vec<Finding>) {
    use Severity::*;
    let group = match &e.group {
        Some(g) => g.clone(),
        None => match asg.group_of(e.use_tags.then_some(imds), id) {
            Ok(g) => g,
            Err(err) => {
                out.push(api_finding(
                    "AWS002",
                    &err,
                    "find this instance's Auto Scaling group",
                ));
                return;
            }
        },
    };
    let hook = match asg.termination_hook(&group, e.hook.as_deref()) {
        Ok(h) => h,
        Err(err) => {
            out.push(api_finding(
                "AWS002",
                &err,
                "find the termination lifecycle hook",
            ));
            return;
        }
    };
    let opts = WatchOptions::default();
    if let Some(w) = heartbeat_warning(hook.heartbeat_timeout, &opts) {
        out.push(finding(
"AWS003", Warning, w,
            "drainguard heartbeats the hook at a third of its timeout while it drains.",
            format!("aws autoscaling put-lifecycle-hook --auto-scaling-group-name {group} --lifecycle-hook-name {} --heartbeat-timeout 300 ...", hook.name)));
    }
    let global = hook.global_timeout();
    if e.deadline >= global {
        out.push(finding(
"AWS003", Error,
            format!("the drain deadline ({}s) reaches Auto Scaling's global timeout ({}s = min(48h, 100 x HeartbeatTimeout))", e.deadline.as_secs(), global.as_secs()),
            "After the global timeout Auto Scaling applies the hook's default result regardless of heartbeats.",
            "lower --deadline or raise the hook's HeartbeatTimeout".into()));
    }
    if hook.default_result.as_deref() == Some("ABANDON") {
        out.push(finding(
"AWS003", Warning, format!("hook {} has DefaultResult ABANDON", hook.name),
            "For a terminating instance ABANDON and CONTINUE both terminate it; drainguard always completes with CONTINUE, the default only matters when drainguard is gone.",
            "none needed; CONTINUE is the documented choice for drainguard".into()));
    }
    // A dry call: a heartbeat for this instance. Allowed + no action in progress answers
    // ValidationError; missing IAM permission answers AccessDenied.
    let target = Target {
        instance_id: id.to_string(),
        group,
        hook,
    };
    match asg.heartbeat(&target) {
        Ok(()) => {}
        Err(err) if err.code() == Some("ValidationError") => {}
        Err(err) => out.push(api_finding(
            "AWS004",
            &err,
            "call RecordLifecycleActionHeartbeat (dry call)",
        )),
    }
}

fn api_finding(id: &'static str, err: &AsgError, what: &str) -> Finding {
    let denied = matches!(err.code(), Some(c) if c.contains("AccessDenied") || c.contains("UnauthorizedOperation"));
    finding(
        id,
        Severity::Error,
        format!("cannot {what}: {err}"),
        "drainguard must find the hook and heartbeat/complete it, or the instance waits for the hook's timeout.",
        if denied {
            "attach the IAM policy of docs/aws.md to the instance profile".into()
        } else {
            "see docs/aws.md (Auto Scaling): hook settings, IAM policy, endpoint".into()
        },
    )
}
