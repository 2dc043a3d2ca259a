# A real shipper: Debian's rsyslog (imfile with persistStateAfterSubmission, omfwd over TCP to
# the host sink, impstats). The receiver pauses before the poweroff and comes back 20 s after
# the app's final burst: 3000 lines of 4 KB, 12 MB, well over the 3+ MB that QEMU's user
# network and the host's socket buffers take before the window closes (docs/e2e.md). drainguard
# must hold until rsyslog has delivered every line, then rsyslog stops, then the power goes.
. /opt/dg/lib.sh
systemd_real_services rsyslog 3000 45
install_drainguard_with --shipper rsyslog --config /etc/rsyslog.conf --shipper-service rsyslog --deadline 3m
sleep 3
$DG status; klog "status exit=$?"
pause_sink_until_after_app_stop 20
shutdown_after 2 poweroff
