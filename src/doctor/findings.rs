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
