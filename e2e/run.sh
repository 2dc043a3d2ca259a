#!/bin/bash
# End-to-end shutdown tests: real Debian bookworm guests (systemd and sysvinit) under QEMU
# (KVM when usable, else TCG), drainguard installed inside with `drainguard install`, powered
# off or rebooted, and every log line checked at a sink on the host.
#
# Usage: e2e/run.sh [--build-only] [SCENARIO ...]      (default: every scenario)
# Env:   DG_E2E_CACHE (default /var/cache/drainguard-e2e), DG_E2E_TIMEOUT (per boot, 900 s)
#        DG_E2E_ACCEL: auto (default: KVM when it boots the guest kernel, else TCG), kvm (an
#        error when KVM is not usable), tcg; DG_E2E_KVM_DEV (default /dev/kvm): the device
#        checked before the KVM probe (point it at a missing path to force the fallback)
# Logs:  e2e/logs/<scenario>/{serial.log,received.log,check.txt} (+ serial2.log: second boot)
# Two boots: a scenario with a second stage, e2e/scenarios/NAME.boot2.sh, boots on its own
#        copy of the image (not a discarded snapshot), then boots that same disk again with
#        the second stage as the payload's scenario.sh; check.py sees both serial logs.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
cache_root=${DG_E2E_CACHE:-/var/cache/drainguard-e2e}
timeout_s=${DG_E2E_TIMEOUT:-900}
logs=$here/logs

ALL="systemd-drained systemd-package systemd-negative systemd-pitfall-not-started systemd-pitfall-timeout systemd-deadline systemd-reboot sysv-drained sysv-negative sysv-reboot systemd-last-drain systemd-rsyslog systemd-rsyslog-negative sysv-rsyslog systemd-syslog-ng"

die() { echo "e2e: $*" >&2; exit 2; }
for tool in qemu-system-x86_64 debootstrap mkfs.ext4 busybox depmod cpio python3 timeout; do
  command -v "$tool" >/dev/null || die "missing $tool (install: qemu-system-x86 debootstrap e2fsprogs busybox-static kmod cpio python3)"
done

