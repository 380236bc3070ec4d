#!/usr/bin/env bash
# docs/lawyer.md, part 2 ("Checking a bundle by hand"), run for real: builds two federated nodes
# with the real binary (B keeps and cosigns A's log), exports a court bundle of one case the ways
# docs/lawyer.md describes (from the node over HTTPS, as a folder and as a .tar; and by the
# operator with --data), checks it with `khronika verify-bundle` (with and without --trust), and
# then runs the by-hand procedure, step by step, with only sha256sum, openssl, xxd, od, base64,
# python3 (standard library) and a shell. Every step's commands are copied from docs/lawyer.md,
# and the test first checks that each of their lines is still in the document, so the two cannot
# drift apart. Then it tampers with copies of the bundle (a flipped byte in an evidence file, a
# forged signature, a record left out, a changed checkpoint) and requires the procedure, and
# verify-bundle, to notice each time.
#
# Usage: bundle_by_hand.sh /path/to/khronika
set -euo pipefail

KH=${1:?usage: $0 /path/to/khronika}
KH=$(cd "$(dirname "$KH")" && pwd)/$(basename "$KH")
HERE=$(cd "$(dirname "$0")" && pwd)
DOC=$HERE/../../docs/lawyer.md

WORK=$(mktemp -d "${TMPDIR:-/tmp}/kh-by-hand.XXXXXX")
SERVE_PID=""
cleanup() {
  if [ -n "$SERVE_PID" ]; then
    kill "$SERVE_PID" 2>/dev/null || true
    wait "$SERVE_PID" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }
step() { echo "--- $*"; }

for tool in sha256sum openssl xxd od base64 python3 tar split cmp date; do
  command -v "$tool" >/dev/null || fail "needs $tool"
done
openssl version | grep -q '^OpenSSL 3' || fail "needs OpenSSL 3 (pkeyutl -rawin)"

# ---- The procedure, exactly as docs/lawyer.md prints it -----------------------------------------

read -r -d '' PRELUDE <<'STEP' || true
cd khronika-bundle       # the bundle's folder (unpack a .tar first: see part 1)
T=$(mktemp -d)           # scratch space, outside the bundle
u64() { od --endian=little -An -t u8 -j "$2" -N 8 "$1" | tr -d ' '; }  # u64 at offset $2 of file $1
h32() { xxd -p -c 32 -s "$2" -l 32 "$1"; }                             # 32 bytes at offset $2, in hex
sha() { sha256sum "$1" | cut -c1-64; }                                 # SHA-256 of file $1, in hex
STEP

read -r -d '' STEP_A <<'STEP' || true
sha256sum --strict -c MANIFEST.sha256
find . -type f ! -path ./MANIFEST.sha256 | cut -c3- | LC_ALL=C sort > "$T/found"
cut -c67- MANIFEST.sha256 > "$T/listed"
diff "$T/listed" "$T/found" && echo "OK   the folder holds exactly the files listed"
find . ! -type f ! -type d
STEP

