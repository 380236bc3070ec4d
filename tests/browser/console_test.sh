#!/usr/bin/env bash
# The web console end to end, in Debian's headless Chromium driven by playwright-core
# (console_test.mjs). Two real nodes over HTTPS: A, where the evidence is submitted with the real
# `khronika submit`, and B, a partner that copies A's log and cosigns it, so that every view has
# something true to show (cosigners, a peer and its lag, a replica log). Real tokens of each role.
# The browser signs in with a wrong token (refused), as a lawyer (cases, a timeline, downloads
# checked in the browser against the author's signature and signed file commitments and
# "verified", a court bundle and a selective one; then a sealed chunk of a stored file is damaged
# through the store's API and the same download must show the failure), at phone width, as an auditor
# (an inclusion proof computed in the browser) and as the operator. Screenshots of each view go
# to ARTIFACT_DIR; the court bundles the browser saved must pass `khronika verify-bundle`.
#
# Usage: console_test.sh /path/to/khronika /path/to/khronika_corrupt_chunk ARTIFACT_DIR [--keep]
# Needs what ops/install-deps.sh installs: chromium, node, and tests/browser/node_modules.
set -euo pipefail

KH=$(readlink -f "${1:?usage: $0 KHRONIKA CORRUPT_TOOL ARTIFACT_DIR}")
CORRUPT=$(readlink -f "${2:?usage: $0 KHRONIKA CORRUPT_TOOL ARTIFACT_DIR}")
ARTIFACTS=${3:?usage: $0 KHRONIKA CORRUPT_TOOL ARTIFACT_DIR}
KEEP=${4:-}
HERE=$(cd "$(dirname "$0")" && pwd)
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}

fail() { echo "FAIL: $*" >&2; exit 1; }
step() { echo "--- $*"; }

