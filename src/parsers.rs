//! Every parser of outside input, reachable from bytes: what the fuzz targets (`fuzz/`) and
//! the corpus runner test (`tests/integration/parsers_fuzz.rs`) feed arbitrary input to. Each [`Format`]
//! runs the same function the adapter runs on the bytes it read; the result is only "did it
//! return" (any `Err` is fine, a panic or a hang is the bug). See docs/fuzzing.md.

use std::path::{Path, PathBuf};

use crate::adapters::{
    awslogs, cloudwatch, datadog, filebeat, fluentbit, fluentd, logstash, otel, promtail, rsyslog,
    syslogng, vector,
};
use crate::cursor::ShipperKind;
use crate::root::Root;

/// One input format drainguard parses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Filebeat memlog `log.json` (op/body line pairs), replayed on an empty state.
    FilebeatMemlogLog,
    /// Filebeat memlog checkpoint `<txid>.json` (a JSON array of states).
    FilebeatCheckpoint,
    /// Filebeat's legacy registry array / `data.json`.
    FilebeatLegacy,
    /// `filebeat.yml`.
    FilebeatConfig,
    /// Fluent Bit classic `fluent-bit.conf`.
    FluentBitClassic,
    /// Fluent Bit YAML `fluent-bit.yaml`.
    FluentBitYaml,
    /// A Fluent Bit tail DB with its `-wal` (the first 4 bytes, big-endian, give the main
    /// file's length; the rest after it is the WAL), assembled in memory and queried.
    FluentBitWal,
    /// `vector.toml`.
    VectorToml,
    /// `vector.yaml`.
    VectorYaml,
    /// Vector file source `checkpoints.json`.
    VectorCheckpoints,
    /// Vector disk buffer ledger `buffer.db`.
    VectorLedger,
    /// Promtail `positions.yaml` (and Alloy's layout).
    PromtailPositions,
    /// Fluentd `pos_file`.
    FluentdPosFile,
    /// Fluentd `fluent.conf` (tail sources, monitor_agent).
    FluentdConfig,
    /// rsyslog imfile state file (JSON).
    RsyslogState,
    /// `rsyslog.conf`.
    RsyslogConf,
    /// rsyslog impstats log (JSON lines).
    RsyslogImpstats,
    /// Logstash sincedb.
    LogstashSincedb,
    /// Logstash pipeline config (`input { file { ... } }`).
    LogstashPipeline,
    /// `logstash.yml`.
    LogstashSettings,
    /// syslog-ng's `syslog-ng.persist` (SLP4 key store and file positions).
    SyslogNgPersist,
    /// `syslog-ng.conf` (sources, destinations, log paths; includes not followed).
    SyslogNgConf,
    /// A syslog-ng control socket `STATS` reply (CSV counters).
    SyslogNgStats,
    /// A CloudWatch agent state file, under a fixed name and under the name its path line
    /// gives (so the whole parse is reached), with and without range lists expected.
    CloudwatchState,
    /// The CloudWatch agent's generated TOML and its user JSON.
    CloudwatchConfig,
    /// The Datadog Agent's logs `registry.json`.
    DatadogRegistry,
    /// The OpenTelemetry Collector's file_storage bbolt file and its `knownFiles` checkpoint.
    OtelcolFileStorage,
    /// The collector's YAML config, with a metrics exposition after a `---8<---` line.
    OtelcolConfig,
    /// `datadog.yaml` and an integration config's `logs:` section.
    DatadogConfig,
    /// The awslogs agent's SQLite `state_file` (a whole DB image): every `push_state` row
    /// and a `stream_state` row.
    AwslogsState,
    /// The awslogs agent's INI config, a Python logging config, and its log's `Publish
    /// batch` lines (each line of the input).
    AwslogsConfig,
    /// drainguard's own settings file (TOML).
    Settings,
    /// A content fingerprint: the first 25 bytes pick the spec and its three numbers (as a
    /// config would give them), the rest is the file's content.
    Fingerprint,
}

