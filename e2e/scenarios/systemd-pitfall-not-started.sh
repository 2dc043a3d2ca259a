# The original note's unit: correct ordering, enabled, but never started: no ExecStop runs.
. /opt/dg/lib.sh
systemd_services 60000 3000
handwritten_unit "TimeoutStopSec=600"
systemctl enable logwait.service
$DG doctor --unit logwait.service --before app.service --shipper-service shipper
klog "doctor exit=$?"
# Without --unit: doctor finds the hand-written hook by itself (its ExecStop runs drainguard).
$DG doctor --before app.service --shipper-service shipper
klog "doctor (hooks found by itself) exit=$?"
shutdown_after 6 poweroff
