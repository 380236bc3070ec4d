#!/usr/bin/env bash
# docs/auditor.md, run for real: every ```sh block of the guide is taken from the document itself
# (not copied here) and run, in order, against two organisations' nodes served on 127.0.0.1 with
# the real binary, as an auditor would: trust anchors, an auditor's node added as a serve-only
# peer, the curl recipe that pins the node's certificate, log_root.py and check_consistency.py
# (docs/tools/), the git mirror with `mirror verify --trust`, and a court bundle. Each block may
# only have its placeholders (hosts, DIR, tokens, URLs of mirrors) replaced, and each replacement
# must find its text. A block that fails fails the test, and so does a block this test does not
# know (a new block must be added here, so that it runs).
#
# Then it checks that what the guide says protects the auditor does: curl refuses another node's
# certificate and key and a host name the certificate lacks; the scripts exit 1 (FAIL) on tampered
# records and a tampered or mismatched proof, and exit 2, naming the HTTP error and writing
# nothing, on a wrong token, an unknown log, a wrong pin and a node that is down.
#
# Usage: auditor_doc.sh /path/to/khronika
set -Eeuo pipefail

KH=${1:?usage: $0 /path/to/khronika}
KH=$(cd "$(dirname "$KH")" && pwd)/$(basename "$KH")
HERE=$(cd "$(dirname "$0")" && pwd)
DOC=$HERE/../../docs/auditor.md
TOOLS=$HERE/../../docs/tools

WORK=$(mktemp -d "${TMPDIR:-/tmp}/kh-auditor-doc.XXXXXX")
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

for tool in curl openssl python3 jq git sha256sum base64; do
  command -v "$tool" >/dev/null || fail "needs $tool"
done

# ---- the guide's blocks ---------------------------------------------------------------------------

mkdir "$WORK/blocks"
NBLOCKS=$(python3 - "$DOC" "$WORK/blocks" <<'PY'
import re, sys
text = open(sys.argv[1], encoding="utf-8").read()
blocks = re.findall(r"^```sh\n(.*?)^```$", text, flags=re.M | re.S)
for i, b in enumerate(blocks, 1):
    open(f"{sys.argv[2]}/{i:02d}.sh", "w", encoding="utf-8").write(b)
print(len(blocks))
PY
)
declare -A RAN=()

