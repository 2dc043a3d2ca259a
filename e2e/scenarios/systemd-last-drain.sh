# The shipper is far slower than the app's final burst: the drain at poweroff ends at its
# deadline with bytes unshipped and writes its record (drains.jsonl). The exporter
# (drainguard-exporter.service, hardened) serves the backlog while the host runs. The
# second boot (systemd-last-drain.boot2.sh, same disk) reads the record back as metrics.
. /opt/dg/lib.sh
systemd_services 3000 4000
# As Filebeat's packages keep their data: only root may read it. The exporter's dynamic user
# reads it through CAP_DAC_READ_SEARCH.
chmod 0700 /var/lib/filebeat
install_drainguard --deadline 20s --exporter
sleep 3
klog "exporter unit: $(systemctl is-active drainguard-exporter.service)"
scrape | grep -E '^(Content-Type|drainguard_backlog_bytes|drainguard_store_up)' | while read -r l; do klog "exporter: $l"; done
shutdown_after 4 poweroff
