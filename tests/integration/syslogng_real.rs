//! A real, private syslog-ng (Debian 12's 3.38.1, `syslog-ng -F -f CONF -R PERSIST -c CTL -p
//! PID --no-caps`, its own directory, never the system service): a `file()` source ships an
//! app log over TCP to the test's sink on 127.0.0.1, with and without `flags(flow-control)`.
//! drainguard finds the config, the persist file and the control socket on the process's
//! command line (`--shipper-pid`), exactly as on a host.
//!
//! Needs syslog-ng-core unpacked into `$DG_SYSLOG_NG_DIR` (default /opt/dg-syslog-ng;
//! .ci/run does it). With CI set, a missing one fails the tests; elsewhere they are skipped.

use crate::support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use support::syslog_ng::{self, SyslogNg};
use support::syslog_real::{
    app_log, assert_no_line_missing, assert_released_with_nothing_owed, rotate, LINE_LEN,
};
use support::tcp_sink::{sorted_lines, TcpSink};
use support::{drainguard, eventually, json, text};

/// syslog-ng reading `log` (`file()`, raw lines) to `sink`.
fn start(install: &Path, dir: &Path, log: &Path, sink: &TcpSink, flow_control: bool) -> SyslogNg {
    let source = format!(
        "file(\"{}\" follow-freq(1) flags(no-parse) log-fetch-limit(1000));",
        log.display()
    );
    SyslogNg::start(install, dir, &config(&source, &sink.addr, flow_control))
}

/// The config of `source` shipped over TCP to `addr`. Without flow-control its queue is made
/// large enough for the whole log: overflowing `log-fifo-size` drops messages (syslog-ng's
/// own loss, which no drain can undo).
fn config(source: &str, addr: &str, flow_control: bool) -> String {
    let conf = syslog_ng::tcp_config(source, addr, flow_control);
    if flow_control {
        conf
    } else {
        conf.replace("time-reopen(1)", "time-reopen(1) log-fifo-size(1000000)")
    }
}

/// The installed syslog-ng (None: skipped), a temp dir and `app.log` in it with `lines`
/// lines.
fn setup(lines: usize) -> Option<(PathBuf, tempfile::TempDir, PathBuf)> {
    let install = syslog_ng::installed()?;
    let d = tempfile::tempdir().unwrap();
    let log = d.path().join("app.log");
    app_log(&log, lines);
    Some((install, d, log))
}

/// True once syslog-ng has read and connected: the sink got bytes (or they wait in its
/// socket while it is paused).
fn connected(sink: &TcpSink) -> bool {
    eventually(Duration::from_secs(20), || {
        sink.bytes() > 0 || sink.kernel_unread() > 0
    })
}

fn status(s: &SyslogNg) -> Output {
    drainguard()
        .args(["status", "--json", "--shipper-pid", &s.pid().to_string()])
        .output()
        .unwrap()
}

fn wait_cmd(s: &SyslogNg, dir: &Path, deadline: &str) -> Command {
    let mut c = drainguard();
    c.args(["wait", "--shipper-pid", &s.pid().to_string()])
        .args(["--interval", "100ms", "--deadline", deadline, "--quiet"])
        .arg("--log-file")
        .arg(dir.join("drainguard.log"));
    c
}

fn drains_completely(flow_control: bool) {
    let Some((install, d, log)) = setup(1000) else {
        return;
    };
    let want = sorted_lines(&std::fs::read(&log).unwrap());
    let sink = TcpSink::start();
    let s = start(&install, d.path(), &log, &sink, flow_control);
    assert!(eventually(Duration::from_secs(30), || sink.lines() == want));
    let drained = eventually(Duration::from_secs(20), || {
        status(&s).status.code() == Some(0)
    });
    let o = status(&s);
    assert!(drained, "{}", text(&o));
    let j = json(&o);
    assert_eq!(j["verdict"], "drained", "{j}");
    let sh = &j["shippers"][0];
    assert_eq!(sh["shipper"], "syslog-ng");
    assert_eq!(sh["store"], s.persist.to_string_lossy().as_ref());
    assert_eq!(sh["files"][0]["path"], log.to_string_lossy().as_ref());
    assert_eq!(sh["files"][0]["offset"], 1000 * LINE_LEN);
    assert!(
        sh["delivery"]
            .as_str()
            .is_some_and(|d| d.contains("syslog-ng destination queues")),
        "the verdict names its signal: {sh}"
    );
}

