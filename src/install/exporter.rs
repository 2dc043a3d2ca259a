//! `drainguard-exporter.service` (`install --exporter`): `drainguard exporter` as its own
//! long-running unit. Never the drain unit: it has no ExecStop, so stopping or restarting it
//! runs no drain, and the drain unit does not depend on it.
//!
//! Hardening (docs/metrics.md explains each choice): a dynamic user (`DynamicUser=yes`: no
//! account to create or remove) holding only the two capabilities its reads need, a
//! read-only file system, drainguard's own state directory read-only, and its own
//! `StateDirectory=` for what it persists (the abandoned-bytes counters), which it is handed
//! as `$STATE_DIRECTORY` and resolves itself (a dynamic user's state directory is a link into
//! /var/lib/private). No new privileges, no ptrace calls, loopback listening by default.

use super::systemd::{quote, UnitText, Unquotable};

/// The unit's host path.
pub const UNIT: &str = "/etc/systemd/system/drainguard-exporter.service";

/// The oldest systemd that runs the unit: `StateDirectory=` for a `DynamicUser=` unit came
/// in 235 (CentOS 7 has 219, Amazon Linux 2 219). Newer hardening directives an older
/// systemd does not know (`PrivateIPC=` 248, `ProtectClock=` 245 ...) are ignored by it
/// with a warning in its journal.
pub const MIN_SYSTEMD: u32 = 235;

/// The exporter's own state directory (`StateDirectory=`, below /var/lib).
pub const STATE_DIRECTORY: &str = "drainguard-exporter";

/// The unit running `drainguard exporter`.
pub fn render(exec: &str) -> Result<String, Unquotable> {
    let exec = quote(exec)?;
    let mut u = UnitText::new(
        "Written by `drainguard install --exporter`; removed by `drainguard uninstall`.\n\
         Serves the backlog as Prometheus metrics (docs/metrics.md). Not the drain: stopping\n\
         this unit drains nothing.",
    );
    u.section("Unit")
        .set(
            "Description",
            "drainguard exporter: log shipper backlog as Prometheus metrics",
        )
        .set("After", "network.target");
    u.section("Service")
        .set("Type", "simple")
        .comment("Its counters in its own state directory (systemd expands the variable).")
        .set(
            "ExecStart",
            &format!("{exec} exporter --counter-dir ${{STATE_DIRECTORY}}"),
        )
        .set("Restart", "on-failure")
        .set("RestartSec", "5")
        .comment("A user allocated at start, no account on disk.")
        .set("DynamicUser", "yes")
        .comment(
            "Reads: shipper stores only their own user or root may read (CAP_DAC_READ_SEARCH),\n\
             and the shippers' /proc/<pid>/fd, exe and root: deleted-but-open files, the TCP\n\
             sockets behind drainguard_unacked_bytes, containers (CAP_SYS_PTRACE, for the\n\
             kernel's access check only: the ptrace calls are filtered below).",
        )
        .set("AmbientCapabilities", "CAP_DAC_READ_SEARCH CAP_SYS_PTRACE")
        .set("CapabilityBoundingSet", "CAP_DAC_READ_SEARCH CAP_SYS_PTRACE")
        .set("NoNewPrivileges", "yes")
        .comment(
            "Everything read-only, drainguard's state (drains.jsonl, written by the drain unit)\n\
             included; writable only its own state directory.",
        )
        .set("ProtectSystem", "strict")
        .set("ProtectHome", "read-only")
        .set("ReadOnlyPaths", "-/var/lib/drainguard")
        .set("StateDirectory", STATE_DIRECTORY)
        .set("StateDirectoryMode", "0700")
        .set("PrivateTmp", "yes")
        .set("PrivateDevices", "yes")
        .set("PrivateIPC", "yes")
        .set("PrivateMounts", "yes")
        .set("ProtectKernelTunables", "yes")
        .set("ProtectKernelModules", "yes")
        .set("ProtectKernelLogs", "yes")
        .set("ProtectControlGroups", "yes")
        .set("ProtectClock", "yes")
        .set("ProtectHostname", "yes")
        .set("RestrictNamespaces", "yes")
        .set("RestrictRealtime", "yes")
        .set("RestrictSUIDSGID", "yes")
        .set("RemoveIPC", "yes")
        .set("LockPersonality", "yes")
        .set("MemoryDenyWriteExecute", "yes")
        .set("RestrictAddressFamilies", "AF_UNIX AF_INET AF_INET6")
        .set("SystemCallArchitectures", "native")
        .set("SystemCallFilter", "@system-service")
        .set(
            "SystemCallFilter",
            "~@debug @mount @swap @reboot @module @raw-io @cpu-emulation @obsolete @privileged @resources",
        )
        .set("SystemCallErrorNumber", "EPERM")
        .set("UMask", "0077");
    Ok(u.wanted_by_multi_user())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_exporter_unit_never_drains_and_is_hardened() {
        let u = render("/usr/bin/drainguard").unwrap();
        assert!(
            u.contains("ExecStart=/usr/bin/drainguard exporter --counter-dir ${STATE_DIRECTORY}\n")
        );
        assert!(
            !u.contains("ExecStop"),
            "stopping the exporter must not drain"
        );
        assert!(!u.contains(" wait"), "{u}");
        for h in [
            "DynamicUser=yes\n",
            "ProtectSystem=strict\n",
            "NoNewPrivileges=yes\n",
            "AmbientCapabilities=CAP_DAC_READ_SEARCH CAP_SYS_PTRACE\n",
            "CapabilityBoundingSet=CAP_DAC_READ_SEARCH CAP_SYS_PTRACE\n",
            "ReadOnlyPaths=-/var/lib/drainguard\n",
            "StateDirectory=drainguard-exporter\n",
            "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6\n",
        ] {
            assert!(u.contains(h), "{h}");
        }
        assert!(!u.contains("User=root"), "{u}");
        // /proc of the shippers must stay visible.
        assert!(!u.contains("ProtectProc"));
        assert!(render("/a\nb").is_err());
    }
}
