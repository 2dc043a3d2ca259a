//! `drainguard doctor --aws` against the local IMDSv2 and Auto Scaling fakes.
#![cfg(feature = "aws")]

use crate::support;
use crate::support::aws as fakes;

use std::time::Duration;

use fakes::{env_for, FakeAsg, FakeImds, Fault};
use support::drainguard;

const ID: &str = "i-0123456789abcdef0";

/// The AWS findings (id, severity, problem, fix) of `doctor --aws --json`.
fn aws_findings(
    imds: &FakeImds,
    asg: &FakeAsg,
    extra: &[&str],
) -> Vec<(String, String, String, String)> {
    let root = tempfile::tempdir().unwrap();
    let mut c = drainguard();
    env_for(&mut c, imds, asg);
    let out = c
        .arg("--root")
        .arg(root.path())
        .args(["doctor", "--aws", "--json"])
        .args(extra)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let v: serde_json::Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{e}: {text}\n{}", String::from_utf8_lossy(&out.stderr)));
    v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["id"].as_str().unwrap().starts_with("AWS"))
        .map(|f| {
            let s = |k: &str| f[k].as_str().unwrap().to_string();
            (s("id"), s("severity"), s("problem"), s("fix"))
        })
        .collect()
}

fn ids(f: &[(String, String, String, String)]) -> Vec<&str> {
    f.iter().map(|x| x.0.as_str()).collect()
}

#[test]
fn a_good_setup_has_no_aws_findings() {
    let imds = FakeImds::start(ID);
    let asg = FakeAsg::start(ID, "web", "drain-logs", Duration::from_secs(600));
    let f = aws_findings(&imds, &asg, &[]);
    assert!(f.is_empty(), "{f:?}");
    // The IAM dry call was made: a heartbeat that Auto Scaling refuses for lack of an action.
    assert!(asg.with(|s| s
        .calls
        .contains(&"RecordLifecycleActionHeartbeat".to_string())));
}

#[test]
fn imdsv1_only_is_reported_with_the_fix() {
    let imds = FakeImds::start(ID);
    imds.with(|s| s.refuse_tokens = true);
    let asg = FakeAsg::start(ID, "web", "drain-logs", Duration::from_secs(600));
    let f = aws_findings(&imds, &asg, &[]);
    assert_eq!(ids(&f), ["AWS001"], "{f:?}");
    assert!(f[0].3.contains("--http-tokens required"), "{f:?}");
}

#[test]
fn a_missing_hook_is_reported() {
    let imds = FakeImds::start(ID);
    let asg = FakeAsg::start(ID, "web", "drain-logs", Duration::from_secs(600));
    let f = aws_findings(&imds, &asg, &["--hook", "no-such-hook"]);
    assert_eq!(ids(&f), ["AWS002"], "{f:?}");
    assert!(f[0].2.contains("no-such-hook"), "{f:?}");
}

#[test]
fn heartbeat_timeout_is_checked_against_the_deadline() {
    let imds = FakeImds::start(ID);
    let asg = FakeAsg::start(ID, "web", "drain-logs", Duration::from_secs(30));
    // 30 s hook: short (warning); 100 x 30 s = 50 min global timeout < a 1 h deadline (error).
    let f = aws_findings(&imds, &asg, &["--deadline", "1h"]);
    assert_eq!(ids(&f), ["AWS003", "AWS003"], "{f:?}");
    assert_eq!(
        (f[0].1.as_str(), f[1].1.as_str()),
        ("warning", "error"),
        "{f:?}"
    );
    let f = aws_findings(&imds, &asg, &["--deadline", "25m"]);
    assert_eq!(ids(&f), ["AWS003"], "{f:?}");
}

#[test]
fn missing_iam_permissions_are_found_by_the_dry_call() {
    let imds = FakeImds::start(ID);
    let asg = FakeAsg::start(ID, "web", "drain-logs", Duration::from_secs(600));
    asg.fail(
        "RecordLifecycleActionHeartbeat",
        &[Fault::ApiError(403, "AccessDenied")],
    );
    let f = aws_findings(&imds, &asg, &[]);
    assert_eq!(ids(&f), ["AWS004"], "{f:?}");
    assert!(f[0].3.contains("IAM policy"), "{f:?}");
    // No permission at all: the group lookup already fails.
    asg.with(|s| s.deny = true);
    let f = aws_findings(&imds, &asg, &[]);
    assert_eq!(ids(&f), ["AWS002"], "{f:?}");
    assert!(f[0].3.contains("IAM policy"), "{f:?}");
}

#[test]
fn the_aws_units_live_state_is_listed_as_skipped_under_root() {
    let imds = FakeImds::start(ID);
    let asg = FakeAsg::start(ID, "web", "drain-logs", Duration::from_secs(600));
    let root = tempfile::tempdir().unwrap();
    let mut c = drainguard();
    env_for(&mut c, &imds, &asg);
    let out = c
        .arg("--root")
        .arg(root.path())
        .args(["doctor", "--aws", "--json"])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let skipped: Vec<&str> = v["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert!(skipped.contains(&"AWS005"), "{v}");
    assert!(!v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["id"] == "AWS005"));
}
