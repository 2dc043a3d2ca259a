#!/bin/bash
# Usage: build-kernel.sh OUTDIR
# The Debian bookworm kernel (downloaded, not installed) and a tiny busybox initramfs that
# loads virtio/ext4 and switch_roots to /dev/vda (adapted from shared/reference/vm-recipe).
set -euo pipefail
out=$(realpath -m "$1"); mkdir -p "$out"; cd "$out"
if ! ls linux-image-*-amd64_*.deb >/dev/null 2>&1; then
  meta=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-/{print $2; exit}')
  apt-get download "$meta"
fi
deb=$(ls linux-image-*-amd64_*.deb | grep -v '^linux-image-amd64_' | head -1)
rm -rf x && dpkg-deb -x "$deb" x
kver=$(ls x/lib/modules)
cp x/boot/vmlinuz-"$kver" vmlinuz
depmod -b x "$kver"
mdir=x/lib/modules/$kver
order=()
add() {
  local m=$1 d x
  for x in "${order[@]:-}"; do [ "$x" = "$m" ] && return 0; done
  for d in $(grep "^$m:" "$mdir/modules.dep" | cut -d: -f2-); do add "$d"; done
  order+=("$m")
}
for w in virtio_pci virtio_blk virtio_net crc32c_generic ext4; do
  add "$(grep -E "/$w\.ko(\.xz)?:" "$mdir/modules.dep" | cut -d: -f1)"
done
rm -rf ir && mkdir -p ir/{bin,dev,proc,sys,newroot,lib/modules}
cp /bin/busybox ir/bin/busybox
: > ir/modules.order
for m in "${order[@]}"; do cp "$mdir/$m" ir/lib/modules/; basename "$m" >> ir/modules.order; done
cat > ir/init <<'INIT'
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
for m in $(cat /modules.order); do insmod /lib/modules/$m 2>/dev/null; done
i=0; while [ ! -b /dev/vda ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
mount -t ext4 -o rw /dev/vda /newroot || { echo "initrd: cannot mount /dev/vda"; exec sh; }
umount /proc /sys; mount --move /dev /newroot/dev
exec switch_root /newroot /sbin/init
INIT
chmod +x ir/init
(cd ir && find . | cpio -o -H newc --quiet | gzip -1) > initrd.img
rm -rf x ir
