//! A bbolt writer built from Debian's real bbolt library (`golang-go` and
//! `golang-github-coreos-bbolt-dev`, installed by .ci/run): `otel_bbolt_writer.go` writes the
//! OpenTelemetry Collector's file_storage client files in their exact layout (see its
//! header). Built once per test run, offline, against /usr/share/gocode. With CI set, a
//! missing Go or bbolt fails the test; elsewhere it is skipped with a message.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;

const GOPATH: &str = "/usr/share/gocode";

/// The built writer, if Go and bbolt are installed.
pub fn writer() -> Option<PathBuf> {
    static BUILT: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let built = BUILT.get_or_init(build);
    match built {
        Ok(p) => Some(p.clone()),
        Err(why) if std::env::var_os("CI").is_some() => {
            panic!("{why}: apt-get install golang-go golang-github-coreos-bbolt-dev (.ci/run does)")
        }
        Err(why) => {
            eprintln!("skipping: {why} (see .ci/run)");
            None
        }
    }
}

fn build() -> Result<PathBuf, String> {
    if !Path::new(GOPATH)
        .join("src/go.etcd.io/bbolt/db.go")
        .exists()
    {
        return Err(format!("no go.etcd.io/bbolt in {GOPATH}"));
    }
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("otel-bbolt-writer");
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    // A directory of its own: GOPATH mode builds the package in it.
    let src = dir.join("main.go");
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/integration/support/otel_bbolt_writer.go"),
        &src,
    )
    .map_err(|e| e.to_string())?;
    let out = dir.join("otel_bbolt_writer");
    let status = Command::new("go")
        .args(["build", "-o"])
        .arg(&out)
        .arg(&src)
        .env("GO111MODULE", "off")
        .env("GOPATH", GOPATH)
        .env("GOFLAGS", "")
        .env("GOPROXY", "off")
        .env("GOCACHE", dir.join("cache"))
        .status()
        .map_err(|e| format!("go: {e}"))?;
    if !status.success() {
        return Err(format!("go build of the bbolt writer failed: {status}"));
    }
    Ok(out)
}

/// Runs the writer with `args`, to completion.
pub fn run(w: &Path, args: &[&str]) {
    let o = Command::new(w).args(args).output().unwrap();
    assert!(
        o.status.success(),
        "otel_bbolt_writer {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// `write DB SIZE FILE:OFFSET...`.
pub fn write(w: &Path, db: &Path, files: &[(&Path, u64)]) {
    let mut args = vec!["write".to_string(), s(db), "1000".into()];
    args.extend(files.iter().map(|(p, o)| format!("{}:{o}", p.display())));
    run(w, &args.iter().map(String::as_str).collect::<Vec<_>>());
}

/// `live DB 1000 ROUNDS FILE...`, running.
pub fn live(w: &Path, db: &Path, rounds: u64, files: &[&Path]) -> Child {
    Command::new(w)
        .args(["live", &s(db), "1000", &rounds.to_string()])
        .args(files)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn s(p: &Path) -> String {
    p.display().to_string()
}
