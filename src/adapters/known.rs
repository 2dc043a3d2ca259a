//! Every log shipper drainguard knows, in one table: how its process is recognised, where its
//! command line names its config, its service names, and what to do when drainguard cannot
//! read it. Supported shippers (their store is read by an adapter) and the ones drainguard
//! only recognises running (syslog-ng, the OpenTelemetry Collector ...) are listed alike: a
//! running shipper that cannot be read makes the verdict "unconfirmed", never "nothing to
//! drain". This table is the seed of one descriptor per shipper.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use crate::cursor::ShipperKind;

/// One shipper: everything about it that is not its store format.
#[derive(Debug)]
pub struct Known {
    pub kind: ShipperKind,
    /// Other names it goes by (package or binary names), accepted where a name is looked up.
    pub aliases: &'static [&'static str],
    /// How its processes are recognised (any of these).
    pub processes: &'static [ProcessMatch],
    /// Command-line flags that name its config or data, as the process sees its paths.
    pub flags: &'static [Flag],
    /// Service / init script names it is packaged under.
    pub services: &'static [&'static str],
    /// For a shipper drainguard cannot read: why, in a few words.
    pub unsupported_why: &'static str,
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
    /// The progress store itself, reported only (syslog-ng `-R`).
    Store,
    /// The shipper's settings directory (Logstash `--path.settings`).
    SettingsDir,
}

const fn m(names: &'static [&'static str]) -> ProcessMatch {
    ProcessMatch { names, words: &[] }
}

const fn flag(names: &'static [&'static str], target: Target) -> Flag {
    Flag {
        names,
        attached: false,
        target,
    }
}

const fn getopt(names: &'static [&'static str], target: Target) -> Flag {
    Flag {
        names,
        attached: true,
        target,
    }
}

