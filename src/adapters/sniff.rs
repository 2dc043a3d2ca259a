//! Which shipper a config file looks like, from the syntax only that shipper uses, so that
//! `--config` of another shipper's format is named as such instead of failing to parse.

use std::sync::OnceLock;

use regex::Regex;

use crate::cursor::ShipperKind;

/// How much of a config is looked at.
pub const SNIFF_LIMIT: u64 = 64 * 1024;

/// The shipper whose config `text` looks like, when its syntax says so unambiguously: the
/// first of [`super::ALL`] whose [`config_syntax`](super::ShipperInfo::config_syntax) matches.
pub fn looks_like(text: &str) -> Option<ShipperKind> {
    static RULES: OnceLock<Vec<(ShipperKind, Regex)>> = OnceLock::new();
    let rules = RULES.get_or_init(|| {
        super::ALL
            .iter()
            .filter_map(|i| Some((i.kind, i.config_syntax?)))
            .map(|(k, r)| (k, Regex::new(r).expect("config_syntax patterns are valid")))
            .collect()
    });
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
