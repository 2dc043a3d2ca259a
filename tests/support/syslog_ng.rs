//! A private syslog-ng (Debian `syslog-ng-core` 3.38, unpacked into `$DG_SYSLOG_NG_DIR`,
//! default /opt/dg-syslog-ng, by .ci/run: the package conflicts with rsyslog), started as
//! `syslog-ng -F -f CONF -R PERSIST -c CTL -p PID --no-caps` in a test's own directory;
//! never the system service. With CI set, a missing one fails the test; elsewhere it is
//! skipped with a message.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use super::{eventually, Proc};

/// The unpacked syslog-ng-core, if present.
pub fn installed() -> Option<PathBuf> {
    let dir = std::env::var_os("DG_SYSLOG_NG_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/opt/dg-syslog-ng"));
    if dir.join("usr/sbin/syslog-ng").exists() {
        return Some(dir);
    }
    if std::env::var_os("CI").is_some() {
        panic!(
            "syslog-ng is missing in {}: `apt-get download syslog-ng-core` and \
             `dpkg-deb -x` it there (.ci/run does)",
            dir.display()
        );
    }
    eprintln!("skipping: no syslog-ng in {} (see .ci/run)", dir.display());
    None
}

/// A running private syslog-ng; killed when dropped.
pub struct SyslogNg {
    pub proc: Proc,
    pub conf: PathBuf,
    pub persist: PathBuf,
    pub ctl: PathBuf,
}

impl SyslogNg {
    /// Starts syslog-ng from `install` with `config` (the text after `@version`) in `dir`;
    /// returns once its persist file exists.
    pub fn start(install: &Path, dir: &Path, config: &str) -> SyslogNg {
        let conf = dir.join("syslog-ng.conf");
        std::fs::write(&conf, format!("@version: 3.38\n{config}")).unwrap();
        let persist = dir.join("syslog-ng.persist");
        let ctl = dir.join("syslog-ng.ctl");
        let lib = install.join("usr/lib/syslog-ng");
        let child = Command::new(install.join("usr/sbin/syslog-ng"))
            .args(["-F", "-f"])
            .arg(&conf)
            .arg("-R")
            .arg(&persist)
            .arg("-c")
            .arg(&ctl)
            .arg("-p")
            .arg(dir.join("syslog-ng.pid"))
            .arg("--no-caps")
            .arg(format!("--module-path={}", lib.join("3.38").display()))
            .env("LD_LIBRARY_PATH", &lib)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("syslog-ng starts");
        let proc = Proc(child);
        assert!(
            eventually(Duration::from_secs(20), || persist.exists() && ctl.exists()),
            "syslog-ng did not start (no persist file or control socket)"
        );
        SyslogNg {
            proc,
            conf,
            persist,
            ctl,
        }
    }

    pub fn pid(&self) -> u32 {
        self.proc.pid()
    }

    /// Kills it (SIGKILL) and reaps it.
    pub fn kill(&mut self) {
        let _ = self.proc.0.kill();
        let _ = self.proc.0.wait();
    }
}

/// The config of a syslog-ng shipping `source` (the body of a `source s { }`) to `addr`
/// (`host:port`) over TCP, raw lines, with or without `flags(flow-control)`.
pub fn tcp_config(source: &str, addr: &str, flow_control: bool) -> String {
    let (host, port) = addr.rsplit_once(':').unwrap();
    format!(
        "options {{ stats-freq(0); stats-level(1); }};\n\
         source s {{ {source} }};\n\
         destination d_net {{ network(\"{host}\" port({port}) transport(\"tcp\") \
         template(\"${{MSG}}\\n\") time-reopen(1)); }};\n\
         log {{ source(s); destination(d_net);{} }};\n",
        if flow_control {
            " flags(flow-control);"
        } else {
            ""
        }
    )
}
