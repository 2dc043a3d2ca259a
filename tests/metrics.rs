//! The Prometheus metrics: `status --format prometheus` and `--textfile` over a Filebeat store
//! written in its exact format with real files, linted by the real `promtool check metrics`;
//! the exporter scraped by a private real Prometheus and the textfile read by a private real
//! node_exporter (Debian packages `prometheus`, `prometheus-node-exporter`).

mod support;

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use drainguard::testkit::filebeat as tk;
use support::drainguard;

/// A root with a Filebeat registry (memlog) tracking real log files.
struct Host {
    dir: tempfile::TempDir,
    w: tk::MemlogWriter,
}

impl Host {
    fn new() -> Host {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("var/log")).unwrap();
        let w = tk::MemlogWriter::create(&dir.path().join("var/lib/filebeat/registry/filebeat"))
            .unwrap();
        Host { dir, w }
    }

    fn root(&self) -> &Path {
        self.dir.path()
    }

    /// Writes `/var/log/NAME` with `size` bytes of lines and records `offset` for it.
    fn log(&mut self, name: &str, size: usize, offset: u64) {
        let p = self.root().join("var/log").join(name);
        let line = "0123456789abcdef\n";
        let text: String = line.repeat(size / line.len() + 1)[..size].to_string();
        fs::write(&p, text).unwrap();
        self.track(name, offset);
    }

    fn track(&mut self, name: &str, offset: u64) {
        let p = self.root().join("var/log").join(name);
        let m = fs::metadata(&p).unwrap();
        self.w
            .set(
                &tk::log_key(m.ino(), m.dev()),
                tk::log_value(&format!("/var/log/{name}"), offset, m.ino(), m.dev()),
            )
            .unwrap();
    }

    fn state_dir(&self) -> PathBuf {
        PathBuf::from("/var/lib/drainguard")
    }

    /// `drainguard --root R status ARGS` with the store named.
    fn status(&self, args: &[&str]) -> std::process::Output {
        drainguard()
            .arg("--root")
            .arg(self.root())
            .args([
                "status",
                "--shipper",
                "filebeat",
                "--data-path",
                "/var/lib/filebeat",
            ])
            .arg("--state-dir")
            .arg(self.state_dir())
            .args(args)
            .output()
            .unwrap()
    }

    /// The backlog `status --json` reports.
    fn json_backlog(&self) -> u64 {
        let o = self.status(&["--json"]);
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        v["bytes_behind"].as_u64().unwrap()
    }
}

/// A tool from a Debian package, or `None` (skip) outside CI; in CI a missing one fails.
fn tool(name: &str, package: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(name))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must install {name} (Debian package {package})"
        );
        eprintln!("{name} not installed: skipped outside CI");
    }
    found
}

/// `promtool check metrics` on `text`: its verdict and what it said.
fn promtool_check(promtool: &Path, text: &[u8]) -> (bool, String) {
    use std::io::Write;
    let mut c = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    c.stdin.take().unwrap().write_all(text).unwrap();
    let o = c.wait_with_output().unwrap();
    (
        o.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        ),
    )
}

fn behind_host() -> Host {
    let mut h = Host::new();
    h.log("app.log", 1000, 400);
    h.log("done.log", 300, 300);
    h
}

#[test]
fn status_format_prometheus_passes_promtool_and_reports_the_status_backlog() {
    let Some(promtool) = tool("promtool", "prometheus") else {
        return;
    };
    let h = behind_host();
    let o = h.status(&["--format", "prometheus", "--per-file-top", "5"]);
    assert_eq!(o.status.code(), Some(1), "behind: exit 1 as status");
    let text = String::from_utf8(o.stdout).unwrap();
    let (ok, said) = promtool_check(&promtool, text.as_bytes());
    assert!(ok && said.trim().is_empty(), "promtool: {said}\n{text}");
    assert_eq!(h.json_backlog(), 600);
    let store = r#"shipper="filebeat",store="/var/lib/filebeat/registry/filebeat""#;
    assert!(
        text.contains(&format!("drainguard_backlog_bytes{{{store}}} 600\n")),
        "{text}"
    );
    assert!(text.contains(&format!("drainguard_files{{{store},state=\"behind\"}} 1\n")));
    assert!(text.contains(&format!(
        "drainguard_files{{{store},state=\"shipped\"}} 1\n"
    )));
    assert!(text.contains(&format!(
        "drainguard_file_backlog_bytes{{{store},path=\"/var/log/app.log\"}} 600\n"
    )));
    assert!(!text.contains("done.log"), "a shipped file has no series");
    assert!(text.contains(&format!("drainguard_oldest_backlog_seconds{{{store}}} ")));
    assert!(
        !text.contains("# EOF"),
        "text format 0.0.4, not OpenMetrics"
    );
}