/// Every shipper, supported ones first (report order).
pub static ALL: &[Known] = &[
    Known {
        kind: ShipperKind::Filebeat,
        aliases: &[],
        processes: &[m(&["filebeat"])],
        flags: &[
            flag(&["-c", "--c"], Target::Config),
            flag(
                &["--path.config", "-path.config"],
                Target::ConfigDir("filebeat.yml"),
            ),
            flag(&["--path.data", "-path.data"], Target::DataPath),
        ],
        services: &["filebeat"],
        unsupported_why: "",
    },
    Known {
        kind: ShipperKind::FluentBit,
        aliases: &["fluentbit", "td-agent-bit"],
        processes: &[m(&["fluent-bit", "td-agent-bit", "flb-pipeline"])],
        flags: &[getopt(&["-c", "--config"], Target::Config)],
        services: &["fluent-bit", "td-agent-bit"],
        unsupported_why: "",
    },
    Known {
        kind: ShipperKind::Vector,
        aliases: &[],
        processes: &[m(&["vector"])],
        flags: &[getopt(
            &["-c", "--config", "--config-toml", "--config-yaml"],
            Target::Config,
        )],
        services: &["vector"],
        unsupported_why: "",
    },
    Known {
        kind: ShipperKind::Promtail,
        aliases: &[],
        processes: &[m(&["promtail"])],
        flags: &[flag(&["-config.file", "--config.file"], Target::Config)],
        services: &["promtail"],
        unsupported_why: "",
    },
    Known {
        kind: ShipperKind::Alloy,
        aliases: &["grafana-agent"],
        processes: &[m(&["alloy", "grafana-agent"])],
        flags: &[flag(&["--storage.path", "-storage.path"], Target::DataPath)],
        services: &["alloy"],
        unsupported_why: "",
    },
    Known {
        kind: ShipperKind::Fluentd,
        aliases: &["td-agent"],
        processes: &[ProcessMatch {
            names: &["fluentd", "ruby*", "td-agent"],
            words: &["fluentd"],
        }],
        flags: &[getopt(&["-c", "--config"], Target::Config)],
        services: &["fluentd", "td-agent"],
        unsupported_why: "",
    },
    Known {
        kind: ShipperKind::Rsyslog,
        aliases: &["rsyslogd"],
        processes: &[m(&["rsyslogd"])],
        flags: &[getopt(&["-f"], Target::Config)],
        services: &["rsyslog"],
        unsupported_why: "",
    },
    Known {
        kind: ShipperKind::Logstash,
        aliases: &[],
        processes: &[ProcessMatch {
            names: &["java", "logstash"],
            words: &["logstash"],
        }],
        flags: &[
            getopt(&["-f", "--path.config"], Target::Config),
            flag(&["--path.data"], Target::DataPath),
            flag(&["--path.settings"], Target::SettingsDir),
        ],
        services: &["logstash"],
        unsupported_why: "",
    },
    Known {
        kind: ShipperKind::CloudwatchAgent,
        aliases: &["cloudwatch-agent", "start-amazon-cloudwatch-agent"],
        processes: &[m(&[
            "amazon-cloudwatch-agent",
            "start-amazon-cloudwatch-agent",
            // `comm` keeps only 15 bytes.
            "amazon-cloudwat",
            "start-amazon-cl",
        ])],
        flags: &[flag(&["-config", "--config"], Target::Config)],
        services: &["amazon-cloudwatch-agent"],
        unsupported_why: "",
    },
    Known {
        kind: ShipperKind::DatadogAgent,
        aliases: &["datadog"],
        processes: &[
            m(&["datadog-agent"]),
            ProcessMatch {
                names: &["agent"],
                words: &["datadog"],
            },
        ],
        flags: &[flag(&["-c", "--cfgpath"], Target::Config)],
        services: &["datadog-agent"],
        unsupported_why: "",
    },
    Known {
        kind: ShipperKind::SyslogNg,
        aliases: &["syslog-ng-core"],
        processes: &[m(&["syslog-ng"])],
        flags: &[
            getopt(&["-f", "--cfgfile"], Target::Config),
            getopt(&["-R", "--persist-file"], Target::Store),
        ],
        services: &["syslog-ng"],
        unsupported_why: "drainguard cannot read the syslog-ng persist file yet",
    },
    Known {
        kind: ShipperKind::Otelcol,
        aliases: &["otelcol-contrib", "opentelemetry-collector"],
        processes: &[m(&["otelcol", "otelcol-contrib"])],
        flags: &[flag(&["--config"], Target::Config)],
        services: &["otelcol", "otelcol-contrib"],
        unsupported_why: "drainguard cannot read the OpenTelemetry Collector's file_storage yet",
    },
    Known {
        kind: ShipperKind::Awslogs,
        aliases: &["awslogsd"],
        processes: &[ProcessMatch {
            names: &["python*", "awslogs", "awslogsd"],
            words: &["awslogs", "aws logs push"],
        }],
        flags: &[flag(&["--config-file"], Target::Config)],
        services: &["awslogs", "awslogsd"],
        unsupported_why: "drainguard cannot read the legacy awslogs agent's state file yet",
    },
    Known {
        kind: ShipperKind::ElasticAgent,
        aliases: &[],
        processes: &[m(&["elastic-agent"])],
        flags: &[flag(&["-c", "--c"], Target::Config)],
        services: &["elastic-agent"],
        unsupported_why: "drainguard cannot read Elastic Agent's queues (it reads a standalone \
                          Filebeat's registry)",
    },
    Known {
        kind: ShipperKind::Nxlog,
        aliases: &[],
        processes: &[m(&["nxlog"])],
        flags: &[getopt(&["-c", "--conf"], Target::Config)],
        services: &["nxlog"],
        unsupported_why: "drainguard cannot read NXLog's configcache yet",
    },
    Known {
        kind: ShipperKind::Splunk,
        aliases: &["splunkd", "splunkforwarder", "splunk-forwarder"],
        processes: &[m(&["splunkd"])],
        flags: &[],
        services: &["splunk", "splunkd", "SplunkForwarder"],
        unsupported_why: "drainguard cannot read the Splunk forwarder's fishbucket yet",
    },
];

