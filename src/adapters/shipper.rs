//! A shipper is one [`ShipperInfo`]: its names, how its process is recognised, where its
//! command line names its config, its service names, its default locations, its monitoring
//! API, its line limit, how its config is told apart from others', and how its store is
//! opened. Each adapter module exports its own (`adapters::<name>::INFO`); the shippers
//! drainguard only recognises running (the OpenTelemetry Collector ...) have
//! theirs in [`super::recognised`]. [`super::ALL`] lists them all, and nothing else in
//! drainguard enumerates shippers: a running shipper that cannot be read makes the verdict
//! "unconfirmed", never "nothing to drain".

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use crate::cursor::ShipperKind;
use crate::error::StoreError;

use super::{Readers, SourceOptions};

/// Opens a shipper's stores (see [`super::open`]).
pub type OpenFn = fn(&SourceOptions) -> Result<Readers, StoreError>;

/// One shipper: everything drainguard knows about it outside its store format.
#[derive(Debug)]
pub struct ShipperInfo {
    pub kind: ShipperKind,
    /// The name used in reports, flags, the settings file and JSON (`fluent-bit`).
    pub name: &'static str,
    /// Other names it goes by (package or binary names), accepted where a name is looked up.
    pub aliases: &'static [&'static str],
    /// How its processes are recognised (any of these).
    pub processes: &'static [ProcessMatch],
    /// Command-line flags that name its config or data, as the process sees its paths.
    pub flags: &'static [Flag],
    /// Service / init script names it is packaged under (probed in [`super::ALL`] order).
    pub services: &'static [&'static str],
    /// Where its config usually is (host paths; the first that exists is read).
    pub config_paths: &'static [&'static str],
    /// Where its data directory or store usually is (host paths).
    pub data_paths: &'static [&'static str],
    /// Its default maximum line length in bytes, `None` when it has none. A line longer than
    /// this ships only once its newline arrives (then truncated or skipped), so drainguard
    /// never looks further for one (docs/wait.md, "Long lines").
    pub max_line_bytes: Option<u64>,
    /// How many directory levels `**` stands for in its input globs.
    pub glob_depth: usize,
    /// A regex matching config syntax only this shipper uses (so that `--config` of another
    /// shipper's format is named as such); tried in [`super::ALL`] order.
    pub config_syntax: Option<&'static str>,
    /// Its own monitoring API, when drainguard reads one for the delivery signal.
    pub api: Option<Api>,
    /// How drainguard reads it.
    pub access: Access,
}

/// Whether, and how, drainguard reads a shipper's progress.
#[derive(Debug, Clone, Copy)]
pub enum Access {
    /// Its store is read by an adapter.
    Reads {
        open: OpenFn,
        /// True when a running one whose store was not found has nothing to deliver anyway
        /// (rsyslog as a local syslog daemon: it tails no file and forwards nothing).
        idle: Option<fn(&SourceOptions) -> bool>,
    },
    /// Recognised running only: why drainguard cannot read it, in a few words.
    RecognisedOnly { why: &'static str },
}

/// A shipper's monitoring API, as its delivery signal reads it.
#[derive(Debug, Clone, Copy)]
pub struct Api {
    /// The endpoints read (below the configured base URL).
    pub endpoints: &'static [&'static str],
    /// What to do when it cannot be read (how to enable it).
    pub enable: &'static str,
}

impl ShipperInfo {
    /// True when drainguard reads this shipper's progress (it can be named with `--shipper`).
    pub fn supported(&self) -> bool {
        matches!(self.access, Access::Reads { .. })
    }

    /// For a shipper drainguard cannot read: why; empty for a supported one.
    pub fn unsupported_why(&self) -> &'static str {
        match self.access {
            Access::Reads { .. } => "",
            Access::RecognisedOnly { why } => why,
        }
    }
}

/// A process runs this shipper when its executable's name (the `/proc/<pid>/exe` basename,
/// else `comm`, which the kernel cuts to 15 bytes) is one of `names` (`*` at the end: a
/// prefix) and, for interpreters, its command line holds one of `words` (arguments joined by
/// spaces).
#[derive(Debug)]
pub struct ProcessMatch {
    pub names: &'static [&'static str],
    pub words: &'static [&'static str],
}