read -r -d '' STEP_B <<'STEP' || true
for d in entries/*/*; do
  o=$(basename "$(dirname "$d")"); i=$((10#$(basename "$d")))
  if [ "$(stat -c %s "$d/record.bin")" = 147 ] && [ "$(xxd -p -l 3 "$d/record.bin")" = 015201 ] &&
     [ "$(h32 "$d/record.bin" 3)" = "$o" ] && [ "$(u64 "$d/record.bin" 35)" = "$i" ] &&
     [ "$(h32 "$d/record.bin" 75)" = "$(sha "$d/entry.bin")" ]; then
    at=$(date -u -d "@$(($(u64 "$d/record.bin" 139) / 1000))" '+%F %T UTC')
    echo "OK   $d: record $i of log ${o:0:16}…, received $at, is entry $(sha "$d/entry.bin")"
  else
    echo "FAIL $d: record.bin is not this record, or entry.bin is not the entry it names"
  fi
done
STEP

read -r -d '' STEP_C <<'STEP' || true
for d in entries/*/*; do
  n=$(stat -c %s "$d/entry.bin"); L=$(u64 "$d/entry.bin" 3)
  author=$(h32 "$d/entry.bin" $((11 + L)))
  head -c $((n - 64)) "$d/entry.bin" > "$T/unsigned"
  tail -c 64 "$d/entry.bin" > "$T/signature"
  { printf 'khronika entry signature v1\0'; sha "$T/unsigned" | xxd -r -p; } > "$T/message"
  [ "$(openssl pkey -pubin -in "keys/authors/$author.pem" -outform DER | tail -c 32 | xxd -p -c 32)" \
    = "$author" ] || echo "FAIL keys/authors/$author.pem is not the key its name says"
  if openssl pkeyutl -verify -pubin -inkey "keys/authors/$author.pem" -rawin \
       -in "$T/message" -sigfile "$T/signature" > /dev/null; then
    dated=$(date -u -d "@$(($(u64 "$d/entry.bin" $((43 + L))) / 1000))" '+%F %T UTC')
    echo "OK   $d: signed by the author key $author (the author dated it $dated)"
  else
    echo "FAIL $d: the author's signature does not verify"
  fi
done
STEP

read -r -d '' STEP_D <<'STEP' || true
for d in entries/*/*; do
  L=$(u64 "$d/entry.bin" 3); K=$(u64 "$d/entry.bin" $((51 + L)))
  C=$(u64 "$d/entry.bin" $((59 + L + K)))                  # number of files the entry signs
  [ "$(ls "$d/files" 2> /dev/null | wc -l)" = "$C" ] || echo "FAIL $d: not exactly $C files"
  for j in $(seq 0 $((C - 1))); do
    m=$d/manifests/$j.bin; f=$(ls "$d/files/$j".*)
    N=$(u64 "$m" 3); M=$(u64 "$m" $((11 + N)))
    if [ "$(sha "$m")" = "$(h32 "$d/entry.bin" $((67 + L + K + 32 * j)))" ] &&
       [ "$(stat -c %s "$f")" = "$(u64 "$m" $((19 + N + M)))" ] &&
       [ "$(sha "$f")" = "$(h32 "$m" $((27 + N + M)))" ]; then
      echo "OK   $f is \"$(tail -c +12 "$m" | head -c "$N")\", as signed"
    else
      echo "FAIL $f: does not match the manifest its entry signed"
    fi
  done
done
STEP

read -r -d '' STEP_D2 <<'STEP' || true
for m in entries/*/*/manifests/*.bin; do
  d=${m%/manifests/*}; j=$(basename "$m" .bin); f=$(ls "$d/files/$j".*)
  N=$(u64 "$m" 3); M=$(u64 "$m" $((11 + N))); n=$(u64 "$m" $((59 + N + M)))
  rm -f "$T"/chunk.*; split -b 1048576 -a 6 "$f" "$T/chunk."
  for c in $(seq 0 $((n - 1))); do h32 "$m" $((67 + N + M + 32 * c)); done > "$T/signed"
  for c in "$T"/chunk.*; do [ -e "$c" ] && sha "$c"; done > "$T/actual"
  cmp -s "$T/signed" "$T/actual" && echo "OK   $f: $n chunks" || echo "FAIL $f: chunks"
done
STEP

read -r -d '' STEP_E <<'STEP' || true
cat > "$T/inclusion.py" <<'END'
import base64, hashlib, json, sys
H = lambda b: hashlib.sha256(b).digest()
d, note = sys.argv[1], open(sys.argv[2], encoding="utf-8").read().split("\n")
size, root = int(note[1]), base64.b64decode(note[2])  # the checkpoint's lines 2 and 3
record = open(d + "/record.bin", "rb").read()
index = int.from_bytes(record[35:43], "little")       # from the record, not from proof.json
r, fn, sn = H(b"\x00" + record), index, size - 1      # r starts as the leaf hash
for p in map(bytes.fromhex, json.load(open(d + "/proof.json"))["proof"]):
    if sn == 0: sn = -1; break                        # RFC 9162, section 2.1.3.2
    if fn & 1 or fn == sn:
        r = H(b"\x01" + p + r)
        while fn and not fn & 1: fn, sn = fn >> 1, sn >> 1
    else:
        r = H(b"\x01" + r + p)
    fn, sn = fn >> 1, sn >> 1
ok = index < size and sn == 0 and r == root
print("OK  " if ok else "FAIL", d + ": record", index, "is in the checkpoint of size", size)
END
for d in entries/*/*; do
  python3 "$T/inclusion.py" "$d" "logs/$(basename "$(dirname "$d")")/checkpoint.note"
