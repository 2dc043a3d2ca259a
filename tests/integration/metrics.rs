//! The Prometheus metrics: `status --format prometheus` and `--textfile` over a Filebeat store
//! written in its exact format with real files, linted by the real `promtool check metrics`;
//! the exporter scraped by a private real Prometheus and the textfile read by a private real
//! node_exporter (Debian packages `prometheus`, `prometheus-node-exporter`).

use crate::support;

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use drainguard::testkit::filebeat as tk;
use support::{drainguard, eventually, Proc};

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

    /// `drainguard --root R SUBCOMMAND` with the store named.
    fn cmd(&self, subcommand: &str) -> Command {
        let mut c = drainguard();
        c.arg("--root").arg(self.root()).args([
            subcommand,
            "--shipper",
            "filebeat",
            "--data-path",
            "/var/lib/filebeat",
        ]);
        c
    }

    /// `drainguard --root R status ARGS` with the store named.
    fn status(&self, args: &[&str]) -> std::process::Output {
        self.cmd("status")
            .arg("--state-dir")
            .arg(self.state_dir())
            .args(args)
            .output()
            .unwrap()
    }

    /// The backlog `status --json` reports.
    fn json_backlog(&self) -> u64 {
        support::json(&self.status(&["--json"]))["bytes_behind"]
            .as_u64()
            .unwrap()
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

/// `status --textfile` into node_exporter's textfile directory (made here), asserted to exit
/// 1 (behind): the directory and the run.
fn write_textfile(h: &Host) -> (PathBuf, std::process::Output) {
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
    (dir, o)
}

#[test]
fn the_textfile_is_written_atomically_as_prom_and_passes_promtool() {
    let Some(promtool) = tool("promtool", "prometheus") else {
        return;
    };
    let h = behind_host();
    let (dir, o) = write_textfile(&h);
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
        h.cmd("wait")
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

/// A free loopback port (bound, then released for the daemon to take).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// GET `url`: (status, content type, body).
fn get(url: &str) -> (u16, String, String) {
    try_get(url).unwrap_or_else(|e| panic!("GET {url}: {e}"))
}

/// GET `url`, or why it failed (a daemon not listening yet).
fn try_get(url: &str) -> Result<(u16, String, String), ureq::Error> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into();
    let mut r = agent.get(url).call()?;
    let ct = r
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let body = r.body_mut().read_to_string()?;
    Ok((r.status().as_u16(), ct, body))
}

/// Starts the exporter `c` (told to listen on a free port) and returns it with the address
/// it says it listens on.
fn spawn_exporter(mut c: Command) -> (Proc, String) {
    use std::io::BufRead;
    let mut child = c.stdout(Stdio::piped()).spawn().unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let child = Proc(child);
    let addr = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("exporter said {line:?}"))
        .to_string();
    (child, addr)
}

/// A private `drainguard exporter` over `h`'s store, on a free port: (process, address).
fn exporter(h: &Host) -> (Proc, String) {
    let mut c = h.cmd("exporter");
    c.args([
        "--web.listen-address",
        "127.0.0.1:0",
        "--min-interval",
        "100ms",
    ])
    .arg("--state-dir")
    .arg(h.state_dir());
    spawn_exporter(c)
}

#[test]
fn the_exporter_serves_text_format_0_0_4_and_a_landing_page() {
    let Some(promtool) = tool("promtool", "prometheus") else {
        return;
    };
    let h = behind_host();
    let (_e, addr) = exporter(&h);
    let (code, ct, body) = get(&format!("http://{addr}/metrics"));
    assert_eq!(code, 200);
    assert_eq!(ct, "text/plain; version=0.0.4; charset=utf-8");
    let (ok, said) = promtool_check(&promtool, body.as_bytes());
    assert!(ok && said.trim().is_empty(), "promtool: {said}\n{body}");
    assert!(
        body.contains("drainguard_assessment_age_seconds "),
        "{body}"
    );
    let (code, ct, page) = get(&format!("http://{addr}/"));
    assert_eq!((code, ct.as_str()), (200, "text/html; charset=utf-8"));
    assert!(page.contains("href=\"/metrics\""), "{page}");
    assert_eq!(get(&format!("http://{addr}/nope")).0, 404);
}

