#!/usr/bin/env bash
# Runs README.md's "A first session" blocks as written, in a fresh home folder, with the binary
# under test as KHRONIKA_BIN (which the first line reads). Every command must succeed.
#
# Usage: readme_test.sh /path/to/khronika
set -euo pipefail
KH=$(readlink -f "${1:?usage: $0 /path/to/khronika}")
HERE=$(cd "$(dirname "$0")/../.." && pwd)
home=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$home"' EXIT
# The shell blocks between "A first session" and the documentation paragraph, in order.
awk '/^A first session/ {on = 1} /^Documentation lives in/ {on = 0}
     on && /^```sh$/ {code = 1; next} code && /^```$/ {code = 0; next} code' \
  "$HERE/README.md" >"$home/session.sh"
[[ $(grep -c 'khronika-first' "$home/session.sh") -ge 1 ]] || { echo "FAIL: no session found in README.md" >&2; exit 1; }
cat "$home/session.sh"
out=$(cd "$home" && HOME="$home" KHRONIKA_BIN="$KH" bash -euo pipefail "$home/session.sh" 2>&1) ||
  { echo "$out"; echo "FAIL: README.md's first session does not run as written" >&2; exit 1; }
echo "$out"
grep -q '^downloaded and verified$' <<<"$out" || { echo "FAIL: the session did not end with its check" >&2; exit 1; }
[[ -f "$home/khronika-first/evidence/statement.txt" ]] || { echo "FAIL: get wrote nothing" >&2; exit 1; }
echo "PASS: README.md's first session runs as written"
