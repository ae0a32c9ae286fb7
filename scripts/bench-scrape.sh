#!/usr/bin/env bash
# Whole-process scrape benchmark: narthex and Debian's Prometheus scrape the
# same load-generator targets side by side, on this machine, for the same
# time. Prints CPU seconds, peak RSS, target health and scrape timing for
# both, and the ratios.
#
#   TARGETS=10000 SERIES=200 DURATION=600 scripts/bench-scrape.sh
#
# Needs `prometheus` on PATH (Debian's package). Ports 9100, 9101, 19090
# and 19091 must be free.
set -euo pipefail
cd "$(dirname "$0")/.."

TARGETS=${TARGETS:-10000}
SERIES=${SERIES:-200}
DURATION=${DURATION:-600}
INTERVAL=${INTERVAL:-15s}

cargo build --release --locked -p narthex >&2
cargo build --release --locked -p narthex-scrape --example loadgen >&2
bin=target/release
work=$(mktemp -d /tmp/narthex-bench.XXXXXX)
pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; }
trap cleanup EXIT

# Two generator processes: each scraper holds one connection per target,
# and one process may hold at most `ulimit -n` of them.
half=$((TARGETS / 2))
rest=$((TARGETS - half))
"$bin/examples/loadgen" --targets "$half" --first 0 --series "$SERIES" --port 9100 \
    --scrape-interval "$INTERVAL" --config "$work/prometheus.yml" --also "$half:$rest:9101" 2>"$work/loadgen0.log" &
pids+=($!)
"$bin/examples/loadgen" --targets "$rest" --first "$half" --series "$SERIES" --port 9101 2>"$work/loadgen1.log" &
pids+=($!)
sleep 2

"$bin/narthex" --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/narthex" \
    --web.listen-address=127.0.0.1:19090 2>"$work/narthex.log" &
narthex=$!
pids+=($narthex)
prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/prometheus" \
    --web.listen-address=127.0.0.1:19091 2>"$work/prometheus.log" &
prom=$!
pids+=($prom)

echo "running $TARGETS targets x $SERIES series every $INTERVAL for ${DURATION}s (work dir $work)" >&2
sleep "$DURATION"

cpu() { awk '{ split($0, a, ") "); split(a[2], f, " "); printf "%.1f", (f[12] + f[13]) / 100 }' "/proc/$1/stat"; }
hwm() { awk '/VmHWM/ { printf "%.0f", $2 / 1024 }' "/proc/$1/status"; }

# Target health and the slowest scrape, from each server's targets API.
health() {
    curl -s "http://127.0.0.1:$1/api/v1/targets?state=active" | python3 -c '
import json, sys
t = json.load(sys.stdin)["data"]["activeTargets"]
up = sum(1 for x in t if x["health"] == "up")
slowest = max((x["lastScrapeDuration"] for x in t), default=0)
print(f"{up}/{len(t)} up, slowest last scrape {slowest:.3f}s")'
}
interval99() {
    curl -s "http://127.0.0.1:$1/metrics" | awk -v iv="$INTERVAL" '/^prometheus_target_interval_length_seconds\{/ && /quantile="0.99"/ && $0 ~ "interval=\""iv"\"" { print $NF }'
}

n_cpu=$(cpu $narthex); p_cpu=$(cpu $prom)
n_rss=$(hwm $narthex); p_rss=$(hwm $prom)
n_health=$(health 19090); p_health=$(health 19091)
n_iv=$(interval99 19090); p_iv=$(interval99 19091)

cat <<EOF
| | narthex | Prometheus 2.42 | ratio |
|---|---|---|---|
| CPU seconds over ${DURATION}s | $n_cpu | $p_cpu | $(python3 -c "print(f'{$n_cpu/$p_cpu:.2f}')") |
| peak RSS (MiB) | $n_rss | $p_rss | $(python3 -c "print(f'{$n_rss/$p_rss:.2f}')") |
| targets | $n_health | $p_health | |
| scrape interval p99 (s) | ${n_iv:-n/a} | ${p_iv:-n/a} | |
EOF
