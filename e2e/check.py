#!/usr/bin/env python3
"""Checks one e2e boot from the outside: the sink's received lines and the serial log.

Usage: check.py SCENARIO LOGDIR QEMU_EXIT [QEMU_EXIT_BOOT2]
Exit 0 when the scenario's expectation holds; otherwise prints why, quoting the relevant
serial lines. A two-boot scenario (e2e/scenarios/NAME.boot2.sh) also gets the second boot's
exit status ("skipped" when the first failed) and serial log (serial2.log).
"""
import os
import re
import sys

scenario, logdir, qemu_rc = sys.argv[1], sys.argv[2], int(sys.argv[3])
boot2_rc = sys.argv[4] if len(sys.argv) > 4 else None
accel = os.environ.get("DG_E2E_ACCEL_USED", "tcg")  # set by run.sh: kvm or tcg
# The host's load average (1, 5, 15 min) before and after the boot, set by run.sh.
host_load = os.environ.get("DG_E2E_HOST_LOAD", "unknown")
serial = open(f"{logdir}/serial.log", "rb").read().decode("utf-8", "replace").splitlines()
received = open(f"{logdir}/received.log", "rb").read().decode("utf-8", "replace").splitlines()
problems = []
notes = []


def idx(pattern, after=-1):
    """Index of the first serial line matching pattern after `after`, or None."""
    rx = re.compile(pattern)
    for i in range(after + 1, len(serial)):
        if rx.search(serial[i]):
            return i
    return None


def boot2_lines(prefix):
    """The second boot's DGTEST lines starting with `prefix`, the prefix cut off."""
    try:
        text = open(f"{logdir}/serial2.log", "rb").read().decode("utf-8", "replace")
    except FileNotFoundError:
        return []
    tag = f"DGTEST {prefix}"
    return [l[l.index(tag) + len(tag):].strip() for l in text.splitlines() if tag in l]


def prom(lines, name):
    """{labels: value} of metric `name` in exposition lines (`name{labels} value`)."""
    out = {}
    for l in lines:
        m = re.match(re.escape(name) + r"(\{[^}]*\})? (\S+)$", l)
        if m:
            out[m.group(1) or ""] = float(m.group(2))
    return out


def relevant():
    keep = re.compile(r"DGTEST|drainguard|Stopping|Stopped|Power down|Restarting|timed out|Deconfiguring|Will now")
    return "\n".join("    " + l for l in serial if keep.search(l))[-6000:]


total_at = idx(r"DGTEST APP stopped total=\d+")
total = int(re.search(r"total=(\d+)", serial[total_at]).group(1)) if total_at is not None else None
expected = [f"app line {n} " for n in range(1, (total or 0) + 1)]
got_prefixes = [l[: l.index(" x") + 1] if " x" in l else l for l in received]
complete = total is not None and got_prefixes == expected
lost = total is not None and len(received) < total

if qemu_rc != 0:
    problems.append(f"QEMU exit status {qemu_rc}: the guest did not shut down by itself (timeout=124)")
if total is None:
    problems.append("the app never reported its total (no 'DGTEST APP stopped total=N')")

# The shutdown's drain: the first wait report after the scenario called poweroff/reboot (an
# earlier one is a stop outside the shutdown, e.g. systemd-package's uninstall).
called = idx(r"DGTEST calling (poweroff|reboot)")
drain_end = idx(r"drainguard wait: (drained|deadline passed|released)", called if called is not None else -1)
shipper_stop = idx(r"DGTEST SHIPPER stopped")
final = idx(r"reboot: (Power down|Restarting system)")

# Real shippers (rsyslog, syslog-ng): e2e/sinkctl.py paused the receiver on the guest's word
# and resumed it N s after the app stopped, unless QEMU exited first.
real_shipper = "rsyslog" in scenario or "syslog-ng" in scenario
try:
    sink_control = open(f"{logdir}/sink-control.log").read()
except FileNotFoundError:
    sink_control = ""
if real_shipper:
    if "paused" not in sink_control:
        problems.append("the receiver was never paused (no 'DGTEST SINK pause' seen): the test proves nothing")
    if scenario.endswith("-negative"):
        if "resumed" in sink_control:
            problems.append("the receiver came back before QEMU exited: inconclusive negative control")
        if total_at is None or shipper_stop is None or shipper_stop < total_at:
            problems.append("the shipper did not stop after the app (the loss would not be the missing hold's)")
    if not scenario.endswith("-negative"):
        if "resumed" not in sink_control:
            problems.append("the receiver was not resumed while the guest ran: drainguard did not hold until then")
        held = re.search(r"drainguard wait: drained after ([\d.]+)s", serial[drain_end]) if drain_end is not None else None
        if held is None or float(held.group(1)) < 10:
            problems.append("the drain did not hold for the paused receiver (want 'drained after' >= 10 s "
                            f"of the 20 s pause): {serial[drain_end] if drain_end is not None else 'no report'}")
    notes.append("receiver: " + " | ".join(l.strip() for l in sink_control.splitlines()))

