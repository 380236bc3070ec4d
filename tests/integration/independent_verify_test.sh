#!/usr/bin/env bash
# Proves docs/format.md is enough to verify a node: builds a small node with the real binary,
# checks it with tests/integration/independent_verify.py (written only from the document), and
# checks that the same verifier notices tampering.
#
# Usage: independent_verify_test.sh /path/to/khronika
set -euo pipefail

KH=${1:?usage: $0 /path/to/khronika}
KH=$(cd "$(dirname "$KH")" && pwd)/$(basename "$KH")
HERE=$(cd "$(dirname "$0")" && pwd)
VERIFY="python3 $HERE/independent_verify.py"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/kh-indep-test.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
D=$WORK/node

fail() { echo "FAIL: $*" >&2; exit 1; }
step() { echo "--- $*"; }

step "build a node"
"$KH" init --data "$D" --name indep-test >/dev/null 2>&1
"$KH" keygen --out "$WORK/alice.pem" >/dev/null 2>&1
"$KH" author add --data "$D" --name alice --pubkey "$WORK/alice.pem.pub" >/dev/null
mkdir "$WORK/files"
printf 'first witness statement\n' >"$WORK/files/statement.txt"
printf 'lat,lon\n49.99,36.23\n' >"$WORK/files/coords.csv"
: >"$WORK/files/empty.bin"
head -c $((3 * 1024 * 1024)) /dev/urandom >"$WORK/files/video.mp4"
printf 'the time in the first statement was wrong\n' >"$WORK/files/erratum.txt"

E1=$("$KH" add --data "$D" --key "$WORK/alice.pem" --case case-A --meta location=Kharkiv \
      --meta source=witness "$WORK/files/statement.txt" "$WORK/files/coords.csv" \
      "$WORK/files/empty.bin" | awk '/^entry /{print $2}')
"$KH" add --data "$D" --key "$WORK/alice.pem" --case case-B "$WORK/files/video.mp4" >/dev/null
"$KH" add --data "$D" --key "$WORK/alice.pem" --case case-A --kind correction --corrects "$E1" \
      --meta reason="wrong time" "$WORK/files/erratum.txt" >/dev/null

step "verify independently (expect success)"
$VERIFY "$KH" "$D" || fail "independent verifier rejected an untouched node"

STORE_DUMP=()
if command -v mdb_dump >/dev/null; then
  step "verify entries and manifests too, from the store (expect success)"
  $VERIFY "$KH" "$D" --store-dump || fail "independent verifier (--store-dump) rejected the node"
  STORE_DUMP=(--store-dump)
else
  echo "(mdb_dump not found: entry and manifest checks skipped)"
fi

# Expects the verifier to exit 1 and to name `what` in its output.
expect_failure() {
  local what=$1
  shift
  local out rc=0
  out=$($VERIFY "$KH" "$D" "$@" 2>&1) || rc=$?
  echo "$out" | sed 's/^/    /'
  [ "$rc" -eq 1 ] || fail "verifier exited $rc, expected 1, for: $what"
  echo "$out" | grep -qi -- "$what" || fail "verifier output does not name '$what'"
}

step "tampered checkpoint root (expect failure)"
"$KH" checkpoint --data "$D" >"$WORK/checkpoint.txt"
# Line 3 is the base64 root: change its first character.
awk 'NR == 3 { c = substr($0, 1, 1); $0 = (c == "A" ? "B" : "A") substr($0, 2) } { print }' \
    "$WORK/checkpoint.txt" >"$WORK/checkpoint.bad-root"
cmp -s "$WORK/checkpoint.txt" "$WORK/checkpoint.bad-root" && fail "tampering did not change the note"
expect_failure "root" --checkpoint-file "$WORK/checkpoint.bad-root"
expect_failure "signature" --checkpoint-file "$WORK/checkpoint.bad-root"

step "checkpoint with a larger size (expect failure)"
awk 'NR == 2 { $0 = $0 + 1 } { print }' "$WORK/checkpoint.txt" >"$WORK/checkpoint.bad-size"
expect_failure "size" --checkpoint-file "$WORK/checkpoint.bad-size"

step "tampered record received_at_ms (expect failure)"
"$KH" log --data "$D" --json >"$WORK/log.jsonl"
# Flip the last hex digit of record 1's bytes (the top byte of received_at_ms).
python3 - "$WORK/log.jsonl" "$WORK/log.bad-record" <<'EOF'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
h = lines[1]["record_hex"]
lines[1]["record_hex"] = h[:-1] + ("1" if h[-1] != "1" else "2")
open(sys.argv[2], "w").write("".join(json.dumps(l) + "\n" for l in lines))
EOF
expect_failure "hash chain" --log-file "$WORK/log.bad-record"

step "records reordered (expect failure)"
python3 - "$WORK/log.jsonl" "$WORK/log.reordered" <<'EOF'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
lines[0], lines[1] = lines[1], lines[0]
lines[0]["index"], lines[1]["index"] = 0, 1
open(sys.argv[2], "w").write("".join(json.dumps(l) + "\n" for l in lines))
EOF
expect_failure "index" --log-file "$WORK/log.reordered"

step "record moved to another case in the listing (expect failure)"
python3 - "$WORK/log.jsonl" "$WORK/log.bad-case" <<'EOF'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
lines[2]["case"] = "case-B"  # record 2 belongs to case-A: its case link names record 0
open(sys.argv[2], "w").write("".join(json.dumps(l) + "\n" for l in lines))
EOF
expect_failure "case chain" --log-file "$WORK/log.bad-case"

step "listed file hash differs from the content (expect failure)"
python3 - "$WORK/log.jsonl" "$WORK/log.bad-file" <<'EOF'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
f = lines[1]["files"][0]
f["sha256"] = ("0" if f["sha256"][0] != "0" else "1") + f["sha256"][1:]
open(sys.argv[2], "w").write("".join(json.dumps(l) + "\n" for l in lines))
EOF
expect_failure "sha-256" --log-file "$WORK/log.bad-file"
if [ ${#STORE_DUMP[@]} -gt 0 ]; then
  # With the signed manifests at hand, the listed hash is also caught against the manifest.
  expect_failure "manifest" --log-file "$WORK/log.bad-file" "${STORE_DUMP[@]}"
fi

echo "PASS: independent verifier accepts the node and rejects each tampering"
