//! A doctor finding: a stable id, a severity, what is wrong, why it matters, how to fix it.

use serde::Serialize;

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Warning,
    Error,
}

/// One problem.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub id: &'static str,
    pub severity: Severity,
    pub problem: String,
    pub explanation: String,
    pub fix: String,
}

/// What stopping the shipper of service `shipper` before the drain does beyond what any
/// shipper loses: claiming more than it delivered, or leaving what it read unsent ("" for
/// the others).
pub fn stopped_early(shipper: &str) -> &'static str {
    match shipper {
        // v1.300059.0 and later: a batch still being retried when the agent is stopped is
        // marked done in its state files ("Stop requested ... request dropped").
        "amazon-cloudwatch-agent" => {
            " The CloudWatch agent (v1.300059.0 and later) also marks the batch it was still \
             retrying as sent when it is stopped: its state files then claim bytes CloudWatch \
             Logs never received, so even a later check is fooled."
        }
        // cwlogs/push.py: on the stop flag the reader queues its batch only if it is full or
        // older than buffer_duration.
        "awslogs" | "awslogsd" => {
            " The awslogs agent, when stopped, does not send the lines it had read but not yet \
             batched (up to buffer_duration, 5 s by default): they stay in the file until it \
             starts again, which a terminating instance never does."
        }
        _ => "",
    }
}

pub fn finding(
    id: &'static str,
    sev: Severity,
    problem: String,
    explanation: &str,
    fix: String,
) -> Finding {
    Finding {
        id,
        severity: sev,
        problem,
        explanation: explanation.to_string(),
        fix,
    }
}

/// A check that could not be made here (live state under `--root`, say): listed, never
/// silently passed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Skipped {
    /// The finding the check would report.
    pub id: &'static str,
    /// What was not checked.
    pub check: String,
    /// Why not, and how to check it.
    pub why: String,
}

/// Everything doctor found: the hooks it checked, the findings, the checks it skipped.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    /// The shutdown hooks checked (found, or named with `--unit`).
    pub hooks: Vec<super::Hook>,
    pub findings: Vec<Finding>,
    pub skipped: Vec<Skipped>,
}

impl Report {
    /// Records that check `id` (`check`: what it looks at) was not made, and `why`.
    pub fn skip(&mut self, id: &'static str, check: String, why: &str) {
        self.skipped.push(Skipped {
            id,
            check,
            why: why.to_string(),
        });
    }
}