done
STEP

read -r -d '' STEP_F <<'STEP' || true
for k in keys/origins/*.vkey; do
  o=$(basename "$k" .vkey); c=logs/$o/checkpoint.note
  name=$(cut -d+ -f1 "$k"); keyid=$(cut -d+ -f2 "$k")
  cut -d+ -f3- "$k" | base64 -d | tail -c 32 > "$T/key"
  [ "$name" = "khronika/$o" ] && [ "$(sha "$T/key")" = "$o" ] &&
    [ "$({ printf '%s\n\x01' "$name"; cat "$T/key"; } | sha256sum | cut -c1-8)" = "$keyid" ] ||
    echo "FAIL $k: not the verifier key of node $o"
  { echo 302a300506032b6570032100 | xxd -r -p; cat "$T/key"; } > "$T/key.der"
  openssl pkey -pubin -inform DER -in "$T/key.der" -out "$T/origin.pem"
  head -n 3 "$c" > "$T/body"
  grep -F -- "— $name " "$c" | cut -d' ' -f3 | base64 -d > "$T/line"
  tail -c +5 "$T/line" > "$T/signature"
  if [ "$(head -n 1 "$c")" = "$name" ] && [ -z "$(sed -n 4p "$c")" ] &&
     [ "$(head -c 4 "$T/line" | xxd -p)" = "$keyid" ] &&
     openssl pkeyutl -verify -pubin -inkey "$T/origin.pem" -rawin \
       -in "$T/body" -sigfile "$T/signature" > /dev/null; then
    echo "OK   $c: size $(sed -n 2p "$c"), signed by node $o"
  else
    echo "FAIL $c: not a checkpoint signed by node $o"
  fi
done
STEP

read -r -d '' STEP_G <<'STEP' || true
for c in logs/*/checkpoint.note; do
  echo "     $c: $(grep -c '^— ' "$c") signature lines in all"
  for k in keys/cosigners/*.vkey; do
    [ -e "$k" ] || continue
    name=$(cut -d+ -f1 "$k"); keyid=$(cut -d+ -f2 "$k")
    grep -F -- "— $name " "$c" | cut -d' ' -f3 | base64 -d > "$T/line"
    [ -s "$T/line" ] || continue                 # this member did not cosign this checkpoint
    [ "$(stat -c %s "$T/line")" = 76 ] || { echo "FAIL $c: malformed line by $name"; continue; }
    cut -d+ -f3- "$k" | base64 -d > "$T/wkey"
    [ "$(head -c 1 "$T/wkey" | xxd -p)" = 04 ] &&
      [ "$({ printf '%s\n\x04' "$name"; tail -c 32 "$T/wkey"; } | sha256sum | cut -c1-8)" = "$keyid" ] ||
      echo "FAIL $k: not a witness verifier key"
    { echo 302a300506032b6570032100 | xxd -r -p; tail -c 32 "$T/wkey"; } > "$T/wkey.der"
    openssl pkey -pubin -inform DER -in "$T/wkey.der" -out "$T/witness.pem"
    t=$((16#$(tail -c +5 "$T/line" | head -c 8 | xxd -p)))
    tail -c 64 "$T/line" > "$T/signature"
    { printf 'cosignature/v1\ntime %s\n' "$t"; head -n 3 "$c"; } > "$T/message"
    if [ "$(head -c 4 "$T/line" | xxd -p)" = "$keyid" ] &&
       openssl pkeyutl -verify -pubin -inkey "$T/witness.pem" -rawin \
         -in "$T/message" -sigfile "$T/signature" > /dev/null; then
      echo "OK   $c: cosigned by $name on $(date -u -d "@$t" '+%F %T UTC')"
    else
      echo "FAIL $c: the cosignature by $name does not verify"
    fi
  done
done
STEP

read -r -d '' STEP_H <<'STEP' || true
CASE=$(python3 -c 'import json; print(json.load(open("bundle.json"))["case"])')
[ "$(ls entries | wc -l)" = 1 ] || echo "FAIL entries/: records of more than one log"
for o in $(ls entries); do
  prev=0000000000000000000000000000000000000000000000000000000000000000
  for d in entries/$o/*; do
    L=$(u64 "$d/entry.bin" 3)
    if [ "$(tail -c +12 "$d/entry.bin" | head -c "$L")" != "$CASE" ]; then
      echo "FAIL $d: an entry of another case, not $CASE"
    elif [ "$(h32 "$d/record.bin" 107)" != "$prev" ]; then
      echo "FAIL $d: a record of the case is missing before this one in this log"
    else
      echo "OK   $d: case $CASE; previous record of the case: ${prev:0:16}…"
    fi
    prev=$(sha "$d/record.bin")
  done
done
STEP

read -r -d '' STEP_I <<'STEP' || true
ls keys/authors
cat keys/*/*.vkey | grep -Fxv -f ../trusted.keys || echo "OK   every node and witness key is in ../trusted.keys"
STEP

