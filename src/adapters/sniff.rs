//! Which shipper a config file looks like, from the syntax only that shipper uses, so that
//! `--config` of another shipper's format is named as such instead of failing to parse.

use std::sync::OnceLock;

use regex::Regex;

use crate::cursor::ShipperKind;

/// How much of a config is looked at.
pub const SNIFF_LIMIT: u64 = 64 * 1024;

/// The shipper whose config `text` looks like, when its syntax says so unambiguously.
pub fn looks_like(text: &str) -> Option<ShipperKind> {
    static RULES: OnceLock<Vec<(ShipperKind, Regex)>> = OnceLock::new();
    let rules = RULES.get_or_init(|| {
        [
            // syslog-ng: `@version: 4.2`, `source s_app { file(...); };`
            (
                ShipperKind::SyslogNg,
                r"(?m)^\s*@version\s*:|^\s*(source|destination|log)\s+[A-Za-z_][\w-]*\s*\{",
            ),
            // rsyslog: RainerScript statements or legacy `$ModLoad`.
            (
                ShipperKind::Rsyslog,
                r#"(?mi)^\s*(module|input|action|global)\s*\(\s*(load|type|workdirectory)\s*=|^\s*\$(ModLoad|WorkDirectory|InputFileName)\b"#,
            ),
            // Fluent Bit classic mode sections.
            (
                ShipperKind::FluentBit,
                r"(?mi)^\s*\[(INPUT|OUTPUT|SERVICE|FILTER)\]\s*$",
            ),
            // Fluentd directives.
            (
                ShipperKind::Fluentd,
                r"(?m)^\s*<(source|match\s+[^>]*|system)>\s*$",
            ),
            // Logstash pipeline blocks.
            (ShipperKind::Logstash, r"(?m)^\s*(input|filter|output)\s*\{"),
            // Vector: TOML tables or YAML top-level keys.
            (
                ShipperKind::Vector,
                r"(?m)^\[(sources|sinks|transforms)\.[^\]]+\]|^(sources|sinks):\s*$",
            ),
            // Promtail / Grafana Agent static mode.
            (ShipperKind::Promtail, r"(?m)^scrape_configs:"),
            // Filebeat.
            (
                ShipperKind::Filebeat,
                r"(?m)^filebeat(\.inputs|\.prospectors|\.config|\.autodiscover)?\s*:",
            ),
            // OpenTelemetry Collector.
            (ShipperKind::Otelcol, r"(?m)^receivers:\s*$"),
            // CloudWatch agent: its generated TOML.
            (
                ShipperKind::CloudwatchAgent,
                r"(?m)^\s*\[\[inputs\.logfile\]\]|^\s*file_state_folder\s*=",
            ),
            // Datadog Agent: datadog.yaml.
            (ShipperKind::DatadogAgent, r"(?m)^(logs_enabled|api_key|dd_url)\s*:"),
        ]
        .into_iter()
        .map(|(k, r)| (k, Regex::new(r).expect("sniff patterns are valid")))
        .collect()
    });
    // A Fluent Bit YAML config: `pipeline:` with `inputs:` under it.
    let fluent_bit_yaml = text.lines().any(|l| l.starts_with("pipeline:"))
        && text.lines().any(|l| l.trim_start().starts_with("inputs:"));
    if fluent_bit_yaml {
        return Some(ShipperKind::FluentBit);
    }
    rules
        .iter()
        .find(|(_, r)| r.is_match(text))
        .map(|(k, _)| *k)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_format_is_named_by_its_own_syntax() {
        let cases = [
            (
                "[inputs]\n  [[inputs.logfile]]\n    file_state_folder = \"/x\"\n",
                ShipperKind::CloudwatchAgent,
            ),
            (
                "api_key: abc\nlogs_enabled: true\n",
                ShipperKind::DatadogAgent,
            ),
            (
                "@version: 3.38\nsource s_app { file(\"/var/log/app.log\"); };\n",
                ShipperKind::SyslogNg,
            ),
            (
                "source s_app {\n  wildcard-file(base-dir(\"/var/log\"));\n};\n",
                ShipperKind::SyslogNg,
            ),
            (
                "module(load=\"imfile\")\ninput(type=\"imfile\" File=\"/x\")\n",
                ShipperKind::Rsyslog,
            ),
            ("$ModLoad imfile\n", ShipperKind::Rsyslog),
            ("[INPUT]\n    Name tail\n", ShipperKind::FluentBit),
            (
                "pipeline:\n  inputs:\n    - name: tail\n",
                ShipperKind::FluentBit,
            ),
            ("<source>\n  @type tail\n</source>\n", ShipperKind::Fluentd),
            (
                "input {\n  file { path => \"/x\" }\n}\n",
                ShipperKind::Logstash,
            ),
            ("[sources.app]\ntype = \"file\"\n", ShipperKind::Vector),
            (
                "sources:\n  app:\n    type: file\nsinks:\n",
                ShipperKind::Vector,
            ),
            ("scrape_configs:\n  - job_name: x\n", ShipperKind::Promtail),
            (
                "filebeat.inputs:\n  - type: filestream\n",
                ShipperKind::Filebeat,
            ),
            (
                "receivers:\n  filelog:\n    include: [/x]\n",
                ShipperKind::Otelcol,
            ),
        ];
        for (text, want) in cases {
            assert_eq!(looks_like(text), Some(want), "{text}");
        }
        assert_eq!(looks_like("output.elasticsearch:\n  hosts: [x]\n"), None);
        assert_eq!(looks_like(""), None);
    }
}
