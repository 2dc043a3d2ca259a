# drainguard's package installs files only. Removal never drains, never stops a unit and never
# touches what `drainguard install` wrote: that needs `drainguard uninstall`, which may run a
# drain (bounded by its deadline) and so is never run from here. When its manifest is there,
# the user is told that the shutdown integration still points at this binary.
# $1 is the number of versions left after this one is removed: 0 is removal, 1 an upgrade.
if [ "$1" = 0 ] && [ -e /var/lib/drainguard/install-manifest.json ]; then
    echo "drainguard: the shutdown integration written by 'drainguard install' is still in place" >&2
    echo "drainguard: (/var/lib/drainguard/install-manifest.json): its unit or init script runs" >&2
    echo "drainguard: /usr/bin/drainguard, which this removal deletes. Shutdown will not wait." >&2
    echo "drainguard: Run 'drainguard uninstall' first (or reinstall the package and run it then)." >&2
fi
exit 0