ORDER=(a b c d d2 e f g h i)
declare -A BODY=([a]="$STEP_A" [b]="$STEP_B" [c]="$STEP_C" [d]="$STEP_D" [d2]="$STEP_D2"
                 [e]="$STEP_E" [f]="$STEP_F" [g]="$STEP_G" [h]="$STEP_H" [i]="$STEP_I")

step "every line of the procedure is in docs/lawyer.md"
if [ -f "$DOC" ]; then
  for text in "$PRELUDE" "${BODY[@]}"; do
    while IFS= read -r line; do
      [ -z "$line" ] && continue
      grep -Fxq -- "$line" "$DOC" || fail "docs/lawyer.md no longer has this line: $line"
    done <<<"$text"
  done
else
  echo "(docs/lawyer.md not found next to this script: skipped)"
fi

{
  printf '%s\n' "$PRELUDE"
  for s in "${ORDER[@]}"; do printf "echo '=== %s'\n%s\n" "$s" "${BODY[$s]}"; done
} >"$WORK/procedure.sh"
mkdir "$WORK/tmp"

# Runs the procedure from folder $1, which holds khronika-bundle/; the output goes to $1/out.txt.
run_procedure() {
  (cd "$1" && TMPDIR="$WORK/tmp" bash "$WORK/procedure.sh" >out.txt 2>&1) || true
}
# Number of "OK" lines in section $2 of output $1.
oks() { awk -v s="$2" '/^=== /{cur = $2; next} cur == s && /^OK /{n++} END{print n + 0}' "$1"; }
# Requires a line of output $1 that starts with "FAIL" and contains $2.
expect_fail() { grep -F -- "$2" "$1" | grep -q '^FAIL' || { cat "$1"; fail "no FAIL line for: $2"; }; }
flip() {  # inverts the byte at offset $2 of file $1
  local b
  b=$(xxd -p -s "$2" -l 1 "$1")
  printf "\\x$(printf %02x $((0x$b ^ 0xff)))" | dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}
reseal() {  # what a forger would do: puts file $2's new SHA-256 into bundle $1's MANIFEST.sha256
  local h
  h=$(sha256sum "$1/$2" | cut -c1-64)
  sed -i "s|^[0-9a-f]\{64\}  $2\$|$h  $2|" "$1/MANIFEST.sha256"
}
copy_bundle() { rm -rf "$WORK/$1"; mkdir "$WORK/$1"; cp -r "$WORK/khronika-bundle" "$WORK/$1/"; }