/// A command-line flag naming a path, with every spelling it accepts (`-c`, `--config`,
/// `--config=x`); `attached`: getopt style, the value may follow a short flag directly (`-fX`).
#[derive(Debug)]
pub struct Flag {
    pub names: &'static [&'static str],
    pub attached: bool,
    pub target: Target,
    /// The value is a config URI (the OpenTelemetry Collector's `--config`): `file:<path>`
    /// is the path, another scheme (`env:`, `yaml:`, `http:` ...) names no file.
    pub uri: bool,
}

/// What a flag's path is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// The shipper's config file (`--config` of drainguard).
    Config,
    /// A directory holding the config file of this name (Filebeat `--path.config`); relative
    /// config paths are taken in it.
    ConfigDir(&'static str),
    /// The shipper's data directory (`--data-path`).
    DataPath,
    /// The progress store itself (syslog-ng `-R`).
    Store,
    /// The shipper's control socket (syslog-ng `-c`).
    Control,
    /// The shipper's settings directory (Logstash `--path.settings`).
    SettingsDir,
}

/// A process named one of `names`.
pub(crate) const fn m(names: &'static [&'static str]) -> ProcessMatch {
    ProcessMatch { names, words: &[] }
}

/// A flag whose value is the next argument or follows `=`.
pub(crate) const fn flag(names: &'static [&'static str], target: Target) -> Flag {
    Flag {
        names,
        attached: false,
        target,
        uri: false,
    }
}

/// A flag whose value is a config URI or a path (see [`Flag::uri`]).
pub(crate) const fn uri_flag(names: &'static [&'static str], target: Target) -> Flag {
    Flag {
        names,
        attached: false,
        target,
        uri: true,
    }
}

/// A getopt-style flag: also `-fVALUE`.
pub(crate) const fn getopt(names: &'static [&'static str], target: Target) -> Flag {
    Flag {
        names,
        attached: true,
        target,
        uri: false,
    }
}

impl ProcessMatch {
    /// True when a process whose executable is `exe_name` (or whose `comm` is `comm`) and
    /// whose arguments, joined by spaces, are `cmdline` is this shipper.
    pub fn matches(&self, exe_name: Option<&str>, comm: &str, cmdline: &str) -> bool {
        let name_ok = self.names.iter().any(|n| {
            let hit = |have: &str| match n.strip_suffix('*') {
                Some(prefix) => have.starts_with(prefix),
                None => have == *n,
            };
            exe_name.is_some_and(hit) || hit(comm)
        });
        name_ok && (self.words.is_empty() || self.words.iter().any(|w| cmdline.contains(w)))
    }
}

/// The paths a shipper's command line names, as the process sees them (absolute: relative
/// ones taken in its working directory, or Filebeat's `--path.config`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CommandLinePaths {
    pub config: Option<PathBuf>,
    pub data_path: Option<PathBuf>,
    pub store: Option<PathBuf>,
    pub settings_dir: Option<PathBuf>,
    pub control: Option<PathBuf>,
}