/// The value of the single series `query` returns in a private Prometheus, if any.
fn prom_value(prom: &str, query: &str) -> Option<u64> {
    let (code, _, body) = try_get(&format!("http://{prom}/api/v1/query?query={query}")).ok()?;
    if code != 200 {
        return None;
    }
    let v: serde_json::Value = serde_json::from_str(&body).ok()?;
    let r = v["data"]["result"].as_array()?;
    if r.len() != 1 {
        return None;
    }
    r[0]["value"][1].as_str()?.parse().ok()
}

#[test]
fn a_private_prometheus_stores_the_backlog_status_reports_before_and_after_it_advances() {
    let Some(prometheus) = tool("prometheus", "prometheus") else {
        return;
    };
    let mut h = behind_host();
    let (_e, addr) = exporter(&h);
    let t = tempfile::tempdir().unwrap();
    let config = t.path().join("prometheus.yml");
    fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n  \
             - job_name: drainguard\n    static_configs:\n      - targets: ['{addr}']\n"
        ),
    )
    .unwrap();
    let port = free_port();
    let prom = format!("127.0.0.1:{port}");
    let _p = Proc(
        Command::new(prometheus)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                t.path().join("data").display()
            ))
            .arg(format!("--web.listen-address={prom}"))
            .stdout(Stdio::null())
            .stderr(fs::File::create(t.path().join("prometheus.log")).unwrap())
            .spawn()
            .unwrap(),
    );
    let query = "drainguard_backlog_bytes%7Bshipper%3D%22filebeat%22%7D";
    let stored = |wanted: u64| {
        let seen = eventually(Duration::from_secs(120), || {
            prom_value(&prom, query) == Some(wanted)
        });
        let log = fs::read_to_string(t.path().join("prometheus.log")).unwrap_or_default();
        assert!(
            seen,
            "Prometheus never stored {wanted}: {:?}\n{log}",
            prom_value(&prom, query),
        );
    };
    let wanted = h.json_backlog();
    assert_eq!(wanted, 600);
    stored(wanted);
    // The shipper advances: 300 bytes left.
    h.track("app.log", 700);
    let wanted = h.json_backlog();
    assert_eq!(wanted, 300);
    stored(wanted);
    assert_eq!(
        prom_value(&prom, "up"),
        Some(1),
        "the scrape itself succeeded"
    );
}

