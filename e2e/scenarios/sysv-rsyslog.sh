# systemd-rsyslog on sysvinit: Debian's /etc/init.d/rsyslog (orphan-sysvinit-scripts), links
# ordered by insserv through update-rc.d.
. /opt/dg/lib.sh
sysv_rsyslog_services 3000 45
install_drainguard_with --shipper rsyslog --config /etc/rsyslog.conf --shipper-service rsyslog --deadline 3m
klog "rc0.d: $(ls /etc/rc0.d | tr '\n' ' ')"
sleep 3
$DG status; klog "status exit=$?"
pause_sink_until_after_app_stop 20
shutdown_after 2 poweroff
