#!/usr/bin/env bash
# Whole-process PromQL benchmark: narthex and Debian's Prometheus receive the
# same synthetic data by remote write (crates/remote/examples/rwgen.rs:
# 100,000 series every 15 s for the last hour, and 1,000 series every 60 s
# for the last day), then the same queries run against both, alternately,
# REPS times each. Prints the median latency of each query on both and the
# ratio, and checks that both answered with the same number of series.
#
#   REPS=5 scripts/bench-promql.sh
#
# Needs `prometheus` on PATH (Debian's package), curl and python3. Ports
# 19092 and 19093 must be free.
set -euo pipefail
cd "$(dirname "$0")/.."

REPS=${REPS:-5}
cargo build --release --locked -p narthex >&2
cargo build --release --locked -p narthex-remote --example rwgen >&2
bin=target/release
work=$(mktemp -d /tmp/narthex-qbench.XXXXXX)
pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; }
trap cleanup EXIT

echo 'scrape_configs: []' > "$work/empty.yml"
"$bin/narthex" --config.file="$work/empty.yml" --storage.tsdb.path="$work/narthex" \
    --web.listen-address=127.0.0.1:19092 --web.enable-remote-write-receiver 2>"$work/narthex.log" &
narthex=$!; pids+=($narthex)
prometheus --config.file="$work/empty.yml" --storage.tsdb.path="$work/prometheus" \
    --web.listen-address=127.0.0.1:19093 --web.enable-remote-write-receiver 2>"$work/prometheus.log" &
prom=$!; pids+=($prom)
for p in 19092 19093; do
    until curl -sf "http://127.0.0.1:$p/-/ready" >/dev/null; do sleep 0.5; done
done

echo "loading (work dir $work)" >&2
load_start=$(date +%s)
"$bin/examples/rwgen" http://127.0.0.1:19092/api/v1/write http://127.0.0.1:19093/api/v1/write | tee "$work/rwgen.out" >&2
end=$(awk '{print $NF}' "$work/rwgen.out")
echo "loaded in $(( $(date +%s) - load_start ))s; letting both settle" >&2
sleep 30

cpu() { awk '{ split($0, a, ") "); split(a[2], f, " "); printf "%.2f", (f[12] + f[13]) / 100 }' "/proc/$1/stat"; }
hwm() { awk '/VmHWM/ { printf "%.0f", $2 / 1024 }' "/proc/$1/status"; }
echo "after loading: narthex $(cpu $narthex) CPU s, peak RSS $(hwm $narthex) MiB; Prometheus $(cpu $prom) CPU s, peak RSS $(hwm $prom) MiB"

queries=(
  "instant|sum by (job) (rate(bench_requests_total[5m]))"
  "instant|histogram_quantile(0.99, sum by (le) (rate(bench_latency_seconds_bucket[5m])))"
  "instant|topk(10, bench_gauge)"
  "instant|topk(10, rate(bench_requests_total[5m]))"
  "instant|count(bench_requests_total{code=\"500\", path=~\"/api/1.*\"})"
  "instant|sum by (instance) (bench_gauge{job=\"job-3\"})"
  "range1h|sum by (job) (rate(bench_requests_total[5m]))"
  "range1h|histogram_quantile(0.9, sum by (job, le) (rate(bench_latency_seconds_bucket[5m])))"
  "range24h|avg by (job) (bench_long)"
  "range24h|max by (job) (max_over_time(bench_long[10m]))"
)

# One timed request; prints seconds and the number of result series.
run() {
    local port=$1 kind=$2 q=$3 args
    case $kind in
        instant) args=(--data-urlencode "time=$end") ;;
        range1h) args=(--data-urlencode "start=$((end - 3600))" --data-urlencode "end=$end" --data-urlencode "step=60") ;;
        range24h) args=(--data-urlencode "start=$((end - 86400))" --data-urlencode "end=$end" --data-urlencode "step=60") ;;
    esac
    curl -s -o "$work/out.$port" -w '%{time_total}' "http://127.0.0.1:$port/api/v1/query$([ "$kind" = instant ] || echo _range)" \
        --data-urlencode "query=$q" "${args[@]}"
    printf ' %s\n' "$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(len(d["data"]["result"]) if d["status"]=="success" else "error:"+d["error"])' "$work/out.$port")"
}

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

printf '%-10s %-90s %10s %10s %7s\n' kind query narthex_ms prom_ms ratio
n_cpu0=$(cpu $narthex); p_cpu0=$(cpu $prom)
for entry in "${queries[@]}"; do
    kind=${entry%%|*}; q=${entry#*|}
    : >"$work/n.t"; : >"$work/p.t"
    for _ in $(seq "$REPS"); do
        read -r tn sn < <(run 19092 "$kind" "$q"); echo "$tn" >>"$work/n.t"
        read -r tp sp < <(run 19093 "$kind" "$q"); echo "$tp" >>"$work/p.t"
    done
    [ "$sn" = "$sp" ] || echo "  MISMATCH: narthex $sn series, Prometheus $sp" >&2
    mn=$(median <"$work/n.t"); mp=$(median <"$work/p.t")
    printf '%-10s %-90s %10.1f %10.1f %7.2f\n' "$kind" "$q" "$(echo "$mn*1000" | bc -l)" "$(echo "$mp*1000" | bc -l)" "$(echo "$mn/$mp" | bc -l)"
done
echo "query CPU seconds: narthex $(echo "$(cpu $narthex) - $n_cpu0" | bc -l), Prometheus $(echo "$(cpu $prom) - $p_cpu0" | bc -l)"
echo "peak RSS: narthex $(hwm $narthex) MiB, Prometheus $(hwm $prom) MiB"
