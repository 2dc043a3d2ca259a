# Negative control for a real shipper: systemd-rsyslog without drainguard, with the same order
# at shutdown (the app stops before rsyslog) and the receiver paused over the shutdown (back
# 90 s after the app stopped: long after the poweroff). What rsyslog could not send before it
# stopped dies with the guest: lines are provably lost, so the hold is what saves them.
. /opt/dg/lib.sh
systemd_real_services rsyslog 3000 45
mkdir -p /etc/systemd/system/app.service.d
printf '[Unit]\nAfter=rsyslog.service\n' > /etc/systemd/system/app.service.d/dg-order.conf
systemctl daemon-reload
sleep 3
pause_sink_until_after_app_stop 90
shutdown_after 2 poweroff
