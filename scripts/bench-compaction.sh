#!/usr/bin/env bash
# Head compaction side by side with Debian's Prometheus, on one data set:
# `compaction gen` writes a WAL of SERIES series scraped every 15 s for
# HOURS hours (enough for the head to span more than 1.5 block ranges),
# the folder is copied, and each server cuts the same head ranges into
# blocks. Prints compaction time, peak memory added over the replayed head,
# and bytes per sample of the blocks, for both, and the ratios.
#
#   SERIES=1000000 HOURS=3.1 scripts/bench-compaction.sh
#
# Prometheus compacts about a minute after start; its own log lines give
# the time ("write block" durations), and its VmHWM (reset once replay is
# done by writing 5 to /proc/PID/clear_refs) the peak. Port 19091 must be
# free. KEEP=1 keeps the work folder.
set -euo pipefail
cd "$(dirname "$0")/.."

SERIES=${SERIES:-1000000}
HOURS=${HOURS:-3.1}

cargo build --release --locked -p narthex-tsdb --example compaction >&2
bin=target/release/examples/compaction
work=$(mktemp -d /tmp/narthex-compaction.XXXXXX)
prom=""
cleanup() { [ -n "$prom" ] && kill "$prom" 2>/dev/null; wait 2>/dev/null || true; [ -n "${KEEP:-}" ] || rm -rf "$work"; }
trap cleanup EXIT

"$bin" gen "$SERIES" "$HOURS" "$work/ours" >&2
cp -r "$work/ours" "$work/theirs"

echo "== narthex" >&2
ours=$("$bin" compact "$work/ours")
echo "$ours"

echo "== Prometheus" >&2
printf 'global:\n  scrape_interval: 15s\n' >"$work/idle.yml"
prometheus --config.file="$work/idle.yml" --storage.tsdb.path="$work/theirs" \
    --web.listen-address=127.0.0.1:19091 2>"$work/prometheus.log" &
prom=$!
until grep -q "TSDB started" "$work/prometheus.log"; do sleep 1; done
base_kib=$(awk '/VmRSS/ { print $2 }' "/proc/$prom/status")
echo 5 >"/proc/$prom/clear_refs"
# Each compacted range logs "write block" then "Head GC completed"; done
# once no new range has been written for 10 s.
until grep -q "Head GC completed" "$work/prometheus.log"; do sleep 1; done
n=0
while [ "$(grep -c 'Head GC completed' "$work/prometheus.log")" != "$n" ]; do
    n=$(grep -c 'Head GC completed' "$work/prometheus.log")
    sleep 10
done
# A WAL long enough is checkpointed after the GC.
while [ "$(grep -c 'Creating checkpoint' "$work/prometheus.log")" != "$(grep -c 'WAL checkpoint complete' "$work/prometheus.log")" ]; do
    sleep 1
done
peak_kib=$(awk '/VmHWM/ { print $2 }' "/proc/$prom/status")
kill "$prom"; wait "$prom" 2>/dev/null || true; prom=""
# Sum of the durations (as Go prints them: 1m2.5s, 850ms, 12.3s, 40µs) of
# the log lines matching $1.
go_seconds() {
    grep "$1" "$work/prometheus.log" | sed -E 's/.* duration=([^ ]+).*/\1/' |
        awk '{ d = $1; s = 0
               if (d ~ /µs$/) { sub(/µs$/, "", d); s = d / 1e6 }
               else if (d ~ /ms$/) { sub(/ms$/, "", d); s = d / 1000 }
               else { if (d ~ /m/) { split(d, a, "m"); s = a[1] * 60; d = a[2] } sub(/s$/, "", d); s += d }
               t += s } END { printf "%.2f", t }'
}
theirs_s=$(go_seconds "write block")
theirs_trunc=$(awk -v a="$(go_seconds 'Head GC completed')" -v b="$(go_seconds 'WAL checkpoint complete')" 'BEGIN { printf "%.2f", a + b }')
read -r theirs_samples theirs_bytes < <(
    total_s=0; total_b=0
    for m in "$work"/theirs/*/meta.json; do
        d=$(dirname "$m")
        s=$(grep -o '"numSamples": [0-9]*' "$m" | grep -o '[0-9]*')
        b=$(find "$d" -type f -printf "%s\n" | awk "{ t += \$1 } END { print t }")
        total_s=$((total_s + s)); total_b=$((total_b + b))
    done
    echo "$total_s $total_b")
echo "prometheus: $(grep -c 'write block' "$work/prometheus.log") block(s) in ${theirs_s} s, peak RSS over the head $(( (peak_kib - base_kib) / 1024 )) MiB (head RSS $((base_kib / 1024)) MiB; then head GC and WAL checkpoint ${theirs_trunc} s)"
echo "prometheus blocks: $theirs_samples samples in $theirs_bytes bytes, $(awk -v b="$theirs_bytes" -v s="$theirs_samples" 'BEGIN { printf "%.3f", b / s }') bytes/sample"

ours_s=$(echo "$ours" | sed -nE 's/.* in ([0-9.]+) s, peak.*/\1/p')
ours_peak=$(echo "$ours" | sed -nE 's/.*peak RSS over the head ([0-9]+) MiB.*/\1/p')
ours_bps=$(echo "$ours" | sed -nE 's/.*, ([0-9.]+) bytes\/sample.*/\1/p')
awk -v a="$ours_s" -v b="$theirs_s" -v c="$ours_peak" -v d="$(( (peak_kib - base_kib) / 1024 ))" \
    -v e="$ours_bps" -v f="$(awk -v b="$theirs_bytes" -v s="$theirs_samples" 'BEGIN { print b / s }')" \
    'BEGIN { printf "ratios narthex/Prometheus: time %.2f, peak extra memory %.2f, bytes/sample %.3f\n", a / b, c / (d > 0 ? d : 1), e / f }'
