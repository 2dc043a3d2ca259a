//! The SysV init script (chkconfig and LSB headers) and the choice of its K number.
//!
//! rc runs K scripts in ascending number at runlevels 0 (halt) and 6 (reboot); on
//! RHEL-style systems only when `/var/lock/subsys/<name>` exists. drainguard's K number must
//! lie strictly between the apps' (which stop first) and the shipper's (which stops after the
//! wait): app K20 -> drainguard K30 -> filebeat K40.

use super::probe::Init;

/// What the script needs to say.
#[derive(Debug, Clone)]
pub struct ScriptSpec {
    pub exec: String,
    pub init: Init,
    pub shipper: Option<String>,
    pub apps: Vec<String>,
    pub start: u8,
    pub kill: u8,
    /// The drain's deadline: the K script kills a drainguard stuck past it.
    pub deadline: std::time::Duration,
}

/// Picks a K number strictly between the apps' highest and the shipper's. `insserv_style`
/// takes the next number after the apps, as insserv numbers a script one after the highest
/// it must stop after; otherwise (chkconfig) midway, which leaves room for later neighbours.
/// `Err` explains why none fits.
pub fn choose_k(
    apps: &[(String, u8)],
    shipper: Option<(&str, u8)>,
    insserv_style: bool,
) -> Result<u8, String> {
    let low = apps.iter().map(|(_, k)| *k).max().unwrap_or(0);
    let high = shipper.map_or(100, |(_, k)| k);
    if high > low + 1 {
        Ok(if insserv_style {
            low + 1
        } else {
            ((low as u16 + high as u16) / 2) as u8
        })
    } else {
        let app = apps
            .iter()
            .max_by_key(|(_, k)| *k)
            .map_or("(none)".into(), |(a, k)| format!("{a} K{k:02}"));
        let (s, k) = shipper.unwrap_or(("?", 0));
        Err(format!(
            "no K number fits between the apps ({app}) and the shipper ({s} K{k:02}): \
             the shipper would stop before the apps. Re-run with --reorder-shipper to move the \
             shipper's K links after drainguard's (backed up and undone by uninstall)"
        ))
    }
}

/// Whether an init script creates its RHEL lock file (`/var/lock/subsys/<name>`), without
/// which rc skips its K script at halt. The stock Filebeat RPM script does not.
pub fn creates_lock(script: &str) -> bool {
    script.contains("/var/lock/subsys")
}

