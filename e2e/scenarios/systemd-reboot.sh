. /opt/dg/lib.sh
systemd_services 60000 3000
install_drainguard --deadline 10m
shutdown_after 6 reboot
