#!/usr/bin/env bash
# Side-by-side benchmark of `drainguard status` on generated Filebeat registries:
# drainguard (legacy and memlog stores of the same files), filebeat-scrubber (PyPI, in a private
# venv; legacy only, path + size) and bench_baseline (read + parse + stat on 2 threads), run
# interleaved, warm cache. Prints min / median / max wall time, peak RSS and ratios.
#
#   scripts/bench.sh [--entries N] [--kind realistic|sparse] [--runs R] [--dir DIR]
#                    [--before BIN] [--keep] [--wait SECONDS] [--thin] [--files-per-dir N]
#
#   --entries N   files and registry entries (default 100000)
#   --kind K      realistic (log-normal sizes, text tails) or sparse (the tail-scan pathology)
#   --runs R      interleaved rounds (default 5)
#   --dir DIR     where the data goes (default /tmp/dg-bench-KIND-N); kept between runs
#   --before BIN  another drainguard binary to compare (e.g. a build of an older commit)
#   --keep        leave DIR in place at the end (default: removed unless it existed)
#   --thin        realistic only: files at their end are all hole (gen_registry
#                 --text-only-behind; nothing reads them, same sizes and draws): 10^6 entries
#                 take ~45 MB of blocks instead of ~3.9 GB (default DIR /tmp/dg-bench-thin-N)
#   --files-per-dir N  files a directory (default 1000; 1 is the layout of
#                 /var/log/pods/<pod>/<container>/0.log); default DIR gets a -perdirN suffix
#   --wait S      also measure `wait` on N entries: CPU share of one core over S seconds with
#                 one store op per second on the realistic memlog store (1 % of the files stay
#                 behind, so it never drains), then, on a store of N shipped files (generated
#                 after DIR is removed: one data set on disk at a time), the release latency
#                 from the op that ships the last file to `wait` exiting, R runs
#
# Needs: cargo, python3 (venv), GNU time (/usr/bin/time). Not part of the test command: the
# figures are benchmarks, never assertions.
set -euo pipefail
cd "$(dirname "$0")/.."

entries=100000 kind=realistic runs=5 dir="" before="" keep=0 wait_s=0 thin=0 per_dir=""
while [ $# -gt 0 ]; do
    case "$1" in
        --entries) entries="$2"; shift 2 ;;
        --kind) kind="$2"; shift 2 ;;
        --runs) runs="$2"; shift 2 ;;
        --dir) dir="$2"; shift 2 ;;
        --before) before="$2"; shift 2 ;;
        --keep) keep=1; shift ;;
        --thin) thin=1; shift ;;
        --files-per-dir) per_dir="$2"; shift 2 ;;
        --wait) wait_s="$2"; shift 2 ;;
        *) echo "unknown argument: $1 (see the header of $0)" >&2; exit 2 ;;
    esac
done
case "$kind" in realistic|sparse) ;; *) echo "--kind must be realistic or sparse" >&2; exit 2 ;; esac
[ -x /usr/bin/time ] || { echo "GNU time is missing: apt-get install time" >&2; exit 1; }
gen_extra=() suffix=""
if [ -n "$per_dir" ]; then
    gen_extra+=(--files-per-dir "$per_dir")
    suffix="-perdir$per_dir"
fi
if [ "$thin" = 1 ]; then
    [ "$kind" = realistic ] || { echo "--thin needs --kind realistic" >&2; exit 2; }
    gen_extra+=(--text-only-behind)
    dir="${dir:-/tmp/dg-bench-thin-$entries$suffix}"
fi
dir="${dir:-/tmp/dg-bench-$kind-$entries$suffix}"
existed=0; [ -d "$dir/logs" ] && existed=1

echo "== building (release)"
cargo build --release -q --bin drainguard --example gen_registry --example bench_baseline \
    --example bench_wait_cpu --example bench_release
dg=target/release/drainguard
gen=target/release/examples/gen_registry
base=target/release/examples/bench_baseline

venv="${DG_BENCH_VENV:-/tmp/dg-bench-venv}"
if [ ! -x "$venv/bin/filebeat_scrubber" ]; then
    echo "== installing filebeat-scrubber 1.2.0 into $venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q filebeat-scrubber==1.2.0
fi
scrubber="$venv/bin/filebeat_scrubber"

if [ "$existed" = 0 ]; then
    echo "== generating $entries $kind files under $dir"
    rm -rf "$dir"
    "$gen" --entries "$entries" --"$kind" "${gen_extra[@]}" --format both --out "$dir"
fi

