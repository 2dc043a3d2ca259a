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
        Ok(Some(mut r)) => r
            .read()
            .map(|s| s.cursors.iter().map(|c| c.offset).collect())
            .map_err(|e| e.to_string()),
        Ok(None) => Err("none".into()),
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