[ -x "$CHROMIUM" ] || fail "no $CHROMIUM: run ops/install-deps.sh (Debian package chromium)"
command -v node >/dev/null || fail "no node: run ops/install-deps.sh"
[ -d "$HERE/node_modules/playwright-core" ] || fail "no playwright-core in $HERE/node_modules: run ops/install-deps.sh"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/kh-console.XXXXXX")
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  if [ "$KEEP" = --keep ]; then echo "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
cd "$WORK"
mkdir -p "$ARTIFACTS"
rm -f "$ARTIFACTS"/*.png "$ARTIFACTS"/*.tar

# The one place this test creates a node, so that a change to `khronika init` is made here only.
# Encrypted at rest, as init makes every node by default, with a key file outside the data
# directory; every later command finds it where the keyring remembers it.
init_node() {  # DIR NAME
  "$KH" init --data "$1" --name "$2" --key-file "$WORK/$1.key-file" >"$1.init.log" 2>&1 ||
    { cat "$1.init.log"; fail "init $1"; }
}

id_field() { "$KH" id --data "$1" --json | python3 -c "import json,sys; print(json.load(sys.stdin)['$2'])"; }

serve() {  # DIR: starts `khronika serve` on a free port, sets URL
  : >"$1.serve.log"  # there before the background shell opens it, so that sed can read it
  "$KH" serve --data "$1" --listen 127.0.0.1:0 >"$1.serve.log" 2>&1 &
  PIDS+=($!)
  URL=
  for _ in $(seq 100); do
    URL=$(sed -n 's/^listening on //p' "$1.serve.log")
    [ -n "$URL" ] && break
    sleep 0.1
  done
  [ -n "$URL" ] || { cat "$1.serve.log"; fail "serve $1 did not start"; }
}

step "two nodes: A (ngo-kharkiv) and its partner B (ngo-lviv), peered both ways"
init_node a ngo-kharkiv
init_node b ngo-lviv
"$KH" keygen --out alice.pem >/dev/null 2>&1
"$KH" author add --data a --name "Alice Witness" --pubkey alice.pem.pub >/dev/null
for n in a b; do echo 'sync_interval_s = 0' >"$n/khronika.conf"; done
"$KH" member add --data a --vkey "$(id_field b vkey)" --cosigner-vkey "$(id_field b cosigner_vkey)" >/dev/null
"$KH" member add --data b --vkey "$(id_field a vkey)" --cosigner-vkey "$(id_field a cosigner_vkey)" >/dev/null
serve a; URL_A=$URL
serve b; URL_B=$URL
"$KH" peer add --data a --url "$URL_B" --id "$(id_field b node_id)" --cert-sha256 "$(id_field b cert_sha256)" >/dev/null
"$KH" peer add --data b --url "$URL_A" --id "$(id_field a node_id)" --cert-sha256 "$(id_field a cert_sha256)" >/dev/null
PIN="sha256:$(id_field a cert_sha256)"

step "tokens of every role"
SUBMITTER=$("$KH" token create --data a --role submitter 2>/dev/null)
READER=$("$KH" token create --data a --role reader --case case-2026-001 2>/dev/null)
AUDITOR=$("$KH" token create --data a --role auditor 2>/dev/null)
ADMIN=$("$KH" token create --data a --role admin 2>/dev/null)
# Each grant is a custody record of A's log (docs/format.md 7.3): the first entry comes after them.
FIRST=$("$KH" checkpoint --data a | sed -n 2p)
[ "$FIRST" = 4 ] || fail "the four tokens' grants are $FIRST records of A's log, not 4"

step "evidence submitted with khronika submit: two cases, one file of two chunks"
# The statement is a long one (more than 4 KiB: a sealed chunk of its own on the node, which the
# test damages later; shorter files travel inside their sealed entries).
{ printf 'I saw the convoy pass the school at 06:40.\n'
  for i in $(seq 1 120); do printf 'Line %03d of the transcript of the interview.\n' "$i"; done
} >statement.txt
head -c 1500000 /dev/urandom >photo.jpg
printf 'A case this lawyer may not read.\n' >other.txt
printf 'The convoy came back at 09:15; the school roof was damaged.\n' >follow-up.txt
submit() { "$KH" submit --node "$URL_A" --pin "$PIN" --token "$SUBMITTER" --key alice.pem "$@" >/dev/null; }
# A caption with a right-to-left override (U+202E): the console must write it out, not obey it.
submit --case case-2026-001 --meta place=Kharkiv --meta source=witness \
  --meta "caption=$(printf 'photo\342\200\256gpj.exe')" statement.txt photo.jpg
submit --case case-2026-002 other.txt
submit --case case-2026-001 --kind note follow-up.txt

step "B copies A's log and cosigns it; A learns B's cosignature"
"$KH" sync --data b >sync-b.log || { cat sync-b.log; fail "sync b"; }
"$KH" sync --data a >sync-a.log || { cat sync-a.log; fail "sync a"; }
"$KH" status --data a --json | python3 -c '
import json, sys
s = json.load(sys.stdin)
own = [l for l in s["logs"] if l["local"]][0]
assert own["records"] == own["checkpoint_size"] >= 3 and len(own["cosigners"]) == 1, s  # 3 entries, and custody records' || fail "A does not hold a cosigned checkpoint"
# An auditor's node that pulls from A and is never pulled (peer add --serve-only, no URL).
"$KH" peer add --data a --serve-only --id "$(printf 'a%.0s' $(seq 64))" \
  --cert-sha256 "$(printf 'b%.0s' $(seq 64))" >/dev/null || fail "peer add --serve-only"

step "the browser (Chromium, playwright-core)"
start=$(date +%s.%N)
KH_URL=$URL_A KH_FIRST=$FIRST KH_READER=$READER KH_AUDITOR=$AUDITOR KH_ADMIN=$ADMIN KH_SUBMITTER=$SUBMITTER \
KH_ARTIFACTS=$(readlink -f "$ARTIFACTS") KH_FILES=$WORK KH_CHROMIUM=$CHROMIUM \
KH_CORRUPT="$CORRUPT $WORK/a" \
  node "$HERE/console_test.mjs" || fail "the browser test failed (screenshots in $ARTIFACTS)"
end=$(date +%s.%N)
echo "browser steps took $(python3 -c "print(round($end - $start, 1))") s"

step "the court bundles the browser saved verify offline"
mkdir bundle && tar -xf "$ARTIFACTS/khronika-bundle-case-2026-001.tar" -C bundle
"$KH" verify-bundle bundle >verify.out || { cat verify.out; fail "verify-bundle on the browser's bundle"; }
# verify-bundle's summary counts the case's records and the entries and files disclosed.
grep -q '^bundle verified: case case-2026-001, 2 records, 2 entries and 3 files disclosed (' verify.out ||
  { cat verify.out; fail "bundle summary"; }
# The selective bundle (the first entry, photo.jpg only) holds photo.jpg's plaintext and neither
# statement.txt's nor the note's; it still verifies.
mkdir selected && tar -xf "$ARTIFACTS/khronika-bundle-case-2026-001-selected.tar" -C selected
"$KH" verify-bundle selected >verify-selected.out ||
  { cat verify-selected.out; fail "verify-bundle on the browser's selective bundle"; }
grep -q '^bundle verified: case case-2026-001, 2 records, 1 entry and 1 file disclosed (' verify-selected.out ||
  { cat verify-selected.out; fail "selective bundle summary"; }
PHOTO_SHA=$(sha256sum photo.jpg | cut -c1-64)
for f in statement.txt follow-up.txt; do
  if grep -rqF -- "$(cat "$f")" selected; then fail "the selective bundle holds $f"; fi
done
# Into a file first: with pipefail, `grep -q` leaving early would fail the pipe (SIGPIPE).
find selected -type f -exec sha256sum {} + >selected.sums
grep -q "^$PHOTO_SHA " selected.sums || fail "the selective bundle does not hold photo.jpg"

step "custody: the browser's reads and the export are in A's access log"
"$KH" access-log --data a >access.log
grep -q 'read-content' access.log || fail "no read-content in the access log"
grep -q 'export' access.log || fail "no export in the access log"
grep -q 'token-grant' access.log || fail "no token grant in the access log"

ls -l "$ARTIFACTS"
echo "console browser test passed"
