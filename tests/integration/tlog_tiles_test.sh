#!/usr/bin/env bash
# C2SP tlog-tiles served by real nodes, read by an independent client (tlog_tiles_client.py,
# written from the specifications with python3's urllib and `cryptography`): an encrypted node
# with 300 records, then 513 (sizes that are not multiples of 256), its own log and, on a
# partner, the replica of it with the partner's cosignature; who may read tiles (auditor and
# admin tokens; anyone with tiles_public = true), and what is refused (paths beyond the
# checkpoint, malformed paths, another method, a query string), each with a JSON error body.
#
# Usage: tlog_tiles_test.sh /path/to/khronika
set -euo pipefail

KH=${1:?usage: $0 /path/to/khronika}
KH=$(cd "$(dirname "$KH")" && pwd)/$(basename "$KH")
HERE=$(cd "$(dirname "$0")" && pwd)
CLIENT="python3 $HERE/tlog_tiles_client.py"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/kh-tiles-test.XXXXXX")
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$WORK"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
step() { echo "--- $*"; }

# Exit 77: ctest reports the test as skipped (SKIP_RETURN_CODE), not passed.
python3 -c 'import cryptography' 2>/dev/null || { echo "SKIP: no python3-cryptography"; exit 77; }
cd "$WORK"
id_field() { "$KH" id --data "$1" | awk -v k="$2" '$1 == k {print $2}'; }
serve() {  # serve NODE: starts it, sets URL
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
# fetch NODE_URL PATH [TOKEN]: prints the HTTP status; the body goes to body.out, headers to
# headers.out.
fetch() {
  local auth=()
  [ -n "${3:-}" ] && auth=(-H "Authorization: Bearer $3")
  curl -sS --cacert "$CACERT" "${auth[@]}" -D headers.out -o body.out -w '%{http_code}' "$1$2"
}
expect_status() {  # expect_status CODE ERROR NODE_URL PATH [TOKEN]
  local code
  code=$(fetch "$3" "$4" "${5:-}")
  [ "$code" = "$1" ] || fail "$4: HTTP $code, expected $1: $(cat body.out)"
  [ "$(jq -r .error body.out)" = "$2" ] || fail "$4: error body $(cat body.out), expected $2"
  grep -qi '^content-type: application/json' headers.out || fail "$4: $(cat headers.out)"
}

step "node A (encrypted) with 300 records (296 entries, imported), served"
"$KH" init --data a --key-file a.key-file --name ngo-a >/dev/null 2>&1
echo 'sync_interval_s = 0' >a/khronika.conf
"$KH" keygen --out author.pem >/dev/null 2>&1
"$KH" author add --data a --name reporter --pubkey author.pem.pub >/dev/null
mkdir batch1 batch2
# The four tokens' grants are custody records of A's log (records 0 to 3), so 296 entries make
# a log of 300 records: a full tile of 256 and a partial one of 44.
AUDITOR=$("$KH" token create --data a --role auditor 2>/dev/null)
ADMIN=$("$KH" token create --data a --role admin 2>/dev/null)
READER=$("$KH" token create --data a --role reader --case case-1 2>/dev/null)
SUBMITTER=$("$KH" token create --data a --role submitter --case case-1 2>/dev/null)
for i in $(seq -w 1 296); do echo "statement $i" >batch1/s$i.txt; done
for i in $(seq -w 1 213); do echo "later statement $i" >batch2/t$i.txt; done
"$KH" import --data a --key author.pem --case case-1 batch1 >/dev/null
[ "$("$KH" checkpoint --data a | sed -n 2p)" = 300 ] || fail "A's log is not of 300 records"
serve a; URL_A=$URL
CACERT=$WORK/a/tls.crt
A_ID=$(id_field a node_id)
A_VKEY=$(id_field a vkey)
P=/tlog/$A_ID

step "the independent client rebuilds the root at size 300 (auditor token)"
$CLIENT "$URL_A$P/" --vkey "$A_VKEY" --token "$AUDITOR" --cacert "$CACERT" | tee client.out
ROOT=$(sed -n 3p <("$KH" checkpoint --data a))
grep -qF "OK size=300 root=$ROOT " client.out ||
  fail "the client's root is not the node's checkpoint root"
$CLIENT "$URL_A$P" --vkey "$A_VKEY" --token "$ADMIN" --cacert "$CACERT" >/dev/null ||
  fail "an admin token cannot read tiles"

step "a wrong key is refused by the client"
"$KH" init --data other --no-encryption >/dev/null 2>&1
code=0
$CLIENT "$URL_A$P" --vkey "$(id_field other vkey)" --token "$AUDITOR" --cacert "$CACERT" \
  >wrong.out || code=$?
[ "$code" = 1 ] && grep -q 'FAIL: no signature by' wrong.out || fail "wrong vkey: $(cat wrong.out)"

step "who may read: no token 401, a reader or submitter of the case 403, a bad token 401"
expect_status 401 unauthorized "$URL_A" "$P/checkpoint"
expect_status 401 unauthorized "$URL_A" "$P/tile/0/000" khr_0000
expect_status 403 forbidden "$URL_A" "$P/tile/0/000" "$READER"
expect_status 403 forbidden "$URL_A" "$P/checkpoint" "$SUBMITTER"
expect_status 401 unauthorized "$URL_A" "/tlog/not-even-an-origin/checkpoint"

step "headers: the checkpoint and partial tiles are short-lived, full tiles immutable"
[ "$(fetch "$URL_A" "$P/checkpoint" "$AUDITOR")" = 200 ] || fail "checkpoint"
grep -qi '^content-type: text/plain; charset=utf-8' headers.out || fail "$(cat headers.out)"
grep -qi '^cache-control: private, max-age=5' headers.out || fail "$(cat headers.out)"
[ "$(fetch "$URL_A" "$P/tile/0/000" "$AUDITOR")" = 200 ] || fail "tile 0/000"
grep -qi '^cache-control: private, max-age=31536000, immutable' headers.out ||
  fail "$(cat headers.out)"
[ "$(stat -c %s body.out)" = 8192 ] || fail "a full tile is not 8192 bytes"
[ "$(fetch "$URL_A" "$P/tile/0/001.p/44" "$AUDITOR")" = 200 ] || fail "tile 0/001.p/44"
grep -qi '^cache-control: private, max-age=60' headers.out || fail "$(cat headers.out)"
[ "$(stat -c %s body.out)" = $((44 * 32)) ] || fail "the partial tile is not 44 hashes"
# A narrower partial tile, as an older checkpoint of this log needed, is its prefix.
[ "$(fetch "$URL_A" "$P/tile/0/001.p/3" "$AUDITOR")" = 200 ] || fail "tile 0/001.p/3"
cmp -s body.out <(curl -sS --cacert "$CACERT" -H "Authorization: Bearer $AUDITOR" \
  "$URL_A$P/tile/0/001.p/44" | head -c 96) || fail "tile 0/001.p/3 is not a prefix of .p/44"
[ "$(fetch "$URL_A" "$P/tile/entries/000" "$AUDITOR")" = 200 ] || fail "entries 000"
[ "$(stat -c %s body.out)" = $((256 * (2 + 115))) ] ||
  fail "entry bundle 0: $(stat -c %s body.out) bytes"

step "refused: beyond the checkpoint (404), malformed paths (404), a query (400), POST (405)"
expect_status 404 not_found "$URL_A" "$P/tile/0/001" "$AUDITOR"               # only 44 there
expect_status 404 not_found "$URL_A" "$P/tile/0/001.p/45" "$AUDITOR"
expect_status 404 not_found "$URL_A" "$P/tile/0/002.p/1" "$AUDITOR"
expect_status 404 not_found "$URL_A" "$P/tile/entries/001.p/45" "$AUDITOR"
expect_status 404 not_found "$URL_A" "$P/tile/1/000" "$AUDITOR"               # level 1: width 1
expect_status 404 not_found "$URL_A" "$P/tile/2/000.p/1" "$AUDITOR"
expect_status 404 not_found "$URL_A" "$P/tile/63/000.p/1" "$AUDITOR"
for bad in "tile/0/0" "tile/0/x000/001" "tile/00/000" "tile/64/000" "tile/0/000.p/0" \
           "tile/0/000.p/256" "tile/0/000.p/07" "tile/0/001/" "tile/entries" "tile/x/000" \
           "tile/0/x001" "tiles/0/000" "checkpoint/" "Checkpoint" "tile/0/000.p/1/extra" \
           "tile/0/%30%30%30"; do
  expect_status 404 not_found "$URL_A" "$P/$bad" "$AUDITOR"
done
expect_status 404 not_found "$URL_A" "/tlog/${A_ID^^}/checkpoint" "$AUDITOR"    # upper case hex
expect_status 404 not_found "$URL_A" "/tlog/$(id_field other node_id)/checkpoint" "$AUDITOR"
expect_status 404 not_found "$URL_A" "/tlog/$A_ID" "$AUDITOR"
expect_status 400 bad_request "$URL_A" "$P/tile/0/000?x=1" "$AUDITOR"
code=$(curl -sS --cacert "$CACERT" -H "Authorization: Bearer $AUDITOR" -X POST -o body.out \
  -w '%{http_code}' "$URL_A$P/checkpoint")
[ "$code" = 405 ] && [ "$(jq -r .error body.out)" = method_not_allowed ] || fail "POST: $code"

step "513 records: the log grew; the client follows"
"$KH" import --data a --key-file a.key-file --key author.pem --case case-1 batch2 >/dev/null
$CLIENT "$URL_A$P" --vkey "$A_VKEY" --token "$AUDITOR" --cacert "$CACERT" | tee client.out
grep -q '^OK size=513 ' client.out || fail "the client did not see 513 records"
[ "$(fetch "$URL_A" "$P/tile/1/000.p/2" "$AUDITOR")" = 200 ] || fail "tile 1/000.p/2"

step "node B, a partner: serves A's log (a replica) with its cosignature, to anyone (tiles_public)"
"$KH" init --data b --no-encryption --name ngo-b >/dev/null 2>&1
printf 'sync_interval_s = 0\ntiles_public = true\n' >b/khronika.conf
"$KH" author add --data b --name reporter --pubkey author.pem.pub >/dev/null
"$KH" member add --data a --key-file a.key-file --vkey "$(id_field b vkey)" \
  --cosigner-vkey "$(id_field b cosigner_vkey)" >/dev/null
"$KH" member add --data b --vkey "$A_VKEY" --cosigner-vkey "$(id_field a cosigner_vkey)" >/dev/null
serve b; URL_B=$URL
"$KH" peer add --data b --url "$URL_A" --id "$A_ID" --cert-sha256 "$(id_field a cert_sha256)" \
  >/dev/null
"$KH" peer add --data a --key-file a.key-file --url "$URL_B" --id "$(id_field b node_id)" \
  --cert-sha256 "$(id_field b cert_sha256)" >/dev/null
"$KH" sync --data b >sync.out 2>&1 || fail "sync b: $(cat sync.out)"
B_WITNESS=$(id_field b cosigner_vkey)
$CLIENT "$URL_B$P" --vkey "$A_VKEY" --witness-vkey "$B_WITNESS" --cacert "$WORK/b/tls.crt" |
  tee client.out
grep -q '^OK size=513 .* cosignatures=1$' client.out ||
  fail "B's replica of A's log: $(cat client.out)"
# Both nodes give the same tiles of A's log, byte for byte.
CACERT=$WORK/b/tls.crt
[ "$(fetch "$URL_B" "$P/tile/entries/002.p/1")" = 200 ] || fail "B without a token"
grep -qi '^cache-control: public, max-age=60' headers.out || fail "$(cat headers.out)"
cp body.out from-b.bin
CACERT=$WORK/a/tls.crt
[ "$(fetch "$URL_A" "$P/tile/entries/002.p/1" "$AUDITOR")" = 200 ] || fail "A entries 002.p/1"
cmp -s body.out from-b.bin || fail "A and B serve different bytes for A's last entry bundle"
# B's own log is served too (size 0: a checkpoint, and no tile).
CACERT=$WORK/b/tls.crt
$CLIENT "$URL_B/tlog/$(id_field b node_id)" --vkey "$(id_field b vkey)" --cacert "$CACERT" |
  grep -q '^OK size=0 ' || fail "B's own empty log"
expect_status 404 not_found "$URL_B" "/tlog/$(id_field b node_id)/tile/0/000.p/1"
# Public tiles open nothing else: the API still needs a token.
expect_status 401 unauthorized "$URL_B" "/v1/checkpoint"

step "policy check: B's cosigned checkpoint of A's log, fetched as tiles, judged by a tlog-policy"
curl -sS --cacert "$WORK/b/tls.crt" "$URL_B$P/checkpoint" >a-cosigned.note
{ echo "log $A_VKEY"
  echo "witness ngo-b $B_WITNESS"
  echo "witness outsider $(id_field other cosigner_vkey)"
  echo "group one-of-two any ngo-b outsider"
  echo "group two-of-two all ngo-b outsider"
  echo "quorum one-of-two"; } >policy.txt
"$KH" policy check policy.txt --checkpoint a-cosigned.note >policy.out ||
  fail "policy check (met): $(cat policy.out)"
grep -qx '  group one-of-two (1 of ngo-b outsider): met by ngo-b' policy.out ||
  fail "$(cat policy.out)"
grep -qx 'quorum one-of-two: met' policy.out || fail "$(cat policy.out)"
sed 's/^quorum one-of-two$/quorum two-of-two/' policy.txt >policy-all.txt
code=0; "$KH" policy check policy-all.txt --checkpoint a-cosigned.note >policy.out || code=$?
[ "$code" = 1 ] || fail "policy check (not met): exit $code: $(cat policy.out)"
grep -q '^quorum two-of-two: NOT met' policy.out || fail "$(cat policy.out)"
# The note from A itself, which holds no cosignature of this size: not met either.
curl -sS --cacert "$WORK/a/tls.crt" -H "Authorization: Bearer $AUDITOR" "$URL_A$P/checkpoint" \
  >a-own.note
code=0; "$KH" policy check policy.txt --checkpoint a-own.note >policy.out || code=$?
[ "$code" = 1 ] && grep -qx '  witness ngo-b: no valid cosignature' policy.out ||
  fail "policy check of A's own note: exit $code: $(cat policy.out)"
sed 's/^group two-of-two all/group two-of-two 3/' policy.txt >policy-bad.txt
code=0; "$KH" policy check policy-bad.txt >policy.out 2>&1 || code=$?
[ "$code" = 2 ] && grep -q 'policy-bad.txt: line 5: the threshold must be' policy.out ||
  fail "a malformed policy: exit $code: $(cat policy.out)"

step "a bad tiles_public value stops serve, naming the line"
printf 'sync_interval_s = 0\ntiles_public = yes\n' >bad.conf
code=0; timeout 20 "$KH" serve --data other --config bad.conf --listen 127.0.0.1:0 >bad.out 2>&1 ||
  code=$?
[ "$code" != 0 ] && [ "$code" != 124 ] &&
  grep -q 'bad.conf:2: tiles_public must be true or false' bad.out ||
  fail "serve with tiles_public = yes: exit $code: $(cat bad.out)"
echo "PASS"
