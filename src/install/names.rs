//! Names that go into units and init scripts (`--before`, `--shipper-service`, the settings'
//! `apps`): checked against the init system's own name grammar and refused otherwise, never
//! quoted into shape. A name is written verbatim into `Before=`/`After=` lines, LSB header
//! lines, rc link names and `/var/lock/subsys/NAME`, so only characters with no meaning to
//! systemd's unit parser, to sh, or to a path may appear.

use std::fmt;

/// The unit type suffixes systemd knows (systemd.unit(5)).
pub const UNIT_SUFFIXES: [&str; 11] = [
    "service",
    "socket",
    "device",
    "mount",
    "automount",
    "swap",
    "target",
    "path",
    "timer",
    "slice",
    "scope",
];

/// Longest unit name systemd accepts (`UNIT_NAME_MAX` is 256 including the NUL).
pub const UNIT_NAME_MAX: usize = 255;

/// Longest init script name: one file name (`NAME_MAX`), less the `K01` of its rc links.
pub const SCRIPT_NAME_MAX: usize = 252;

/// systemd's rule, as systemd.unit(5) states it.
pub const UNIT_RULE: &str = "systemd.unit(5): a unit name is a prefix of one or more ASCII \
     letters, digits, \":\", \"-\", \"_\", \".\" and \"\\\", optionally \"@\" and an instance \
     name of the same characters, then a dot and one of the unit types service, socket, device, \
     mount, automount, swap, target, path, timer, slice or scope; at most 255 characters";

/// The init script rule: LSB's namespace, widened to the names distributions really ship.
pub const SCRIPT_RULE: &str = "LSB Core (Script Names): init script names use the character \
     set [a-z0-9], hierarchical names join such parts with \"-\" (a DNS name part may contain \
     \".\"), and names beginning with \"_\" are reserved; drainguard also accepts the upper-case \
     letters and \"+\" that distribution scripts use (RHEL's NetworkManager), so a name must \
     match [A-Za-z0-9_][A-Za-z0-9_.+-]*, at most 252 characters";

/// A name refused for a unit or an init script.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct NameError {
    /// Where the name came from (`--before`, `--shipper-service`, ...).
    pub what: String,
    /// The name, escaped to one line.
    pub shown: String,
    /// Which part of the rule it breaks.
    pub why: String,
    pub rule: &'static str,
}

impl fmt::Display for NameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} \"{}\" is refused: {}. {}. Name the service exactly as the init system does",
            self.what, self.shown, self.why, self.rule
        )
    }
}

fn shown(name: &str) -> String {
    crate::display::path(std::path::Path::new(name))
}

fn refuse(what: &str, name: &str, why: String, rule: &'static str) -> NameError {
    NameError {
        what: what.to_string(),
        shown: shown(name),
        why,
        rule,
    }
}

/// The first character outside `ok`, described for the error.
fn bad_char(name: &str, ok: impl Fn(char) -> bool) -> Option<String> {
    name.char_indices().find(|(_, c)| !ok(*c)).map(|(i, c)| {
        format!(
            "it contains {} at byte {i}",
            match c {
                '\n' => "a newline".to_string(),
                ' ' => "a space".to_string(),
                c if c.is_control() => format!("the control character U+{:04X}", c as u32),
                c => format!("{c:?}"),
            }
        )
    })
}

fn unit_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || ":-_.\\".contains(c)
}

/// `name` as a systemd unit: a name without a known type suffix gets `.service` (as
/// `systemctl` does), then the whole is checked against [`UNIT_RULE`]. Templates (`foo@.service`)
/// are refused: ordering needs an instance.
pub fn unit(what: &str, name: &str) -> Result<String, NameError> {
    let rule = UNIT_RULE;
    let typed = name
        .rsplit_once('.')
        .is_some_and(|(_, s)| UNIT_SUFFIXES.contains(&s));
    let full = if typed {
        name.to_string()
    } else {
        format!("{name}.service")
    };
    if let Some(why) = bad_char(name, |c| unit_char(c) || c == '@') {
        return Err(refuse(what, name, why, rule));
    }
    if full.len() > UNIT_NAME_MAX {
        let why = format!("it is {} characters long with its suffix", full.len());
        return Err(refuse(what, name, why, rule));
    }
    let (stem, _) = full.rsplit_once('.').expect("has a suffix");
    if stem.is_empty() {
        return Err(refuse(
            what,
            name,
            "the name before the type is empty".into(),
            rule,
        ));
    }
    match stem.split_once('@') {
        None => {}
        Some(("", _)) => {
            return Err(refuse(what, name, "it begins with \"@\"".into(), rule));
        }
        Some((_, "")) => {
            let why = "it is a template (nothing between \"@\" and the type): name an instance"
                .to_string();
            return Err(refuse(what, name, why, rule));
        }
        Some((_, inst)) if inst.contains('@') => {
            return Err(refuse(
                what,
                name,
                "it has more than one \"@\"".into(),
                rule,
            ));
        }
        Some(_) => {}
    }
    Ok(full)
}

