//! drainguard's own configuration, `/etc/drainguard/drainguard.toml`.
//!
//! `install` writes it; every command reads it; command-line flags override it. A missing file
//! is not an error (defaults apply); a malformed one is.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize};

use crate::cursor::ShipperKind;
use crate::error::StoreError;
use crate::root::Root;
use crate::safe_read::Limit;

/// Default location of the settings file (a host path, mapped under `--root`).
pub const DEFAULT_PATH: &str = "/etc/drainguard/drainguard.toml";
/// Default deadline of `wait`: below Auto Scaling's one-hour lifecycle hook.
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(25 * 60);
/// The longest deadline accepted (`wait --deadline`, the settings file, `install`): a drain
/// that holds shutdown longer than a day is a fault, and every deadline below it fits the
/// monotonic clock and systemd's time spans.
pub const MAX_DEADLINE: Duration = Duration::from_secs(24 * 60 * 60);

/// Parses a deadline (humantime, e.g. "25m"), refusing one above [`MAX_DEADLINE`].
pub fn parse_deadline(s: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(s).map_err(|e| e.to_string())?;
    if d > MAX_DEADLINE {
        return Err(format!(
            "{s} is longer than the longest deadline accepted ({}): a shutdown held that long \
             is a hung host; give a shorter --deadline, or fix `deadline` in the settings file",
            humantime::format_duration(MAX_DEADLINE)
        ));
    }
    Ok(d)
}

/// Default record of every `wait` run.
pub const DEFAULT_LOG_FILE: &str = "/var/log/drainguard/drainguard.log";

/// The settings file's content.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// How long `wait` may hold shutdown (humantime, e.g. "25m").
    #[serde(
        default,
        with = "opt_duration",
        skip_serializing_if = "Option::is_none"
    )]
    pub deadline: Option<Duration>,
    /// Where `wait` appends its one-line run summaries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_file: Option<PathBuf>,
    /// Units or init scripts of the applications that must stop before the drain.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub apps: Vec<String>,
    /// Shippers to check; empty means auto-detect.
    #[serde(default, rename = "shipper", skip_serializing_if = "Vec::is_empty")]
    pub shippers: Vec<ShipperSettings>,
    /// `aws watch`: the Auto Scaling group and termination hook (else discovered).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aws: Option<AwsSettings>,
}

/// The `[aws]` table.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AwsSettings {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hook: Option<String>,
}

/// Where one shipper's configuration and store are.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShipperSettings {
    pub kind: ShipperKindName,
    /// The shipper's own configuration file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<PathBuf>,
    /// The shipper's data directory (Filebeat `path.data`, Vector `data_dir`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_path: Option<PathBuf>,
    /// The progress store itself (registry dir/file, sqlite DB, positions file ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store: Option<PathBuf>,
    /// A pidfile of the shipper process.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid_file: Option<PathBuf>,
    /// The shipper's service or init script name, without `.service` (what `install
    /// --shipper-service` was given): `doctor` and a later `install` order against it instead
    /// of looking for the known names (`filebeat`, `rsyslog`, ...).
    #[serde(
        default,
        deserialize_with = "service_name",
        skip_serializing_if = "Option::is_none"
    )]
    pub service: Option<String>,
}

/// A `service` value: a name systemd or an init system accepts (the same rules as `install
/// --shipper-service`), else the settings file is refused, naming the line.
fn service_name<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    use crate::install::names;
    let s = String::deserialize(d)?;
    names::unit("service", &s)
        .or_else(|_| names::script("service", &s))
        .map_err(serde::de::Error::custom)?;
    Ok(Some(s.trim_end_matches(".service").to_string()))
}

/// A shipper name in the settings file (`filebeat`, `fluent-bit`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ShipperKindName(pub ShipperKind);

impl TryFrom<String> for ShipperKindName {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        ShipperKind::parse_supported(&s).map(ShipperKindName)
    }
}

impl From<ShipperKindName> for String {
    fn from(k: ShipperKindName) -> String {
        k.0.name().to_string()
    }
}

impl Settings {
    /// Loads the settings from `path` (a host path, mapped under `root`). The default path
    /// may be absent (the defaults apply), and so may nothing at all: an empty path reads no
    /// file (`--settings ''`). A file named elsewhere must exist; an unreadable or malformed
    /// one is an error naming the line.
    pub fn load(root: &Root, path: &Path) -> Result<Settings, StoreError> {
        Self::load_inner(root, path, path == Path::new(DEFAULT_PATH))
    }

    /// Like [`load`](Self::load), but an absent file at any path gives the defaults: for
    /// `install`, which writes the file it names.
    pub fn load_or_default(root: &Root, path: &Path) -> Result<Settings, StoreError> {
        Self::load_inner(root, path, true)
    }