#[test]
fn status_sees_a_real_syslog_ng_drain_completely() {
    drains_completely(false);
}

#[test]
fn status_sees_a_flow_controlled_syslog_ng_drain_completely() {
    drains_completely(true);
}

/// The sink paused: `wait` holds to its deadline (exit 3) and the sink lacks lines; resumed,
/// but slower than syslog-ng writes, `wait` releases only once the sink's host has
/// acknowledged every byte, and the sink then has every line.
fn holds_then_releases(flow_control: bool) {
    let Some((install, d, log)) = setup(100_000) else {
        return;
    };
    let want = sorted_lines(&std::fs::read(&log).unwrap());
    let sink = TcpSink::start();
    sink.pause();
    let s = start(&install, d.path(), &log, &sink, flow_control);
    // syslog-ng has read and connected.
    assert!(connected(&sink));
    let held = wait_cmd(&s, d.path(), "4s").output().unwrap();
    assert_eq!(held.status.code(), Some(3), "{}", text(&held));
    let held_bytes = sink.bytes();
    assert!(
        (held_bytes as u64) < 100_000 * LINE_LEN,
        "sink got everything while paused"
    );
    sink.resume_slowly();
    let out = wait_cmd(&s, d.path(), "180s").output().unwrap();
    assert_released_with_nothing_owed(
        &sink,
        &want,
        &out,
        held_bytes,
        &format!("flow-control {flow_control}"),
    );
}

#[test]
fn wait_holds_while_the_sink_is_paused_and_releases_once_it_has_every_line() {
    holds_then_releases(false);
}

#[test]
fn with_flow_control_wait_holds_while_the_sink_is_paused_and_releases_once_it_has_every_line() {
    holds_then_releases(true);
}

/// Without flow-control the acknowledged offsets reach the end of the file while the sink
/// is paused (acked means "queued in memory"): the destination's queued counter, read from
/// the control socket, is what keeps the verdict "behind".
#[test]
fn without_flow_control_the_queued_counter_holds_the_verdict() {
    let Some((install, d, log)) = setup(100_000) else {
        return;
    };
    let sink = TcpSink::start();
    sink.pause();
    let s = start(&install, d.path(), &log, &sink, false);
    let size = std::fs::metadata(&log).unwrap().len();
    let acked_to_the_end = eventually(Duration::from_secs(30), || {
        let j = json(&status(&s));
        j["shippers"][0]["files"][0]["offset"].as_u64() == Some(size)
            && j["queued_events"].as_u64() > Some(0)
    });
    let o = status(&s);
    let j = json(&o);
    assert!(acked_to_the_end, "{j}");
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert_eq!(j["verdict"], "behind", "{j}");
    assert_eq!(j["bytes_behind"], 0, "every file is read: {j}");
    let queues = j["shippers"][0]["queues"].to_string();
    assert!(queues.contains("d_net#0"), "{queues}");
    eprintln!(
        "paused sink, no flow-control: offset {size} of {size}, {} messages queued, {} B \
         unacknowledged",
        j["queued_events"], j["unacked_bytes"]
    );
}

