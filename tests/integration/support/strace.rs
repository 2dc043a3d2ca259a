//! "Run under strace and assert read-only": drainguard must never write, create, truncate,
//! rename, remove or lock anything of a shipper's (its store directories, its log
//! directories). The command runs under `strace -f -y` and every traced call is checked.
//!
//! Needs `strace` (Debian package `strace`; .ci/run installs it). With CI set, a missing
//! strace fails the test; elsewhere the test says so and passes nothing off as checked.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The calls traced: everything that can change a file or take a lock, plus opens and stats
/// (to prove the protected paths were read at all).
const TRACE: &str = "trace=open,openat,openat2,creat,write,pwrite64,writev,pwritev,pwritev2,\
                     ftruncate,truncate,fallocate,fcntl,flock,unlink,unlinkat,rename,renameat,\
                     renameat2,link,linkat,symlink,symlinkat,mkdir,mkdirat,rmdir,mknod,mknodat,\
                     chmod,fchmod,fchmodat,chown,fchown,fchownat,lchown,newfstatat,statx,stat,lstat";

/// What a traced run did to the protected paths.
#[derive(Debug)]
pub struct Trace {
    pub output: Output,
    /// Calls that changed or locked a protected path (the test fails on any).
    pub violations: Vec<String>,
    /// Protected roots that some call opened or stat'ed (proves the trace covered them).
    pub touched: BTreeSet<PathBuf>,
}

/// True when strace can be used; with CI set, panics instead of returning false.
pub fn available() -> bool {
    let ok = Command::new("strace")
        .args(["-qq", "-e", "trace=none", "true"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            std::env::var_os("CI").is_none(),
            "strace is missing or cannot trace (Debian package `strace`; .ci/run installs it)"
        );
        eprintln!("SKIPPED: strace is not available here; the read-only checks did not run");
    }
    ok
}

/// Runs `cmd` under strace and fails the test on any write, create, truncate, rename, unlink
/// or lock on a path under `protected`, or when the run never touched one of `protected`.
/// Returns the command's output.
pub fn assert_read_only(cmd: &Command, protected: &[&Path]) -> Output {
    assert_read_only_given(cmd, protected, |_, _| true)
}

/// [`assert_read_only`] where `must_read(path, output)` says whether the run had to read the
/// protected `path`, from what it reported (a state folder whose every read was torn names
/// no log, so its log directory is not read: that is not a gap in the trace). Changes are
/// checked under every protected path all the same.
pub fn assert_read_only_given(
    cmd: &Command,
    protected: &[&Path],
    must_read: impl Fn(&Path, &Output) -> bool,
) -> Output {
    let t = run(cmd, protected);
    assert!(
        t.violations.is_empty(),
        "drainguard changed or locked the shipper's files:\n{}\n{}",
        t.violations.join("\n"),
        String::from_utf8_lossy(&t.output.stderr)
    );
    for p in protected.iter().filter(|p| must_read(p, &t.output)) {
        let root = canonical(p);
        assert!(
            t.touched.contains(&root),
            "the traced run never read {} (the check would prove nothing): {}",
            root.display(),
            String::from_utf8_lossy(&t.output.stderr)
        );
    }
    t.output
}

/// Runs `cmd` under strace and reports what it did to `protected`.
pub fn run(cmd: &Command, protected: &[&Path]) -> Trace {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("trace");
    let mut c = Command::new("strace");
    c.args(["-f", "-qq", "-y", "-s", "4096", "-e", TRACE, "-o"])
        .arg(&log)
        .arg("--")
        .arg(cmd.get_program())
        .args(cmd.get_args());
    if let Some(d) = cmd.get_current_dir() {
        c.current_dir(d);
    }
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => c.env(k, v),
            None => c.env_remove(k),
        };
    }
    let output = c.output().expect("strace runs");
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    let roots: Vec<PathBuf> = protected.iter().map(|p| canonical(p)).collect();
    let cwd = cmd
        .get_current_dir()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| std::env::current_dir().unwrap());
    let mut violations = Vec::new();
    let mut touched = BTreeSet::new();
    for line in text.lines() {
        let Some(call) = Call::parse(line, &cwd) else {
            continue;
        };
        let hits: Vec<&PathBuf> = roots
            .iter()
            .filter(|r| call.paths.iter().any(|p| p.starts_with(r)))
            .collect();
        if hits.is_empty() {
            continue;
        }
        touched.extend(hits.into_iter().cloned());
        if call.changes() {
            violations.push(line.to_string());
        }
    }
    Trace {
        output,
        violations,
        touched,
    }
}

fn canonical(p: &Path) -> PathBuf {
    std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf())
}

/// One traced call: its name, its arguments' text and every path it names (quoted path
/// arguments resolved against the directory fd before them, and `-y` fd annotations).
struct Call<'a> {
    name: &'a str,
    args: &'a str,
    paths: Vec<PathBuf>,
}

impl<'a> Call<'a> {
    fn parse(line: &'a str, cwd: &Path) -> Option<Call<'a>> {
        // "<pid> name(args) = result" (also "<... name resumed>" lines, which are skipped:
        // strace prints the whole call on the "unfinished" line's resumption only).
        let rest = line.split_once(' ').map_or(line, |(_, r)| r).trim_start();
        let open = rest.find('(')?;
        let name = &rest[..open];
        if !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') || name.is_empty() {
            return None;
        }
        let args = &rest[open + 1..];
        let mut paths = Vec::new();
        let mut base: PathBuf = cwd.to_path_buf();
        let b = args.as_bytes();
        let mut i = 0;
        while i < b.len() {
            match b[i] {
                b'<' => {
                    let end = args[i + 1..].find('>').map_or(b.len(), |e| i + 1 + e);
                    let p = PathBuf::from(&args[i + 1..end]);
                    if p.is_absolute() {
                        base = p.clone();
                        paths.push(p);
                    }
                    i = end + 1;
                }
                b'"' => {
                    let mut end = i + 1;
                    while end < b.len() && b[end] != b'"' {
                        if b[end] == b'\\' {
                            end += 1;
                        }
                        end += 1;
                    }
                    let s = &args[i + 1..end.min(b.len())];
                    if !matches!(
                        name,
                        "write" | "pwrite64" | "writev" | "pwritev" | "pwritev2"
                    ) {
                        let p = Path::new(s);
                        paths.push(if p.is_absolute() {
                            p.to_path_buf()
                        } else {
                            base.join(p)
                        });
                    }
                    i = end + 1;
                }
                _ => i += 1,
            }
        }
        Some(Call { name, args, paths })
    }

    /// True when the call writes, creates, removes, renames or locks what it names.
    fn changes(&self) -> bool {
        let flags = |names: &[&str]| names.iter().any(|f| self.args.contains(f));
        match self.name {
            "open" | "openat" | "openat2" => {
                flags(&["O_WRONLY", "O_RDWR", "O_CREAT", "O_TRUNC", "O_APPEND"])
            }
            "fcntl" => flags(&["F_SETLK", "F_SETLKW", "F_OFD_SETLK", "F_OFD_SETLKW"]),
            "newfstatat" | "statx" | "stat" | "lstat" => false,
            // Every other traced call changes a file or takes a lock.
            _ => true,
        }
    }
}