if scenario.endswith("-negative"):
    if drain_end is not None:
        problems.append("drainguard ran in the negative control")
    if not lost:
        problems.append(f"negative control lost no line ({len(received)} of {total}): the test cannot detect loss")
elif scenario == "systemd-pitfall-not-started":
    if idx(r"DG002") is None:
        problems.append("doctor did not flag the never-started unit (DG002)")
    if idx(r"hook logwait\.service: its ExecStop mentions drainguard") is None:
        problems.append("doctor without --unit did not find the hand-written hook")
    if drain_end is not None:
        problems.append("the never-started unit's ExecStop ran")
    if not lost:
        problems.append(f"no line lost ({len(received)} of {total}); the pitfall was not reproduced")
elif scenario == "systemd-pitfall-timeout":
    if idx(r"DG009") is None:
        problems.append("doctor did not flag the missing TimeoutStopSec (DG009)")
    if idx(r"logwait.service: Stopping timed out") is None:
        problems.append("systemd did not time out the stop job at 90 s")
    if not lost:
        problems.append(f"no line lost ({len(received)} of {total}); the pitfall was not reproduced")
elif scenario == "systemd-deadline":
    dl = idx(r"drainguard wait: deadline passed")
    if dl is None:
        problems.append("no 'deadline passed' report on the console")
    elif idx(r"app\.log", dl) is None:
        problems.append("the deadline report does not name the unshipped file")
    if final is None:
        problems.append("the shutdown did not complete after the deadline")
elif scenario == "systemd-last-drain":
    if idx(r"drainguard wait: deadline passed") is None:
        problems.append("no 'deadline passed' report on the console")
    if idx(r"DGTEST exporter unit: active") is None:
        problems.append("drainguard-exporter.service was not active")
    if idx(r"DGTEST exporter: Content-Type: text/plain; version=0\.0\.4; charset=utf-8") is None:
        problems.append("the exporter did not answer with the 0.0.4 Content-Type")
    if idx(r'DGTEST exporter: drainguard_backlog_bytes\{shipper="filebeat"') is None:
        problems.append("the exporter served no filebeat backlog")
    if final is None:
        problems.append("the shutdown did not complete after the deadline")
    # The second boot, on the same disk: the first boot's drain as metrics.
    if boot2_rc != "0":
        problems.append(f"the second boot's QEMU exit status is {boot2_rc} (want 0)")
    btime = [int(v) for v in boot2_lines("boot2 btime ")]
    record = boot2_lines("boot2 record: ")
    status = boot2_lines("boot2 status: ")
    exported = boot2_lines("boot2 exporter: ")
    unit = boot2_lines("boot2 exporter unit: ")
    rec = None
    try:
        import json
        rec = json.loads(record[0])
    except (IndexError, ValueError) as e:
        problems.append(f"the second boot found no drain record in /var/lib/drainguard/drains.jsonl ({e})")
    if not btime:
        problems.append("the second boot did not report its boot time")
    if rec is not None and btime:
        notes.append(f"boot 1's drain: outcome {rec['outcome']}, {rec['unshipped_bytes']} bytes unshipped, "
                     f"ended at {rec['end_unix_seconds']}; boot 2 booted at {btime[0]}")
        if rec["outcome"] != "deadline" or rec["unshipped_bytes"] <= 0:
            problems.append(f"boot 1's record is not a deadline with unshipped bytes: {record[0][:300]}")
        if not rec["end_unix_seconds"] < btime[0]:
            problems.append("the drain record is not from before the second boot")
    for who, lines in [("the exporter", exported), ("status --format prometheus", status)]:
        outcome = prom(lines, "drainguard_last_drain_outcome")
        unshipped = prom(lines, "drainguard_last_drain_unshipped_bytes").get("")
        stamp = prom(lines, "drainguard_last_drain_timestamp_seconds").get("")
        if outcome.get('{outcome="deadline"}') != 1 or sum(outcome.values()) != 1:
            problems.append(f"after the reboot, {who} does not report the outcome deadline alone: {outcome}")
        if rec is not None and unshipped != rec["unshipped_bytes"]:
            problems.append(f"after the reboot, {who} reports {unshipped} unshipped bytes, the record {rec['unshipped_bytes']}")
        if stamp is None or not btime or not stamp < btime[0] or (rec is not None and abs(stamp - rec["end_unix_seconds"]) > 1):
            problems.append(f"after the reboot, {who}'s last drain timestamp {stamp} is not boot 1's drain "
                            f"(before the boot time {btime[:1]})")
    json_behind = [int(m.group(1)) for l in boot2_lines("boot2 json: ") for m in [re.search(r'"bytes_behind": *(\d+)', l)] if m]
    exp_behind = prom(exported, "drainguard_backlog_bytes")
    if not json_behind or len(exp_behind) != 1 or list(exp_behind.values())[0] != json_behind[0]:
        problems.append(f"the hardened exporter's backlog {exp_behind} is not status --json's {json_behind}")
    elif json_behind[0] <= 0:
        problems.append("nothing behind after the reboot: the comparison proves nothing")
    else:
        notes.append(f"after the reboot the exporter and status --json agree: {json_behind[0]} bytes behind")
    m = re.search(r"^active pid=\d+ uid=(\d+) user=(\S*) caps=([0-9a-f]+)", unit[0]) if unit else None
    if m is None:
        problems.append(f"the exporter unit was not active in the second boot: {unit}")
    else:
        notes.append(f"exporter process: uid {m.group(1)}, User={m.group(2)}, CapEff {m.group(3)}")
        if m.group(1) == "0":
            problems.append("the exporter runs as root (want its DynamicUser)")
        # CAP_DAC_READ_SEARCH (bit 2) and CAP_SYS_PTRACE (bit 19), nothing else.
        if m.group(3) != "0000000000080004":
            problems.append(f"the exporter's effective capabilities are {m.group(3)}, want 0000000000080004")
    if boot2_lines("boot2 store dir: ")[:1] != ["700 root"]:
        problems.append(f"the store's directory is not root's 0700: {boot2_lines('boot2 store dir: ')}")
    state = boot2_lines("boot2 exporter state: ")
    if not state or "abandoned.json" not in state[0]:
        problems.append(f"the exporter's counters are not in its own state directory: {state}")
    for w in boot2_lines("boot2 exporter warning: "):
        problems.append(f"the exporter warned: {w}")
