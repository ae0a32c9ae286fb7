#!/usr/bin/env bash
# Installs the real Prometheus peers from Debian's packages and runs the
# interop tests (the #[ignore]d ones) against them.
set -euo pipefail
cd "$(dirname "$0")/.."

# dnsmasq-base is dnsmasq without its service: DNS SD's test starts its own.
PACKAGES=(prometheus prometheus-node-exporter dnsmasq-base)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  # policy-rc.d keeps the packages' services from starting: the tests start
  # their own instances on free ports.
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
    $SUDO chmod +x /usr/sbin/policy-rc.d
    trap '$SUDO rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
# A packaged service left running would hold the default ports.
pkill -x prometheus 2>/dev/null || true
pkill -f prometheus-node-exporter 2>/dev/null || true

# Every ignored test is an interop test, except the crash test's child
# process, which its parent test runs.
[ "${1:-}" = "--only-install" ] && exit 0

cargo test --workspace --tests --locked -- --ignored --skip crash_child --test-threads=1
