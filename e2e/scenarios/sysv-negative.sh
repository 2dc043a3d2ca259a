. /opt/dg/lib.sh
sysv_services 60000 3000
shutdown_after 6 poweroff