impl Format {
    /// Every format.
    pub const ALL: [Format; 33] = [
        Format::FilebeatMemlogLog,
        Format::FilebeatCheckpoint,
        Format::FilebeatLegacy,
        Format::FilebeatConfig,
        Format::FluentBitClassic,
        Format::FluentBitYaml,
        Format::FluentBitWal,
        Format::VectorToml,
        Format::VectorYaml,
        Format::VectorCheckpoints,
        Format::VectorLedger,
        Format::PromtailPositions,
        Format::FluentdPosFile,
        Format::FluentdConfig,
        Format::RsyslogState,
        Format::RsyslogConf,
        Format::RsyslogImpstats,
        Format::LogstashSincedb,
        Format::LogstashPipeline,
        Format::LogstashSettings,
        Format::SyslogNgPersist,
        Format::SyslogNgConf,
        Format::SyslogNgStats,
        Format::CloudwatchState,
        Format::CloudwatchConfig,
        Format::DatadogRegistry,
        Format::DatadogConfig,
        Format::AwslogsState,
        Format::AwslogsConfig,
        Format::OtelcolFileStorage,
        Format::OtelcolConfig,
        Format::Settings,
        Format::Fingerprint,
    ];

    /// The name of its fuzz target and corpus directory (`fuzz/corpus/<name>`).
    pub fn name(self) -> &'static str {
        match self {
            Format::FilebeatMemlogLog => "filebeat_memlog_log",
            Format::FilebeatCheckpoint => "filebeat_checkpoint",
            Format::FilebeatLegacy => "filebeat_legacy",
            Format::FilebeatConfig => "filebeat_config",
            Format::FluentBitClassic => "fluentbit_classic",
            Format::FluentBitYaml => "fluentbit_yaml",
            Format::FluentBitWal => "fluentbit_wal",
            Format::VectorToml => "vector_toml",
            Format::VectorYaml => "vector_yaml",
            Format::VectorCheckpoints => "vector_checkpoints",
            Format::VectorLedger => "vector_ledger",
            Format::PromtailPositions => "promtail_positions",
            Format::FluentdPosFile => "fluentd_pos_file",
            Format::FluentdConfig => "fluentd_config",
            Format::RsyslogState => "rsyslog_state",
            Format::RsyslogConf => "rsyslog_conf",
            Format::RsyslogImpstats => "rsyslog_impstats",
            Format::LogstashSincedb => "logstash_sincedb",
            Format::LogstashPipeline => "logstash_pipeline",
            Format::LogstashSettings => "logstash_settings",
            Format::SyslogNgPersist => "syslogng_persist",
            Format::SyslogNgConf => "syslogng_conf",
            Format::SyslogNgStats => "syslogng_stats",
            Format::CloudwatchState => "cloudwatch_state",
            Format::CloudwatchConfig => "cloudwatch_config",
            Format::DatadogRegistry => "datadog_registry",
            Format::DatadogConfig => "datadog_config",
            Format::AwslogsState => "awslogs_state",
            Format::AwslogsConfig => "awslogs_config",
            Format::OtelcolFileStorage => "otelcol_file_storage",
            Format::OtelcolConfig => "otelcol_config",
            Format::Settings => "settings",
            Format::Fingerprint => "fingerprint",
        }
    }

    /// The format named `name` (see [`Format::name`]).
    pub fn from_name(name: &str) -> Option<Format> {
        Format::ALL.into_iter().find(|f| f.name() == name)
    }
}

/// A root no file exists under: a config's includes and globs find nothing.
fn empty_root() -> Root {
    Root::new(Some(PathBuf::from("/nonexistent/drainguard-fuzz-root")))
}