#[test]
fn the_textfile_is_written_atomically_as_prom_and_passes_promtool() {
    let Some(promtool) = tool("promtool", "prometheus") else {
        return;
    };
    let h = behind_host();
    let dir = h.root().join("var/lib/prometheus/node-exporter");
    fs::create_dir_all(&dir).unwrap();
    let o = h.status(&[
        "--textfile",
        "/var/lib/prometheus/node-exporter/drainguard.prom",
    ]);
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(o.stdout.is_empty(), "the metrics go to the file only");
    let names: Vec<String> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["drainguard.prom"], "no temporary file left");
    let text = fs::read(dir.join("drainguard.prom")).unwrap();
    let (ok, said) = promtool_check(&promtool, &text);
    assert!(ok && said.trim().is_empty(), "promtool: {said}");
    // Another name than *.prom is refused: node_exporter would not read it.
    let o = h.status(&[
        "--textfile",
        "/var/lib/prometheus/node-exporter/drainguard.txt",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("*.prom"));
}

#[test]
fn a_drain_cut_off_by_its_deadline_is_recorded_and_exported_as_the_last_drain() {
    let h = behind_host();
    let wait = |h: &Host| {
        drainguard()
            .arg("--root")
            .arg(h.root())
            .args([
                "wait",
                "--shipper",
                "filebeat",
                "--data-path",
                "/var/lib/filebeat",
            ])
            .args(["--shipper-pid", &std::process::id().to_string()])
            .args(["--deadline", "300ms", "--interval", "50ms", "--quiet"])
            .args(["--log-file", "/var/log/drainguard/drainguard.log"])
            .arg("--state-dir")
            .arg(h.state_dir())
            .output()
            .unwrap()
    };
    let o = wait(&h);
    assert_eq!(
        o.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let log = h.root().join("var/lib/drainguard/drains.jsonl");
    let lines = fs::read_to_string(&log).unwrap();
    assert_eq!(lines.lines().count(), 1, "{lines}");
    let rec: serde_json::Value = serde_json::from_str(lines.lines().next().unwrap()).unwrap();
    assert_eq!(rec["outcome"], "deadline");
    assert_eq!(rec["unshipped_bytes"], 600);
    assert_eq!(rec["stores"][0]["shipper"], "filebeat");
    let text = String::from_utf8(h.status(&["--format", "prometheus"]).stdout).unwrap();
    assert!(
        text.contains("drainguard_last_drain_outcome{outcome=\"deadline\"} 1\n"),
        "{text}"
    );
    assert!(text.contains("drainguard_last_drain_outcome{outcome=\"drained\"} 0\n"));
    assert!(text.contains("drainguard_last_drain_unshipped_bytes 600\n"));
    // The next drain is appended; the last one is exported.
    let mut h = h;
    h.track("app.log", 1000);
    assert_eq!(wait(&h).status.code(), Some(0));
    let lines = fs::read_to_string(&log).unwrap();
    assert_eq!(lines.lines().count(), 2, "{lines}");
    let text = String::from_utf8(h.status(&["--format", "prometheus"]).stdout).unwrap();
    assert!(text.contains("drainguard_last_drain_outcome{outcome=\"drained\"} 1\n"));
    assert!(text.contains("drainguard_last_drain_unshipped_bytes 0\n"));
}