# block N FIRST_LINE [OLD NEW]...: block N of docs/auditor.md, which must begin with FIRST_LINE,
# with each OLD (literal text, which must be there) replaced by NEW, sourced in this shell (so
# that its variables and functions stay, as in the auditor's own shell). Any failing command
# fails the test, naming the block.
block() {
  local n=$1 first=$2 file text old new
  shift 2
  file=$WORK/blocks/$(printf %02d "$n").sh
  [ -f "$file" ] || fail "docs/auditor.md has no block $n (expected one starting: $first)"
  text=$(cat "$file")
  [ "${text%%$'\n'*}" = "$first" ] ||
    fail "docs/auditor.md block $n now starts with '${text%%$'\n'*}', not '$first'"
  while [ $# -gt 0 ]; do
    old=$1 new=$2
    shift 2
    [[ $text == *"$old"* ]] || fail "docs/auditor.md block $n no longer has: $old"
    text=${text//"$old"/"$new"}
  done
  printf '%s\n' "$text" >"$WORK/run.sh"
  echo "\$ # docs/auditor.md block $n"
  sed 's/^/$ /' "$WORK/run.sh"
  CURRENT_BLOCK=$n
  # shellcheck disable=SC1091
  source "$WORK/run.sh"
  CURRENT_BLOCK=
  RAN[$n]=1
}
CURRENT_BLOCK=
on_error() {
  local code=$?
  if [ -n "$CURRENT_BLOCK" ]; then
    echo "FAIL: docs/auditor.md block $CURRENT_BLOCK: a command failed (exit $code): $BASH_COMMAND" >&2
    CURRENT_BLOCK=
  fi
}
trap on_error ERR

# ---- two organisations' nodes, served ----------------------------------------------------------

mkdir "$WORK/bin" "$WORK/org" "$WORK/auditor"
ln -s "$KH" "$WORK/bin/khronika"
export PATH="$WORK/bin:$PATH"
cd "$WORK/org"
id_field() { khronika id --data "$1" | awk -v k="$2" '$1 == k {print $2}'; }

serve() {  # serve NODE: starts it, sets URL and PORT_OF
  : >"$1.serve.log"
  khronika serve --data "$1" --listen 127.0.0.1:0 >"$1.serve.log" 2>&1 &
  PIDS+=($!)
  URL=
  for _ in $(seq 100); do
    URL=$(sed -n 's/^listening on //p' "$1.serve.log")
    [ -n "$URL" ] && break
    sleep 0.1
  done
  [ -n "$URL" ] || { cat "$1.serve.log"; fail "serve $1 did not start"; }
}

step "organisations A and B: a node each, federated, served; A records three entries"
for n in a b; do
  khronika init --data $n --key-file $n.key-file --name ngo-$n >/dev/null 2>&1
  echo 'sync_interval_s = 0' >$n/khronika.conf
done
khronika keygen --out reporter.pem >/dev/null 2>&1
for n in a b; do khronika author add --data $n --name reporter --pubkey reporter.pem.pub >/dev/null; done
khronika member add --data a --vkey "$(id_field b vkey)" --cosigner-vkey "$(id_field b cosigner_vkey)" >/dev/null
khronika member add --data b --vkey "$(id_field a vkey)" --cosigner-vkey "$(id_field a cosigner_vkey)" >/dev/null
for i in 1 2 3; do
  printf 'statement %s\n' "$i" >s$i.txt
  khronika add --data a --key reporter.pem --case case-1 s$i.txt >/dev/null
done
khronika add --data b --key reporter.pem --case case-b s1.txt >/dev/null
serve a; URL_A=$URL; PORT_A=${URL##*:}
serve b; URL_B=$URL
khronika peer add --data a --url "$URL_B" --id "$(id_field b node_id)" --cert-sha256 "$(id_field b cert_sha256)" >/dev/null
khronika peer add --data b --url "$URL_A" --id "$(id_field a node_id)" --cert-sha256 "$(id_field a cert_sha256)" >/dev/null
for n in b a b; do khronika sync --data $n >/dev/null || fail "sync $n"; done
TOKEN_A=$(khronika token create --data a --role auditor 2>/dev/null)
A_ID=$(id_field a node_id)

# ---- the guide, block by block ------------------------------------------------------------------

cd "$WORK/auditor"
cp "$TOOLS/log_root.py" "$TOOLS/check_consistency.py" .   # as section 4 says

step "section 2: trust anchors"
block 1 'khronika id --data DIR --json > ngo-a.id.json      # on A'"'"'s node, by its operator' \
  'DIR' "$WORK/org/a"
block 1 'khronika id --data DIR --json > ngo-a.id.json      # on A'"'"'s node, by its operator' \
  'DIR' "$WORK/org/b" 'ngo-a' 'ngo-b'
block 2 'for f in ngo-*.id.json; do jq -r '"'"'.vkey, .cosigner_vkey'"'"' "$f"; done > trusted.keys'
[ "$(wc -l <trusted.keys)" = 4 ] || fail "trusted.keys: $(cat trusted.keys)"
cmp -s trusted.keys <(for n in a b; do id_field "$WORK/org/$n" vkey; id_field "$WORK/org/$n" cosigner_vkey; done) ||
  fail "trusted.keys does not hold the organisations' keys"

step "section 3: the auditor's own node, a serve-only peer of each organisation"
block 3 'khronika init --data audit --name auditor --key-file audit.key-file'
block 4 'khronika member add --data audit --vkey "$(jq -r .vkey ngo-a.id.json)" \' \
  'https://ngo-a.example:8443' "$URL_A"
block 4 'khronika member add --data audit --vkey "$(jq -r .vkey ngo-a.id.json)" \' \
  'https://ngo-a.example:8443' "$URL_B" 'ngo-a' 'ngo-b'
block 5 'khronika peer add --data DIR --serve-only --id "$(jq -r .node_id auditor.id.json)" \' \
  '--data DIR' "--data $WORK/org/a"
block 5 'khronika peer add --data DIR --serve-only --id "$(jq -r .node_id auditor.id.json)" \' \
  '--data DIR' "--data $WORK/org/b"
block 6 'khronika sync --data audit          # pull every member'"'"'s log from every peer, verifying each batch' \
  'khronika verify --data audit ' 'khronika verify --data audit >verify.out; cat verify.out; :'
# Four entries in two logs, and whatever custody records (token grants) the organisations logged.
grep -q '^clean: checked [0-9]* records in 2 logs, [0-9]* objects (4 sealed entries)' verify.out ||
  fail "the auditor's verify: $(cat verify.out)"
[ "$(khronika log --data audit --origin "$A_ID" --json | jq -c 'select(.object_type == "sealed_entry")' | wc -l)" = 3 ] ||
  fail "the auditor does not hold A's three entries"
out=$(khronika sync --data "$WORK/org/a") || fail "A's own sync fails with the auditor as a serve-only peer: $out"
echo "$out" | grep -q "^peer $(jq -r .node_id auditor.id.json | cut -c1-16): serve only, skipped" ||
  fail "A's sync does not say it skipped the auditor: $out"

step "section 4: curl with the certificate pinned; log_root.py"
block 7 'HOST=ngo-a.example; PORT=8443                  # the node'"'"'s address, from its operator' \
  'HOST=ngo-a.example; PORT=8443' "HOST=127.0.0.1; PORT=$PORT_A" \
  'export KHRONIKA_TOKEN=khr_…' "export KHRONIKA_TOKEN=$TOKEN_A"
[ "$(sed -n 2p checkpoint.txt)" -ge 3 ] || fail "checkpoint.txt: $(cat checkpoint.txt)"   # three entries, and custody records
cmp -s checkpoint.txt <(khronika checkpoint --data "$WORK/org/a") || fail "kcurl /v1/checkpoint is not A's checkpoint"
block 8 'O=$(jq -r .node_id ngo-a.id.json)     # the log to check: the node'"'"'s own, or any log it holds' \
  'sed -n 3p checkpoint.txt ' 'sed -n 3p checkpoint.txt >root.expected; cat root.expected; :'
[ "$(python3 log_root.py "$O" records.hex "$(sed -n 2p checkpoint.txt)")" = "$(cat root.expected)" ] || fail "log_root.py: not the checkpoint's root"
[ "$(wc -l <records.hex)" = "$(sed -n 2p checkpoint.txt)" ] || fail "records.hex: $(wc -l <records.hex) lines"

step "time passes: A records a fourth entry; section 5: check_consistency.py"
printf 'statement 4\n' >"$WORK/org/s4.txt"
khronika add --data "$WORK/org/a" --key "$WORK/org/reporter.pem" --case case-1 "$WORK/org/s4.txt" >/dev/null
block 9 'mv checkpoint.txt checkpoint.earlier.txt       # a checkpoint you kept' \
  'checkpoint.txt proof.json' 'checkpoint.txt proof.json >consistent.out; cat consistent.out'
M=$(sed -n 2p checkpoint.earlier.txt)   # three entries and A's custody records, then one more entry
grep -qx "OK   consistent: the log at size $M is a prefix of the log at size $((M + 1))" consistent.out ||
  fail "$(cat consistent.out)"
[ "$(jq -c '[.from, .to, (.proof | length > 0)]' proof.json)" = "[$M,$((M + 1)),true]" ] ||
  fail "proof.json: $(cat proof.json)"

step "section 7: the git mirror, verified against trusted.keys; two nodes' copies compared"
khronika sync --data "$WORK/org/b" >/dev/null   # B takes A's fourth record
git init -q --bare "$WORK/published.git"
block 10 'khronika mirror export --data DIR --git /srv/mirror.git     # creates it if needed; appends new records' \
  '--data DIR' "--data $WORK/org/a" '/srv/mirror.git' "$WORK/srv/mirror.git" \
  '--remote URL' "--remote file://$WORK/published.git"
block 11 'git clone --mirror URL audit.git                 # a bare copy with every branch' \
  'URL' "file://$WORK/published.git" \
  'khronika mirror verify --git audit.git --trust trusted.keys' \
  'khronika mirror verify --git audit.git --trust trusted.keys >mirror.out'
N=$(khronika checkpoint --data "$WORK/org/a" | sed -n 2p)   # four entries and custody records
grep -q "^log $A_ID: $N records, [0-9]* signed checkpoints verified (largest at $N), 1 cosigner; keys trusted\$" mirror.out ||
  fail "mirror verify --trust: $(cat mirror.out)"
grep -qx 'clean: 2 logs verified from the repository alone, under the keys of trusted.keys' mirror.out ||
  fail "mirror verify --trust: $(cat mirror.out)"
khronika mirror export --data "$WORK/org/b" --git "$WORK/b-mirror.git" >/dev/null
block 12 'git init --bare compare.git' \
  'URL_OF_A_MIRROR' "$WORK/srv/mirror.git" 'URL_OF_B_MIRROR' "$WORK/b-mirror.git" \
  'echo "A'"'"'s copy is a prefix of B'"'"'s"' 'echo "A'"'"'s copy is a prefix of B'"'"'s" >compare.out'
grep -qx "A's copy is a prefix of B's" compare.out || fail "the two mirrors' copies of A's log differ"
head -n 2 trusted.keys >a-only.keys    # B's keys left out: the mirror must not pass
if khronika mirror verify --git audit.git --trust a-only.keys >/dev/null 2>untrusted.err; then
  fail "mirror verify --trust passed without B's keys"
fi
grep -q "the origin's verifier key (khronika/$(jq -r .node_id ngo-b.id.json)) is not in the trust file" untrusted.err ||
  fail "mirror verify --trust a-only.keys: $(cat untrusted.err)"

step "section 8: a court bundle against trusted.keys"
khronika export --data "$WORK/org/a" --case case-1 --out "$WORK/bundle" >/dev/null
block 13 'khronika verify-bundle DIR --trust trusted.keys' \
  'DIR' "$WORK/bundle" 'trusted.keys' 'trusted.keys >bundle.out'
grep -q '^bundle verified: case case-1, 4 records, 4 entries and [0-9]* files disclosed (' bundle.out || fail "verify-bundle: $(cat bundle.out)"

step "section 8: a cosignature policy applied to a bundle (C2SP tlog-policy)"
khronika sync --data "$WORK/org/a" >/dev/null   # A takes B's cosignature of its size 4
khronika export --data "$WORK/org/a" --case case-1 --out "$WORK/bundle-cosigned" >/dev/null
block 14 '{ echo "log $(jq -r .vkey ngo-a.id.json)"' \
  'khronika policy check policy.txt' 'khronika policy check policy.txt >policy-check.out' \
  'DIR' "$WORK/bundle-cosigned" '--policy policy.txt' '--policy policy.txt >policy.out'
grep -qx 'policy policy.txt: valid: 1 log, 1 witness, 0 groups; quorum ngo-b' policy-check.out ||
  fail "policy check: $(cat policy-check.out)"
grep -qx '    witness ngo-b: cosigned' policy.out ||
  fail "verify-bundle --policy: $(cat policy.out)"
grep -qx '  quorum ngo-b: met' policy.out || fail "verify-bundle --policy: $(cat policy.out)"
# A policy that also wants the auditor's own witness, which never cosigned A's log: not met.
{ grep -v '^quorum' policy.txt
  echo "witness audit $(id_field "$WORK/auditor/audit" cosigner_vkey)"
  echo "group both all ngo-b audit"
  echo "quorum both"; } >policy2.txt
code=0
khronika verify-bundle "$WORK/bundle-cosigned" --policy policy2.txt >unmet.out 2>&1 || code=$?
[ "$code" = 1 ] || fail "verify-bundle --policy policy2.txt: exit $code: $(cat unmet.out)"
grep -qx '    group both (all of ngo-b audit): NOT met by ngo-b' unmet.out ||
  fail "$(cat unmet.out)"
grep -q '^  quorum both: NOT met' unmet.out || fail "$(cat unmet.out)"
grep -qx 'bundle verified, but its checkpoint does NOT meet the policy' unmet.out ||
  fail "$(cat unmet.out)"

step "section 9: the log as C2SP tlog-tiles"
block 15 \
  'kcurl "/tlog/$O/checkpoint" > tiles-checkpoint.txt    # a signed note, with cosignature lines'
cmp -s <(head -n 3 tiles-checkpoint.txt) <(khronika checkpoint --data "$WORK/org/a" | head -n 3) ||
  fail "/tlog/…/checkpoint is not A's latest checkpoint: $(cat tiles-checkpoint.txt)"
# A's 4 entries, and the custody records of the reads and exports above (more than 4 records).
N=$(sed -n 2p tiles-checkpoint.txt)
[ "$N" -ge 4 ] && [ "$N" -lt 256 ] || fail "A's checkpoint has size $N"
[ "$(wc -c <tile-0-0.bin)" = $((N * 32)) ] || fail "tile-0-0.bin: $(wc -c <tile-0-0.bin) bytes"
python3 - tile-0-0.bin entries-0.bin <<'PY' || fail "the entry bundle does not hash to the tile"
import hashlib, sys
tile, bundle = open(sys.argv[1], "rb").read(), open(sys.argv[2], "rb").read()
pos, i = 0, 0
while pos < len(bundle):
    n = int.from_bytes(bundle[pos:pos + 2], "big")
    assert hashlib.sha256(b"\0" + bundle[pos + 2:pos + 2 + n]).digest() == tile[32 * i:32 * i + 32]
    pos, i = pos + 2 + n, i + 1
assert i * 32 == len(tile)
PY

step "every block of docs/auditor.md ran"
for n in $(seq "$NBLOCKS"); do
  [ -n "${RAN[$n]:-}" ] || fail "docs/auditor.md block $n is not run by this test: $(head -n 1 "$WORK/blocks/$(printf %02d "$n").sh")"
done
[ "$NBLOCKS" = 15 ] || fail "docs/auditor.md has $NBLOCKS blocks; this test knows 15"
trap - ERR

# ---- what the guide says protects the auditor ------------------------------------------------

step "curl: another node's certificate or key, or a name the certificate lacks, is refused"
openssl s_client -connect "127.0.0.1:${URL_B##*:}" </dev/null 2>/dev/null | openssl x509 >b.crt
B_PIN=sha256//$(openssl x509 -in b.crt -pubkey -noout | openssl pkey -pubin -outform DER |
  openssl dgst -sha256 -binary | base64)
code=0; curl -sS --cacert b.crt --connect-to "localhost:$PORT:$HOST:$PORT" \
  "https://localhost:$PORT/healthz" >/dev/null 2>curl.err || code=$?
[ "$code" = 60 ] || fail "curl --cacert (B's certificate) against A: exit $code, $(cat curl.err)"
code=0; curl -sS --cacert node.crt --pinnedpubkey "$B_PIN" --connect-to "localhost:$PORT:$HOST:$PORT" \
  "https://localhost:$PORT/healthz" >/dev/null 2>curl.err || code=$?
[ "$code" = 90 ] || fail "curl --pinnedpubkey (B's key) against A: exit $code, $(cat curl.err)"
code=0; curl -sS --cacert node.crt --connect-to "ngo-a.example:$PORT:$HOST:$PORT" \
  "https://ngo-a.example:$PORT/healthz" >/dev/null 2>curl.err || code=$?
[ "$code" = 60 ] || fail "curl by the node's host name: exit $code, $(cat curl.err)"
grep -q 'no alternative certificate subject name matches' curl.err || fail "curl by host name: $(cat curl.err)"
code=0; KHRONIKA_TOKEN=khr_wrong kcurl /v1/checkpoint >wrong.out 2>curl.err || code=$?
[ "$code" = 22 ] || fail "kcurl with a wrong token: exit $code"
grep -q '"error":"unauthorized"' wrong.out || fail "kcurl with a wrong token printed: $(cat wrong.out)"

step "the connection block, given B's fingerprint for A's address, stops at the certificate"
mkdir wrong-fp && cp ngo-a.id.json wrong-fp/
jq --arg fp "$(jq -r .cert_sha256 ngo-b.id.json)" '.cert_sha256 = $fp' ngo-a.id.json >wrong-fp/ngo-a.id.json
(
  cd wrong-fp
  text=$(cat "$WORK/blocks/07.sh")
  text=${text//"HOST=ngo-a.example; PORT=8443"/"HOST=127.0.0.1; PORT=$PORT_A"}
  text=${text//"export KHRONIKA_TOKEN=khr_…"/"export KHRONIKA_TOKEN=$TOKEN_A"}
  set +e
  printf '%s\n' "$text" >block.sh
  bash block.sh >out.txt 2>&1
  echo "exit $?" >>out.txt
)
grep -q "^FAIL: 127.0.0.1:$PORT_A shows another certificate than $(jq -r .cert_sha256 ngo-b.id.json)" wrong-fp/out.txt ||
  fail "no FAIL line: $(cat wrong-fp/out.txt)"
grep -qx 'exit 0' wrong-fp/out.txt && fail "kcurl went on after the fingerprint failed: $(cat wrong-fp/out.txt)"
[ ! -s wrong-fp/checkpoint.txt ] || fail "kcurl fetched a checkpoint from an unpinned node"

# expect CODE MESSAGE CMD...: CMD exits CODE and prints MESSAGE (a fixed string) on stderr.
expect() {
  local want=$1 message=$2 code=0
  shift 2
  "$@" >expect.out 2>expect.err || code=$?
  [ "$code" = "$want" ] || fail "$* exited $code, not $want: $(cat expect.out expect.err)"
  [ -z "$message" ] || grep -qF -- "$message" expect.err || fail "$* did not say '$message': $(cat expect.err)"
}

step "log_root.py: tampered records FAIL (1); HTTP errors stop it (2) and write nothing"
cp records.hex tampered.hex
python3 - tampered.hex <<'PY'
import sys
lines = open(sys.argv[1]).read().split()
r = bytearray.fromhex(lines[1]); r[108] ^= 1       # record 1's receive time
lines[1] = r.hex()
open(sys.argv[1], "w").write("\n".join(lines) + "\n")
PY
expect 1 'FAIL record 2: the hash chain is broken' python3 log_root.py "$O" tampered.hex
head -n 2 records.hex >short.hex
expect 1 'FAIL only 2 records, not 3' python3 log_root.py "$O" short.hex 3
sum=$(sha256sum records.hex)
expect 2 'HTTP 401 unauthorized: unknown or revoked token' \
  python3 log_root.py --node "https://$HOST:$PORT" --pin "sha256:$FP" --token khr_wrong "$O" records.hex
expect 2 "HTTP 404 not_found: no log from origin $(printf 'e%.0s' $(seq 64))" \
  python3 log_root.py --node "https://$HOST:$PORT" --pin "sha256:$FP" "$(printf 'e%.0s' $(seq 64))" records.hex
expect 2 "not the pinned sha256:$(jq -r .cert_sha256 ngo-b.id.json)" \
  python3 log_root.py --node "https://$HOST:$PORT" --pin "sha256:$(jq -r .cert_sha256 ngo-b.id.json)" "$O" records.hex
expect 2 'SIZE must be a number' python3 log_root.py "$O" records.hex three
expect 2 'cannot read nothing.hex' python3 log_root.py "$O" nothing.hex
[ "$(sha256sum records.hex)" = "$sum" ] || fail "log_root.py changed records.hex on an error"
[ ! -e records.hex.part ] || fail "log_root.py left records.hex.part"

step "check_consistency.py: a tampered or mismatched proof FAILs (1); HTTP errors stop it (2)"
jq '.proof[0] |= (if .[0:1] == "0" then "1" else "0" end) + .[1:]' proof.json >tampered.json
expect 1 "FAIL the proof does not show the checkpoint of size $M" \
  python3 check_consistency.py checkpoint.earlier.txt checkpoint.txt tampered.json
jq '.proof |= . + [.[0]]' proof.json >longer.json    # one hash too many
expect 1 'FAIL' python3 check_consistency.py checkpoint.earlier.txt checkpoint.txt longer.json
expect 1 "FAIL the proof is from $M to $((M + 1)), not from 2 to $((M + 1))" \
  python3 check_consistency.py "2:$(python3 log_root.py "$O" records.hex 2)" checkpoint.txt proof.json
expect 0 '' python3 check_consistency.py "$M:$(cat root.expected)" checkpoint.txt proof.json
# Another root, still valid base64: the first character changed (to 'y' if it was 'x', which
# 1 root in 64 starts with).
awk 'NR == 3 { c = substr($0, 1, 1); $0 = (c == "x" ? "y" : "x") substr($0, 2) } 1' \
  checkpoint.earlier.txt >forged.txt
cmp -s checkpoint.earlier.txt forged.txt && fail "forged.txt is not forged"
expect 1 'FAIL the proof does not show' python3 check_consistency.py forged.txt checkpoint.txt proof.json
expect 2 'HTTP 401 unauthorized' python3 check_consistency.py --node "https://$HOST:$PORT" --pin "sha256:$FP" \
  --token khr_wrong checkpoint.earlier.txt checkpoint.txt
expect 2 'not the pinned' python3 check_consistency.py --node "https://$HOST:$PORT" \
  --pin "sha256:$(jq -r .cert_sha256 ngo-b.id.json)" checkpoint.earlier.txt checkpoint.txt
code=0; kcurl '/v1/proof/consistency?from=4&to=3' >error.json 2>/dev/null || code=$?
[ "$code" = 22 ] || fail "kcurl of a bad proof request: exit $code"
expect 2 'error.json is an error answer, not a proof: bad_request' \
  python3 check_consistency.py checkpoint.earlier.txt checkpoint.txt error.json
expect 2 'OLD is the larger checkpoint' python3 check_consistency.py checkpoint.txt checkpoint.earlier.txt proof.json
expect 2 'the two checkpoints are of different logs' python3 check_consistency.py checkpoint.earlier.txt \
  <(khronika checkpoint --data "$WORK/org/b") proof.json

step "a node that is down: both scripts stop with an error naming it"
kill "${PIDS[0]}"; wait "${PIDS[0]}" 2>/dev/null || true
expect 2 "cannot reach https://$HOST:$PORT" \
  python3 log_root.py --node "https://$HOST:$PORT" --pin "sha256:$FP" "$O" records.hex
expect 2 "cannot reach https://$HOST:$PORT" python3 check_consistency.py --node "https://$HOST:$PORT" \
  --pin "sha256:$FP" checkpoint.earlier.txt checkpoint.txt
[ "$(sha256sum records.hex)" = "$sum" ] || fail "log_root.py changed records.hex on an error"

echo "PASS: every command block of docs/auditor.md ran against real nodes, and its checks catch what they claim to"