/// Runs `format`'s parser on `bytes`. `Err` (with the parser's message) is a normal outcome
/// for bad input; the caller checks only that this returns.
pub fn parse(format: Format, bytes: &[u8]) -> Result<(), String> {
    let p = Path::new("/fuzz/input");
    let text = || std::str::from_utf8(bytes).map_err(|e| e.to_string());
    let done = |r: Result<(), crate::error::StoreError>| r.map_err(|e| e.to_string());
    match format {
        Format::FilebeatMemlogLog => {
            use filebeat::memlog::Memlog;
            // Also replayed over a checkpoint, the way a one-shot read does (a list, with the
            // keys the log names indexed).
            const CHECKPOINT: &[u8] = br#"[{"_key":"filebeat::logs::native::1-1","source":"/a","offset":1,"FileStateOS":{"inode":1,"device":1}}]"#;
            done(
                Memlog::owned_from_bytes(PathBuf::from("/fuzz"), Some((0, CHECKPOINT)), bytes)
                    .map(|_| ()),
            )?;
            done(Memlog::from_bytes(PathBuf::from("/fuzz"), None, bytes).map(|_| ()))
        }
        Format::FilebeatCheckpoint => {
            use filebeat::memlog::Memlog;
            done(
                Memlog::owned_from_bytes(PathBuf::from("/fuzz"), Some((1, bytes)), b"").map(|_| ()),
            )?;
            done(Memlog::from_bytes(PathBuf::from("/fuzz"), Some((1, bytes)), b"").map(|_| ()))
        }
        Format::FilebeatLegacy => done(filebeat::parse_array(p, bytes).map(|_| ())),
        Format::FilebeatConfig => done(
            filebeat::parse_config(text()?, Path::new("/fuzz/filebeat.yml"), &empty_root())
                .map(|_| ()),
        ),
        Format::FluentBitClassic => {
            fluentbit::parse_classic(text()?);
            Ok(())
        }
        Format::FluentBitYaml => {
            done(fluentbit::parse_yaml(Path::new("/fuzz/fluent-bit.yaml"), text()?).map(|_| ()))
        }
        Format::FluentBitWal => {
            let (len, rest) = bytes.split_at(bytes.len().min(4));
            let mut n = [0u8; 4];
            n[..len.len()].copy_from_slice(len);
            let main_len = rest.len().min(u32::from_be_bytes(n) as usize);
            let (main, wal) = rest.split_at(main_len);
            done(fluentbit::read_image(p, main.to_vec(), wal).map(|_| ()))
        }
        Format::VectorToml => {
            done(vector::parse_conf(Path::new("/fuzz/vector.toml"), text()?).map(|_| ()))
        }
        Format::VectorYaml => {
            done(vector::parse_conf(Path::new("/fuzz/vector.yaml"), text()?).map(|_| ()))
        }
        Format::VectorCheckpoints => {
            let source = vector::FileSource::with_defaults("fuzz");
            done(vector::parse(p, bytes, &source).map(|_| ()))
        }
        Format::VectorLedger => {
            done(crate::adapters::vector_buffer::Ledger::parse(p, bytes).map(|_| ()))
        }
        Format::PromtailPositions => {
            let a = promtail::parse(ShipperKind::Promtail, p, bytes).map(|_| ());
            let b = promtail::parse(ShipperKind::Alloy, p, bytes).map(|_| ());
            done(a.and(b))
        }
        Format::FluentdPosFile => done(fluentd::parse(p, bytes).map(|_| ())),
        Format::FluentdConfig => {
            let t = text()?;
            fluentd::tail_sources(t);
            fluentd::monitor_agent_url(t);
            Ok(())
        }
        Format::RsyslogState => {
            let mut notes = Vec::new();
            let name = "imfile-state:1234:fuzz";
            done(rsyslog::parse_state(p, name, bytes, &mut notes).map(|_| ()))
        }
        Format::RsyslogConf => {
            rsyslog::parse_conf(text()?);
            Ok(())
        }
        Format::RsyslogImpstats => {
            rsyslog::queue_sizes(bytes);
            Ok(())
        }
        Format::LogstashSincedb => done(logstash::parse(p, bytes).map(|_| ())),
        Format::LogstashPipeline => {
            for input in logstash::file_inputs(text()?) {
                input.default_sincedb_name();
                input.exclude_rules();
            }
            Ok(())
        }
        Format::LogstashSettings => done(logstash::parse_settings(p, text()?).map(|_| ())),
        Format::SyslogNgPersist => {
            let persist = syslogng::persist::Persist::parse(p, bytes).map_err(|e| e.to_string())?;
            let conf = syslogng::config::SyslogNgConf::default();
            syslogng::snapshot(p, &persist, &conf);
            Ok(())
        }
        Format::SyslogNgConf => {
            let c = syslogng::config::parse(text()?).map_err(|e| e.what)?;
            c.flow_controlled();
            c.disk_buffered();
            Ok(())
        }
        Format::SyslogNgStats => {
            let counters = syslogng::ctl::parse(bytes);
            let conf = syslogng::config::SyslogNgConf::default();
            syslogng::queues_signal(String::new(), &counters, &conf, false);
            Ok(())
        }
        Format::CloudwatchState => {
            let a = cloudwatch::parse(Path::new("/fuzz/_var_log_app.log"), bytes, true);
            // The name the path line gives, so a valid file is reached too.
            let line2 = bytes.split(|b| *b == b'\n').nth(1).unwrap_or(b"x");
            let name = cloudwatch::state_file_name(line2);
            let named = {
                use std::os::unix::ffi::OsStrExt;
                Path::new("/fuzz").join(std::ffi::OsStr::from_bytes(&name))
            };
            let b = cloudwatch::parse(&named, bytes, false);
            if let Ok(cloudwatch::Parsed::State(s)) = &b {
                s.delivered_prefix();
                s.gap_bytes();
            }
            done(a.and(b).map(|_| ()))
        }
        Format::CloudwatchConfig => {
            // As the agent's `-config` is read: JSON when it starts with `{`, else TOML.
            let t = text()?;
            if t.trim_start().starts_with('{') {
                let mut c = cloudwatch::Config::default();
                done(cloudwatch::config::parse_json(
                    Path::new("/fuzz/a.json"),
                    t,
                    &mut c,
                ))
            } else {
                done(cloudwatch::config::parse_toml(Path::new("/fuzz/a.toml"), t).map(|_| ()))
            }
        }
        Format::DatadogRegistry => done(datadog::parse(p, bytes).map(|_| ())),
        Format::DatadogConfig => {
            let t = text()?;
            let a = datadog::config::parse_main(Path::new("/fuzz/datadog.yaml"), t).map(|_| ());
            let b = datadog::config::parse_logs(Path::new("/fuzz/conf.d/a.d/conf.yaml"), t);
            done(a.and(b.map(|_| ())))
        }
        Format::AwslogsState => {
            let db = awslogs::StateDb::from_bytes(p, bytes.to_vec()).map_err(|e| e.to_string())?;
            let rows = db.all_push_states().map(|_| ());
            done(rows.and(db.stream_state("app").map(|_| ())))
        }
        Format::AwslogsConfig => {
            for line in bytes.split(|b| *b == b'\n') {
                awslogs::agentlog::parse_publish(line);
            }
            let t = text()?;
            let logging = awslogs::config::logging_files(Path::new("/fuzz/logging.conf"), t);
            let conf = awslogs::config::parse(Path::new("/fuzz/awslogs.conf"), t, None);
            done(logging.and(conf).map(|_| ()))
        }
        Format::OtelcolFileStorage => {
            use otel::{bbolt, store};
            let r = bbolt::read_value(bytes, &[store::BUCKET], store::KEY, |_| {})
                .map_err(|e| e.to_string())?;
            if let Some(v) = r.value {
                store::cursors(&store::parse(p, &v).map_err(|e| e.to_string())?);
            }
            Ok(())
        }
        Format::OtelcolConfig => {
            let t = text()?;
            let (conf, metrics) = t.split_once("\n---8<---\n").unwrap_or((t, ""));
            let c = otel::config::parse(Path::new("/fuzz/config.yaml"), conf)
                .map_err(|e| e.to_string())?;
            let _ = otel::api::state(&c, &otel::api::parse(metrics));
            Ok(())
        }
        Format::Settings => done(crate::settings::Settings::parse(text()?, p).map(|_| ())),
        Format::Fingerprint => fingerprint(bytes),
    }
}