# ---- Two organisations' nodes --------------------------------------------------------------------

cd "$WORK"
id_field() { "$KH" id --data "$1" | awk -v k="$2" '$1 == k {print $2}'; }

step "build node A (one author, two cases) and node B (one author), and federate them"
"$KH" init --data a --key-file a.key-file --name ngo-a >/dev/null 2>&1
"$KH" init --data b --key-file b.key-file --name ngo-b >/dev/null 2>&1
"$KH" keygen --out alice.pem >/dev/null 2>&1
"$KH" keygen --out bohdan.pem >/dev/null 2>&1
"$KH" author add --data a --name alice --pubkey alice.pem.pub >/dev/null
"$KH" author add --data b --name bohdan --pubkey bohdan.pem.pub >/dev/null
printf 'hello, court\n' >statement.txt
head -c 1500000 /dev/urandom >photo.jpg      # two chunks
: >empty.bin
printf 'an unrelated case\n' >other.txt
printf 'page two\n' >page2.txt
"$KH" add --data a --key alice.pem --case case-001 --meta location=Kharkiv --meta source=witness \
  statement.txt photo.jpg empty.bin >/dev/null
"$KH" add --data a --key alice.pem --case case-002 other.txt >/dev/null
"$KH" add --data a --key alice.pem --case case-001 page2.txt >/dev/null
"$KH" add --data b --key bohdan.pem --case case-001 page2.txt >/dev/null
A_ID=$(id_field a node_id); B_ID=$(id_field b node_id)
"$KH" member add --data b --vkey "$(id_field a vkey)" --cosigner-vkey "$(id_field a cosigner_vkey)" >/dev/null
# A answers B's pulls (sync endpoints answer configured peers only); A itself never pulls here.
"$KH" peer add --data a --url https://127.0.0.1:9 --id "$B_ID" --cert-sha256 "$(id_field b cert_sha256)" >/dev/null
echo 'sync_interval_s = 0' >a/khronika.conf
TOKEN=$("$KH" token create --data a --role reader --case case-001 2>/dev/null)

step "serve A; B pulls A's log and cosigns its checkpoint"
"$KH" serve --data a --listen 127.0.0.1:0 >serve.log 2>&1 &
SERVE_PID=$!
for _ in $(seq 100); do grep -q '^listening on ' serve.log && break; sleep 0.1; done
URL=$(sed -n 's/^listening on //p' serve.log)
[ -n "$URL" ] || { cat serve.log; fail "serve did not start"; }
FP=$(id_field a cert_sha256)
"$KH" peer add --data b --url "$URL" --id "$A_ID" --cert-sha256 "$FP" >/dev/null
"$KH" sync --data b | grep -q 'cosigned' || fail "B did not cosign A's checkpoint"

step "a lawyer exports from A over HTTPS: a folder (checked on arrival) and a .tar"
"$KH" export --node "$URL" --token "$TOKEN" --pin "sha256:$FP" --case case-001 --out case-001-bundle \
  >export.out || { cat export.out; fail "export --node failed"; }
grep -q '^bundle verified: case case-001, 2 entries, 4 files' export.out || { cat export.out; fail "export --node"; }
"$KH" export --node "$URL" --token "$TOKEN" --pin "sha256:$FP" --case case-001 --out case-001.tar --tar >/dev/null
mkdir case-001-from-tar && tar -xf case-001.tar -C case-001-from-tar
"$KH" verify-bundle case-001-from-tar >/dev/null || fail "the node's .tar does not verify"
"$KH" access-log --data a | grep -c 'export' | grep -qx 2 || fail "the exports are not in A's access log"
kill "$SERVE_PID"; wait "$SERVE_PID" || true; SERVE_PID=""

