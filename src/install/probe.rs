//! The host probe: which init system runs, where its scripts and links live, which shipper
//! service is installed, and the K (kill) numbers of existing SysV scripts.

use std::path::{Path, PathBuf};

use crate::cursor::ShipperKind;
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

impl std::fmt::Display for Init {
    /// The name `--init` takes: `systemd`, `sysv-chkconfig`, `sysv-debian`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Init::Systemd => "systemd",
            Init::SysvChkconfig => "sysv-chkconfig",
            Init::SysvDebian => "sysv-debian",
        })
    }
}

/// Unit search path, highest precedence first (systemd.unit(5)).
pub const UNIT_DIRS: [&str; 5] = [
    "/etc/systemd/system",
    "/run/systemd/system",
    "/usr/local/lib/systemd/system",
    "/usr/lib/systemd/system",
    "/lib/systemd/system",
];

/// Service names of the shippers drainguard reads, probed in this order
/// ([`crate::adapters::ALL`] order).
pub fn shipper_services() -> impl Iterator<Item = &'static str> {
    crate::adapters::supported().flat_map(|i| i.services.iter().copied())
}

/// True when `name` is the service of a shipper drainguard reads.
pub fn is_shipper_service(name: &str) -> bool {
    shipper_services().any(|s| s == name)
}

/// What the probe found.
#[derive(Debug, Clone)]
pub struct Host {
    pub root: Root,
    /// The machine itself is being probed (no `--root`): services can be asked and started.
    pub live: bool,
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

    /// The text of init script `name`: its first MiB; empty when missing, unreadable or not a
    /// regular file (the open does not wait for a FIFO's writer).
    pub fn script_text(&self, name: &str) -> String {
        use std::io::Read;
        use std::os::unix::fs::OpenOptionsExt;
        let path = self.local(self.init_d()).join(name);
        let Ok(f) = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
            .open(&path)
        else {
            return String::new();
        };
        if !f.metadata().is_ok_and(|m| m.is_file()) {
            return String::new();
        }
        let mut text = Vec::new();
        let _ = f.take(1 << 20).read_to_end(&mut text);
        String::from_utf8_lossy(&text).into_owned()
    }

    /// Every `K..name` / `S..name` link in `rcN.d` (host paths).
    pub fn links_of(&self, level: u8, name: &str) -> Vec<PathBuf> {
        let dir = self.rc_dir(level);
        let Ok(entries) = std::fs::read_dir(self.root.host_to_local(&dir)) else {
            return Vec::new();
        };
        let mut out: Vec<PathBuf> = entries
            .flatten()
            .filter_map(|e| {
                let file = e.file_name().to_str()?.to_string();
                let rest = file.strip_prefix(['K', 'S'])?;
                let numbered =
                    rest.len() > 2 && rest.as_bytes()[..2].iter().all(u8::is_ascii_digit);
                (numbered && &rest[2..] == name).then(|| dir.join(&file))
            })
            .collect();
        out.sort();
        out
    }

    /// The version of this tree's systemd and how it was told: the number in its
    /// `libsystemd-shared-<N>[...].so` (every systemd since 231 ships one beside its
    /// `systemd` binary), so a `systemd` binary without one is older than 231 (CentOS 7's
    /// 219); else on the live host `systemctl --version` (bounded). `None` when nothing
    /// tells (no systemd in the tree).
    pub fn systemd_version(&self) -> Option<SystemdVersion> {
        for dir in SYSTEMD_LIB_DIRS {
            let Ok(entries) = std::fs::read_dir(self.local(dir)) else {
                continue;
            };
            // A bounded look: systemd's own directory holds a few dozen entries.
            for e in entries.flatten().take(4096) {
                let name = e.file_name();
                let Some(v) = name
                    .to_str()
                    .and_then(|n| n.strip_prefix("libsystemd-shared-"))
                    .and_then(leading_number)
                else {
                    continue;
                };
                return Some(SystemdVersion {
                    at_most: v,
                    shown: v.to_string(),
                    how: format!("{dir}/{}", name.to_string_lossy()),
                });
            }
        }
        if self.live {
            use crate::wait::shutdown::HostView;
            let asked = crate::wait::shutdown::LiveHost
                .output(
                    &["systemctl", "--version"],
                    std::time::Duration::from_secs(3),
                )
                .ok()
                .and_then(|out| parse_systemctl_version(&out));
            if let Some(v) = asked {
                return Some(SystemdVersion {
                    at_most: v,
                    shown: v.to_string(),
                    how: "`systemctl --version`".into(),
                });
            }
        }
        SYSTEMD_LIB_DIRS
            .iter()
            .map(|d| format!("{d}/systemd"))
            .find(|b| self.local(b).is_file())
            .map(|b| SystemdVersion {
                at_most: 230,
                shown: "older than 231".into(),
                how: format!(
                    "{b} without a libsystemd-shared-<N>.so beside it, which every systemd \
                     since 231 has"
                ),
            })
    }

