# Shared by the scenarios (runs in the guest; sourced from /opt/dg/scenario.sh).
# The app writes numbered lines to /var/log/app/app.log and, when stopped, a final burst;
# the shipper stand-in (shipsim) ships them to the host sink and records its progress in
# Filebeat's memlog format under /var/lib/filebeat. Markers go to the kernel log (serial).
DG=/opt/dg/drainguard
SINK=10.0.2.2:$(cat /opt/dg/port)
klog() { echo "DGTEST $*" > /dev/kmsg; }
mkdir -p /var/log/app /var/lib/filebeat

write_app() { # $1 = lines in the final burst
  cat > /opt/dg/app.sh <<APP
#!/bin/sh
# Builtins only after SIGTERM: systemd may kill what is forked after the signal.
n=0
exec 3>>/var/log/app/app.log
pad=xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx
burst() {
  i=0
  while [ \$i -lt $1 ]; do n=\$((n+1)); echo "app line \$n \$pad" >&3; i=\$((i+1)); done
  echo "DGTEST APP stopped total=\$n" > /dev/kmsg
  exit 0
}
trap burst TERM
while :; do n=\$((n+1)); echo "app line \$n \$pad" >&3; sleep 0.1; done
APP
  chmod +x /opt/dg/app.sh
}

systemd_services() { # $1 = shipper rate (bytes/s), $2 = final burst lines
  write_app "$2"
  cat > /etc/systemd/system/app.service <<UNIT
[Unit]
Description=e2e app (log producer)
[Service]
ExecStart=/opt/dg/app.sh
UNIT
  cat > /etc/systemd/system/shipper.service <<UNIT
[Unit]
Description=e2e shipper (shipsim, Filebeat memlog registry)
After=network-online.target
Wants=network-online.target
[Service]
ExecStart=/opt/dg/shipsim --data /var/lib/filebeat --file /var/log/app/app.log --sink $SINK --rate $1 --pidfile /run/shipsim.pid
ExecStopPost=/bin/sh -c 'echo "DGTEST SHIPPER stopped" > /dev/kmsg'
UNIT
  systemctl daemon-reload
  systemctl start shipper.service app.service
  klog "services started: $(systemctl is-active shipper.service app.service | tr '\n' ' ')"
}

sysv_services() { # $1 = shipper rate, $2 = final burst lines
  write_app "$2"
  cat > /etc/init.d/app <<'SCRIPT'
#!/bin/sh
### BEGIN INIT INFO
# Provides:          app
# Required-Start:    $local_fs $remote_fs
# Required-Stop:     $local_fs $remote_fs
# Default-Start:     2 3 4 5
# Default-Stop:      0 1 6
# Short-Description: e2e app
### END INIT INFO
case "$1" in
  start) /opt/dg/app.sh > /dev/null 2>&1 & echo $! > /run/app.pid ;;
  stop) pid=$(cat /run/app.pid); kill -TERM "$pid"; while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done ;;
esac
exit 0
SCRIPT
  cat > /etc/init.d/shipper <<SCRIPT
#!/bin/sh
### BEGIN INIT INFO
# Provides:          shipper
# Required-Start:    \$local_fs \$remote_fs \$network
# Required-Stop:     \$local_fs \$remote_fs \$network
# Default-Start:     2 3 4 5
# Default-Stop:      0 1 6
# Short-Description: e2e shipper (shipsim)
### END INIT INFO
case "\$1" in
  start) /opt/dg/shipsim --data /var/lib/filebeat --file /var/log/app/app.log --sink $SINK --rate $1 --pidfile /run/shipsim.pid > /dev/null 2>&1 & ;;
  stop) pid=\$(cat /run/shipsim.pid); kill -TERM "\$pid"; while kill -0 "\$pid" 2>/dev/null; do sleep 0.1; done
        echo "DGTEST SHIPPER stopped" > /dev/kmsg ;;
esac
exit 0
SCRIPT
  chmod +x /etc/init.d/app /etc/init.d/shipper
  update-rc.d shipper defaults
  update-rc.d app defaults
  /etc/init.d/shipper start
  /etc/init.d/app start
  klog "services started"
}

install_drainguard() { # extra install flags
  $DG install --before app --shipper-service shipper --data-path /var/lib/filebeat \
      --shipper-pid-file /run/shipsim.pid "$@"
  klog "install exit=$?"
  $DG doctor; klog "doctor exit=$?"
}

shutdown_after() { # $1 = seconds, $2 = poweroff|reboot
  sleep "$1"
  klog "calling $2"
  if command -v systemctl > /dev/null && [ -d /run/systemd/system ]; then
    systemctl --no-block "$2"
  else
    "$2"
  fi
}

handwritten_unit() { # $1 = extra [Service] line ("" for none); the original note's unit shape
  mkdir -p /etc/drainguard
  printf '[[shipper]]\nkind = "filebeat"\ndata_path = "/var/lib/filebeat"\npid_file = "/run/shipsim.pid"\n' > /etc/drainguard/drainguard.toml
  cat > /etc/systemd/system/logwait.service <<UNIT
[Unit]
After=network-online.target shipper.service
Wants=network-online.target
Before=app.service
[Service]
Type=oneshot
RemainAfterExit=true
ExecStart=/bin/true
ExecStop=/opt/dg/drainguard wait
StandardOutput=journal+console
$1
[Install]
WantedBy=multi-user.target
UNIT
  systemctl daemon-reload
}
