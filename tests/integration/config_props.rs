//! Property tests: no shipper config text makes a config parser panic. Operators' configs are
//! hand-written (unbalanced braces, stray quotes, comments, any Unicode); the parsers must
//! return what they can and never take the drain down.

use std::path::Path;

use drainguard::adapters::{fluentbit, fluentd, logstash, rsyslog, vector};
use proptest::prelude::*;

/// Text made of the characters these formats give meaning to, mixed with arbitrary ones.
fn config_text() -> impl Strategy<Value = String> {
    let pieces = prop_oneof![
        Just("input {".to_string()),
        Just("file {".to_string()),
        Just("}".to_string()),
        Just("{".to_string()),
        Just("[".to_string()),
        Just("]".to_string()),
        Just("=>".to_string()),
        Just("\"".to_string()),
        Just("'".to_string()),
        Just("#".to_string()),
        Just("\n".to_string()),
        Just(" path => ".to_string()),
        Just(" sincedb_path => ".to_string()),
        Just("<source>\n".to_string()),
        Just("</source>\n".to_string()),
        Just("@type tail\n".to_string()),
        Just("pos_file ".to_string()),
        Just("[INPUT]\n".to_string()),
        Just("Name tail\n".to_string()),
        Just("@SET A=".to_string()),
        Just("${A}".to_string()),
        Just("é€😀".to_string()),
        "\\PC{0,8}",
    ];
    prop::collection::vec(pieces, 0..40).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]
    #[test]
    fn config_parsers_never_panic(text in config_text()) {
        let _ = logstash::file_inputs(&text);
        let _ = logstash::parse_settings(Path::new("logstash.yml"), &text);
        let _ = fluentd::tail_sources(&text);
        let _ = fluentd::monitor_agent_url(&text);
        let _ = fluentbit::parse_classic(&text);
        let _ = fluentbit::parse_yaml(Path::new("f.yaml"), &text);
        let _ = rsyslog::parse_conf(&text);
        let _ = vector::parse_conf(Path::new("v.toml"), &text);
        let _ = vector::parse_conf(Path::new("v.yaml"), &text);
    }
}
