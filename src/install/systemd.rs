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

/// A unit file, written in order: comment lines, then sections of `Key=value` settings (a
/// blank line before every section but the first). Every unit `install` writes is built with
/// it; values are the caller's, already validated or [`quote`]d.
#[derive(Debug, Default)]
pub struct UnitText {
    text: String,
    sections: usize,
}

impl UnitText {
    /// A unit starting with `comment` (each line `# `-prefixed).
    pub fn new(comment: &str) -> UnitText {
        let mut u = UnitText::default();
        u.comment(comment);
        u
    }

    /// `[name]`.
    pub fn section(&mut self, name: &str) -> &mut UnitText {
        if self.sections > 0 {
            self.text.push('\n');
        }
        self.sections += 1;
        self.text.push_str(&format!("[{name}]\n"));
        self
    }

    /// `# ` before each line of `text`.
    pub fn comment(&mut self, text: &str) -> &mut UnitText {
        for line in text.lines() {
            self.text.push_str(&format!("# {line}\n"));
        }
        self
    }

    /// `key=value`.
    pub fn set(&mut self, key: &str, value: &str) -> &mut UnitText {
        self.text.push_str(&format!("{key}={value}\n"));
        self
    }

    /// `[Install] WantedBy=multi-user.target`, and the text.
    pub fn wanted_by_multi_user(&mut self) -> String {
        self.section("Install").set("WantedBy", "multi-user.target");
        std::mem::take(&mut self.text)
    }
}

/// The unit file text.
pub fn render(spec: &UnitSpec) -> Result<String, Unquotable> {
    let exec = quote(&spec.exec)?;
    let mut after = vec!["network-online.target".to_string()];
    after.extend(spec.shipper.iter().cloned());
    // `plan` refuses deadlines over a day; saturating keeps a direct caller from panicking.
    let timeout = spec.deadline.saturating_add(STOP_MARGIN).as_secs();
    let mut u = UnitText::new(
        "Written by `drainguard install`; removed by `drainguard uninstall`.\n\
         At shutdown: apps stop -> drainguard waits until the shipper has delivered\n\
         everything (or its deadline passes) -> the shipper stops -> the network goes down.",
    );
    u.section("Unit")
        .set(
            "Description",
            "drainguard: hold shutdown until log shippers have delivered everything",
        )
        .set("After", &after.join(" "))
        .set("Wants", "network-online.target");
    if !spec.apps.is_empty() {
        u.set("Before", &spec.apps.join(" "));
    }
    u.section("Service")
        .set("Type", "oneshot")
        .set("RemainAfterExit", "yes")
        .comment(
            "Checks the settings and the shippers' configs (not the backlog) at boot: a broken\n\
             configuration fails the unit loudly (`systemctl --failed`, `drainguard doctor`).",
        )
        .set("ExecStart", &format!("{exec} check"))
        .comment(
            "Outside a shutdown or reboot (restart, package upgrade, an admin's stop) it returns at once.",
        )
        .set("ExecStop", &format!("{exec} wait --only-at-shutdown"))
        .comment("What holds shutdown is shown on the console as well as in the journal.")
        .set("StandardOutput", "journal+console")
        .set("StandardError", "journal+console")
        .comment(&format!(
            "The deadline ({}s, in /etc/drainguard/drainguard.toml) plus a margin: systemd's\n\
             default 90s would kill the wait.",
            spec.deadline.as_secs()
        ))
        .set("TimeoutStopSec", &timeout.to_string());
    Ok(u.wanted_by_multi_user())
}

/// The unit running `drainguard aws watch` (installed with `--aws`).
pub fn render_aws(exec: &str) -> Result<String, Unquotable> {
    let exec = quote(exec)?;
    let mut u =
        UnitText::new("Written by `drainguard install --aws`; removed by `drainguard uninstall`.");
    u.section("Unit")
        .set(
            "Description",
            "drainguard: drain during Auto Scaling termination and spot interruption",
        )
        .set("After", "network-online.target")
        .set("Wants", "network-online.target");
    u.section("Service")
        .set("Type", "simple")
        .set("ExecStart", &format!("{exec} aws watch"))
        .set("Restart", "on-failure")
        .set("RestartSec", "5");
    Ok(u.wanted_by_multi_user())
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
