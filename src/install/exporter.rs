//! `drainguard-exporter.service` (`install --exporter`): `drainguard exporter` as its own
//! long-running unit. Never the drain unit: it has no ExecStop, so stopping or restarting it
//! runs no drain, and the drain unit does not depend on it.
//!
//! Hardening (docs/metrics.md explains each choice): uid 0 with every capability dropped
//! except the two reads need, a read-only file system except drainguard's state directory,
//! no new privileges, no ptrace syscalls, loopback listening by default.
//!
//! Not `DynamicUser=`: the state directory is shared with the drain unit (root), and a
//! dynamic user's `StateDirectory=` moves it to /var/lib/private behind a symlink, which
//! drainguard's writer refuses to follow. Not a dedicated user: `install` creates no accounts.

use super::systemd::{quote, Unquotable};

/// The unit's host path.
pub const UNIT: &str = "/etc/systemd/system/drainguard-exporter.service";

/// The unit running `drainguard exporter`.
pub fn render(exec: &str) -> Result<String, Unquotable> {
    let exec = quote(exec)?;
    Ok(format!(
        "# Written by `drainguard install --exporter`; removed by `drainguard uninstall`.\n\
         # Serves the backlog as Prometheus metrics (docs/metrics.md). Not the drain: stopping\n\
         # this unit drains nothing.\n\
         [Unit]\n\
         Description=drainguard exporter: log shipper backlog as Prometheus metrics\n\
         After=network.target\n\
         \n\
         [Service]\n\
         Type=simple\n\
         ExecStart={exec} exporter\n\
         Restart=on-failure\n\
         RestartSec=5\n\
         # Reads: shipper stores owned by other users (CAP_DAC_READ_SEARCH), and the\n\
         # shippers' /proc/<pid>/fd for deleted-but-open files and their TCP sockets\n\
         # (CAP_SYS_PTRACE, for that read access check only: the ptrace calls are filtered).\n\
         CapabilityBoundingSet=CAP_DAC_READ_SEARCH CAP_SYS_PTRACE\n\
         AmbientCapabilities=\n\
         NoNewPrivileges=yes\n\
         # Everything read-only except the state directory (drains.jsonl, abandoned.json),\n\
         # made writable by StateDirectory= (root-owned, as the drain unit writes there too).\n\
         ProtectSystem=strict\n\
         ProtectHome=read-only\n\
         StateDirectory=drainguard\n\
         StateDirectoryMode=0755\n\
         PrivateTmp=yes\n\
         PrivateDevices=yes\n\
         ProtectKernelTunables=yes\n\
         ProtectKernelModules=yes\n\
         ProtectKernelLogs=yes\n\
         ProtectControlGroups=yes\n\
         ProtectClock=yes\n\
         ProtectHostname=yes\n\
         RestrictNamespaces=yes\n\
         RestrictRealtime=yes\n\
         RestrictSUIDSGID=yes\n\
         LockPersonality=yes\n\
         MemoryDenyWriteExecute=yes\n\
         RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6\n\
         SystemCallArchitectures=native\n\
         SystemCallFilter=@system-service\n\
         SystemCallFilter=~@debug @mount @swap @reboot @module @raw-io @cpu-emulation @obsolete\n\
         SystemCallErrorNumber=EPERM\n\
         UMask=0022\n\
         \n\
         [Install]\n\
         WantedBy=multi-user.target\n"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_exporter_unit_never_drains_and_is_hardened() {
        let u = render("/usr/bin/drainguard").unwrap();
        assert!(u.contains("ExecStart=/usr/bin/drainguard exporter\n"));
        assert!(
            !u.contains("ExecStop"),
            "stopping the exporter must not drain"
        );
        assert!(!u.contains(" wait"), "{u}");
        for h in [
            "ProtectSystem=strict",
            "NoNewPrivileges=yes",
            "CapabilityBoundingSet=CAP_DAC_READ_SEARCH CAP_SYS_PTRACE",
            "StateDirectory=drainguard\n",
        ] {
            assert!(u.contains(h), "{h}");
        }
        // /proc of the shippers must stay visible.
        assert!(!u.contains("ProtectProc"));
        assert!(render("/a\nb").is_err());
    }
}