    fn load_inner(root: &Root, path: &Path, absent_ok: bool) -> Result<Settings, StoreError> {
        if path.as_os_str().is_empty() {
            return Ok(Settings::default());
        }
        let local = root.host_to_local(path);
        let text = match crate::safe_read::read_text(&local, Limit::CONFIG) {
            Ok(t) => t,
            Err(e) if e.is_not_found() && absent_ok => return Ok(Settings::default()),
            Err(e) if e.is_not_found() => {
                return Err(StoreError::Config {
                    path: local,
                    what: "the settings file named with --settings does not exist (only the \
                           default /etc/drainguard/drainguard.toml may be absent; --settings '' \
                           reads none)"
                        .into(),
                })
            }
            Err(e) => return Err(e),
        };
        Self::parse(&text, &local)
    }

    /// Parses settings text; `path` is used in error messages.
    pub fn parse(text: &str, path: &Path) -> Result<Settings, StoreError> {
        crate::safe_read::check_nesting(path, text.as_bytes())?;
        toml::from_str(text).map_err(|e| StoreError::Config {
            path: path.to_path_buf(),
            what: e.to_string(),
        })
    }

    /// Renders the settings as TOML.
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).expect("settings always serialize")
    }
}

mod opt_duration {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_str(&humantime::format_duration(*d).to_string()),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        let s = String::deserialize(d)?;
        super::parse_deadline(&s)
            .map(Some)
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_names_bad_lines() {
        let text = "deadline = \"25m\"\napps = [\"app.service\"]\n\n[[shipper]]\nkind = \"filebeat\"\nconfig = \"/etc/filebeat/filebeat.yml\"\n";
        let s = Settings::parse(text, Path::new("x.toml")).unwrap();
        assert_eq!(s.deadline, Some(Duration::from_secs(1500)));
        assert_eq!(s.shippers[0].kind.0, ShipperKind::Filebeat);
        let again = Settings::parse(&s.to_toml(), Path::new("x.toml")).unwrap();
        assert_eq!(again, s);
        let err = Settings::parse("deadline = 3\n", Path::new("x.toml")).unwrap_err();
        assert!(err.to_string().contains("line 1"), "{err}");
        let err =
            Settings::parse("[[shipper]]\nkind = \"nope\"\n", Path::new("x.toml")).unwrap_err();
        assert!(err.to_string().contains("unknown shipper"), "{err}");
        // The shipper's service name: kept without `.service`, refused when no init system
        // could have it (it goes into unit files and is looked up on disk).
        let s = Settings::parse(
            "[[shipper]]\nkind = \"filebeat\"\nservice = \"shipper.service\"\n",
            Path::new("x.toml"),
        )
        .unwrap();
        assert_eq!(s.shippers[0].service.as_deref(), Some("shipper"));
        assert_eq!(
            Settings::parse(&s.to_toml(), Path::new("x.toml")).unwrap(),
            s
        );
        for bad in ["../../etc/passwd", "a b", ""] {
            let err = Settings::parse(
                &format!("[[shipper]]\nkind = \"filebeat\"\n\nservice = \"{bad}\"\n"),
                Path::new("x.toml"),
            )
            .unwrap_err();
            assert!(err.to_string().contains("line 4"), "{bad}: {err}");
            assert!(err.to_string().contains("refused"), "{bad}: {err}");
        }
    }

    #[test]
    fn aws_table_names_group_and_hook() {
        let s = Settings::parse(
            "[aws]\ngroup = \"web\"\nhook = \"drain-logs\"\n",
            Path::new("x.toml"),
        )
        .unwrap();
        let aws = s.aws.clone().unwrap();
        assert_eq!(
            (aws.group.as_deref(), aws.hook.as_deref()),
            (Some("web"), Some("drain-logs"))
        );
        assert_eq!(
            Settings::parse(&s.to_toml(), Path::new("x.toml")).unwrap(),
            s
        );
        let err = Settings::parse("[aws]\nhok = \"x\"\n", Path::new("x.toml")).unwrap_err();
        assert!(err.to_string().contains("hok"), "{err}");
    }

    #[test]
    fn missing_default_file_gives_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let root = Root::new(Some(dir.path().to_path_buf()));
        assert_eq!(
            Settings::load(&root, Path::new(DEFAULT_PATH)).unwrap(),
            Settings::default()
        );
        assert_eq!(
            Settings::load(&root, Path::new("")).unwrap(),
            Settings::default()
        );
    }

    #[test]
    fn a_named_file_that_does_not_exist_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let root = Root::new(Some(dir.path().to_path_buf()));
        let err = Settings::load(&root, Path::new("/etc/drainguard/drainguad.toml")).unwrap_err();
        assert!(err.to_string().contains("does not exist"), "{err}");
        // install writes the file it is given: absent is fine there.
        assert_eq!(
            Settings::load_or_default(&root, Path::new("/etc/drainguard/other.toml")).unwrap(),
            Settings::default()
        );
    }
}
