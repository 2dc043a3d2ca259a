#!/usr/bin/env bash
# Benchmark of the metrics on a generated Filebeat registry (memlog): one `status` run, one
# `status --format prometheus` run, and one exporter scrape (a fresh assessment each:
# --min-interval 0s), interleaved, warm cache; then the exporter's CPU while idle between
# scrapes. Figures, never assertions (README "Metrics").
#
#   scripts/bench-metrics.sh [--entries N] [--runs R] [--idle SECONDS] [--dir DIR] [--keep]
#
# Needs: cargo, curl, GNU time (/usr/bin/time).
set -euo pipefail
cd "$(dirname "$0")/.."

entries=100000 runs=5 idle=60 dir="" keep=0
while [ $# -gt 0 ]; do
    case "$1" in
        --entries) entries="$2"; shift 2 ;;
        --runs) runs="$2"; shift 2 ;;
        --idle) idle="$2"; shift 2 ;;
        --dir) dir="$2"; shift 2 ;;
        --keep) keep=1; shift ;;
        *) echo "unknown argument: $1 (see the header of $0)" >&2; exit 2 ;;
    esac
done
[ -x /usr/bin/time ] || { echo "GNU time is missing: apt-get install time" >&2; exit 1; }
command -v curl >/dev/null || { echo "curl is missing" >&2; exit 1; }
dir="${dir:-/tmp/dg-bench-metrics-$entries}"
existed=0; [ -d "$dir/logs" ] && existed=1

echo "== building (release)"
cargo build --release -q --bin drainguard --example gen_registry
dg=$PWD/target/release/drainguard
if [ "$existed" = 0 ]; then
    echo "== generating $entries files under $dir"
    rm -rf "$dir"
    target/release/examples/gen_registry --entries "$entries" --realistic --format memlog --out "$dir"
fi
data="$dir/data"
[ -d "$data" ] || data="$dir/memlog"
sel=(--settings '' status --shipper filebeat --data-path "$data" --state-dir "$dir/state")

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$dg" --settings '' -q exporter --shipper filebeat --data-path "$data" --state-dir "$dir/state" \
    --web.listen-address "127.0.0.1:$port" --min-interval 0s --scrape-timeout 120s >/dev/null &
exp=$!
trap 'kill $exp 2>/dev/null; wait $exp 2>/dev/null || true; [ "$keep" = 1 ] || [ "$existed" = 1 ] || rm -rf "$dir"' EXIT
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/" >/dev/null && break; sleep 0.1; done

ms() { # wall milliseconds of "$@"
    local t0 t1
    t0=$(date +%s%N); "$@" >/dev/null 2>&1 || true; t1=$(date +%s%N)
    echo $(( (t1 - t0) / 1000000 ))
}
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

echo "== warm-up"
ms "$dg" "${sel[@]}" >/dev/null
ms curl -sf "http://127.0.0.1:$port/metrics" >/dev/null
s=() p=() e=()
for r in $(seq 1 "$runs"); do
    s+=("$(ms "$dg" "${sel[@]}")")
    p+=("$(ms "$dg" "${sel[@]}" --format prometheus)")
    e+=("$(ms curl -sf "http://127.0.0.1:$port/metrics")")
done
echo "== $entries entries, $runs runs each, median wall ms (min..max)"
for name in s p e; do
    eval "vals=(\"\${$name[@]}\")"
    label=$(case $name in s) echo "status (table)";; p) echo "status --format prometheus";; e) echo "exporter scrape (fresh)";; esac)
    printf '%-30s %6s ms  (%s..%s)\n' "$label" "$(printf '%s\n' "${vals[@]}" | median)" \
        "$(printf '%s\n' "${vals[@]}" | sort -n | head -1)" "$(printf '%s\n' "${vals[@]}" | sort -n | tail -1)"
done
curl -sf "http://127.0.0.1:$port/metrics" | grep '^drainguard_assessment_duration_seconds'
rss=$(awk '/VmRSS/ {print $2}' "/proc/$exp/status")
echo "exporter RSS after the scrapes: $((rss / 1024)) MiB"

echo "== exporter idle for ${idle}s (no scrape)"
tick=$(getconf CLK_TCK)
cpu() { awk '{print $14 + $15}' "/proc/$exp/stat"; }
c0=$(cpu); sleep "$idle"; c1=$(cpu)
echo "idle CPU: $(( (c1 - c0) * 1000 / tick )) ms of CPU in ${idle}s"