else:  # drained / reboot: nothing lost, right order
    if not complete:
        missing = (total or 0) - len(received)
        problems.append(f"sink received {len(received)} lines, the app wrote {total}: {missing} lost or out of order")
    if idx(r"drainguard wait: drained") is None:
        problems.append("no 'drainguard wait: drained' on the console (exit status 0)")
    order = [("app stopped", total_at), ("drain finished", drain_end), ("shipper stopped", shipper_stop), ("power off / reboot", final)]
    seen = [(n, i) for n, i in order if i is not None]
    if len(seen) != len(order):
        problems.append("missing markers: " + ", ".join(n for n, i in order if i is None))
    elif [i for _, i in seen] != sorted(i for _, i in seen):
        problems.append("wrong order: " + " -> ".join(f"{n}@{i}" for n, i in seen))
    if scenario.startswith("systemd"):
        net = idx(r"Stopping systemd-networkd", drain_end or 0)
        if net is None:
            problems.append("networkd was not stopped after the drain (network down before the drain?)")
    elif real_shipper:
        # Debian's rsyslog script stops late (X-Stop-After: sendsigs), so the network may go
        # first; what delivery needs is the network up until the drain ended.
        if idx(r"Deconfiguring network", drain_end or 0) is None:
            problems.append("the network was not taken down after the drain")
    else:
        net = idx(r"Deconfiguring network", drain_end or 0)
        if net is None or (shipper_stop is not None and net < shipper_stop):
            problems.append("the network was not taken down after the shipper stopped")
    if scenario.endswith("-reboot") and idx(r"Restarting system") is None:
        problems.append("not a reboot (no 'reboot: Restarting system')")
    if not scenario.endswith("-reboot") and idx(r"Power down") is None:
        problems.append("not a poweroff (no 'reboot: Power down')")

