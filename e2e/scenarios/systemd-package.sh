# The .deb's whole lifecycle in one systemd guest, then a drained poweroff with the packaged
# /usr/bin/drainguard (docs/packaging.md). With a backlog pending (the shipper paused),
# `systemctl restart drainguard` and a package upgrade (`dpkg -i` of the same .deb again) each
# return at once; `uninstall` + `dpkg -r` leave nothing behind; then install again and power off.
. /opt/dg/lib.sh
DG=/usr/bin/drainguard
ms() { echo $(( $(date +%s%N) / 1000000 )); }
leftovers() { # every path drainguard's package or install could have left (its log excepted)
  find / -xdev \( -path /proc -o -path /sys -o -path /opt/dg -o -path /var/log/drainguard \) -prune \
       -o -name '*drainguard*' -print 2>/dev/null | tr '\n' ' '
}

# The first install's time is dpkg's own cost here (unpacking 16 MB under TCG): the baseline
# for the upgrade's.
t=$(ms); dpkg -i /opt/dg/drainguard.deb > /dev/null; rc=$?
klog "dpkg -i exit=$rc ms=$(( $(ms) - t ))"
klog "binary: $(command -v drainguard) $($DG --version)"
systemd_services 60000 3000
install_drainguard --deadline 10m
klog "unit $(grep '^ExecStop=' /etc/systemd/system/drainguard.service)"
klog "unit active: $(systemctl is-active drainguard.service)"

# A backlog: the shipper stops reading while the app writes on.
kill -STOP "$(cat /run/shipsim.pid)"; sleep 3
$DG status > /dev/null; klog "status with the shipper paused exit=$?"
t=$(ms); systemctl restart drainguard.service; rc=$?
klog "restart exit=$rc ms=$(( $(ms) - t ))"
t=$(ms); dpkg -i /opt/dg/drainguard.deb > /dev/null; rc=$?
klog "upgrade exit=$rc ms=$(( $(ms) - t ))"
klog "unit active after restart and upgrade: $(systemctl is-active drainguard.service)"
klog "journal no-shutdown lines=$(journalctl -u drainguard.service -o cat | grep -c 'no shutdown in progress')"
$DG status > /dev/null; klog "status after restart and upgrade exit=$?"
kill -CONT "$(cat /run/shipsim.pid)"

# Remove everything: uninstall (the shipper catches up, so its stop step is short either way),
# then the package.
$DG uninstall > /dev/null; klog "uninstall exit=$?"
dpkg -r drainguard > /dev/null; klog "dpkg -r exit=$?"
systemctl daemon-reload
klog "after removal: unit=$(systemctl show -p LoadState --value drainguard.service) leftovers=[$(leftovers)]"

# And back, for the drained poweroff.
dpkg -i /opt/dg/drainguard.deb > /dev/null; klog "dpkg -i again exit=$?"
install_drainguard --deadline 10m
shutdown_after 6 poweroff
