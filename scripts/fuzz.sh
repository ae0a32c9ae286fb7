#!/usr/bin/env bash
# Runs every fuzz target in fuzz/ for SECONDS each on the stable toolchain:
# libFuzzer with coverage instrumentation, without the sanitizers that need
# nightly (a panic, overflow or failed assertion is still a crash). Corpora
# and crashes go to target/fuzz-corpus/<target>/ and the current folder.
#
#   SECONDS_EACH=120 scripts/fuzz.sh [TARGET...]
set -euo pipefail
cd "$(dirname "$0")/.."

SECONDS_EACH=${SECONDS_EACH:-60}
triple=$(rustc -vV | sed -n 's/^host: //p')
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    mapfile -t targets < <(sed -n 's/^name = "\(.*\)"/\1/p' fuzz/Cargo.toml | grep -v '^narthex-fuzz$')
fi
# The explicit --target keeps these flags off build scripts and proc macros.
RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing -Cdebug-assertions -Coverflow-checks" \
    CARGO_TARGET_DIR="$PWD/target/fuzz" cargo build --release --manifest-path fuzz/Cargo.toml --target "$triple" \
    $(printf -- '--bin %s ' "${targets[@]}") >&2
failed=0
for t in "${targets[@]}"; do
    corpus="target/fuzz-corpus/$t"
    mkdir -p "$corpus"
    echo "== $t (${SECONDS_EACH}s)" >&2
    if "target/fuzz/$triple/release/$t" -max_total_time="$SECONDS_EACH" -rss_limit_mb=2048 "$corpus" >"$corpus.log" 2>&1; then
        grep "^Done" "$corpus.log" || true
    else
        echo "$t FAILED (input saved as crash-* / oom-* / timeout-* here):" >&2
        tail -30 "$corpus.log" >&2
        failed=1
    fi
done
exit "$failed"
