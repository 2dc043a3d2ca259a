#!/bin/bash
# Usage: build-image.sh systemd|sysv OUT.img DEBCACHE
# A minimal Debian bookworm guest with the test driver (adapted from the vm-recipe).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
flavour=$1; img=$2; cache=$3
mirror=${MIRROR:-http://deb.debian.org/debian}
case $flavour in
  systemd) inc=systemd-sysv,udev,iproute2,procps ;;
  sysv)    inc=sysvinit-core,ifupdown,iproute2,procps ;;
  *) echo "bad flavour $flavour" >&2; exit 2 ;;
esac
root=$(mktemp -d "${img%.img}.rootfs.XXXX")
trap 'rm -rf "$root"' EXIT
mkdir -p "$cache"
debootstrap --variant=minbase --include="$inc" --cache-dir="$cache" bookworm "$root" "$mirror"
chroot "$root" apt-get clean
cp -a "$here/guest/common/." "$root/"
cp -a "$here/guest/$flavour/." "$root/"
echo dgtest > "$root/etc/hostname"
printf '127.0.0.1 localhost\n127.0.1.1 dgtest\n' > "$root/etc/hosts"
: > "$root/etc/fstab"
case $flavour in
  systemd)
    chroot "$root" systemctl enable dg-driver.service systemd-networkd.service
    chroot "$root" systemctl mask systemd-firstboot.service
    ;;
  sysv)
    chroot "$root" update-rc.d dg-driver defaults
    ;;
esac
size=$(( $(du -sm "$root" | cut -f1) + 256 ))
mkfs.ext4 -q -F -L dgtest -d "$root" "$img.tmp" "${size}M"
mv "$img.tmp" "$img"
