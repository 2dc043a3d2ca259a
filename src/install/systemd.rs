//! The systemd unit, and systemd's command-line quoting.
//!
//! Stop order is the reverse of start order: `After=<shipper>` makes drainguard stop (and so
//! wait) before the shipper stops; `Before=<apps>` makes the apps stop before drainguard;
//! `After=network-online.target` keeps the network up while it waits. The unit must be
//! *started* (`enable --now`): systemd runs no ExecStop for a unit that never started.

use std::time::Duration;

/// What the unit needs to say.
#[derive(Debug, Clone)]
pub struct UnitSpec {
    /// Absolute path of the drainguard binary.
    pub exec: String,
    /// The shipper's unit, e.g. `filebeat.service`.
    pub shipper: Option<String>,
    /// Units that must stop before the drain.
    pub apps: Vec<String>,
    pub deadline: Duration,
}

/// Extra stop timeout beyond the deadline: the final report, slow disks.
pub const STOP_MARGIN: Duration = Duration::from_secs(60);

/// Why a word cannot be put on a systemd command line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} cannot be written on a systemd command line (it contains a newline or NUL); install drainguard at a plain path")]
pub struct Unquotable(pub String);

/// Quotes one word by systemd's rules (systemd.service(5) "Command lines"): double quotes
/// when needed, backslash escapes for `"` and `\`, `%` doubled (specifiers), `$` doubled
/// (variable expansion). Newlines and NUL cannot be represented.
pub fn quote(word: &str) -> Result<String, Unquotable> {
    if word.contains(['\n', '\r', '\0']) {
        return Err(Unquotable(word.to_string()));
    }
    let escaped = word
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('%', "%%")
        .replace('$', "$$");
    let plain =
        !word.is_empty() && !word.contains(|c: char| c.is_whitespace() || "\"'\\;".contains(c));
    Ok(if plain {
        escaped
    } else {
        format!("\"{escaped}\"")
    })
}

/// The unit file text.
pub fn render(spec: &UnitSpec) -> Result<String, Unquotable> {
    let exec = quote(&spec.exec)?;
    let mut after = vec!["network-online.target".to_string()];
    after.extend(spec.shipper.iter().cloned());
    // `plan` refuses deadlines over a day; saturating keeps a direct caller from panicking.
    let timeout = spec.deadline.saturating_add(STOP_MARGIN).as_secs();
    let mut u = String::new();
    u.push_str("# Written by `drainguard install`; removed by `drainguard uninstall`.\n");
    u.push_str("# At shutdown: apps stop -> drainguard waits until the shipper has delivered\n");
    u.push_str(
        "# everything (or its deadline passes) -> the shipper stops -> the network goes down.\n",
    );
    u.push_str("[Unit]\n");
    u.push_str(
        "Description=drainguard: hold shutdown until log shippers have delivered everything\n",
    );
    u.push_str(&format!("After={}\n", after.join(" ")));
    u.push_str("Wants=network-online.target\n");
    if !spec.apps.is_empty() {
        u.push_str(&format!("Before={}\n", spec.apps.join(" ")));
    }
    u.push_str("\n[Service]\n");
    u.push_str("Type=oneshot\n");
    u.push_str("RemainAfterExit=yes\n");
    u.push_str(
        "# Checks the settings and the shippers' configs (not the backlog) at boot: a broken\n# configuration fails the unit loudly (`systemctl --failed`, `drainguard doctor`).\n",
    );
    u.push_str(&format!("ExecStart={exec} check\n"));
    u.push_str(&format!("ExecStop={exec} wait\n"));
    u.push_str("# What holds shutdown is shown on the console as well as in the journal.\n");
    u.push_str("StandardOutput=journal+console\n");
    u.push_str("StandardError=journal+console\n");
    u.push_str(&format!(
        "# The deadline ({}s, in /etc/drainguard/drainguard.toml) plus a margin: systemd's\n# default 90s would kill the wait.\n",
        spec.deadline.as_secs()
    ));
    u.push_str(&format!("TimeoutStopSec={timeout}\n"));
    u.push_str("\n[Install]\n");
    u.push_str("WantedBy=multi-user.target\n");
    Ok(u)
}

/// The unit running `drainguard aws watch` (installed with `--aws`).
pub fn render_aws(exec: &str) -> Result<String, Unquotable> {
    let exec = quote(exec)?;
    Ok(format!(
        "# Written by `drainguard install --aws`; removed by `drainguard uninstall`.\n\
         [Unit]\n\
         Description=drainguard: drain during Auto Scaling termination and spot interruption\n\
         After=network-online.target\n\
         Wants=network-online.target\n\
         \n\
         [Service]\n\
         Type=simple\n\
         ExecStart={exec} aws watch\n\
         Restart=on-failure\n\
         RestartSec=5\n\
         \n\
         [Install]\n\
         WantedBy=multi-user.target\n"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_follows_systemd_rules() {
        assert_eq!(quote("/usr/bin/drainguard").unwrap(), "/usr/bin/drainguard");
        assert_eq!(quote("/opt/my tools/dg").unwrap(), "\"/opt/my tools/dg\"");
        assert_eq!(quote("/opt/100%/dg").unwrap(), "/opt/100%%/dg");
        assert_eq!(quote("/opt/$HOME/dg").unwrap(), "/opt/$$HOME/dg");
        assert_eq!(quote("/a\"b").unwrap(), "\"/a\\\"b\"");
        assert_eq!(quote("/a\\b").unwrap(), "\"/a\\\\b\"");
        assert!(quote("/a\nb").is_err());
    }
}