# The cache key covers everything that goes into the images.
key=$(cd "$here" && cat build-kernel.sh build-image.sh $(find guest -type f | sort) | sha256sum | cut -c1-16)
cache=$cache_root/$key
mkdir -p "$cache"
build() {
  local t0=$SECONDS
  if [ ! -f "$cache/vmlinuz" ] || [ ! -f "$cache/initrd.img" ]; then
    echo "== building kernel + initrd into $cache"
    "$here/build-kernel.sh" "$cache" > "$cache/kernel.log" 2>&1 || { tail -20 "$cache/kernel.log"; die "kernel build failed"; }
  fi
  for f in systemd sysv; do
    if [ ! -f "$cache/$f.img" ]; then
      echo "== building the $f image"
      "$here/build-image.sh" "$f" "$cache/$f.img" "$cache_root/debcache" > "$cache/$f.log" 2>&1 \
        || { tail -30 "$cache/$f.log"; die "$f image build failed"; }
    fi
  done
  echo "== images ready in $((SECONDS - t0))s ($cache)"
}
build
# Older recipes' images are dead weight (the .deb cache is kept).
for old in "$cache_root"/*/; do
  case "$old" in "$cache/"|"$cache_root/debcache/") ;; *) rm -rf "$old" ;; esac
done
[ "${1:-}" = "--build-only" ] && exit 0
scenarios=${*:-$ALL}
for s in $scenarios; do
  [ -f "$here/scenarios/$s.sh" ] || die "no scenario $s (want one of: $ALL, or a file e2e/scenarios/NAME.sh)"
done

# The accelerator. /dev/kvm being there is not enough (a nested host may refuse `-cpu host` or
# never run the guest), so KVM is probed with the guest kernel itself: booted without an
# initrd it panics at once (no root), and with panic=-1 -no-reboot QEMU then exits 0.
pick_accel() {
  local want=${DG_E2E_ACCEL:-auto} dev=${DG_E2E_KVM_DEV:-/dev/kvm} t0=$SECONDS rc
  case $want in auto|kvm|tcg) ;; *) die "DG_E2E_ACCEL=$want: want auto, kvm or tcg" ;; esac
  accel=(-accel tcg -cpu max)
  if [ "$want" = tcg ]; then accel_why="DG_E2E_ACCEL=tcg"; return; fi
  if [ ! -c "$dev" ] || [ ! -r "$dev" ] || [ ! -w "$dev" ]; then
    accel_why="KVM not usable: $dev is not a character device this user can read and write"
  else
    mkdir -p "$logs"
    rm -f "$logs/kvm-probe.serial"
    # (In a subshell: a QEMU that aborts is reported into the probe's log, not on the terminal.)
    ( timeout --kill-after=5 20 qemu-system-x86_64 -accel kvm -cpu host -smp 2 -m 256 \
        -nodefaults -display none -no-reboot -serial "file:$logs/kvm-probe.serial" \
        -kernel "$cache/vmlinuz" -append "console=ttyS0 panic=-1" < /dev/null; exit $? ) \
      > "$logs/kvm-probe.log" 2>&1
    rc=$?
    if [ "$rc" = 0 ] && grep -qa "Kernel panic" "$logs/kvm-probe.serial"; then
      accel=(-accel kvm -cpu host)
      accel_why="the KVM probe booted the guest kernel in $((SECONDS - t0))s"
    else
      accel_why="KVM not usable: the probe (-accel kvm -cpu host) exited $rc in $((SECONDS - t0))s"
      accel_why+=" without booting the kernel: $(grep -a -m1 . "$logs/kvm-probe.log" | cut -c1-160)"
    fi
  fi
  if [ "$want" = kvm ] && [ "${accel[1]}" != kvm ]; then die "DG_E2E_ACCEL=kvm: $accel_why"; fi
}
pick_accel
echo "== accelerator: ${accel[1]} (${accel_why})"

echo "== building drainguard, shipsim, sink (release)"
(cd "$repo" && cargo build --release --quiet --bins --examples) || die "cargo build failed"
bin=$repo/target/release

# One boot: QEMU on DISK (a -drive file=... option string) with PAYLOAD as the second disk,
# the serial console to SERIAL (.raw; .log without CR/NUL), QEMU's own output to QLOG.
# Returns QEMU's exit status (timeout: 124).
boot() { # DISK PAYLOAD SERIAL QLOG
  timeout --kill-after=10 "$timeout_s" qemu-system-x86_64 "${accel[@]}" -smp 2 -m 1024 \
    -nodefaults -display none -no-reboot -serial "file:$3.raw" \
    -kernel "$cache/vmlinuz" -initrd "$cache/initrd.img" \
    -append "root=/dev/vda console=ttyS0 net.ifnames=0 printk.devkmsg=on systemd.log_target=kmsg systemd.log_level=info panic=-1" \
    -drive "$1" \
    -drive file="$2",if=virtio,format=raw,readonly=on \
    -nic user,model=virtio-net-pci < /dev/null > "$4" 2>&1
  local rc=$?
  tr -d '\r\000' < "$3.raw" > "$3.log"
  return $rc
}

run_t0=$SECONDS
fail=0
summary=""
for s in $scenarios; do
  flavour=${s%%-*}
  dir=$logs/$s; rm -rf "$dir"; mkdir -p "$dir/payload"
  stage2=$here/scenarios/$s.boot2.sh
  if [ -f "$stage2" ]; then
    # The disk outlives the first boot: a sparse copy of the image, deleted after the check.
    cp --sparse=always "$cache/$flavour.img" "$dir/disk.img" || die "cannot copy the $flavour image to $dir"
    disk="file=$dir/disk.img,if=virtio,format=raw"
  else
    disk="file=$cache/$flavour.img,if=virtio,format=raw,snapshot=on"
  fi
  cp "$bin/drainguard" "$bin/examples/shipsim" "$here"/scenarios/lib.sh "$dir/payload/"
  cp "$here/scenarios/$s.sh" "$dir/payload/scenario.sh"
  if [ "$s" = systemd-package ]; then # the .deb built by scripts/dist.sh (docs/packaging.md)
    debs=("$repo"/dist/drainguard_*_amd64.deb)
    [ -f "${debs[-1]}" ] || die "systemd-package needs dist/drainguard_*_amd64.deb: run scripts/dist.sh"
    cp "${debs[-1]}" "$dir/payload/drainguard.deb"
  fi
  port=$((20000 + RANDOM % 20000))
  : > "$dir/received.log"
  [ "$s" = systemd-deadline ] && touch "$dir/sink.pause"
  # Real shippers talk to a plain receiver (syslog over TCP: nothing comes back); shipsim
  # reads the sink's acknowledgements.
  ack=(); case $s in *rsyslog*|*syslog-ng*) ack=(--no-ack) ;; esac
  "$bin/examples/sink" --listen "127.0.0.1:$port" --out "$dir/received.log" --pause-file "$dir/sink.pause" "${ack[@]}" > "$dir/sink.out" 2>&1 &
  sink_pid=$!
  # The guest may pause the receiver (e2e/sinkctl.py: "DGTEST SINK pause until ...").
  python3 "$here/sinkctl.py" "$dir/serial.raw" "$dir/sink.pause" "$dir/sink-control.log" &
  ctl_pid=$!
  echo "$port" > "$dir/payload/port"
  tar -C "$dir/payload" -cf "$dir/payload.tar" .
  t0=$SECONDS
  # The host's load average around the boot: an emulated guest's timings depend on it.
  load0=$(cut -d' ' -f1-3 /proc/loadavg)
  boot "$disk" "$dir/payload.tar" "$dir/serial" "$dir/qemu.log"
  qrc=$?
  load1=$(cut -d' ' -f1-3 /proc/loadavg)
  kill "$ctl_pid" 2>/dev/null; wait "$ctl_pid" 2>/dev/null
  # The receiver outlives the guest: it reads what QEMU's network had taken until nothing
  # more arrives (1 s without growth, at most 15 s).
  last=-1
  for _ in $(seq 15); do
    size=$(stat -c %s "$dir/received.log"); [ "$size" = "$last" ] && break; last=$size; sleep 1
  done
  kill "$sink_pid" 2>/dev/null; wait "$sink_pid" 2>/dev/null
  secs=$((SECONDS - t0))
  check_args=("$s" "$dir" "$qrc")
  if [ -f "$stage2" ]; then
    # The second boot: the same disk, a payload of the second stage only (the binaries are
    # the first boot's, on the disk; the running exporter's would not be overwritten).
    rc2=skipped
    if [ "$qrc" = 0 ]; then
      mkdir -p "$dir/payload2"
      cp "$here/scenarios/lib.sh" "$dir/payload/port" "$dir/payload2/"
      cp "$stage2" "$dir/payload2/scenario.sh"
      tar -C "$dir/payload2" -cf "$dir/payload2.tar" .
      t2=$SECONDS
      boot "$disk" "$dir/payload2.tar" "$dir/serial2" "$dir/qemu2.log"
      rc2=$?
      echo "   $s: boot 1 ${secs}s, boot 2 $((SECONDS - t2))s"
      secs=$((SECONDS - t0))
    fi
    check_args+=("$rc2")
    rm -f "$dir/disk.img"
  fi
  if DG_E2E_ACCEL_USED=${accel[1]} DG_E2E_HOST_LOAD="$load0 -> $load1" python3 "$here/check.py" "${check_args[@]}" > "$dir/check.txt" 2>&1; then
    line="PASS  $s (${secs}s, ${accel[1]}, host load $load0 -> $load1)"
  else
    line="FAIL  $s (${secs}s, ${accel[1]}, host load $load0 -> $load1): see $dir/check.txt"; fail=1
    sed 's/^/    /' "$dir/check.txt"
  fi
  echo "$line"; summary+="$line"$'\n'
done
echo "== e2e summary (${accel[1]}, $((SECONDS - run_t0))s of boots)"; printf '%s' "$summary"
exit $fail
