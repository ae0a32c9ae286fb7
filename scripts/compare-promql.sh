#!/usr/bin/env bash
# Side-by-side PromQL comparison with Debian's Prometheus 2.42: Prometheus
# scrapes itself and a node_exporter and remote-writes to narthex, then every
# query of crates/narthex/tests/promql_compare/queries.txt runs against both
# (instant, range and format_query) and the JSON answers are diffed. Prints
# the expected 2.42-vs-3.x differences with their reasons; fails on any
# other difference. scripts/interop.sh runs the same test with the others.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/interop.sh --only-install
cargo test -p narthex --test promql_compare --locked -- --ignored --nocapture
