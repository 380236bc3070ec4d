#!/usr/bin/env bash
# Installs the Debian 12 packages that only the benchmarks need (tests/bench, docs/performance.md):
# gnuplot-nox, which draws the growth plot (tests/bench/growth_bench.sh calls this script when
# gnuplot is missing). Kept apart from ops/install-deps.sh because CI builds and tests but never
# runs a benchmark: what it does not use, it does not fetch. Non-interactive and idempotent: when
# everything is present it changes nothing and touches no network.
set -euo pipefail

packages=(gnuplot-nox)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-bench-deps: all ${#packages[@]} packages present"
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "install-bench-deps: missing ${missing[*]}; run as root (or with sudo) to install them" >&2
  exit 1
fi
echo "install-bench-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