/// The init script text. The lock file is what makes rc run the K script at all.
pub fn render(spec: &ScriptSpec) -> String {
    let q = shell_quote(&spec.exec);
    // $remote_fs: Debian's insserv.conf makes it include +sendsigs, so this orders the drain
    // before the kill-everything step (without it sendsigs can run first and kill the
    // shipper; seen in the sysvinit boot test). $network: the network stays up while waiting.
    let mut required = vec![
        "$local_fs".to_string(),
        "$remote_fs".to_string(),
        "$network".to_string(),
    ];
    required.extend(spec.shipper.iter().cloned());
    let req = required.join(" ");
    let mut s = String::new();
    s.push_str("#!/bin/sh\n");
    s.push_str("# Written by `drainguard install`; removed by `drainguard uninstall`.\n");
    s.push_str("# At halt/reboot: apps stop -> drainguard waits until the shipper has delivered\n");
    s.push_str(
        "# everything (or its deadline passes) -> the shipper stops -> the network goes down.\n",
    );
    s.push_str("#\n");
    if spec.init == Init::SysvChkconfig {
        // Debian's insserv reads only the LSB block below and numbers the links itself.
        s.push_str(&format!(
            "# chkconfig: 2345 {:02} {:02}\n",
            spec.start, spec.kill
        ));
        s.push_str("# description: hold shutdown until log shippers have delivered everything\n");
    }
    s.push_str("### BEGIN INIT INFO\n");
    s.push_str("# Provides:          drainguard\n");
    s.push_str(&format!("# Required-Start:    {req}\n"));
    s.push_str(&format!("# Required-Stop:     {req}\n"));
    if spec.init == Init::SysvDebian && !spec.apps.is_empty() {
        // insserv has no X-Stop-Before: the apps are named from this side.
        s.push_str(&format!("# X-Stop-After:      {}\n", spec.apps.join(" ")));
    }
    s.push_str("# Default-Start:     2 3 4 5\n");
    s.push_str("# Default-Stop:      0 1 6\n");
    s.push_str("# Short-Description: hold shutdown until log shippers have delivered everything\n");
    s.push_str("### END INIT INFO\n\n");
    s.push_str(&format!("DRAINGUARD={q}\n"));
    s.push_str("LOCK=/var/lock/subsys/drainguard\n\n");
    s.push_str("case \"$1\" in\n");
    s.push_str("  start)\n");
    s.push_str("    \"$DRAINGUARD\" check || echo \"drainguard: configuration problems (see above); the drain still runs at shutdown\" >&2\n");
    s.push_str("    mkdir -p /var/lock/subsys && touch \"$LOCK\"\n");
    s.push_str("    ;;\n");
    s.push_str("  stop)\n");
    // sysvinit has no stop timeout: drainguard's deadline bounds the drain, and timeout(1)
    // bounds drainguard itself (stuck in the kernel on a dead NFS mount, say): SIGTERM 30 s
    // past the deadline (drainguard then reports and exits 5), SIGKILL 5 s later. Outside
    // run level 0 or 6 (an admin's `service drainguard stop`) the wait returns at once.
    let bound = spec.deadline.as_secs().saturating_add(30);
    s.push_str("    # sysvinit has no stop timeout: drainguard's deadline bounds the drain, and\n");
    s.push_str(
        "    # timeout(1) bounds drainguard (re-run install after changing the deadline).\n",
    );
    s.push_str("    # Outside run level 0 or 6 (an admin's `service drainguard stop`) it returns at once.\n");
    s.push_str("    if command -v timeout >/dev/null 2>&1; then\n");
    s.push_str(&format!(
        "      timeout -k 5 {bound} \"$DRAINGUARD\" wait --only-at-shutdown\n"
    ));
    s.push_str("    else\n");
    s.push_str("      \"$DRAINGUARD\" wait --only-at-shutdown\n");
    s.push_str("    fi\n");
    s.push_str("    rc=$?\n");
    s.push_str("    rm -f \"$LOCK\"\n");
    s.push_str("    exit $rc\n");
    s.push_str("    ;;\n");
    s.push_str("  status)\n");
    s.push_str("    if [ -f \"$LOCK\" ]; then echo \"drainguard: armed\"; else echo \"drainguard: not armed (no $LOCK): the drain will not run at shutdown\"; exit 3; fi\n");
    s.push_str("    ;;\n");
    s.push_str("  restart|reload|force-reload)\n");
    s.push_str("    mkdir -p /var/lock/subsys && touch \"$LOCK\"\n");
    s.push_str("    ;;\n");
    s.push_str("  *)\n");
    s.push_str("    echo \"Usage: $0 {start|stop|status|restart}\" >&2\n");
    s.push_str("    exit 2\n");
    s.push_str("    ;;\n");
    s.push_str("esac\n");
    s.push_str("exit 0\n");
    s
}

/// Single-quotes a word for sh.
pub fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn k_number_between_apps_and_shipper() {
        let apps = vec![("tomcat".to_string(), 20)];
        assert_eq!(choose_k(&apps, Some(("filebeat", 40)), false), Ok(30));
        assert_eq!(choose_k(&apps, Some(("filebeat", 40)), true), Ok(21));
        assert_eq!(choose_k(&apps, Some(("filebeat", 22)), false), Ok(21));
        assert!(choose_k(&apps, Some(("filebeat", 21)), true).is_err());
        let e = choose_k(&apps, Some(("filebeat", 2)), false).unwrap_err();
        assert!(
            e.contains("tomcat K20")
                && e.contains("filebeat K02")
                && e.contains("--reorder-shipper"),
            "{e}"
        );
        assert_eq!(choose_k(&[], Some(("filebeat", 40)), false), Ok(20));
        assert_eq!(choose_k(&apps, None, false), Ok(60));
    }

    #[test]
    fn lock_file_detection() {
        assert!(!creates_lock(
            "#!/bin/bash\n# chkconfig: 2345 98 02\nkillproc $filebeat\n"
        ));
        assert!(creates_lock("lockfile=/var/lock/subsys/$prog\n"));
    }

    #[test]
    fn shell_quoting() {
        assert_eq!(shell_quote("/usr/bin/dg"), "'/usr/bin/dg'");
        assert_eq!(shell_quote("/it's"), "'/it'\\''s'");
    }

    #[test]
    fn the_k_script_bounds_a_stuck_drainguard_with_timeout() {
        let spec = ScriptSpec {
            exec: "/usr/bin/drainguard".into(),
            init: Init::SysvDebian,
            shipper: None,
            apps: vec![],
            start: 1,
            kill: 1,
            deadline: std::time::Duration::from_secs(60),
        };
        let text = render(&spec);
        assert!(
            text.contains("timeout -k 5 90 \"$DRAINGUARD\" wait"),
            "{text}"
        );
        let st = std::process::Command::new("sh")
            .args(["-n", "-c", &text])
            .status()
            .unwrap();
        assert!(st.success(), "sh -n rejects the script");
    }
}
