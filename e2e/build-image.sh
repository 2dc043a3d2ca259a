#!/bin/bash
# Usage: build-image.sh systemd|sysv OUT.img DEBCACHE
# A minimal Debian bookworm guest with the test driver (adapted from the vm-recipe).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
flavour=$1; img=$2; cache=$3
mirror=${MIRROR:-http://deb.debian.org/debian}
# Real shippers (the *-rsyslog / *-syslog-ng scenarios): rsyslog installed in both guests
# (disabled below, so the other scenarios run without it), syslog-ng-core's libraries in the
# systemd guest; syslog-ng-core itself conflicts with rsyslog as a package, so it is unpacked
# (its files at their Debian paths, not registered with dpkg, the unit not enabled).
sng_libs=libivykis0,libnet1,libwrap0,libpcre3,libjson-c5,libglib2.0-0,libcap2,libssl3
case $flavour in
  systemd) inc=systemd-sysv,udev,iproute2,procps,rsyslog,$sng_libs ;;
  # orphan-sysvinit-scripts: bookworm's rsyslog ships no init script; this package (which
  # sysvinit-core recommends) installs Debian's /etc/init.d/rsyslog.
  sysv)    inc=sysvinit-core,ifupdown,iproute2,procps,rsyslog,orphan-sysvinit-scripts ;;
  *) echo "bad flavour $flavour" >&2; exit 2 ;;
esac
root=$(mktemp -d "${img%.img}.rootfs.XXXX")
trap 'rm -rf "$root" "${sng:-}"' EXIT
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
    chroot "$root" systemctl disable rsyslog.service
    # syslog-ng-core from the same archive (the host's apt, bookworm like the guest), merged
    # into the merged-/usr tree without replacing its /lib -> usr/lib link.
    mkdir -p "$cache/extra"
    debs=("$cache"/extra/syslog-ng-core_*.deb)
    [ -f "${debs[-1]}" ] || (cd "$cache/extra" && apt-get download syslog-ng-core)
    debs=("$cache"/extra/syslog-ng-core_*.deb)
    sng=$(mktemp -d "${img%.img}.sng.XXXX")
    dpkg-deb -x "${debs[-1]}" "$sng"
    tar -C "$sng" -cf - . | tar -C "$root" --keep-directory-symlink -xf -
    rm -rf "$sng"
    chroot "$root" /usr/sbin/syslog-ng --version | head -1
    ;;
  sysv)
    chroot "$root" update-rc.d dg-driver defaults
    chroot "$root" update-rc.d rsyslog disable
    sed -n '/BEGIN INIT INFO/,/END INIT INFO/p' "$root/etc/init.d/rsyslog"
    ;;
esac
size=$(( $(du -sm "$root" | cut -f1) + 256 ))
mkfs.ext4 -q -F -L dgtest -d "$root" "$img.tmp" "${size}M"
mv "$img.tmp" "$img"
