//! The host probe: which init system runs, where its scripts and links live, which shipper
//! service is installed, and the K (kill) numbers of existing SysV scripts.

use std::path::{Path, PathBuf};

use crate::root::Root;

/// The init system to integrate with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Init {
    Systemd,
    /// RHEL / CentOS 6 / Amazon Linux 1: `/etc/rc.d/init.d`, chkconfig headers, lock files.
    SysvChkconfig,
    /// Debian / Ubuntu sysvinit: `/etc/init.d`, LSB headers, insserv / update-rc.d.
    SysvDebian,
}

/// Unit search path, highest precedence first (systemd.unit(5)).
pub const UNIT_DIRS: [&str; 5] = [
    "/etc/systemd/system",
    "/run/systemd/system",
    "/usr/local/lib/systemd/system",
    "/usr/lib/systemd/system",
    "/lib/systemd/system",
];

/// Service names of the shippers, probed in this order.
pub const SHIPPER_SERVICES: [&str; 10] = [
    "filebeat",
    "fluent-bit",
    "td-agent-bit",
    "vector",
    "promtail",
    "alloy",
    "fluentd",
    "td-agent",
    "rsyslog",
    "logstash",
];

/// What the probe found.
#[derive(Debug, Clone)]
pub struct Host {
    pub root: Root,
    pub init: Init,
    /// The shipper's service name (unit name without `.service`, or init script name).
    pub shipper: Option<String>,
}

impl Host {
    /// Where SysV init scripts live for this init flavour (host path).
    pub fn init_d(&self) -> &'static str {
        match self.init {
            Init::SysvChkconfig => "/etc/rc.d/init.d",
            _ => "/etc/init.d",
        }
    }

    /// The runlevel link directory `rcN.d` (host path).
    pub fn rc_dir(&self, level: u8) -> PathBuf {
        match self.init {
            Init::SysvChkconfig => PathBuf::from(format!("/etc/rc.d/rc{level}.d")),
            _ => PathBuf::from(format!("/etc/rc{level}.d")),
        }
    }

    fn local(&self, host: &str) -> PathBuf {
        self.root.host_to_local(Path::new(host))
    }

    /// The unit file of `name` (e.g. `filebeat.service`) by search-path precedence.
    pub fn find_unit(&self, name: &str) -> Option<PathBuf> {
        UNIT_DIRS
            .iter()
            .map(|d| Path::new(d).join(name))
            .find(|p| self.root.host_to_local(p).exists())
    }

    /// True when an init script `name` exists.
    pub fn has_script(&self, name: &str) -> bool {
        self.local(self.init_d()).join(name).is_file()
    }

    /// The K number of `name` in `rcN.d` (`K20tomcat` -> 20), if linked.
    pub fn k_number(&self, level: u8, name: &str) -> Option<u8> {
        link_number(&self.root.host_to_local(&self.rc_dir(level)), 'K', name)
    }

    /// The S number of `name` in `rcN.d`.
    pub fn s_number(&self, level: u8, name: &str) -> Option<u8> {
        link_number(&self.root.host_to_local(&self.rc_dir(level)), 'S', name)
    }

    /// Whether systemd is PID 1 on the real machine (never under `--root`).
    pub fn systemd_running(&self) -> bool {
        self.root.dir().is_none() && Path::new("/run/systemd/system").is_dir()
    }
}

/// Finds `<kind><NN><name>` in `dir`.
pub fn link_number(dir: &Path, kind: char, name: &str) -> Option<u8> {
    std::fs::read_dir(dir).ok()?.flatten().find_map(|e| {
        let file = e.file_name();
        let file = file.to_str()?;
        let rest = file.strip_prefix(kind)?;
        if rest.len() < 3 || &rest[2..] != name {
            return None;
        }
        rest[..2].parse().ok()
    })
}

/// Probes the host under `root`. `forced` overrides the init detection.
pub fn probe(root: &Root, forced: Option<Init>, shipper: Option<&str>) -> Host {
    let local = |p: &str| root.host_to_local(Path::new(p));
    let init = forced.unwrap_or_else(|| {
        if local("/run/systemd/system").is_dir() {
            Init::Systemd
        } else if local("/etc/rc.d/init.d").is_dir() {
            Init::SysvChkconfig
        } else if local("/etc/init.d").is_dir() && local("/etc/rc0.d").is_dir() {
            Init::SysvDebian
        } else {
            Init::Systemd
        }
    });
    let mut host = Host {
        root: root.clone(),
        init,
        shipper: None,
    };
    host.shipper = match shipper {
        Some(s) => Some(s.trim_end_matches(".service").to_string()),
        None => SHIPPER_SERVICES
            .iter()
            .find(|s| match host.init {
                Init::Systemd => host.find_unit(&format!("{s}.service")).is_some(),
                _ => host.has_script(s),
            })
            .map(|s| s.to_string()),
    };
    host
}