#[test]
fn a_private_node_exporter_picks_up_the_textfile() {
    let Some(node_exporter) = tool("prometheus-node-exporter", "prometheus-node-exporter") else {
        return;
    };
    let h = behind_host();
    let (dir, _) = write_textfile(&h);
    let addr = format!("127.0.0.1:{}", free_port());
    let _n = Proc(
        Command::new(node_exporter)
            .arg(format!("--collector.textfile.directory={}", dir.display()))
            .arg(format!("--web.listen-address={addr}"))
            .args(["--collector.disable-defaults", "--collector.textfile"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let mut body = String::new();
    let up = eventually(Duration::from_secs(60), || {
        match try_get(&format!("http://{addr}/metrics")) {
            Ok((200, _, b)) => {
                body = b;
                true
            }
            _ => false,
        }
    });
    assert!(up, "node_exporter never answered");
    assert!(
        body.contains(
            "drainguard_backlog_bytes{shipper=\"filebeat\",store=\"/var/lib/filebeat/registry/filebeat\"} 600"
        ),
        "{body}"
    );
    assert!(body.contains("node_textfile_scrape_error 0"), "{body}");
}

/// The metric names `status --format prometheus` exposes on a host with a drain record and
/// per-file series.
fn exposed_names() -> Vec<String> {
    let h = behind_host();
    let o = drainguard()
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
        .args([
            "--deadline",
            "100ms",
            "--quiet",
            "--log-file",
            "/drainguard.log",
        ])
        .arg("--state-dir")
        .arg(h.state_dir())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(3));
    let text = String::from_utf8(
        h.status(&["--format", "prometheus", "--per-file-top", "3"])
            .stdout,
    )
    .unwrap();
    text.lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .map(|l| l.split(' ').next().unwrap().to_string())
        .collect()
}

/// Every `drainguard_*` name in `text`.
fn referenced(text: &str) -> Vec<String> {
    let re = regex::Regex::new(r"drainguard_[a-z_]+").unwrap();
    let mut v: Vec<String> = re.find_iter(text).map(|m| m.as_str().to_string()).collect();
    v.sort();
    v.dedup();
    v
}

#[test]
fn the_alert_rules_pass_promtool_test_rules_and_name_only_exposed_metrics() {
    let Some(promtool) = tool("promtool", "prometheus") else {
        return;
    };
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("contrib/prometheus");
    for args in [
        ["check", "rules", "drainguard.rules.yml"],
        ["test", "rules", "drainguard.rules.test.yml"],
    ] {
        let o = Command::new(&promtool)
            .args(args)
            .current_dir(&dir)
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "promtool {args:?}: {}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
    }
    let names = exposed_names();
    let rules = fs::read_to_string(dir.join("drainguard.rules.yml")).unwrap();
    for n in referenced(&rules) {
        assert!(
            names.contains(&n),
            "the rules use {n}, which is not exposed: {names:?}"
        );
    }
}

#[test]
fn the_grafana_dashboard_is_json_with_a_fleet_table_of_exposed_metrics() {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("contrib/grafana/drainguard-dashboard.json");
    let d: serde_json::Value = serde_json::from_str(&fs::read_to_string(path).unwrap()).unwrap();
    let panels = d["panels"].as_array().unwrap();
    let table = panels
        .iter()
        .find(|p| p["type"] == "table")
        .expect("a table panel");
    let exprs: Vec<&str> = table["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["expr"].as_str().unwrap())
        .collect();
    let all = exprs.join("\n");
    for (column, metric) in [
        ("host", "instance"),
        ("shipper", "shipper"),
        ("backlog", "drainguard_backlog_bytes"),
        ("oldest", "drainguard_oldest_backlog_seconds"),
        ("last drain outcome", "drainguard_last_drain_outcome"),
    ] {
        assert!(
            all.contains(metric),
            "the table's {column} column needs {metric}: {all}"
        );
    }
    let names = exposed_names();
    let every: Vec<String> = panels
        .iter()
        .flat_map(|p| p["targets"].as_array().unwrap().iter())
        .flat_map(|t| referenced(t["expr"].as_str().unwrap()))
        .collect();
    for n in every {
        let base = n
            .strip_suffix("_total")
            .map_or(n.clone(), |b| format!("{b}_total"));
        assert!(
            names.contains(&base),
            "the dashboard uses {n}, which is not exposed: {names:?}"
        );
    }
}

#[test]
fn install_exporter_writes_a_separate_hardened_unit_that_verifies_and_uninstalls_exactly() {
    let t = tempfile::tempdir().unwrap();
    fs::create_dir_all(t.path().join("etc/systemd/system")).unwrap();
    fs::create_dir_all(t.path().join("run/systemd/system")).unwrap();
    let before = support::tree::snapshot(t.path());
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_drainguard"))
            .arg("--root")
            .arg(t.path())
            .args(args)
            .output()
            .unwrap()
    };
    // A real binary for systemd-analyze to find: the build's own (--force: it is in target/).
    let exec = format!("--exec={}", env!("CARGO_BIN_EXE_drainguard"));
    let install = [
        "install",
        "--init",
        "systemd",
        "--exporter",
        &exec,
        "--force",
    ];
    let dry = run(&[&install[..], &["--dry-run"]].concat());
    let said = String::from_utf8_lossy(&dry.stdout);
    assert_eq!(dry.status.code(), Some(0), "{said}");
    assert!(said.contains("drainguard-exporter.service"), "{said}");
    assert!(said.contains(" exporter"), "{said}");
    assert_eq!(
        support::tree::snapshot(t.path()),
        before,
        "the dry run wrote nothing"
    );
    let out = run(&install);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let unit = fs::read_to_string(
        t.path()
            .join("etc/systemd/system/drainguard-exporter.service"),
    )
    .unwrap();
    assert!(
        unit.contains(" exporter --counter-dir ") && !unit.contains("ExecStop"),
        "{unit}"
    );
    for h in [
        "DynamicUser=yes\n",
        "ProtectSystem=strict\n",
        "AmbientCapabilities=CAP_DAC_READ_SEARCH CAP_SYS_PTRACE\n",
        "StateDirectory=drainguard-exporter\n",
        "--counter-dir ${STATE_DIRECTORY}\n",
    ] {
        assert!(unit.contains(h), "{h}: {unit}");
    }
    let drain = fs::read_to_string(t.path().join("etc/systemd/system/drainguard.service")).unwrap();
    assert!(
        !drain.contains("exporter"),
        "the drain unit knows nothing of the exporter"
    );
    assert!(t
        .path()
        .join("etc/systemd/system/multi-user.target.wants/drainguard-exporter.service")
        .is_symlink());
    if let Some(analyze) = tool("systemd-analyze", "systemd") {
        let path = t
            .path()
            .join("etc/systemd/system/drainguard-exporter.service");
        let o = Command::new(&analyze)
            .arg("verify")
            .arg(&path)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(o.status.success(), "{err}");
        let ours: Vec<&str> = err
            .lines()
            .filter(|l| l.contains("drainguard-exporter"))
            .collect();
        assert!(ours.is_empty(), "systemd-analyze complains: {ours:?}");
        // systemd's own rating of the hardening: exposure at most 2.5 of 10 ("OK"; 2.0
        // when written, docs/metrics.md); --threshold makes a higher one exit non-zero.
        let o = Command::new(analyze)
            .args(["security", "--offline=yes", "--threshold=25"])
            .arg(&path)
            .output()
            .unwrap();
        let said = String::from_utf8_lossy(&o.stdout);
        assert!(
            o.status.success(),
            "exposure over 2.5:\n{said}{}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(
            said.contains("Overall exposure level for drainguard-exporter.service: 2.0"),
            "{said}"
        );
    }
    let out = run(&["uninstall"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        support::tree::snapshot(t.path()),
        before,
        "uninstall removes exactly what install wrote"
    );
}

#[test]
fn bytes_of_a_file_deleted_while_behind_are_counted_across_runs_and_shown_in_status() {
    let h = behind_host();
    let dir = h.root().join("var/lib/prometheus/node-exporter");
    fs::create_dir_all(&dir).unwrap();
    let textfile = [
        "--textfile",
        "/var/lib/prometheus/node-exporter/drainguard.prom",
    ];
    let counter = r#"drainguard_abandoned_bytes_total{shipper="filebeat",reason="deleted"}"#;
    h.status(&textfile);
    let text = fs::read_to_string(dir.join("drainguard.prom")).unwrap();
    assert!(text.contains(&format!("{counter} 0\n")), "{text}");
    // app.log goes away with 600 bytes undelivered; its entry stays in the registry.
    fs::remove_file(h.root().join("var/log/app.log")).unwrap();
    h.status(&textfile);
    let text = fs::read_to_string(dir.join("drainguard.prom")).unwrap();
    assert!(text.contains(&format!("{counter} 600\n")), "{text}");
    // A later run counts it once, and a plain status shows it and counts nothing.
    h.status(&textfile);
    let text = String::from_utf8(h.status(&["--format", "prometheus"]).stdout).unwrap();
    assert!(text.contains(&format!("{counter} 600\n")), "{text}");
    let table = String::from_utf8(h.status(&[]).stdout).unwrap();
    assert!(
        table.contains("abandoned") && table.contains("filebeat deleted 600 B"),
        "{table}"
    );
    let state = h.root().join("var/lib/drainguard/abandoned.json");
    assert!(state.is_file(), "persisted in the state directory");
}

/// A private exporter over `root` for the shipper `--shipper filebeat` names (its usual
/// locations), finding the stores again every second: (process, address).
fn discovering_exporter(root: &Path) -> (Proc, String) {
    discovering_exporter_with(root, &[])
}

/// [`discovering_exporter`] with more arguments (`--data-path ...`).
fn discovering_exporter_with(root: &Path, more: &[&str]) -> (Proc, String) {
    let mut c = drainguard();
    c.arg("--root")
        .arg(root)
        .args(["exporter", "--shipper", "filebeat"])
        .args(more)
        .args([
            "--web.listen-address",
            "127.0.0.1:0",
            "--min-interval",
            "0s",
        ])
        .args([
            "--discover-interval",
            "1s",
            "--state-dir",
            "/var/lib/drainguard",
        ]);
    spawn_exporter(c)
}

/// The exporter's `drainguard_backlog_bytes` series (labels -> value).
fn backlog_series(addr: &str) -> Vec<(String, u64)> {
    let (code, _, body) = get(&format!("http://{addr}/metrics"));
    assert_eq!(code, 200, "{body}");
    body.lines()
        .filter_map(|l| l.strip_prefix("drainguard_backlog_bytes{"))
        .filter_map(|l| {
            let (labels, v) = l.split_once("} ")?;
            Some((labels.to_string(), v.parse().ok()?))
        })
        .collect()
}

#[test]
fn a_store_appearing_after_the_exporter_started_is_found_and_a_vanished_one_s_series_vanish() {
    let h = behind_host();
    let data = h.root().join("var/lib/filebeat");
    let away = h.root().join("var/lib/filebeat-elsewhere");
    // The shipper has not run yet: no store where the exporter looks.
    fs::rename(&data, &away).unwrap();
    let (_e, addr) = discovering_exporter(h.root());
    assert_eq!(backlog_series(&addr), vec![], "no store yet");
    // Installed and started after the exporter.
    fs::rename(&away, &data).unwrap();
    let want = h.json_backlog();
    assert!(want > 0);
    let mut seen = Vec::new();
    assert!(
        eventually(Duration::from_secs(60), || {
            seen = backlog_series(&addr);
            seen.len() == 1 && seen[0].1 == want
        }),
        "the new store never appeared with status --json's {want} bytes: {seen:?}"
    );
    assert!(seen[0].0.contains("shipper=\"filebeat\""), "{seen:?}");
    // Removed: its series go with it (and no store_up 0 for it either).
    fs::rename(&data, &away).unwrap();
    let mut body = String::new();
    assert!(
        eventually(Duration::from_secs(60), || {
            body = get(&format!("http://{addr}/metrics")).2;
            !body.contains("drainguard_backlog_bytes{") && !body.contains("drainguard_store_up{")
        }),
        "the vanished store's series stayed:\n{body}"
    );
}

/// A store named explicitly (`--data-path`) that vanishes keeps its series as
/// `store_up 0` and `delivery_confirmed 0` under the label it had, so that an alert on it
/// fires (an auto-discovered one may vanish: the test above); back, it is read again.
#[test]
fn a_named_store_that_vanishes_stays_as_store_up_0() {
    let h = behind_host();
    let data = h.root().join("var/lib/filebeat");
    let away = h.root().join("var/lib/filebeat-elsewhere");
    let (_e, addr) = discovering_exporter_with(h.root(), &["--data-path", "/var/lib/filebeat"]);
    let store = r#"shipper="filebeat",store="/var/lib/filebeat/registry/filebeat""#;
    let body = get(&format!("http://{addr}/metrics")).2;
    assert!(
        body.contains(&format!("drainguard_store_up{{{store}}} 1\n")),
        "{body}"
    );
    fs::rename(&data, &away).unwrap();
    // Past a finding of the stores again (every second here), the series stay.
    let mut body = String::new();
    let mut down = 0;
    assert!(
        eventually(Duration::from_secs(60), || {
            body = get(&format!("http://{addr}/metrics")).2;
            if body.contains(&format!("drainguard_store_up{{{store}}} 0\n")) {
                down += 1;
            }
            down >= 3
        }),
        "the named store's store_up 0 did not stay:\n{body}"
    );
    std::thread::sleep(Duration::from_millis(1500));
    let body = get(&format!("http://{addr}/metrics")).2;
    assert!(
        body.contains(&format!("drainguard_store_up{{{store}}} 0\n"))
            && body.contains(&format!("drainguard_delivery_confirmed{{{store}}} 0\n"))
            && body.contains(&format!(
                "drainguard_delivery_info{{{store},reason=\"store_unreadable\"}} 1\n"
            ))
            && !body.contains("drainguard_backlog_bytes{"),
        "{body}"
    );
    // Back: read again, with its backlog.
    fs::rename(&away, &data).unwrap();
    let want = h.json_backlog();
    let mut seen = Vec::new();
    assert!(
        eventually(Duration::from_secs(60), || {
            seen = backlog_series(&addr);
            seen.len() == 1 && seen[0].1 == want
        }),
        "the named store did not come back with {want} bytes: {seen:?}"
    );
}

#[test]
fn the_exporter_keeps_its_counters_in_its_own_directory_behind_a_link_and_status_shows_them() {
    let h = behind_host();
    // A dynamic user's StateDirectory=: /var/lib/NAME is a link into /var/lib/private.
    let private = h.root().join("var/lib/private/drainguard-exporter");
    fs::create_dir_all(&private).unwrap();
    std::os::unix::fs::symlink(
        "private/drainguard-exporter",
        h.root().join("var/lib/drainguard-exporter"),
    )
    .unwrap();
    let mut c = h.cmd("exporter");
    c.args([
        "--web.listen-address",
        "127.0.0.1:0",
        "--min-interval",
        "0s",
    ])
    .arg("--state-dir")
    .arg(h.state_dir())
    .args(["--counter-dir", "/var/lib/drainguard-exporter"]);
    let (_e, addr) = spawn_exporter(c);
    let counter = r#"drainguard_abandoned_bytes_total{shipper="filebeat",reason="deleted"}"#;
    let body = get(&format!("http://{addr}/metrics")).2;
    assert!(body.contains(&format!("{counter} 0\n")), "{body}");
    // app.log goes away with 600 bytes undelivered.
    fs::remove_file(h.root().join("var/log/app.log")).unwrap();
    let body = get(&format!("http://{addr}/metrics")).2;
    assert!(body.contains(&format!("{counter} 600\n")), "{body}");
    // Written below the link's target, nothing in drainguard's state directory.
    assert!(private.join("abandoned.json").is_file());
    assert!(!h.root().join("var/lib/drainguard/abandoned.json").exists());
    let table = String::from_utf8(h.status(&[]).stdout).unwrap();
    assert!(
        table.contains("counted by drainguard-exporter.service): filebeat deleted 600 B"),
        "{table}"
    );
}

#[test]
fn a_counter_dir_that_does_not_exist_or_leaves_the_root_is_refused() {
    let h = behind_host();
    let outside = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(outside.path(), h.root().join("var/lib/escape")).unwrap();
    for (dir, why) in [
        ("/var/lib/missing", "cannot resolve it"),
        ("/var/lib/escape", "outside the root"),
    ] {
        let o = h
            .cmd("exporter")
            .args(["--web.listen-address", "127.0.0.1:0", "--counter-dir", dir])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{dir}: {err}");
        assert!(err.contains(why) && err.contains(dir), "{dir}: {err}");
    }
}
