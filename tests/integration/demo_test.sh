#!/usr/bin/env bash
# Runs ops/demo-federation.sh and checks its story step by step: every one of the eight steps
# must print its "ok" line, in order, and the demo must finish within a minute.
#
# Usage: demo_test.sh /path/to/khronika
set -euo pipefail
KH=${1:?usage: $0 /path/to/khronika}
HERE=$(cd "$(dirname "$0")/../.." && pwd)
out=$(mktemp)
trap 'rm -f "$out"' EXIT
start=$SECONDS
if ! bash "$HERE/ops/demo-federation.sh" "$KH" >"$out" 2>&1; then
  cat "$out"
  echo "FAIL: the demo exited non-zero" >&2
  exit 1
fi
cat "$out"
expected=("step 1: ok" "step 2: ok" "step 3: ok" "step 4: ok" "step 5: ok" "step 6: ok" "step 7: ok" "step 8: ok")
mapfile -t got < <(grep -E '^step [0-9]+: ok$' "$out")
[[ "${got[*]}" == "${expected[*]}" ]] || { echo "FAIL: steps seen: ${got[*]}" >&2; exit 1; }
grep -q "cosigned by Rights Watch and Legal Aid Centre" "$out" || { echo "FAIL: no cosigning step" >&2; exit 1; }
grep -q "2 trusted cosigners" "$out" || { echo "FAIL: bundle not cosigned" >&2; exit 1; }
grep -q "WARNING: here the key files" "$out" || { echo "FAIL: no warning about the key files" >&2; exit 1; }
(( SECONDS - start < 60 )) || { echo "FAIL: the demo took $((SECONDS - start)) s (limit 60)" >&2; exit 1; }
echo "demo test passed in $((SECONDS - start)) s"