/// The receiver down (nothing listens; syslog-ng retries every second): without
/// flow-control every line is acknowledged and no TCP connection holds anything, so only the
/// queued counter shows what is owed. `wait` holds to its deadline; once a receiver listens
/// again it releases only when the sink has every line.
#[test]
fn with_the_receiver_down_only_the_queued_counter_holds_the_wait() {
    let Some((install, d, log)) = setup(20_000) else {
        return;
    };
    let want = sorted_lines(&std::fs::read(&log).unwrap());
    let addr = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().to_string()
    };
    let conf = config(
        &format!(
            "file(\"{}\" follow-freq(1) flags(no-parse));",
            log.display()
        ),
        &addr,
        false,
    );
    let s = SyslogNg::start(&install, d.path(), &conf);
    let size = std::fs::metadata(&log).unwrap().len();
    assert!(eventually(Duration::from_secs(30), || {
        json(&status(&s))["shippers"][0]["files"][0]["offset"].as_u64() == Some(size)
    }));
    let held = wait_cmd(&s, d.path(), "3s").output().unwrap();
    assert_eq!(held.status.code(), Some(3), "{}", text(&held));
    let j = json(&status(&s));
    assert_eq!(j["queued_events"], 20_000, "{j}");
    assert_eq!(j["unacked_bytes"], 0, "{j}");
    let sink = TcpSink::start_at(&addr);
    let out = wait_cmd(&s, d.path(), "60s").output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        eventually(Duration::from_secs(10), || sink.lines() == want),
        "released, but the sink has {} of {} lines",
        sink.lines().len(),
        want.len()
    );
}