impl ShipperInfo {
    /// The config, data and store paths named on `argv` (`argv[0]` first; the first of a
    /// repeated flag wins), relative ones taken in `cwd`.
    pub fn command_line_paths(&self, argv: &[OsString], cwd: Option<&Path>) -> CommandLinePaths {
        let mut out = CommandLinePaths::default();
        let mut config_dir: Option<(PathBuf, &str)> = None;
        for f in self.flags {
            let Some(v) =
                flag_value(argv, f).and_then(|v| if f.uri { uri_path(v) } else { Some(v) })
            else {
                continue;
            };
            match f.target {
                Target::Config => out.config = out.config.take().or(Some(v)),
                Target::ConfigDir(file) => config_dir = config_dir.or(Some((v, file))),
                Target::DataPath => out.data_path = out.data_path.take().or(Some(v)),
                Target::Store => out.store = out.store.take().or(Some(v)),
                Target::SettingsDir => out.settings_dir = out.settings_dir.take().or(Some(v)),
                Target::Control => out.control = out.control.take().or(Some(v)),
            }
        }
        if let Some((dir, file)) = config_dir {
            let dir = absolute(dir, cwd);
            out.config = Some(match out.config.take() {
                Some(c) => dir.join(c), // an absolute `c` stays as it is
                None => dir.join(file),
            });
        }
        out.config = out.config.map(|p| absolute(p, cwd));
        out.data_path = out.data_path.map(|p| absolute(p, cwd));
        out.store = out.store.map(|p| absolute(p, cwd));
        out.settings_dir = out.settings_dir.map(|p| absolute(p, cwd));
        out.control = out.control.map(|p| absolute(p, cwd));
        out
    }
}

fn absolute(p: PathBuf, cwd: Option<&Path>) -> PathBuf {
    match cwd {
        Some(cwd) if p.is_relative() => cwd.join(p),
        _ => p,
    }
}

/// The value of `f` on `argv`: `--flag value`, `--flag=value`, and with `attached` a short
/// flag's value right after it (`-fvalue`).
/// The path a config URI names: `file:<path>` is `<path>`, a value without a scheme is a
/// path, any other scheme (`env:NAME`, `yaml:...`, `http://...`) names none.
fn uri_path(v: PathBuf) -> Option<PathBuf> {
    use std::os::unix::ffi::OsStrExt;
    let b = v.as_os_str().as_bytes();
    if let Some(rest) = b.strip_prefix(b"file:") {
        return (!rest.is_empty()).then(|| PathBuf::from(std::ffi::OsStr::from_bytes(rest)));
    }
    let scheme = b.iter().position(|c| *c == b':').filter(|&i| {
        i > 0
            && b[..i]
                .iter()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'-' | b'.'))
    });
    scheme.is_none().then_some(v)
}

