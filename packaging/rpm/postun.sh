# On upgrade ($1 is the number of versions left: 1 or more), an active drainguard.service is
# restarted, as Fedora's %systemd_postun_with_restart does (systemctl try-restart): its
# ExecStart (`drainguard check`) then runs the new binary now instead of at the next boot.
# rpm runs the old package's %postun after the new files are in place, so this takes effect
# for upgrades from this version on. It never drains and never holds: the unit's ExecStop is
# `drainguard wait --only-at-shutdown`, which returns at once outside a shutdown and logs
# "no shutdown in progress". Only when systemd runs and the unit `drainguard install` writes
# is there; a unit that is not active is left alone; removal (0) does nothing here; a failed
# restart is reported, never fails the transaction.
UNIT=drainguard.service
if [ "${1:-0}" -ge 1 ] 2>/dev/null && [ -d /run/systemd/system ] \
    && [ -e "/etc/systemd/system/$UNIT" ]; then
    if ! systemctl try-restart "$UNIT"; then
        echo "drainguard: restarting $UNIT after the upgrade failed (its boot check, ExecStart," >&2
        echo "drainguard: most likely): a unit that is not active does not hold the next shutdown." >&2
        echo "drainguard: See 'systemctl status $UNIT' and 'drainguard doctor', then 'systemctl start $UNIT'." >&2
    fi
fi
exit 0