    /// Whether systemd is PID 1 on the real machine (never under `--root`).
    pub fn systemd_running(&self) -> bool {
        self.live && self.local("/run/systemd/system").is_dir()
    }
}

/// What [`Host::systemd_version`] told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SystemdVersion {
    /// The version, or the highest it can be.
    pub at_most: u32,
    /// As said to the operator (`219`, `older than 231`).
    pub shown: String,
    /// What told it.
    pub how: String,
}

/// Where systemd keeps `libsystemd-shared-<N>.so` (Debian, Fedora/RHEL, merged and not).
const SYSTEMD_LIB_DIRS: [&str; 4] = [
    "/usr/lib/systemd",
    "/usr/lib64/systemd",
    "/lib/systemd",
    "/lib64/systemd",
];

/// The decimal number `s` starts with (`252.so`, `254.10-1.fc39.so`).
fn leading_number(s: &str) -> Option<u32> {
    let end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    s[..end].parse().ok()
}

/// The version in `systemctl --version`'s first line (`systemd 219`, `systemd 252
/// (252.39-1~deb12u1)`).
pub fn parse_systemctl_version(out: &str) -> Option<u32> {
    out.lines()
        .next()?
        .strip_prefix("systemd ")
        .and_then(leading_number)
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

/// [`probe`] preferring the shippers named in `settings`: the shipper service is `shipper`,
/// else the first `service` the settings record (`install --shipper-service` wrote it), else
/// one of the settings' shippers' known services, else any known shipper's.
pub fn probe_for(
    root: &Root,
    forced: Option<Init>,
    shipper: Option<&str>,
    settings: &crate::settings::Settings,
) -> Host {
    let kinds: Vec<ShipperKind> = settings.shippers.iter().map(|s| s.kind.0).collect();
    let recorded = settings.shippers.iter().find_map(|s| s.service.as_deref());
    probe(root, forced, shipper.or(recorded), &kinds)
}

/// An image that is not booted has no /run/systemd/system: its /sbin/init tells.
fn init_is_systemd(root: &Root) -> bool {
    std::fs::read_link(root.host_to_local(Path::new("/sbin/init")))
        .is_ok_and(|t| t.to_string_lossy().contains("systemd"))
}

/// The service / init script names a shipper is packaged under.
pub fn service_names(kind: ShipperKind) -> &'static [&'static str] {
    kind.info().services
}

