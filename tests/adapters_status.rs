//! `drainguard status` end to end over a non-Filebeat adapter: a Fluent Bit tail DB (written
//! in its exact schema) and its config, a real log file, and Fluent Bit's storage API faked on
//! 127.0.0.1. The offsets alone prove only "read": the verdict follows the API.

mod support;

use std::io::{Read, Write};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use drainguard::testkit;
use support::drainguard;

/// Serves `body` to every request on 127.0.0.1; returns the port.
fn fake_api(body: &'static str) -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut s in l.incoming().flatten() {
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf);
            let _ = write!(
                s,
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    port
}

fn status(dir: &Path, port: u16) -> (Option<i32>, String) {
    let log = dir.join("logs/app.log");
    let conf = dir.join("fluent-bit.conf");
    std::fs::write(
        &conf,
        format!(
            "[SERVICE]\n    HTTP_Server On\n    HTTP_Listen 127.0.0.1\n    HTTP_Port {port}\n\n[INPUT]\n    Name tail\n    Path {}/*.log\n    DB {}\n",
            log.parent().unwrap().display(),
            dir.join("tail.db").display()
        ),
    )
    .unwrap();
    let o = drainguard()
        .args(["status", "--shipper", "fluent-bit", "--config"])
        .arg(&conf)
        .output()
        .unwrap();
    (
        o.status.code(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        ),
    )
}

#[test]
fn fluentbit_status_follows_offsets_and_the_storage_api() {
    let d = tempfile::tempdir().unwrap();
    std::fs::create_dir(d.path().join("logs")).unwrap();
    let log = d.path().join("logs/app.log");
    std::fs::write(&log, "one\ntwo\n").unwrap();
    let ino = std::fs::metadata(&log).unwrap().ino();
    let w = testkit::fluentbit::create(&d.path().join("tail.db"), true).unwrap();
    let id = testkit::fluentbit::insert(&w, log.to_str().unwrap(), 4, ino).unwrap();
    let idle = fake_api(r#"{"input_chunks":{"tail.0":{"chunks":{"total":0}}}}"#);
    let busy = fake_api(r#"{"input_chunks":{"tail.0":{"chunks":{"total":3}}}}"#);

    // Offset behind the file: behind whatever the API says.
    let (code, out) = status(d.path(), idle);
    assert_eq!(code, Some(1), "{out}");
    // Everything read (offset only in the WAL) but chunks still queued: behind.
    testkit::fluentbit::update_offset(&w, id, 8).unwrap();
    let (code, out) = status(d.path(), busy);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("3 chunks"), "{out}");
    // Everything read and the engine's queue empty: drained.
    let (code, out) = status(d.path(), idle);
    assert_eq!(code, Some(0), "{out}");
}