step "serve B; A pulls B's log and with it B's cosignature of A's checkpoint"
"$KH" member add --data a --vkey "$(id_field b vkey)" --cosigner-vkey "$(id_field b cosigner_vkey)" >/dev/null
echo 'sync_interval_s = 0' >b/khronika.conf
"$KH" serve --data b --listen 127.0.0.1:0 >serve-b.log 2>&1 &
SERVE_PID=$!
for _ in $(seq 100); do grep -q '^listening on ' serve-b.log && break; sleep 0.1; done
URL_B=$(sed -n 's/^listening on //p' serve-b.log)
[ -n "$URL_B" ] || { cat serve-b.log; fail "serve did not start"; }
"$KH" peer remove --data a "$B_ID" >/dev/null
"$KH" peer add --data a --url "$URL_B" --id "$B_ID" --cert-sha256 "$(id_field b cert_sha256)" >/dev/null
"$KH" sync --data a >/dev/null || fail "A did not pull from B"
kill "$SERVE_PID"; wait "$SERVE_PID" || true; SERVE_PID=""

step "A's operator exports the case (A's log, cosigned by B; B's own case-001 entry is B's, not A's case)"
"$KH" export --data a --case case-001 --out khronika-bundle >/dev/null
"$KH" export --data a --case case-001 --out khronika-bundle.tar --tar >/dev/null
[ ! -e "khronika-bundle/entries/$B_ID" ] || fail "A's bundle of case-001 holds B's log"
mkdir from-tar && tar -xf khronika-bundle.tar -C from-tar
"$KH" verify-bundle from-tar >/dev/null || fail "the operator's .tar does not verify"

step "khronika verify-bundle, without and with --trust"
"$KH" verify-bundle khronika-bundle >verify.out || { cat verify.out; fail "verify-bundle"; }
grep -q '^bundle verified: case case-001, 2 entries, 4 files' verify.out || { cat verify.out; fail "verify-bundle summary"; }
grep -q "log $A_ID: 2 records of the case, checkpoint size 3, signed by its origin; cosigned by 1 other member" \
  verify.out || { cat verify.out; fail "verify-bundle: A's log"; }
for n in a b; do id_field "$n" vkey; id_field "$n" cosigner_vkey; done >trusted.keys
"$KH" id --data a | awk '$1 == "vkey" || $1 == "cosigner_vkey" {print $2}' | cmp -s - <(head -n 2 trusted.keys) ||
  fail "the awk line of docs/lawyer.md does not print the two keys"
"$KH" verify-bundle khronika-bundle --trust trusted.keys >trust.out || { cat trust.out; fail "--trust"; }
grep -q 'signed by its origin (trusted key); cosigned by 1 other member, 1 of them trusted' trust.out ||
  { cat trust.out; fail "--trust: A's log"; }
tail -n 2 trusted.keys >b-only.keys
if "$KH" verify-bundle khronika-bundle --trust b-only.keys >/dev/null 2>trust.err; then
  fail "--trust accepted an origin that is not in the trust file"
fi
grep -q "keys/origins/$A_ID.vkey: this origin key is not in the trust file" trust.err || fail "--trust message"

# ---- By hand -------------------------------------------------------------------------------------

step "the by-hand procedure on the untouched bundle: every check OK"
run_procedure "$WORK"
OUT=$WORK/out.txt
if grep -v -E -e '^=== ' -e '^OK ' -e '^     ' -e ': OK$' -e '^[0-9a-f]{64}\.pem$' "$OUT"; then
  cat "$OUT"; fail "the procedure printed something other than OK lines (above)"
fi
[ "$(grep -c ': OK$' "$OUT")" = "$(wc -l <khronika-bundle/MANIFEST.sha256)" ] || fail "(a): not every file OK"
for want in a:1 b:2 c:2 d:4 d2:4 e:2 f:1 g:1 h:2 i:1; do
  got=$(oks "$OUT" "${want%%:*}")
  [ "$got" = "${want#*:}" ] || { cat "$OUT"; fail "step ${want%%:*}: $got OK lines, expected ${want#*:}"; }
done
cat "$OUT"

A_DIR=entries/$A_ID/00000000000000000000
A_DIR2=entries/$A_ID/00000000000000000002