fn flag_value(argv: &[OsString], f: &Flag) -> Option<PathBuf> {
    use std::os::unix::ffi::OsStrExt;
    let bytes = |a: &OsString| a.as_bytes().to_vec();
    let mut args = argv.iter().skip(1);
    while let Some(a) = args.next() {
        let a = bytes(a);
        for name in f.names {
            let n = name.as_bytes();
            if a == n {
                return args
                    .next()
                    .filter(|v| !v.is_empty())
                    .map(|v| PathBuf::from(v.clone()));
            }
            let Some(rest) = a.strip_prefix(n) else {
                continue;
            };
            let value = match rest.strip_prefix(b"=") {
                Some(v) => v,
                None if f.attached && n.len() == 2 && !a.starts_with(b"--") => rest,
                None => continue,
            };
            if !value.is_empty() {
                return Some(PathBuf::from(std::ffi::OsStr::from_bytes(value)));
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::adapters::{by_name, info, ALL};

    /// Every kind: the match makes a new variant fail to compile here until it is listed.
    fn every_kind() -> Vec<ShipperKind> {
        use ShipperKind::*;
        let all = vec![
            Filebeat,
            FluentBit,
            Vector,
            Promtail,
            Alloy,
            Fluentd,
            Rsyslog,
            Logstash,
            SyslogNg,
            Otelcol,
            CloudwatchAgent,
            Awslogs,
            DatadogAgent,
            ElasticAgent,
            Nxlog,
            Splunk,
        ];
        for k in &all {
            match k {
                Filebeat | FluentBit | Vector | Promtail | Alloy | Fluentd | Rsyslog | Logstash
                | SyslogNg | Otelcol | CloudwatchAgent | Awslogs | DatadogAgent | ElasticAgent
                | Nxlog | Splunk => {}
            }
        }
        all
    }

    #[test]
    fn every_kind_has_one_entry_and_names_are_unique() {
        let all = every_kind();
        assert_eq!(ALL.len(), all.len());
        for k in all {
            assert_eq!(ALL.iter().filter(|e| e.kind == k).count(), 1, "{k}");
            assert_eq!(by_name(k.name()).map(|e| e.kind), Some(k));
            assert_eq!(
                serde_json::to_value(k).unwrap(),
                serde_json::Value::from(k.name()),
                "{k}: the JSON name is the descriptor's"
            );
            assert_eq!(
                k.supported(),
                info(k).unsupported_why().is_empty(),
                "{k}: supported shippers need no reason, unsupported ones do"
            );
        }
        let mut names: Vec<&str> = ALL
            .iter()
            .flat_map(|k| std::iter::once(k.name).chain(k.aliases.iter().copied()))
            .collect();
        let n = names.len();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), n, "a name or alias is listed twice");
    }

    #[test]
    fn supported_shippers_come_first_in_report_order() {
        let first_unsupported = ALL.iter().position(|i| !i.supported()).unwrap();
        assert!(ALL[first_unsupported..].iter().all(|i| !i.supported()));
        assert_eq!(
            ShipperKind::all_supported(),
            ALL[..first_unsupported]
                .iter()
                .map(|i| i.kind)
                .collect::<Vec<_>>()
        );
    }

    #[test]
    fn interpreters_need_their_word_and_comm_is_cut_to_15_bytes() {
        let fluentd = &info(ShipperKind::Fluentd).processes[0];
        assert!(fluentd.matches(
            Some("ruby3.1"),
            "ruby",
            "/usr/bin/ruby /usr/bin/fluentd -c x"
        ));
        assert!(!fluentd.matches(Some("ruby3.1"), "ruby", "/usr/bin/ruby app.rb"));
        let awslogs = &info(ShipperKind::Awslogs).processes[0];
        assert!(awslogs.matches(
            Some("python3.11"),
            "python3",
            "/usr/bin/python3 /usr/bin/aws logs push --config-file /var/awslogs/etc/awslogs.conf"
        ));
        let cw = &info(ShipperKind::CloudwatchAgent).processes[0];
        assert!(cw.matches(None, "amazon-cloudwat", ""));
        let dd = &info(ShipperKind::DatadogAgent).processes;
        assert!(dd[1].matches(
            Some("agent"),
            "agent",
            "/opt/datadog-agent/bin/agent/agent run"
        ));
        assert!(!dd
            .iter()
            .any(|p| p.matches(Some("agent"), "agent", "/usr/bin/ssh-agent")));
    }

    fn paths(kind: ShipperKind, args: &[&str]) -> CommandLinePaths {
        let argv: Vec<OsString> = args.iter().map(OsString::from).collect();
        info(kind).command_line_paths(&argv, Some(Path::new("/run/cwd")))
    }

    #[test]
    fn the_collectors_config_uri_names_its_file() {
        let p = |a: &[&str]| paths(ShipperKind::Otelcol, a).config;
        assert_eq!(
            p(&["otelcol", "--config=file:/etc/otelcol/c.yaml"]),
            Some(PathBuf::from("/etc/otelcol/c.yaml"))
        );
        assert_eq!(
            p(&["otelcol", "--config", "file:c.yaml"]),
            Some(PathBuf::from("/run/cwd/c.yaml"))
        );
        assert_eq!(
            p(&[
                "otelcol-contrib",
                "--config",
                "/etc/otelcol-contrib/config.yaml"
            ]),
            Some(PathBuf::from("/etc/otelcol-contrib/config.yaml"))
        );
        assert_eq!(p(&["otelcol", "--config=env:OTEL_CONFIG"]), None);
        assert_eq!(p(&["otelcol", "--config", "yaml:receivers: {}"]), None);
    }

    #[test]
    fn config_is_taken_from_each_spelling_of_the_flag() {
        let p = |k, a: &[&str]| paths(k, a).config.map(|p| p.display().to_string());
        let r = ShipperKind::Rsyslog;
        assert_eq!(
            p(r, &["rsyslogd", "-n", "-f", "/x/r.conf"]).as_deref(),
            Some("/x/r.conf")
        );
        assert_eq!(
            p(r, &["rsyslogd", "-f/x/r.conf"]).as_deref(),
            Some("/x/r.conf")
        );
        assert_eq!(
            p(r, &["rsyslogd", "-f", "r.conf"]).as_deref(),
            Some("/run/cwd/r.conf")
        );
        assert_eq!(p(r, &["rsyslogd", "-n"]), None);
        let v = ShipperKind::Vector;
        assert_eq!(
            p(v, &["vector", "--config=/v.yaml"]).as_deref(),
            Some("/v.yaml")
        );
        assert_eq!(
            p(v, &["vector", "--config-toml", "/v.toml"]).as_deref(),
            Some("/v.toml")
        );
        let pt = ShipperKind::Promtail;
        assert_eq!(
            p(pt, &["promtail", "-config.file=/etc/p.yaml"]).as_deref(),
            Some("/etc/p.yaml")
        );
        assert_eq!(
            p(pt, &["promtail", "--config.file", "/p.yml"]).as_deref(),
            Some("/p.yml")
        );
        // Go flags take no attached value: `-cpuprofile` is not `-c`.
        let fb = ShipperKind::Filebeat;
        assert_eq!(p(fb, &["filebeat", "-cpuprofile", "/tmp/x"]), None);
    }

    #[test]
    fn filebeat_paths_follow_path_config_and_path_data() {
        let fb = paths(
            ShipperKind::Filebeat,
            &[
                "filebeat",
                "--path.home",
                "/usr/share/filebeat",
                "--path.config",
                "/etc/fb",
                "--path.data",
                "/var/lib/fb",
            ],
        );
        assert_eq!(fb.config, Some(PathBuf::from("/etc/fb/filebeat.yml")));
        assert_eq!(fb.data_path, Some(PathBuf::from("/var/lib/fb")));
        let fb = paths(
            ShipperKind::Filebeat,
            &["filebeat", "-c", "custom.yml", "--path.config", "/etc/fb"],
        );
        assert_eq!(fb.config, Some(PathBuf::from("/etc/fb/custom.yml")));
        let ls = paths(
            ShipperKind::Logstash,
            &[
                "java",
                "org.logstash.Logstash",
                "--path.data",
                "/d",
                "-f",
                "/p.conf",
                "--path.settings",
                "/etc/ls",
            ],
        );
        assert_eq!(
            (ls.config, ls.data_path, ls.settings_dir),
            (
                Some("/p.conf".into()),
                Some("/d".into()),
                Some("/etc/ls".into())
            )
        );
        let cw = paths(
            ShipperKind::CloudwatchAgent,
            &[
                "/opt/aws/amazon-cloudwatch-agent/bin/amazon-cloudwatch-agent",
                "-config",
                "/opt/aws/amazon-cloudwatch-agent/etc/amazon-cloudwatch-agent.toml",
                "-envconfig",
                "/opt/aws/amazon-cloudwatch-agent/etc/env-config.json",
                "-otelconfig",
                "/opt/aws/amazon-cloudwatch-agent/etc/amazon-cloudwatch-agent.yaml",
            ],
        );
        assert_eq!(
            cw.config,
            Some(PathBuf::from(
                "/opt/aws/amazon-cloudwatch-agent/etc/amazon-cloudwatch-agent.toml"
            ))
        );
        let dd = paths(
            ShipperKind::DatadogAgent,
            &[
                "agent",
                "run",
                "-p",
                "/opt/datadog-agent/run/agent.pid",
                "-c",
                "/etc/dd",
            ],
        );
        assert_eq!(dd.config, Some(PathBuf::from("/etc/dd")));
        let sng = paths(
            ShipperKind::SyslogNg,
            &[
                "syslog-ng",
                "-F",
                "-R",
                "/p/persist",
                "--control=s.ctl",
                "-f/e/s.conf",
            ],
        );
        assert_eq!(sng.store, Some(PathBuf::from("/p/persist")));
        assert_eq!(sng.control, Some(PathBuf::from("/run/cwd/s.ctl")));
        assert_eq!(sng.config, Some(PathBuf::from("/e/s.conf")));
    }
}
