# Shared by the scenarios (runs in the guest; sourced from /opt/dg/scenario.sh).
# The app writes numbered lines to /var/log/app/app.log and, when stopped, a final burst;
# the shipper stand-in (shipsim) ships them to the host sink and records its progress in
# Filebeat's memlog format under /var/lib/filebeat, or a real shipper (rsyslog, syslog-ng,
# below) does. Markers go to the kernel log (serial).
DG=/opt/dg/drainguard
SINK=10.0.2.2:$(cat /opt/dg/port)
klog() { echo "DGTEST $*" > /dev/kmsg; }
mkdir -p /var/log/app /var/lib/filebeat

write_app() { # $1 = lines in the final burst, $2 = line length in 88-byte pads (default 1)
  pad=$(i=0; while [ $i -lt "${2:-1}" ]; do printf %s xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx; i=$((i+1)); done)
  cat > /opt/dg/app.sh <<APP
#!/bin/sh
# Builtins only after SIGTERM: systemd may kill what is forked after the signal.
n=0
exec 3>>/var/log/app/app.log
pad=$pad
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
  systemd_app_unit
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

sysv_app_script() {
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
  chmod +x /etc/init.d/app
}

sysv_services() { # $1 = shipper rate, $2 = final burst lines
  write_app "$2"
  sysv_app_script
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
  install_drainguard_with --shipper-service shipper --data-path /var/lib/filebeat \
      --shipper-pid-file /run/shipsim.pid "$@"
}

install_drainguard_with() { # the shipper's install flags
  $DG install --before app "$@"
  klog "install exit=$?"
  $DG doctor; klog "doctor exit=$?"
}

# ---- real shippers from the guest's Debian packages (docs/e2e.md) ---------------------------
# rsyslog (installed, disabled in the image) and syslog-ng (syslog-ng-core unpacked in the
# systemd image) read /var/log/app/app.log and forward it over TCP to the host sink.
rsyslog_conf() { # imfile + omfwd + impstats, as docs/shippers.md says to enable them
  cat > /etc/rsyslog.d/50-dg.conf <<CONF
module(load="imfile")
module(load="impstats" interval="1" format="json" log.file="/var/log/rsyslog-stats.log" log.syslog="off")
template(name="dg_raw" type="string" string="%msg%\n")
input(type="imfile" File="/var/log/app/app.log" Tag="app" persistStateAfterSubmission="on" ruleset="dg_fwd")
ruleset(name="dg_fwd") {
  action(type="omfwd" target="${SINK%:*}" port="${SINK##*:}" protocol="tcp" template="dg_raw"
         action.resumeRetryCount="-1" action.resumeInterval="1")
}
CONF
}

syslog_ng_conf() { # a file source, flow-controlled into a network destination (Debian's
  # syslog-ng.conf includes conf.d)
  cat > /etc/syslog-ng/conf.d/dg.conf <<CONF
source s_dg_app { file("/var/log/app/app.log" follow-freq(1) flags(no-parse)); };
destination d_dg_sink { network("${SINK%:*}" port(${SINK##*:}) transport("tcp") template("\${MSG}\n")); };
log { source(s_dg_app); destination(d_dg_sink); flags(flow-control); };
CONF
}

systemd_app_unit() {
  cat > /etc/systemd/system/app.service <<UNIT
[Unit]
Description=e2e app (log producer)
[Service]
ExecStart=/opt/dg/app.sh
UNIT
}

systemd_real_services() { # $1 = rsyslog|syslog-ng, $2 = final burst lines, $3 = pads per line
  write_app "$2" "$3"
  systemd_app_unit
  case $1 in rsyslog) rsyslog_conf ;; syslog-ng) syslog_ng_conf ;; esac
  mkdir -p "/etc/systemd/system/$1.service.d"
  printf '[Service]\nExecStopPost=/bin/sh -c '\''echo "DGTEST SHIPPER stopped" > /dev/kmsg'\''\n' \
    > "/etc/systemd/system/$1.service.d/dg-marker.conf"
  systemctl daemon-reload
  # Enabled as Debian ships it (the image disables rsyslog): enabling links syslog.service,
  # which syslog.socket, a dependency of rsyslog.service, needs.
  systemctl enable "$1.service"
  systemctl start app.service "$1.service"
  klog "services started: $(systemctl is-active app.service "$1.service" | tr '\n' ' ')"
}

sysv_rsyslog_services() { # $1 = final burst lines, $2 = pads per line
  write_app "$1" "$2"
  sysv_app_script
  rsyslog_conf
  # The image disables rsyslog (K links in 2-5, so rc0 would not stop it either): undo that.
  update-rc.d rsyslog enable
  # "SHIPPER stopped" once rsyslog's own script has stopped it (X-Stop-After: rsyslog).
  cat > /etc/init.d/dg-shipper-mark <<'SCRIPT'
#!/bin/sh
### BEGIN INIT INFO
# Provides:          dg-shipper-mark
# Required-Start:
# Required-Stop:
# X-Stop-After:      rsyslog
# Default-Start:     2 3 4 5
# Default-Stop:      0 1 6
# Short-Description: e2e marker: rsyslog has stopped
### END INIT INFO
case "$1" in
  stop) if pidof rsyslogd > /dev/null; then echo "DGTEST SHIPPER still running" > /dev/kmsg
        else echo "DGTEST SHIPPER stopped" > /dev/kmsg; fi ;;
esac
exit 0
SCRIPT
  chmod +x /etc/init.d/dg-shipper-mark
  update-rc.d dg-shipper-mark defaults
  update-rc.d app defaults
  /etc/init.d/rsyslog start
  /etc/init.d/app start
  klog "services started: rsyslogd pid $(pidof rsyslogd)"
}

pause_sink_until_after_app_stop() { # $1 = seconds: e2e/sinkctl.py on the host acts on this
  klog "SINK pause until ${1}s after the app stopped"
  sleep 2
}

scrape() { # GET /metrics from the exporter at its default address, without curl (bash's /dev/tcp)
  bash -c 'exec 3<>/dev/tcp/127.0.0.1/10133 && printf "GET /metrics HTTP/1.0\r\n\r\n" >&3 && cat <&3'
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
