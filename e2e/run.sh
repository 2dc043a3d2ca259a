#!/bin/bash
# End-to-end shutdown tests: real Debian bookworm guests (systemd and sysvinit) under QEMU
# (TCG), drainguard installed inside with `drainguard install`, powered off or rebooted, and
# every log line checked at a sink on the host.
#
# Usage: e2e/run.sh [--build-only] [SCENARIO ...]      (default: every scenario)
# Env:   DG_E2E_CACHE (default /var/cache/drainguard-e2e), DG_E2E_TIMEOUT (per boot, 900 s)
# Logs:  e2e/logs/<scenario>/{serial.log,received.log,check.txt}
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
cache_root=${DG_E2E_CACHE:-/var/cache/drainguard-e2e}
timeout_s=${DG_E2E_TIMEOUT:-900}
logs=$here/logs

ALL="systemd-drained systemd-package systemd-negative systemd-pitfall-not-started systemd-pitfall-timeout systemd-deadline systemd-reboot sysv-drained sysv-negative sysv-reboot systemd-last-drain"

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

echo "== building drainguard, shipsim, sink (release)"
(cd "$repo" && cargo build --release --quiet --bins --examples) || die "cargo build failed"
bin=$repo/target/release

scenarios=${*:-$ALL}
fail=0
summary=""
for s in $scenarios; do
  flavour=${s%%-*}
  dir=$logs/$s; rm -rf "$dir"; mkdir -p "$dir/payload"
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
  "$bin/examples/sink" --listen "127.0.0.1:$port" --out "$dir/received.log" --pause-file "$dir/sink.pause" > "$dir/sink.out" 2>&1 &
  sink_pid=$!
  echo "$port" > "$dir/payload/port"
  tar -C "$dir/payload" -cf "$dir/payload.tar" .
  t0=$SECONDS
  timeout --kill-after=10 "$timeout_s" qemu-system-x86_64 -accel tcg -cpu max -smp 2 -m 1024 \
    -nodefaults -display none -no-reboot -serial "file:$dir/serial.raw" \
    -kernel "$cache/vmlinuz" -initrd "$cache/initrd.img" \
    -append "root=/dev/vda console=ttyS0 net.ifnames=0 printk.devkmsg=on systemd.log_target=kmsg systemd.log_level=info panic=-1" \
    -drive file="$cache/$flavour.img",if=virtio,format=raw,snapshot=on \
    -drive file="$dir/payload.tar",if=virtio,format=raw,readonly=on \
    -nic user,model=virtio-net-pci < /dev/null > "$dir/qemu.log" 2>&1
  qrc=$?
  tr -d '\r\000' < "$dir/serial.raw" > "$dir/serial.log"
  kill "$sink_pid" 2>/dev/null; wait "$sink_pid" 2>/dev/null
  secs=$((SECONDS - t0))
  if python3 "$here/check.py" "$s" "$dir" "$qrc" > "$dir/check.txt" 2>&1; then
    line="PASS  $s (${secs}s)"
  else
    line="FAIL  $s (${secs}s): see $dir/check.txt"; fail=1
    sed 's/^/    /' "$dir/check.txt"
  fi
  echo "$line"; summary+="$line"$'\n'
done
echo "== e2e summary"; printf '%s' "$summary"
exit $fail
