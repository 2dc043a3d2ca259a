# The sink never acknowledges (paused by the host): the wait ends at its deadline and the
# shutdown completes.
. /opt/dg/lib.sh
systemd_services 60000 500
install_drainguard --deadline 20s
shutdown_after 4 poweroff