/// [`Format::Fingerprint`]: the spec from the first 25 bytes, the file from the rest (written
/// to a private temporary file).
fn fingerprint(bytes: &[u8]) -> Result<(), String> {
    use crate::fingerprint::FingerprintSpec;
    if bytes.len() < 25 {
        return Err("too short".into());
    }
    let n = |i: usize| u64::from_le_bytes(bytes[1 + 8 * i..9 + 8 * i].try_into().unwrap());
    let spec = match bytes[0] % 5 {
        0 => FingerprintSpec::Sha256Window {
            offset: n(0),
            length: n(1),
        },
        1 => FingerprintSpec::RsyslogFileId,
        2 => FingerprintSpec::VectorFirstLines {
            lines: n(0),
            ignored_header_bytes: n(1),
            max_line_bytes: n(2),
        },
        k => FingerprintSpec::DatadogChecksum {
            lines: k == 4,
            count: n(0),
            count_to_skip: n(1),
            max_bytes: n(2),
        },
    };
    let mut f = tempfile_in_tmp().map_err(|e| e.to_string())?;
    std::io::Write::write_all(f.as_file_mut(), &bytes[25..]).map_err(|e| e.to_string())?;
    spec.min_size();
    spec.compute(f.path())
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// A named temporary file (removed when dropped) in the system's temp directory.
fn tempfile_in_tmp() -> std::io::Result<TempFile> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let path = std::env::temp_dir().join(format!(
        "drainguard-fuzz-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let file = std::fs::File::create(&path)?;
    Ok(TempFile { path, file })
}

struct TempFile {
    path: PathBuf,
    file: std::fs::File,
}

impl TempFile {
    fn as_file_mut(&mut self) -> &mut std::fs::File {
        &mut self.file
    }
    fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}