/// Probes the host under `root`. `forced` overrides the init detection; `shipper` names the
/// shipper's service; otherwise the services of the `preferred` shippers (from the settings)
/// are looked for first, then every known shipper's.
pub fn probe(
    root: &Root,
    forced: Option<Init>,
    shipper: Option<&str>,
    preferred: &[ShipperKind],
) -> Host {
    let local = |p: &str| root.host_to_local(Path::new(p));
    let init = forced.unwrap_or_else(|| {
        if local("/run/systemd/system").is_dir() || init_is_systemd(root) {
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
        live: root.dir().is_none(),
        init,
        shipper: None,
    };
    host.shipper = match shipper {
        Some(s) => Some(s.trim_end_matches(".service").to_string()),
        None => preferred
            .iter()
            .flat_map(|k| service_names(*k).iter().copied())
            .chain(shipper_services())
            .find(|s| match host.init {
                Init::Systemd => host.find_unit(&format!("{s}.service")).is_some(),
                _ => host.has_script(s),
            })
            .map(|s| s.to_string()),
    };
    host
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    use crate::install::temp_root as tree;

    #[test]
    fn the_systemd_version_is_told_by_its_shared_library_or_systemctl() {
        assert_eq!(
            parse_systemctl_version("systemd 219\n+PAM +AUDIT\n"),
            Some(219)
        );
        assert_eq!(
            parse_systemctl_version("systemd 252 (252.39-1~deb12u1)\n+PAM"),
            Some(252)
        );
        assert_eq!(parse_systemctl_version("bash: systemctl: not found"), None);
        let version = |files: &[&str]| {
            let (d, root) = tree();
            for f in files {
                let p = d.path().join(f.trim_start_matches('/'));
                std::fs::create_dir_all(p.parent().unwrap()).unwrap();
                std::fs::write(&p, "").unwrap();
            }
            probe(&root, Some(Init::Systemd), None, &[]).systemd_version()
        };
        let v = version(&[
            "/usr/lib/systemd/systemd",
            "/usr/lib/systemd/libsystemd-shared-252.so",
        ])
        .unwrap();
        assert_eq!((v.at_most, v.shown.as_str()), (252, "252"));
        assert!(v.how.contains("libsystemd-shared-252.so"), "{}", v.how);
        let v = version(&["/usr/lib64/systemd/libsystemd-shared-254.10-1.fc39.so"]).unwrap();
        assert_eq!(v.at_most, 254);
        // CentOS 7 (219): the binary, no shared library.
        let v = version(&["/usr/lib/systemd/systemd"]).unwrap();
        assert_eq!((v.at_most, v.shown.as_str()), (230, "older than 231"));
        assert_eq!(version(&[]), None);
    }

    #[test]
    fn an_unbooted_systemd_image_is_systemd() {
        let (d, root) = tree();
        std::fs::create_dir_all(d.path().join("etc/init.d")).unwrap();
        std::fs::create_dir_all(d.path().join("etc/rc0.d")).unwrap();
        assert_eq!(probe(&root, None, None, &[]).init, Init::SysvDebian);
        std::fs::create_dir_all(d.path().join("sbin")).unwrap();
        symlink("/lib/systemd/systemd", d.path().join("sbin/init")).unwrap();
        assert_eq!(probe(&root, None, None, &[]).init, Init::Systemd);
    }

    #[test]
    fn shipper_services_of_every_kind_are_found() {
        for name in shipper_services() {
            let (d, root) = tree();
            let unit = d.path().join("usr/lib/systemd/system");
            std::fs::create_dir_all(&unit).unwrap();
            std::fs::create_dir_all(d.path().join("run/systemd/system")).unwrap();
            std::fs::write(unit.join(format!("{name}.service")), "").unwrap();
            assert_eq!(probe(&root, None, None, &[]).shipper.as_deref(), Some(name));
        }
    }

    #[test]
    fn the_settings_shipper_wins_over_rsyslog() {
        let (d, root) = tree();
        let unit = d.path().join("lib/systemd/system");
        std::fs::create_dir_all(&unit).unwrap();
        std::fs::create_dir_all(d.path().join("run/systemd/system")).unwrap();
        for n in ["rsyslog", "td-agent-bit"] {
            std::fs::write(unit.join(format!("{n}.service")), "").unwrap();
        }
        assert_eq!(
            probe(&root, None, None, &[]).shipper.as_deref(),
            Some("td-agent-bit")
        );
        let host = probe(&root, None, None, &[ShipperKind::Rsyslog]);
        assert_eq!(host.shipper.as_deref(), Some("rsyslog"));
    }

    #[test]
    fn the_recorded_service_wins_over_an_installed_rsyslog() {
        // As on a Debian host: rsyslog's unit is installed (disabled), the shipper drainguard
        // reads runs under its own name, which `install --shipper-service` recorded.
        let (d, root) = tree();
        let unit = d.path().join("lib/systemd/system");
        std::fs::create_dir_all(&unit).unwrap();
        std::fs::create_dir_all(d.path().join("run/systemd/system")).unwrap();
        std::fs::write(unit.join("rsyslog.service"), "").unwrap();
        let mut settings = crate::settings::Settings::parse(
            "[[shipper]]\nkind = \"filebeat\"\n",
            Path::new("x.toml"),
        )
        .unwrap();
        assert_eq!(
            probe_for(&root, None, None, &settings).shipper.as_deref(),
            Some("rsyslog"),
            "nothing recorded: a known shipper's service found on disk"
        );
        settings.shippers[0].service = Some("shipper".into());
        assert_eq!(
            probe_for(&root, None, None, &settings).shipper.as_deref(),
            Some("shipper")
        );
        assert_eq!(
            probe_for(&root, None, Some("other.service"), &settings)
                .shipper
                .as_deref(),
            Some("other"),
            "--shipper-service wins over the settings"
        );
    }

    #[test]
    fn links_and_numbers() {
        let (d, root) = tree();
        let rc0 = d.path().join("etc/rc0.d");
        std::fs::create_dir_all(&rc0).unwrap();
        std::fs::create_dir_all(d.path().join("etc/init.d")).unwrap();
        for l in [
            "K20tomcat",
            "K30drainguard",
            "S99drainguard",
            "K3drainguard",
            "K40drainguard-aws",
        ] {
            symlink("x", rc0.join(l)).unwrap();
        }
        let host = probe(&root, Some(Init::SysvDebian), None, &[]);
        assert_eq!(host.k_number(0, "tomcat"), Some(20));
        assert_eq!(
            host.links_of(0, "drainguard"),
            vec![
                PathBuf::from("/etc/rc0.d/K30drainguard"),
                PathBuf::from("/etc/rc0.d/S99drainguard")
            ]
        );
    }
}

#[cfg(test)]
mod init_name_tests {
    use super::Init;

    #[test]
    fn init_is_shown_by_the_name_init_takes() {
        use clap::ValueEnum;
        for i in Init::value_variants() {
            let flag = i.to_possible_value().unwrap();
            assert_eq!(i.to_string(), flag.get_name());
        }
    }
}