# name|command (stdout and exit status ignored: status exits 1 when something is behind)
tools=(
    "drainguard legacy|$dg status --shipper filebeat --data-path $dir/legacy"
    "drainguard memlog|$dg status --shipper filebeat --data-path $dir/memlog"
)
if [ -n "$before" ]; then
    tools+=("before legacy|$before status --shipper filebeat --data-path $dir/legacy"
            "before memlog|$before status --shipper filebeat --data-path $dir/memlog")
fi
tools+=(
    "filebeat-scrubber|$scrubber --registry-file $dir/legacy/registry --summary"
    "baseline (read+parse+stat, 2 threads)|$base $dir/legacy/registry"
)

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
echo "== warm-up"
for t in "${tools[@]}"; do sh -c "${t#*|}" >/dev/null 2>&1 || true; done
for r in $(seq 1 "$runs"); do
    echo "== round $r of $runs"
    for i in "${!tools[@]}"; do
        cmd="${tools[$i]#*|}"
        /usr/bin/time -f "%e %M %U %S" -o "$out/t" sh -c "$cmd" >/dev/null 2>&1 || true
        # The last line: GNU time says "Command exited with non-zero status" before it.
        tail -1 "$out/t" >> "$out/$i"
    done
done

echo
echo "$entries $kind entries, $runs interleaved runs, $(nproc) cores; data: $dir"
printf '%-40s %8s %8s %8s %10s %9s %9s %9s\n' tool min median max "peak RSS" "/baseline" "/scrubber" "CPU med"
median_of() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
n=${#tools[@]}
base_med=$(awk '{print $1}' "$out/$((n - 1))" | median_of)
scrub_med=$(awk '{print $1}' "$out/$((n - 2))" | median_of)
for i in "${!tools[@]}"; do
    name="${tools[$i]%%|*}"
    times=$(awk '{print $1}' "$out/$i" | sort -n)
    min=$(echo "$times" | head -1); max=$(echo "$times" | tail -1)
    med=$(echo "$times" | median_of)
    rss=$(awk 'BEGIN {m=0} {if ($2>m) m=$2} END {printf "%.0f MiB", m/1024}' "$out/$i")
    # CPU time (user + system, all threads): on a loaded machine wall time is mostly waiting
    # for a core, the CPU time is what the tool itself costs.
    cpu=$(awk '{print $3 + $4}' "$out/$i" | median_of)
    printf '%-40s %7ss %7ss %7ss %10s %8.2fx %8.2fx %8.2fs\n' "$name" "$min" "$med" "$max" "$rss" \
        "$(echo "$med $base_med" | awk '{print ($2>0) ? $1/$2 : 0}')" \
        "$(echo "$med $scrub_med" | awk '{print ($2>0) ? $1/$2 : 0}')" "$cpu"
done
echo "commands:"
for t in "${tools[@]}"; do echo "  ${t%%|*}: ${t#*|}"; done
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"

if [ "$wait_s" != 0 ]; then
    echo
    echo "== wait: CPU over ${wait_s}s, one op per second, $entries entries (load $(cut -d' ' -f1-3 /proc/loadavg))"
    target/release/examples/bench_wait_cpu --data "$dir/memlog" --seconds "$wait_s"
    echo "  command: target/release/examples/bench_wait_cpu --data $dir/memlog --seconds $wait_s"
fi
if [ "$keep" = 0 ] && [ "$existed" = 0 ]; then rm -rf "$dir"; fi
shipped="$dir-shipped"
if [ "$wait_s" != 0 ] && [ -d "$dir" ]; then
    # One data set on disk at a time (10^6 files take ~4 GB of blocks each).
    echo "== wait release latency skipped: $dir is kept; remove it, then run"
    echo "  $gen --entries $entries --files-behind 0 --log-ops 0 --format memlog ${per_dir:+--files-per-dir $per_dir }--out $shipped"
    echo "  target/release/examples/bench_release --runs $runs --data $shipped/data; rm -rf $shipped"
elif [ "$wait_s" != 0 ]; then
    rm -rf "$shipped"
    "$gen" --entries "$entries" --files-behind 0 --log-ops 0 --format memlog \
        ${per_dir:+--files-per-dir "$per_dir"} --out "$shipped" >/dev/null 2>&1
    echo "== wait: release latency, $entries shipped entries + 1, $runs runs (load $(cut -d' ' -f1-3 /proc/loadavg))"
    target/release/examples/bench_release --runs "$runs" --data "$shipped/data"
    echo "  command: target/release/examples/bench_release --runs $runs --data $shipped/data"
    echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
    rm -rf "$shipped"
fi
