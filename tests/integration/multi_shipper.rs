//! Several shippers on one host: `status` finds every one in its usual place (here below
//! `--root`), reports them in one table with one verdict, and `--shipper` picks some.

use crate::support;

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use drainguard::testkit::{self, filebeat as tk};
use support::drainguard;

/// A host image: Filebeat (memlog registry in /var/lib/filebeat, nothing behind) and Fluentd
/// (fluentd.conf with a pos_file and monitor_agent), each tailing its own log.
struct Host {
    dir: tempfile::TempDir,
    fluentd_log: PathBuf,
}

impl Host {
    fn new(monitor_port: u16) -> Host {
        let dir = tempfile::tempdir().unwrap();
        let p = |h: &str| dir.path().join(h.trim_start_matches('/'));
        for d in [
            "/var/log",
            "/var/lib/filebeat",
            "/var/lib/fluent",
            "/etc/fluent",
        ] {
            std::fs::create_dir_all(p(d)).unwrap();
        }
        std::fs::write(p("/var/log/beat.log"), "one\ntwo\n").unwrap();
        let m = std::fs::metadata(p("/var/log/beat.log")).unwrap();
        let mut w = tk::MemlogWriter::create(&p("/var/lib/filebeat/registry/filebeat")).unwrap();
        w.set(
            &tk::log_key(m.ino(), m.dev()),
            tk::log_value("/var/log/beat.log", 8, m.ino(), m.dev()),
        )
        .unwrap();
        std::fs::write(
            p("/etc/fluent/fluentd.conf"),
            format!(
                "<source>\n  @type tail\n  path /var/log/td.log\n  pos_file /var/lib/fluent/td.pos\n  tag app\n</source>\n\
                 <source>\n  @type monitor_agent\n  bind 127.0.0.1\n  port {monitor_port}\n</source>\n"
            ),
        )
        .unwrap();
        let fluentd_log = p("/var/log/td.log");
        std::fs::write(&fluentd_log, "alpha\nbeta\n").unwrap();
        let h = Host { dir, fluentd_log };
        h.fluentd_pos(6);
        h
    }

    fn root(&self) -> &Path {
        self.dir.path()
    }

    /// Rewrites Fluentd's pos file with `pos` for its log.
    fn fluentd_pos(&self, pos: u64) {
        let ino = std::fs::metadata(&self.fluentd_log).unwrap().ino();
        std::fs::write(
            self.root().join("var/lib/fluent/td.pos"),
            testkit::fluentd::line("/var/log/td.log", pos, ino),
        )
        .unwrap();
    }

    fn status(&self, extra: &[&str]) -> (Option<i32>, serde_json::Value) {
        let o = drainguard()
            .arg("--root")
            .arg(self.root())
            .args(["status", "--json"])
            .args(extra)
            .output()
            .unwrap();
        let doc = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
            panic!(
                "{e}: {}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            )
        });
        (o.status.code(), doc)
    }
}

fn shippers(doc: &serde_json::Value) -> Vec<String> {
    doc["shippers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["shipper"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn every_detected_shipper_in_one_report_with_one_verdict() {
    let idle = support::fake_http(
        r#"{"plugins":[{"plugin_id":"out","output_plugin":true,"buffer_total_queued_size":0}]}"#,
    );
    let h = Host::new(idle);

    // Fluentd is 5 bytes behind ("beta\n"): one verdict for the host, behind.
    let (code, doc) = h.status(&[]);
    assert_eq!(code, Some(1), "{doc}");
    assert_eq!(shippers(&doc), vec!["filebeat", "fluentd"]);
    assert_eq!(doc["bytes_behind"].as_u64(), Some(5));
    assert_eq!(doc["verdict"], "behind");

    // Picking Filebeat alone: it has delivered everything.
    let (code, doc) = h.status(&["--shipper", "filebeat"]);
    assert_eq!(code, Some(0), "{doc}");
    assert_eq!(shippers(&doc), vec!["filebeat"]);

    // Fluentd catches up and its buffer is empty: the host is drained.
    h.fluentd_pos(11);
    let (code, doc) = h.status(&[]);
    assert_eq!(code, Some(0), "{doc}");
    assert_eq!(shippers(&doc), vec!["filebeat", "fluentd"]);
}

#[test]
fn a_shipper_whose_buffer_still_holds_data_keeps_the_host_behind() {
    let busy = support::fake_http(
        r#"{"plugins":[{"plugin_id":"out","output_plugin":true,"buffer_total_queued_size":4096}]}"#,
    );
    let h = Host::new(busy);
    h.fluentd_pos(11);
    // Every file read, but Fluentd's buffer still holds data: behind, named.
    let (code, doc) = h.status(&[]);
    assert_eq!(code, Some(1), "{doc}");
    assert!(doc.to_string().contains("4096 bytes buffered"), "{doc}");
}
