# A started unit without TimeoutStopSec whose drain needs more than systemd's default 90 s.
. /opt/dg/lib.sh
systemd_services 1200 2500
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
StandardOutput=journal+console
[Install]
WantedBy=multi-user.target
UNIT
systemctl daemon-reload
systemctl enable --now logwait.service
$DG doctor --unit logwait.service --before app.service --shipper-service shipper
klog "doctor exit=$?"
shutdown_after 4 poweroff
