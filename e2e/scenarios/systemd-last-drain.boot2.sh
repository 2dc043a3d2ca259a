# Second boot of systemd-last-drain, on the disk the first boot's deadline-cut drain wrote its
# record to. Nothing ships now (shipper.service and app.service were started, not enabled),
# so the store stands still: the exporter, started at boot under its hardened unit, must
# report the first boot's drain and the same backlog as `status --json`.
. /opt/dg/lib.sh
klog "boot2 btime $(awk '/^btime/ {print $2}' /proc/stat)"
klog "boot2 shipper: $(systemctl is-active shipper.service)"
i=0
until [ "$(systemctl is-active drainguard-exporter.service)" = active ] || [ $i -ge 60 ]; do sleep 1; i=$((i+1)); done
pid=$(systemctl show -p MainPID --value drainguard-exporter.service)
klog "boot2 exporter unit: $(systemctl is-active drainguard-exporter.service) pid=$pid uid=$(awk '/^Uid:/ {print $2}' /proc/$pid/status) user=$(systemctl show -p User --value drainguard-exporter.service) caps=$(awk '/^CapEff:/ {print $2}' /proc/$pid/status)"
klog "boot2 store dir: $(stat -c '%a %U' /var/lib/filebeat)"
journalctl -b -u drainguard-exporter.service --no-pager -o cat | grep -E ' (WARN|ERROR) ' | tail -n 5 | while read -r l; do klog "boot2 exporter warning: $l"; done
klog "boot2 record: $(tail -n 1 /var/lib/drainguard/drains.jsonl | cut -c1-700)"
$DG status --format prometheus | grep -E '^drainguard_(last_drain|backlog_bytes)' | while read -r l; do klog "boot2 status: $l"; done
klog "boot2 json: $($DG status --json | grep -m1 '"bytes_behind"')"
scrape | grep -E '^(drainguard_last_drain|drainguard_backlog_bytes|drainguard_store_up|drainguard_shipper_up|drainguard_delivery_info)' | while read -r l; do klog "boot2 exporter: $l"; done
# After a scrape (an assessment, which records what is behind): the exporter's counters are
# in its own state directory, not before its first assessment.
klog "boot2 exporter state: $(ls -ld /var/lib/drainguard-exporter | awk '{print $1, $NF}') $(ls /var/lib/private/drainguard-exporter 2>&1 | tr '\n' ' ')"
# Stopped outside a shutdown, the drain unit returns at once: no second drain at this poweroff.
systemctl stop drainguard.service
shutdown_after 1 poweroff