#[test]
fn wait_exits_4_when_syslog_ng_is_killed_mid_way() {
    let Some((install, d, log)) = setup(100_000) else {
        return;
    };
    let sink = TcpSink::start();
    sink.pause();
    let mut s = start(&install, d.path(), &log, &sink, true);
    assert!(connected(&sink));
    let pid = s.pid();
    s.kill();
    let out = drainguard()
        .args(["wait", "--shipper", "syslog-ng", "--config"])
        .arg(&s.conf)
        .arg("--registry")
        .arg(&s.persist)
        .args(["--shipper-pid", &pid.to_string()])
        .args(["--interval", "100ms", "--deadline", "30s", "--quiet"])
        .arg("--log-file")
        .arg(d.path().join("drainguard.log"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
}

/// The app log is renamed mid-way and a new one written: every line of both reaches the
/// sink before `wait` releases.
fn rotation_loses_nothing(flow_control: bool) {
    let Some((install, d, log)) = setup(50_000) else {
        return;
    };
    let sink = TcpSink::start();
    let s = start(&install, d.path(), &log, &sink, flow_control);
    assert!(eventually(Duration::from_secs(20), || sink.bytes() > 0));
    let (_, want) = rotate(&log);
    let out = wait_cmd(&s, d.path(), "120s").output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_no_line_missing(&sink, &want, &format!("flow-control {flow_control}"));
}

#[test]
fn rotation_while_shipping_loses_nothing() {
    rotation_loses_nothing(false);
}

#[test]
fn rotation_while_shipping_with_flow_control_loses_nothing() {
    rotation_loses_nothing(true);
}

/// The persist file a running syslog-ng writes, read by drainguard's parser, says what
/// syslog-ng's own `persist-tool dump` says of a copy of it (never of the live file:
/// persist-tool writes beside the file it reads).
#[test]
fn the_parser_agrees_with_persist_tool_on_a_live_file() {
    use drainguard::adapters::syslogng::persist;
    let Some(install) = syslog_ng::installed() else {
        return;
    };
    let d = tempfile::tempdir().unwrap();
    let logs: Vec<PathBuf> = (0..3)
        .map(|i| d.path().join(format!("in{i}.log")))
        .collect();
    for (i, l) in logs.iter().enumerate() {
        app_log(l, 10 * (i + 1));
    }
    let sink = TcpSink::start();
    let source: String = logs
        .iter()
        .map(|l| format!("file(\"{}\" follow-freq(1) flags(no-parse));", l.display()))
        .collect();
    let s = SyslogNg::start(
        &install,
        d.path(),
        &syslog_ng::tcp_config(&source, &sink.addr, true),
    );
    assert!(eventually(Duration::from_secs(20), || sink.lines().len() == 60));
    // Settled: the copy holds the final positions.
    std::thread::sleep(Duration::from_millis(500));
    let copy = d.path().join("copy").join("syslog-ng.persist");
    std::fs::create_dir(copy.parent().unwrap()).unwrap();
    std::fs::copy(&s.persist, &copy).unwrap();
    let lib = install.join("usr/lib/syslog-ng");
    let dump = Command::new(install.join("usr/bin/persist-tool"))
        .arg("dump")
        .arg(&copy)
        .env("LD_LIBRARY_PATH", &lib)
        .output()
        .unwrap();
    let dumped =
        String::from_utf8_lossy(&dump.stdout).into_owned() + &String::from_utf8_lossy(&dump.stderr);
    let bytes = std::fs::read(&copy).unwrap();
    let p = persist::Persist::parse(&copy, &bytes).unwrap();
    for l in &logs {
        let key = format!("affile_sd_curpos({})", l.display());
        let e = p
            .entries
            .iter()
            .find(|e| e.name == key.as_bytes())
            .unwrap_or_else(|| panic!("no {key}: {p:?}"));
        // persist-tool prints `<key> = { "value": "00 00 ... " }`.
        let line = dumped
            .lines()
            .find(|x| x.starts_with(&format!("{key} =")))
            .unwrap_or_else(|| panic!("persist-tool did not list {key}: {dumped}"));
        let hex: Vec<u8> = line
            .split('"')
            .nth(3)
            .unwrap()
            .split_whitespace()
            .map(|h| u8::from_str_radix(h, 16).unwrap())
            .collect();
        assert_eq!(hex, e.value, "{key}");
        let pos = persist::file_position(&copy, e.handle as usize, e.size, &e.value).unwrap();
        use std::os::unix::fs::MetadataExt;
        let m = std::fs::metadata(l).unwrap();
        assert_eq!((pos.inode, pos.acked), (m.ino(), m.len()), "{key}");
    }
}

/// The 4.8.1+ key form (no syslog-ng 4 runs here: the persist file is written in its exact
/// format by the testkit): `status` matches `affile_sd.<hash>.curpos(<path>)` and
/// `wildcard_file_sd.<hash>.curpos(<tail>)` entries to the configured files by inode, a
/// path too long for the key (its tail cut) included, and says what is behind.
#[test]
fn status_reads_a_persist_file_in_the_4_8_1_key_form() {
    use drainguard::testkit::syslogng as tk;
    use std::os::unix::fs::MetadataExt;
    let d = tempfile::tempdir().unwrap();
    let app = d.path().join("app.log");
    std::fs::write(&app, "one\ntwo\nthree\n").unwrap();
    // A wildcard file whose path exceeds what the 1023-byte key keeps.
    let deep: PathBuf = (0..5).fold(d.path().join("w"), |p, i| {
        p.join(format!("{i}{}", "d".repeat(220)))
    });
    std::fs::create_dir_all(&deep).unwrap();
    let svc = deep.join("svc.log");
    std::fs::write(&svc, "alpha\nbeta\n").unwrap();
    let conf = d.path().join("syslog-ng.conf");
    std::fs::write(
        &conf,
        format!(
            "@version: 4.8\n\
             source s {{ file(\"{}\"); wildcard-file(base-dir(\"{}\") filename-pattern(\"*.log\") recursive(yes)); }};\n\
             destination n {{ network(\"127.0.0.1\" port(9) transport(\"tcp\")); }};\n\
             log {{ source(s); destination(n); flags(flow-control); }};\n",
            app.display(),
            d.path().join("w").display()
        ),
    )
    .unwrap();
    let persist = d.path().join("syslog-ng.persist");
    let write = |app_acked: u64, svc_acked: u64| {
        let (a, s) = (
            std::fs::metadata(&app).unwrap(),
            std::fs::metadata(&svc).unwrap(),
        );
        tk::write(
            &persist,
            &[
                tk::Value::new("run_id", vec![0, 0, 0, 1]),
                tk::Value::new(
                    tk::key(false, None, &app.to_string_lossy()),
                    tk::position(app_acked, app_acked, a.len(), a.ino()),
                ),
                tk::Value::new(
                    tk::key(true, None, &svc.to_string_lossy()),
                    tk::position(svc_acked, svc_acked, s.len(), s.ino()),
                ),
            ],
        )
        .unwrap();
    };
    // No syslog-ng runs for this store: the shipper's process is a stand-in with no socket,
    // so the private syslog-ngs of the tests running beside this one (whose TCP send queues
    // every syslog-ng of the host would add) are not counted.
    let none = support::Proc(
        Command::new("sleep")
            .arg("600")
            .spawn()
            .expect("sleep starts"),
    );
    let status = || {
        drainguard()
            .args(["status", "--json", "--shipper", "syslog-ng", "--config"])
            .arg(&conf)
            .arg("--registry")
            .arg(&persist)
            .args(["--shipper-pid", &none.pid().to_string()])
            .output()
            .unwrap()
    };
    write(14, 6);
    let o = status();
    let j = json(&o);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert_eq!(j["verdict"], "behind", "{j}");
    assert_eq!(j["bytes_behind"], 5, "beta\\n is behind: {j}");
    let files = j["shippers"][0]["files"].as_array().unwrap();
    let state = |p: &Path| {
        files
            .iter()
            .find(|f| f["path"] == p.to_string_lossy().as_ref())
            .unwrap_or_else(|| panic!("{} not reported: {j}", p.display()))["state"]
            .clone()
    };
    assert_eq!(state(&app), "shipped");
    assert_eq!(state(&svc), "behind");
    write(14, 11);
    let o = status();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(json(&o)["verdict"], "drained");
}

/// A destination without a `queued` counter proves nothing. A `file()` destination counts its
/// queue only from stats level 1: at level 0 the running syslog-ng reports none for it, so
/// the verdict is unconfirmed, naming it; and it stays so when the config on disk says
/// `stats-level(1)` but was not reloaded (drainguard reads the file, syslog-ng runs the old
/// one): a missing counter is never read as an empty queue.
#[test]
fn a_file_destination_without_a_queued_counter_is_unconfirmed_whatever_the_config_says() {
    let Some(install) = syslog_ng::installed() else {
        return;
    };
    let d = tempfile::tempdir().unwrap();
    let log = d.path().join("app.log");
    app_log(&log, 100);
    let out = d.path().join("out.log");
    let conf = format!(
        "options {{ stats-freq(0); stats-level(0); }};\n\
         source s {{ file(\"{}\" follow-freq(1) flags(no-parse)); }};\n\
         destination d_file {{ file(\"{}\" template(\"${{MSG}}\\n\")); }};\n\
         log {{ source(s); destination(d_file); }};\n",
        log.display(),
        out.display()
    );
    let s = SyslogNg::start(&install, d.path(), &conf);
    assert!(
        eventually(Duration::from_secs(30), || {
            std::fs::read_to_string(&out).is_ok_and(|t| t.lines().count() == 100)
        }),
        "syslog-ng did not write the 100 lines"
    );
    let size = std::fs::metadata(&log).unwrap().len();
    let unconfirmed = |what: &str| {
        let mut j = serde_json::Value::Null;
        let read = eventually(Duration::from_secs(30), || {
            j = json(&status(&s));
            j["shippers"][0]["files"][0]["offset"].as_u64() == Some(size)
        });
        assert!(read, "{what}: every line acknowledged: {j}");
        assert_eq!(j["verdict"], "unconfirmed", "{what}: {j}");
        let queues = j["shippers"][0]["queues"].to_string();
        assert!(
            queues.contains("d_file") && queues.contains("stats-level(1)"),
            "{what}: {queues}"
        );
    };
    unconfirmed("stats level 0");
    std::fs::write(
        &s.conf,
        format!(
            "@version: 3.38\n{}",
            conf.replace("stats-level(0)", "stats-level(1)")
        ),
    )
    .unwrap();
    unconfirmed("stats-level(1) on disk, not reloaded");
}
