#!/usr/bin/env python3
"""Pauses and resumes the host sink on the guest's word, read from the serial log.

Usage: sinkctl.py SERIAL PAUSE_FILE LOG

Follows SERIAL (QEMU's serial file, growing) for the scenario's instruction
    DGTEST SINK pause until Ns after the app stopped
On it, creates PAUSE_FILE (the sink stops reading: the receiver is paused); once the line
"DGTEST APP stopped" follows, removes it N seconds later (the receiver is back). On SIGTERM
(run.sh, once QEMU has exited) it removes a pause it made and exits: the receiver outlives
the guest, so what the guest's peer (QEMU's user network) already took still arrives, and
only what never left the guest counts as lost. LOG gets one line per action, with the seconds
since start; check.py reads "resumed" from it.
"""
import os
import re
import signal
import sys
import time

serial, pause, log_path = sys.argv[1], sys.argv[2], sys.argv[3]
start = time.monotonic()
log = open(log_path, "a", buffering=1)
paused_by_us = False
delay = None
resume_at = None


def note(msg):
    log.write(f"{time.monotonic() - start:7.1f}s {msg}\n")


def stop(*_):
    if paused_by_us and os.path.exists(pause):
        os.unlink(pause)
        note("lifted the pause: QEMU has exited")
    sys.exit(0)


signal.signal(signal.SIGTERM, stop)
instruction = re.compile(rb"DGTEST SINK pause until (\d+)s after the app stopped")
app_stopped = re.compile(rb"DGTEST APP stopped")
pos = 0
pending = b""
while True:
    if resume_at is not None and time.monotonic() >= resume_at:
        os.unlink(pause)
        paused_by_us = False
        resume_at = None
        note(f"resumed {delay}s after the app stopped")
    try:
        with open(serial, "rb") as f:
            f.seek(pos)
            chunk = f.read(1 << 20)
    except FileNotFoundError:
        chunk = b""
    if not chunk:
        time.sleep(0.1)
        continue
    pos += len(chunk)
    lines = (pending + chunk).split(b"\n")
    pending = lines.pop()
    for line in lines:
        m = instruction.search(line)
        if m and delay is None:
            delay = int(m.group(1))
            open(pause, "w").close()
            paused_by_us = True
            note(f"paused (until {delay}s after the app stopped)")
        elif app_stopped.search(line) and delay is not None and paused_by_us and resume_at is None:
            resume_at = time.monotonic() + delay
            note(f"the app stopped: resuming in {delay}s")
