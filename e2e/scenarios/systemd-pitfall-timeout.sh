# A started unit without TimeoutStopSec whose drain needs more than systemd's default 90 s.
. /opt/dg/lib.sh
systemd_services 1200 2500
handwritten_unit ""
systemctl enable --now logwait.service
$DG doctor --unit logwait.service --before app.service --shipper-service shipper
klog "doctor exit=$?"
shutdown_after 4 poweroff
