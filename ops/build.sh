#!/usr/bin/env bash
# Configures and builds one build tree. Usage: ops/build.sh DIR [cmake options...]
set -euo pipefail
cd "$(dirname "$0")/.."
dir=$1
shift
werror=OFF
if [ -n "${CI:-}" ]; then werror=ON; fi
export CCACHE_DIR="${CCACHE_DIR:-$HOME/.cache/khronika-ccache}"
cmake -S . -B "$dir" -G Ninja -DKHRONIKA_WERROR="$werror" "$@" >/dev/null
cmake --build "$dir" -j "$(nproc)"