/// The entry of `kind`.
pub fn of(kind: ShipperKind) -> &'static Known {
    ALL.iter()
        .find(|k| k.kind == kind)
        .expect("every shipper kind has an entry in adapters::known::ALL")
}

/// The entry named `name` (its name or an alias, case-insensitively).
pub fn by_name(name: &str) -> Option<&'static Known> {
    ALL.iter().find(|k| {
        k.kind.name().eq_ignore_ascii_case(name)
            || k.aliases.iter().any(|a| a.eq_ignore_ascii_case(name))
    })
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
}

impl Known {
    /// The config, data and store paths named on `argv` (`argv[0]` first; the first of a
    /// repeated flag wins), relative ones taken in `cwd`.
    pub fn command_line_paths(&self, argv: &[OsString], cwd: Option<&Path>) -> CommandLinePaths {
        let mut out = CommandLinePaths::default();
        let mut config_dir: Option<(PathBuf, &str)> = None;
        for f in self.flags {
            let Some(v) = flag_value(argv, f) else {
                continue;
            };
            match f.target {
                Target::Config => out.config = out.config.take().or(Some(v)),
                Target::ConfigDir(file) => config_dir = config_dir.or(Some((v, file))),
                Target::DataPath => out.data_path = out.data_path.take().or(Some(v)),
                Target::Store => out.store = out.store.take().or(Some(v)),
                Target::SettingsDir => out.settings_dir = out.settings_dir.take().or(Some(v)),
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

    #[test]
    fn every_kind_has_one_entry_and_names_are_unique() {
        use clap::ValueEnum;
        let mut all: Vec<ShipperKind> = ShipperKind::value_variants().to_vec();
        all.extend([
            ShipperKind::SyslogNg,
            ShipperKind::Otelcol,
            ShipperKind::Awslogs,
            ShipperKind::ElasticAgent,
            ShipperKind::Nxlog,
            ShipperKind::Splunk,
        ]);
        assert_eq!(ALL.len(), all.len());
        for k in all {
            assert_eq!(ALL.iter().filter(|e| e.kind == k).count(), 1, "{k}");
            assert_eq!(by_name(k.name()).map(|e| e.kind), Some(k));
            assert_eq!(
                k.supported(),
                of(k).unsupported_why.is_empty(),
                "{k}: supported shippers need no reason, unsupported ones do"
            );
        }
        let mut names: Vec<&str> = ALL
            .iter()
            .flat_map(|k| std::iter::once(k.kind.name()).chain(k.aliases.iter().copied()))
            .collect();
        let n = names.len();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), n, "a name or alias is listed twice");
    }

    #[test]
    fn interpreters_need_their_word_and_comm_is_cut_to_15_bytes() {
        let fluentd = &of(ShipperKind::Fluentd).processes[0];
        assert!(fluentd.matches(
            Some("ruby3.1"),
            "ruby",
            "/usr/bin/ruby /usr/bin/fluentd -c x"
        ));
        assert!(!fluentd.matches(Some("ruby3.1"), "ruby", "/usr/bin/ruby app.rb"));
        let awslogs = &of(ShipperKind::Awslogs).processes[0];
        assert!(awslogs.matches(
            Some("python3.11"),
            "python3",
            "/usr/bin/python3 /usr/bin/aws logs push --config-file /var/awslogs/etc/awslogs.conf"
        ));
        let cw = &of(ShipperKind::CloudwatchAgent).processes[0];
        assert!(cw.matches(None, "amazon-cloudwat", ""));
        let dd = &of(ShipperKind::DatadogAgent).processes;
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
        of(kind).command_line_paths(&argv, Some(Path::new("/run/cwd")))
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
            &["syslog-ng", "-F", "-R", "/p/persist"],
        );
        assert_eq!(sng.store, Some(PathBuf::from("/p/persist")));
    }
}
