# The shipper is far slower than the app's final burst: the drain at poweroff ends at its
# deadline with bytes unshipped. The exporter (drainguard-exporter.service, hardened) serves
# the backlog while the host runs; the drain record written at poweroff is then read back as
# metrics by `status --format prometheus` from a systemd-shutdown hook, the last program to
# run before the power goes (the harness boots each scenario once on a discarded snapshot, so
# "after the next boot" is checked at the end of this one, from the record on disk).
. /opt/dg/lib.sh
systemd_services 3000 4000
install_drainguard --deadline 20s --exporter
scrape() { # GET /metrics from the exporter, without curl (bash's /dev/tcp)
  bash -c 'exec 3<>/dev/tcp/127.0.0.1/10133 && printf "GET /metrics HTTP/1.0\r\n\r\n" >&3 && cat <&3'
}
sleep 3
klog "exporter unit: $(systemctl is-active drainguard-exporter.service)"
scrape | grep -E '^(Content-Type|drainguard_backlog_bytes|drainguard_store_up)' | while read -r l; do klog "exporter: $l"; done
mkdir -p /usr/lib/systemd/system-shutdown
cat > /usr/lib/systemd/system-shutdown/dg-last-drain <<'HOOK'
#!/bin/sh
/opt/dg/drainguard --settings '' -q status --format prometheus --shipper filebeat \
    --data-path /var/lib/filebeat 2>&1 | grep -E '^drainguard_last_drain' \
  | while read -r l; do echo "DGTEST last drain: $l" > /dev/kmsg; done
HOOK
chmod +x /usr/lib/systemd/system-shutdown/dg-last-drain
shutdown_after 4 poweroff