if scenario == "systemd-package":
    def marker(pattern):
        i = idx(r"DGTEST " + pattern)
        return re.search(pattern, serial[i]) if i is not None else None

    for name, pattern in [
        ("the .deb installed", r"dpkg -i exit=0 "),
        ("the packaged binary is the one used", r"binary: /usr/bin/drainguard drainguard "),
        ("install wrote the packaged path", r"unit ExecStop=/usr/bin/drainguard wait --only-at-shutdown"),
        ("a backlog was pending", r"status with the shipper paused exit=1"),
        ("still behind after restart and upgrade (nothing drained)", r"status after restart and upgrade exit=1"),
        ("the unit stayed armed", r"unit active after restart and upgrade: active"),
        ("uninstall succeeded", r"uninstall exit=0"),
        ("dpkg -r succeeded", r"dpkg -r exit=0"),
        ("nothing left after uninstall + dpkg -r", r"after removal: unit=not-found leftovers=\[\s*\]"),
        ("the .deb installed again", r"dpkg -i again exit=0"),
    ]:
        if marker(pattern) is None:
            problems.append(f"{name}: no serial line 'DGTEST {pattern}'")
    # doctor, run after each of the two installs, finds nothing wrong (it used to take
    # Debian's installed, disabled rsyslog for the shipper: DG006).
    doctor = [re.search(r"DGTEST doctor exit=(\d+)", l).group(1) for l in serial
              if re.search(r"DGTEST doctor exit=\d+", l)]
    if doctor != ["0", "0"]:
        problems.append(f"doctor after each install: want exit 0 twice, got {doctor}")
    # Issue #11: each returns in under 10 s and logs that no shutdown is in progress: the
    # whole `systemctl restart`, and the whole `dpkg -i` of the same .deb again (its postinst
    # try-restarts the unit, whose stop is the unit's ExecStop), under KVM and under TCG alike.
    # A wait that ran a drain would hold either for its whole deadline (10 min here). Under TCG
    # (an emulated CPU) the whole upgrade took 3.1-3.4 s with the host to itself and 7-17 s
    # with builds beside it (docs/packaging.md, "Package upgrade time"), so a miss here with a
    # high load average in check.txt is the host's, not the package's: the unit's stop + start
    # (systemd's timestamps) is printed beside it to tell the two apart.
    for step in ["restart", "upgrade"]:
        m = marker(step + r" exit=(\d+) ms=(\d+) unit-restart-ms=(-?\d+)")
        if m is None:
            problems.append(f"no '{step}' marker")
            continue
        rc, took, unit = int(m.group(1)), int(m.group(2)), int(m.group(3))
        if rc != 0 or unit < 0 or took >= 10000:
            problems.append(f"{step}: exit {rc} after {took} ms, the unit's stop + start {unit} ms"
                            f" (want exit 0, the whole command under 10000 ms, {accel})")
        notes.append(f"{step}: {took} ms, of which the unit's stop + start {unit} ms ({accel})")
        m = marker(step + r": no-shutdown lines (\d+) -> (\d+), new invocation: (\w+)")
        if m is None:
            problems.append(f"no '{step}: no-shutdown lines' marker")
        else:
            if int(m.group(2)) != int(m.group(1)) + 1:
                problems.append(f"{step}: want one more 'no shutdown in progress' in the unit's journal, "
                                f"got {m.group(1)} -> {m.group(2)}")
            if m.group(3) != "yes":
                problems.append(f"{step}: the unit was not started again (same InvocationID)")
    # Measured beside the bounds (printed, not checked): the same upgrade once more with dpkg's
    # -D2 lines stamped in ms (the serial log's "trace upgrade" lines), and once without dpkg's
    # fsync per file (force-unsafe-io; the checked one runs with dpkg's defaults).
    for what in ["traced", "unsafe-io"]:
        m = marker(r"measure upgrade " + what + r" exit=(\d+) ms=(\d+) unit-restart-ms=(-?\d+)")
        if m is None:
            problems.append(f"no 'measure upgrade {what}' marker")
        else:
            notes.append(f"upgrade again, {what}: exit {m.group(1)} after {m.group(2)} ms, "
                         f"of which the unit's stop + start {m.group(3)} ms ({accel})")
    # An admin's stop under a busy CPU: wait's probe answers (asking again if systemctl is
    # slow: 3, 5, 8 s tries, 16 s in all) and returns; it never waits as at a shutdown.
    m = marker(r"busy stop exit=(\d+) ms=(\d+) state=(\S+)")
    if m is None:
        problems.append("no 'busy stop' marker")
    else:
        rc, took = int(m.group(1)), int(m.group(2))
        if rc != 0 or took >= 20000 or m.group(3) != "inactive":
            problems.append(f"busy stop: exit {rc} after {took} ms, unit {m.group(3)}"
                            " (want exit 0, inactive, under 20000 ms)")
        notes.append(f"stop with the CPU busy: {took} ms ({accel})")
        m = marker(r"busy stop: no-shutdown lines (\d+) -> (\d+)")
        if m is None or int(m.group(2)) != int(m.group(1)) + 1:
            problems.append("busy stop: want one more 'no shutdown in progress' in the unit's journal")
    if idx(r"cannot tell whether the host is shutting down") is not None:
        problems.append("wait could not tell whether the host was shutting down")
    if idx(r"(?<!no )shutdown in progress \(") is None:
        problems.append("at poweroff, wait did not log that the shutdown is in progress")

print(f"scenario {scenario}: app wrote {total}, sink received {len(received)} ({accel}, host load {host_load})")
for n in notes:
    print("  " + n)
if problems:
    print("FAIL:")
    for p in problems:
        print("  - " + p)
    print("relevant serial lines:")
    print(relevant())
    sys.exit(1)
print("PASS")
