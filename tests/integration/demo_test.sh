#!/usr/bin/env bash
# Runs ops/demo-federation.sh and checks its story step by step: every one of the fourteen steps
# must print its "ok" line, in order, and the demo must finish within a minute.
#
# Usage: demo_test.sh /path/to/khronika
set -euo pipefail
KH=${1:?usage: $0 /path/to/khronika}
HERE=$(cd "$(dirname "$0")/../.." && pwd)
out=$(mktemp)
kept=""
trap 'rm -f "$out"; [[ -n "$kept" ]] && rm -rf "$kept"' EXIT
start=$SECONDS
# KHRONIKA_BIN names the binary, as for the quickstart; KEEP=1 keeps the demo's folder so that a
# command it printed can be run again below.
if ! KHRONIKA_BIN="$KH" KEEP=1 bash "$HERE/ops/demo-federation.sh" >"$out" 2>&1; then
  cat "$out"
  echo "FAIL: the demo exited non-zero" >&2
  exit 1
fi
cat "$out"
expected=()
for i in $(seq 14); do expected+=("step $i: ok"); done
mapfile -t got < <(grep -E '^step [0-9]+: ok$' "$out")
[[ "${got[*]}" == "${expected[*]}" ]] || { echo "FAIL: steps seen: ${got[*]}" >&2; exit 1; }
grep -Eq "cosigned by [23] of its partners" "$out" || { echo "FAIL: no cosigning step" >&2; exit 1; }
grep -q "trusted cosigners" "$out" || { echo "FAIL: bundle not cosigned" >&2; exit 1; }
grep -q "any 2 of 3 partners can recover" "$out" || { echo "FAIL: no 2-of-3 split" >&2; exit 1; }
grep -q "from 2 released shares" "$out" || { echo "FAIL: no recovery from 2 releases" >&2; exit 1; }
grep -q "come back byte for byte" "$out" || { echo "FAIL: no byte-for-byte recovery" >&2; exit 1; }
grep -q "WARNING: here the key files" "$out" || { echo "FAIL: no warning about the key files" >&2; exit 1; }
kept=$(sed -n 's/^(kept \(.*\))$/\1/p' "$out")
[[ -d "$kept" ]] || { echo "FAIL: KEEP=1 kept no folder" >&2; exit 1; }
# Every khronika command is printed as an operator would type it...
for want in '$ khronika init --data $WORK/a --key-file $WORK/a.key-file --name Memorial\ Archive' \
            '$ khronika peer add --data $WORK/a --url https://127.0.0.1:' \
            '$ khronika serve --data $WORK/a --listen 127.0.0.1:' \
            '$ khronika submit --node https://127.0.0.1:' \
            '$ khronika init --data $WORK/a --key-file $WORK/a.key-file --name Memorial\ Archive --keys $WORK/offsite/memorial.keys' \
            '$ khronika verify-bundle $WORK/bundle --trust $WORK/trusted-keys.txt' \
            '$ khronika recovery split --data $WORK/a --k 2' \
            '$ khronika recovery release --data $WORK/b --recovery-key $WORK/usb/b.recovery.key' \
            '$ khronika recovery combine --data $WORK/a2 --recovery-key $WORK/usb/a2.recovery.key' \
            '$ khronika verify-bundle $WORK/bundle2 --trust $WORK/trusted-keys.txt'; do
  grep -qF -- "$want" "$out" || { echo "FAIL: the demo did not print: $want" >&2; exit 1; }
done
# ...and runs as printed: the lawyer's check, copied from the output, with WORK set.
line=$(grep -F '$ khronika verify-bundle ' "$out" | head -n 1 | sed 's/^ *\$ khronika //')
WORK=$kept eval "\"\$KH\" $line" >/dev/null || { echo "FAIL: the printed command did not run: $line" >&2; exit 1; }
(( SECONDS - start < 60 )) || { echo "FAIL: the demo took $((SECONDS - start)) s (limit 60)" >&2; exit 1; }
echo "demo test passed in $((SECONDS - start)) s"
