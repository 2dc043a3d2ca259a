# The original note's unit: correct ordering, enabled, but never started: no ExecStop runs.
. /opt/dg/lib.sh
systemd_services 60000 3000
mkdir -p /etc/drainguard
printf '[[shipper]]\nkind = "filebeat"\ndata_path = "/var/lib/filebeat"\npid_file = "/run/shipsim.pid"\n' > /etc/drainguard/drainguard.toml
cat > /etc/systemd/system/logwait.service <<'UNIT'
[Unit]
After=network-online.target shipper.service
Wants=network-online.target
Before=app.service
[Service]
Type=oneshot
RemainAfterExit=true
ExecStart=/bin/true
ExecStop=/opt/dg/drainguard wait
TimeoutStopSec=600
StandardOutput=journal+console
[Install]
WantedBy=multi-user.target
UNIT
systemctl daemon-reload
systemctl enable logwait.service
$DG doctor --unit logwait.service --before app.service --shipper-service shipper
klog "doctor exit=$?"
shutdown_after 6 poweroff
