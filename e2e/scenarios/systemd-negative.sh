# Negative control: the same host without drainguard must lose lines.
. /opt/dg/lib.sh
systemd_services 60000 3000
shutdown_after 6 poweroff
