# A real shipper: Debian's syslog-ng (syslog-ng-core unpacked in the image, its own unit and
# /etc/syslog-ng/syslog-ng.conf, which includes conf.d): a file source flow-controlled into a
# TCP network destination to the host sink. As systemd-rsyslog: the receiver pauses before the
# poweroff and comes back 20 s after the app's final burst; drainguard must hold until every
# line is delivered.
. /opt/dg/lib.sh
systemd_real_services syslog-ng 3000 45
install_drainguard_with --shipper syslog-ng --config /etc/syslog-ng/syslog-ng.conf --shipper-service syslog-ng --deadline 3m
sleep 3
$DG status; klog "status exit=$?"
pause_sink_until_after_app_stop 20
shutdown_after 2 poweroff