step "tamper 1: one byte of an evidence file flipped"
copy_bundle t1
flip "$WORK/t1/khronika-bundle/$A_DIR/files/1.jpg" 1000
if (cd "$WORK/t1/khronika-bundle" && sha256sum --strict -c MANIFEST.sha256 >"$WORK/t1/sums.out" 2>&1); then
  fail "sha256sum -c MANIFEST.sha256 accepted a changed evidence file"
fi
grep -qx "$A_DIR/files/1.jpg: FAILED" "$WORK/t1/sums.out" || { cat "$WORK/t1/sums.out"; fail "sha256sum -c"; }
run_procedure "$WORK/t1"
expect_fail "$WORK/t1/out.txt" "$A_DIR/files/1.jpg: does not match the manifest"
expect_fail "$WORK/t1/out.txt" "$A_DIR/files/1.jpg: chunks"
if "$KH" verify-bundle "$WORK/t1/khronika-bundle" >/dev/null 2>&1; then fail "verify-bundle missed tamper 1"; fi

step "tamper 2: the author's signature forged (and MANIFEST.sha256 updated to match)"
copy_bundle t2
f=$WORK/t2/khronika-bundle/$A_DIR2/entry.bin
flip "$f" $(($(stat -c %s "$f") - 1))
reseal "$WORK/t2/khronika-bundle" "$A_DIR2/entry.bin"
run_procedure "$WORK/t2"
grep -q 'FAILED' "$WORK/t2/out.txt" && fail "tamper 2: sha256sum should pass after resealing"
expect_fail "$WORK/t2/out.txt" "$A_DIR2: record.bin is not this record, or entry.bin is not"
expect_fail "$WORK/t2/out.txt" "$A_DIR2: the author's signature does not verify"
if "$KH" verify-bundle "$WORK/t2/khronika-bundle" >/dev/null 2>&1; then fail "verify-bundle missed tamper 2"; fi

step "tamper 3: the case's first record in A's log left out"
copy_bundle t3
rm -r "$WORK/t3/khronika-bundle/$A_DIR"
sed -i "\|  $A_DIR/|d" "$WORK/t3/khronika-bundle/MANIFEST.sha256"
run_procedure "$WORK/t3"
expect_fail "$WORK/t3/out.txt" "$A_DIR2: a record of the case is missing before this one in this log"
if "$KH" verify-bundle "$WORK/t3/khronika-bundle" >/dev/null 2>&1; then fail "verify-bundle missed tamper 3"; fi

step "tamper 3b: bundle.json claims another case"
copy_bundle t3b
sed -i 's/"case": "case-001"/"case": "case-002"/' "$WORK/t3b/khronika-bundle/bundle.json"
grep -q '"case": "case-002"' "$WORK/t3b/khronika-bundle/bundle.json" || fail "tamper 3b: bundle.json not changed"
reseal "$WORK/t3b/khronika-bundle" bundle.json
run_procedure "$WORK/t3b"
expect_fail "$WORK/t3b/out.txt" "$A_DIR: an entry of another case, not case-002"
if "$KH" verify-bundle "$WORK/t3b/khronika-bundle" >/dev/null 2>&1; then fail "verify-bundle missed tamper 3b"; fi

step "tamper 4: A's checkpoint given another root"
copy_bundle t4
note=logs/$A_ID/checkpoint.note
sed -i '3s/.*/47DEQpj8HBSa+\/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=/' "$WORK/t4/khronika-bundle/$note"
reseal "$WORK/t4/khronika-bundle" "$note"
run_procedure "$WORK/t4"
expect_fail "$WORK/t4/out.txt" "$A_DIR: record 0 is in the checkpoint"
expect_fail "$WORK/t4/out.txt" "$note: not a checkpoint signed by node $A_ID"
expect_fail "$WORK/t4/out.txt" "$note: the cosignature by khronika/$B_ID/witness does not verify"
if "$KH" verify-bundle "$WORK/t4/khronika-bundle" >/dev/null 2>&1; then fail "verify-bundle missed tamper 4"; fi

echo "PASS: docs/lawyer.md's by-hand procedure checks a real bundle and catches every tampering tried"