/// `name` as a SysV init script name ([`SCRIPT_RULE`]). A trailing `.service` is dropped
/// (the same settings serve both init systems).
pub fn script(what: &str, name: &str) -> Result<String, NameError> {
    let rule = SCRIPT_RULE;
    let bare = name.strip_suffix(".service").unwrap_or(name);
    if bare.is_empty() {
        return Err(refuse(what, name, "it is empty".into(), rule));
    }
    if let Some(why) = bad_char(bare, |c| c.is_ascii_alphanumeric() || "_.+-".contains(c)) {
        return Err(refuse(what, name, why, rule));
    }
    if !bare.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_') {
        let why = "it does not begin with a letter, a digit or \"_\"".to_string();
        return Err(refuse(what, name, why, rule));
    }
    if bare.len() > SCRIPT_NAME_MAX {
        let why = format!("it is {} characters long", bare.len());
        return Err(refuse(what, name, why, rule));
    }
    Ok(bare.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every character that systemd's unit parser or sh gives a meaning to, and the path
    /// separators.
    const HOSTILE: [&str; 22] = [
        "a\0b",
        "apache2\ntouch /tmp/p",
        "apache2\rBefore=x",
        "a;b",
        "a$(id)",
        "a`id`",
        "a'b",
        "a\"b",
        "a b",
        "a\tb",
        "a%n",
        "a%%",
        "../etc",
        "a/b",
        "a\u{1}b",
        "a\u{7f}b",
        "a|b",
        "a&b",
        "a>b",
        "a*",
        "a#b",
        "é",
    ];

    #[test]
    fn ordinary_names_pass() {
        assert_eq!(unit("--before", "tomcat").unwrap(), "tomcat.service");
        assert_eq!(unit("--before", "app.service").unwrap(), "app.service");
        assert_eq!(
            unit("--before", "remote-fs.target").unwrap(),
            "remote-fs.target"
        );
        assert_eq!(
            unit("--before", "getty@tty1").unwrap(),
            "getty@tty1.service"
        );
        assert_eq!(
            unit("--before", "php7.4-fpm").unwrap(),
            "php7.4-fpm.service"
        );
        assert_eq!(
            unit("--before", "systemd-fsck@dev-disk-by\\x2duuid-1.service").unwrap(),
            "systemd-fsck@dev-disk-by\\x2duuid-1.service"
        );
        for s in [
            "apache2",
            "fluent-bit",
            "td-agent-bit",
            "NetworkManager",
            "php7.4-fpm",
        ] {
            assert_eq!(script("--before", s).unwrap(), s);
        }
        assert_eq!(script("--before", "tomcat.service").unwrap(), "tomcat");
    }

    #[test]
    fn hostile_names_are_refused_with_the_rule() {
        for n in HOSTILE {
            let e = unit("--before", n).unwrap_err();
            assert!(e.to_string().contains("systemd.unit(5)"), "{n:?}: {e}");
            assert!(!e.to_string().contains('\n'), "one line: {e}");
            let e = script("--before", n).unwrap_err();
            assert!(e.to_string().contains("LSB Core"), "{n:?}: {e}");
            assert!(!e.to_string().contains('\n'), "one line: {e}");
        }
        // Dots are unit name characters: `..` is the harmless file name `...service`.
        assert_eq!(unit("--before", "..").unwrap(), "...service");
        assert!(script("--before", "..").is_err());
        let e = script("--before", "apache2\ntouch /tmp/p").unwrap_err();
        assert!(
            e.to_string()
                .contains("\"apache2\\ntouch /tmp/p\" is refused: it contains a newline at byte 7"),
            "{e}"
        );
    }

    #[test]
    fn unit_grammar_edges() {
        for n in [
            "@x.service",
            "foo@.service",
            "a@b@c.service",
            ".service",
            "",
        ] {
            assert!(unit("--before", n).is_err(), "{n:?}");
        }
        // 247 + ".service" is 255: the longest name systemd accepts.
        assert!(unit("--before", &"a".repeat(247)).is_ok());
        let e = unit("--before", &"a".repeat(248)).unwrap_err();
        assert!(e.to_string().contains("256 characters"), "{e}");
        for n in ["-x", ".x", "+x", ""] {
            assert!(script("--before", n).is_err(), "{n:?}");
        }
        assert!(script("--before", &"a".repeat(253)).is_err());
    }
}
