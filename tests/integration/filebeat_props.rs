//! Property tests: no input makes the Filebeat readers panic, and a torn or mutated op log
//! never yields an offset the shipper did not write.

use std::fs;
use std::path::Path;

use drainguard::adapters::{self, SourceOptions};
use drainguard::cursor::ShipperKind;
use drainguard::testkit::filebeat as tk;
use proptest::prelude::*;

fn read_data_dir(data: &Path) -> Result<Vec<u64>, String> {
    let opts = SourceOptions {
        data_path: Some(data.to_path_buf()),
        ..Default::default()
    };
    match adapters::open(ShipperKind::Filebeat, &opts) {
        Ok(rs) if !rs.is_empty() => rs
            .into_iter()
            .next()
            .unwrap()
            .read()
            .map(|s| s.cursors.iter().map(|c| c.offset).collect())
            .map_err(|e| e.to_string()),
        Ok(_) => Err("none".into()),
        Err(e) => Err(e.to_string()),
    }
}

/// A valid memlog log.json setting one key to offsets 1..=n.
fn valid_log(n: u64) -> Vec<u8> {
    let mut out = Vec::new();
    for id in 1..=n {
        out.extend_from_slice(
            format!(
                "{{\"op\":\"set\",\"id\":{id}}}\n{}\n",
                serde_json::json!({"k": "filebeat::logs::native::7-9", "v": tk::log_value("/x.log", id, 7, 9)})
            )
            .as_bytes(),
        );
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, .. ProptestConfig::default() })]

    #[test]
    fn arbitrary_legacy_registry_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let d = tempfile::tempdir().unwrap();
        fs::write(d.path().join("registry"), &bytes).unwrap();
        let r = read_data_dir(d.path());
        if let Err(e) = r {
            prop_assert!(e.contains("registry"), "error names the file: {}", e);
        }
    }

    #[test]
    fn arbitrary_checkpoint_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let d = tempfile::tempdir().unwrap();
        let dir = d.path().join("registry/filebeat");
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("meta.json"), br#"{"version":"1"}"#).unwrap();
        fs::write(dir.join("5.json"), &bytes).unwrap();
        let _ = read_data_dir(d.path());
    }

    #[test]
    fn torn_log_only_yields_offsets_written_before_the_tear(
        n in 1u64..12,
        cut in any::<prop::sample::Index>(),
    ) {
        let d = tempfile::tempdir().unwrap();
        let dir = d.path().join("registry/filebeat");
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("meta.json"), br#"{"version":"1"}"#).unwrap();
        let full = valid_log(n);
        let len = cut.index(full.len() + 1);
        fs::write(dir.join("log.json"), &full[..len]).unwrap();
        // The ops wholly before the cut: each op is two lines.
        let complete_ops = full[..len].iter().filter(|&&b| b == b'\n').count() as u64 / 2;
        let offsets = read_data_dir(d.path()).map_err(TestCaseError::fail)?;
        let expected: Vec<u64> = if complete_ops == 0 { vec![] } else { vec![complete_ops] };
        prop_assert_eq!(offsets, expected);
    }

    #[test]
    fn mutated_log_never_panics(
        n in 1u64..12,
        at in any::<prop::sample::Index>(),
        b in any::<u8>(),
    ) {
        let d = tempfile::tempdir().unwrap();
        let dir = d.path().join("registry/filebeat");
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("meta.json"), br#"{"version":"1"}"#).unwrap();
        let mut log = valid_log(n);
        let i = at.index(log.len());
        log[i] = b;
        fs::write(dir.join("log.json"), &log).unwrap();
        if let Err(e) = read_data_dir(d.path()) {
            prop_assert!(e.contains("log.json"), "{}", e);
        }
    }

    #[test]
    fn arbitrary_filebeat_yml_never_panics(text in "\\PC{0,200}") {
        let d = tempfile::tempdir().unwrap();
        let cfg = d.path().join("filebeat.yml");
        fs::write(&cfg, &text).unwrap();
        let opts = SourceOptions { config: Some(cfg), ..Default::default() };
        let _ = adapters::open(ShipperKind::Filebeat, &opts);
    }
}

/// Arbitrary JSON values (nested objects and arrays, numbers of every kind, strings).
fn json_value() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::Value;
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<u64>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        (-1e20f64..1e20).prop_map(Value::from),
        "\\PC{0,8}".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::btree_map(
                prop_oneof![
                    Just("offset".to_string()),
                    Just("source".to_string()),
                    Just("inode".to_string()),
                    Just("device".to_string()),
                    "[a-z]{1,5}"
                ],
                inner,
                0..4
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// The field names drainguard reads, each given an arbitrary value.
fn state() -> impl Strategy<Value = serde_json::Value> {
    proptest::collection::btree_map(
        prop_oneof![
            Just("source"),
            Just("offset"),
            Just("ttl"),
            Just("FileStateOS"),
            Just("cursor"),
            Just("meta"),
            Just("_key"),
            Just("timestamp"),
        ],
        json_value(),
        0..7,
    )
    .prop_map(|m| {
        serde_json::Value::Object(m.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, .. ProptestConfig::default() })]

    /// Well-formed JSON of the wrong shapes, in a legacy array and as memlog ops under file and
    /// non-file keys: every read either succeeds or names the file, never panics.
    #[test]
    fn wrongly_shaped_states_never_panic(states in proptest::collection::vec(state(), 1..5)) {
        let d = tempfile::tempdir().unwrap();
        let bytes = serde_json::to_vec(&states).unwrap();
        fs::write(d.path().join("registry"), &bytes).unwrap();
        if let Err(e) = read_data_dir(d.path()) {
            prop_assert!(e.contains("registry") && e.contains("line"), "{}", e);
        }

        let d = tempfile::tempdir().unwrap();
        let dir = d.path().join("registry/filebeat");
        let mut w = tk::MemlogWriter::create(&dir).unwrap();
        for (i, s) in states.iter().enumerate() {
            let key = if i % 2 == 0 { "filestream::x::native::1-2" } else { "journald::cursor" };
            w.set(key, s.clone()).unwrap();
        }
        let r = read_data_dir(d.path());
        prop_assert!(r.is_ok(), "a bad op stops the replay with a note, not an error: {:?}", r);
    }
}
