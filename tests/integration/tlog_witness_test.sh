#!/usr/bin/env bash
# C2SP tlog-witness both ways, end to end over HTTPS on 127.0.0.1, against tlog_witness.py (an
# independent client and witness written from the specs alone, python3 + python3-cryptography):
#  - node A has three external witnesses: one that accepts connections and never answers, one
#    that is down, and a real (Python) one; a submission waits for a partner's cosignature and
#    the real witness's, and gets both although the two broken witnesses come first;
#  - the node's consistency proofs are checked by the Python witness (RFC 9162 code of its own);
#  - GET /v1/checkpoint/witnessed and `status` show the external cosignatures apart;
#  - the Python client asks partner B to cosign A's checkpoint (409 with B's size, then 200, the
#    cosignature checked with Ed25519), and every refusal (bad signature, unknown log, rollback,
#    malformed, inconsistent proof, oversized body) changes nothing.
#
# Usage: tlog_witness_test.sh /path/to/khronika
set -euo pipefail

KH=${1:?usage: $0 /path/to/khronika}
KH=$(readlink -f "$KH")
HERE=$(cd "$(dirname "$0")" && pwd)
PY="python3 $HERE/tlog_witness.py"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/kh-tlog-witness.XXXXXX")
declare -A PORT PID NODE_ID VKEY COSIGNER FP
EXTRA_PIDS=()

cleanup() {
  local status=$?
  for n in "${!PID[@]}"; do [[ -n "${PID[$n]}" ]] && kill "${PID[$n]}" 2>/dev/null || true; done
  for p in "${EXTRA_PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [[ $status -ne 0 ]]; then
    for f in "$WORK"/*.serve.log "$WORK"/w.log; do
      [[ -f $f ]] && { echo "--- $f:" >&2; tail -n 20 "$f" >&2; }
    done
  fi
  rm -rf "$WORK"
  exit $status
}
trap cleanup EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }
step() { echo "--- $*"; }
field() { python3 -c 'import json,sys; v=json.load(sys.stdin)
for k in sys.argv[1:]: v=v[int(k)] if isinstance(v,list) else v[k]
print(v if not isinstance(v,(list,dict)) else json.dumps(v))' "$@"; }
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

start_node() {
  local n=$1
  "$KH" serve --data "$WORK/$n" --listen "127.0.0.1:${PORT[$n]}" >>"$WORK/$n.serve.log" 2>&1 &
  PID[$n]=$!
  for _ in $(seq 200); do
    curl -sk --max-time 1 "https://127.0.0.1:${PORT[$n]}/healthz" >/dev/null 2>&1 && return 0
    kill -0 "${PID[$n]}" 2>/dev/null || fail "node $n stopped"
    sleep 0.1
  done
  fail "node $n did not start"
}
stop_node() {
  kill "${PID[$1]}" 2>/dev/null || true
  wait "${PID[$1]}" 2>/dev/null || true
  PID[$1]=
}
# GET on node n's API with its reader token.
api() {
  curl -sk --max-time 10 -H "Authorization: Bearer ${TOKEN[$1]}" "https://127.0.0.1:${PORT[$1]}$2"
}
declare -A TOKEN

# Posts body file $2 to node $1's /add-checkpoint with the Python client: JSON answer.
ask() { $PY submit "https://127.0.0.1:${PORT[$1]}" "$2"; }
expect() {  # expect NODE BODY_FILE STATUS [BODY_REGEX] [CONTENT_TYPE]: the answer, checked
  local a
  a=$(ask "$1" "$2")
  [[ $(field status <<<"$a") == "$3" ]] || fail "expected $3 from $1, got $a"
  if [[ -n ${4:-} ]]; then
    local body
    body=$(field body <<<"$a")
    grep -Eq -- "$4" <<<"$body" || fail "answer body: $a"
  fi
  if [[ -n ${5:-} ]]; then [[ $(field content_type <<<"$a") == "$5" ]] || fail "content type: $a"; fi
  echo "$a"
}

step "nodes A and B are partners; X has A on its roster and holds nothing; Z is a stranger"
for n in a b x z; do
  PORT[$n]=$(free_port)
  "$KH" init --data "$WORK/$n" --no-encryption --name "node-$n" >/dev/null 2>&1
  id_json=$("$KH" id --data "$WORK/$n" --json)
  NODE_ID[$n]=$(field node_id <<<"$id_json")
  VKEY[$n]=$(field vkey <<<"$id_json")
  COSIGNER[$n]=$(field cosigner_vkey <<<"$id_json")
  FP[$n]=$(field cert_sha256 <<<"$id_json")
  printf 'sync_interval_s = 1\n' >"$WORK/$n/khronika.conf"
  TOKEN[$n]=$("$KH" token create --data "$WORK/$n" --role auditor 2>/dev/null)
done
for pair in "a b" "b a"; do
  set -- $pair
  "$KH" member add --data "$WORK/$1" --vkey "${VKEY[$2]}" --cosigner-vkey "${COSIGNER[$2]}" >/dev/null
  "$KH" peer add --data "$WORK/$1" --url "https://127.0.0.1:${PORT[$2]}" --id "${NODE_ID[$2]}" \
    --cert-sha256 "${FP[$2]}" >/dev/null
done
"$KH" member add --data "$WORK/x" --vkey "${VKEY[a]}" >/dev/null

step "three external witnesses of A: one that stalls, one that is down, one that works"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$WORK/w.key" \
  -out "$WORK/w.crt" -days 2 -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 \
  >/dev/null 2>&1
W_VKEY=$($PY keygen witness.test/w1 "$WORK/w.seed")
STALL_VKEY=$($PY keygen witness.test/stalls "$WORK/s.seed")
DOWN_VKEY=$($PY keygen witness.test/down "$WORK/d.seed")
PW=$(free_port); PS=$(free_port); PD=$(free_port)
$PY serve "$PW" "$WORK/w.crt" "$WORK/w.key" "$WORK/w.seed" witness.test/w1 "${VKEY[a]}" \
  "$WORK/w.state" "$WORK/w.log" &
EXTRA_PIDS+=($!)
$PY stall "$PS" "$WORK/w.crt" "$WORK/w.key" &
EXTRA_PIDS+=($!)
cat >>"$WORK/a/khronika.conf" <<EOF
witness = https://127.0.0.1:$PS/w $STALL_VKEY $WORK/w.crt
witness = https://127.0.0.1:$PD/w $DOWN_VKEY $WORK/w.crt
witness = https://127.0.0.1:$PW/w $W_VKEY $WORK/w.crt
EOF
for n in a b x; do start_node "$n"; done

step "a submission waits for B's cosignature and the Python witness's, past the broken witnesses"
"$KH" keygen --out "$WORK/alice.pem" >/dev/null 2>&1
"$KH" author add --data "$WORK/a" --name alice --pubkey "$WORK/alice.pem.pub" >/dev/null
SUBMITTER=$("$KH" token create --data "$WORK/a" --role submitter 2>/dev/null)
submit() {
  printf '%s\n' "$1" >"$WORK/$1.txt"
  # The stalling witness holds its connection for the 30 s idle deadline: a 20 s wait that
  # succeeds shows that it held up nothing.
  "$KH" submit --node "https://127.0.0.1:${PORT[a]}" --pin "sha256:${FP[a]}" --token "$SUBMITTER" \
    --key "$WORK/alice.pem" --case case-1 --replicas 1 --external-witnesses 1 \
    --replicas-timeout 20 --json "$WORK/$1.txt"
}
r1=$(submit "first statement") || fail "submit --replicas 1 --external-witnesses 1"
[[ $(field replicated cosigners 0 member <<<"$r1") == "${NODE_ID[b]}" ]] || fail "no partner: $r1"
[[ $(field replicated external_cosigners <<<"$r1" | field 0 name) == witness.test/w1 ]] ||
  fail "no external witness: $r1"
count() { python3 -c 'import json,sys; print(len(json.load(sys.stdin)))'; }
[[ $(field replicated external_cosigners <<<"$r1" | count) == 1 ]] ||
  fail "only the working witness can have cosigned: $r1"
r2=$(submit "second statement") || fail "second submit"
# Its second checkpoint came with a consistency proof, which the Python witness verified.
grep -Eq '^cosigned old=[1-9][0-9]* size=[0-9]+ proof=[1-9]' "$WORK/w.log" ||
  fail "the witness never accepted a consistency proof: $(cat "$WORK/w.log")"
grep -q '^refused' "$WORK/w.log" && fail "the witness refused a proof: $(cat "$WORK/w.log")"

step "GET /v1/checkpoint/witnessed shows the external cosignature apart, and it verifies"
wit=$(api a /v1/checkpoint/witnessed)
S=$(field size <<<"$wit")
[[ $(field external_cosignatures 0 name <<<"$wit") == witness.test/w1 ]] || fail "$wit"
[[ $(field external_cosignatures 0 vkey <<<"$wit") == "$W_VKEY" ]] || fail "$wit"
partners=$(field cosignatures <<<"$wit")
grep -q witness.test <<<"$partners" && fail "an external witness among partners"
python3 -c 'import json,sys; sys.stdout.write(json.load(sys.stdin)["checkpoint"])' <<<"$wit" \
  >"$WORK/witnessed.note"
line=$(grep -a "witness.test/w1" "$WORK/witnessed.note") || fail "no external line in the note"
$PY verify "$WORK/witnessed.note" "$line" "$W_VKEY" >/dev/null || fail "external line does not verify"
bline=$(grep -a "khronika/${NODE_ID[b]}/witness" "$WORK/witnessed.note") || fail "no partner line"
$PY verify "$WORK/witnessed.note" "$bline" "${COSIGNER[b]}" >/dev/null || fail "B's line"
grep -q "external witness witness.test/down" "$WORK/a.serve.log" ||
  fail "the witness that is down is not reported"

step "an independent client asks partner B: 409 with its size, then a cosignature that verifies"
api a /v1/checkpoint >"$WORK/cp.note"
[[ $(sed -n 2p "$WORK/cp.note") == "$S" ]] || fail "checkpoint moved: $(cat "$WORK/cp.note")"
$PY body 0 "$WORK/cp.note" >"$WORK/old0.body"
expect b "$WORK/old0.body" 409 "^$S\$" text/x.tlog.size >/dev/null
$PY body "$S" "$WORK/cp.note" >"$WORK/ok.body"
a200=$(expect b "$WORK/ok.body" 200)
cosig=$(field body <<<"$a200")
$PY verify "$WORK/cp.note" "$cosig" "${COSIGNER[b]}" >/dev/null || fail "B's answer: $cosig"

step "refusals change nothing"
unchanged() { expect "$1" "$WORK/old0.body" 409 "^$2\$" text/x.tlog.size >/dev/null; }
# A signature by A's key name and key id that does not verify.
python3 - "$WORK/cp.note" >"$WORK/forged.note" <<'EOF'
import sys
note = open(sys.argv[1]).read()
i = note.rindex("\n\n") + 2
sig_at = note.index(" ", note.index(" ", i) + 1) + 10
c = note[sig_at]
sys.stdout.write(note[:sig_at] + ("B" if c == "A" else "A") + note[sig_at + 1:])
EOF
$PY body "$S" "$WORK/forged.note" >"$WORK/forged.body"
expect b "$WORK/forged.body" 403 >/dev/null
unchanged b "$S"
"$KH" checkpoint --data "$WORK/z" >"$WORK/z.note"
$PY body 0 "$WORK/z.note" >"$WORK/z.body"
expect b "$WORK/z.body" 404 "roster" >/dev/null
{ printf 'old 0%s\n\n' "$S"; cat "$WORK/cp.note"; } >"$WORK/leading-zero.body"
expect b "$WORK/leading-zero.body" 400 >/dev/null
# A rollback: an old size beyond the checkpoint.
$PY body $((S + 1)) "$WORK/cp.note" >"$WORK/rollback.body"
expect b "$WORK/rollback.body" 400 >/dev/null
head -c 200000 /dev/zero | tr '\0' 'A' >"$WORK/huge.body"
expect b "$WORK/huge.body" 413 >/dev/null
unchanged b "$S"
# X has cosigned nothing: a proof from size 0 is refused, and it does not hold A's log.
$PY body 0 "$WORK/cp.note" "$(printf '%064d' 0)" >"$WORK/proof-from-0.body"
expect x "$WORK/proof-from-0.body" 422 >/dev/null
expect x "$WORK/old0.body" 503 "hold" >/dev/null

step "a checkpoint B has not pulled: a bad proof is 422, a good one 503 (not held); nothing changes"
# B no longer pulls from A: A's next checkpoint stays unknown to it.
stop_node b
"$KH" peer remove --data "$WORK/b" "${NODE_ID[a]}" >/dev/null
start_node b
printf 'third statement\n' >"$WORK/third.txt"
"$KH" submit --node "https://127.0.0.1:${PORT[a]}" --pin "sha256:${FP[a]}" --token "$SUBMITTER" \
  --key "$WORK/alice.pem" --case case-1 --json "$WORK/third.txt" >/dev/null
api a /v1/checkpoint >"$WORK/cp3.note"
S3=$(sed -n 2p "$WORK/cp3.note")
[[ $S3 -gt $S ]] || fail "no new checkpoint"
proof=$(api a "/v1/proof/consistency?from=$S&to=$S3" | field proof |
  python3 -c 'import json,sys; print(" ".join(json.load(sys.stdin)))')
# The same proof with the first hash's first digit changed.
bad=$(python3 -c 'import sys; p = sys.argv[1].split(); d = p[0][0]
p[0] = ("0" if d != "0" else "1") + p[0][1:]; print(" ".join(p))' "$proof")
$PY body "$S" "$WORK/cp3.note" $bad >"$WORK/bad-proof.body"
expect b "$WORK/bad-proof.body" 422 "consistency proof" >/dev/null
$PY body "$S" "$WORK/cp3.note" $proof >"$WORK/good-proof.body"
expect b "$WORK/good-proof.body" 503 "hold" >/dev/null
unchanged b "$S"

step "status shows the external witness apart from partners"
stop_node a
st=$("$KH" status --data "$WORK/a" --json)
python3 - "$st" <<'EOF' || fail "status: $st"
import json, sys
st = json.loads(sys.argv[1])
own = [l for l in st["logs"] if l["local"]][0]
assert own["external_witnesses"] == ["witness.test/w1"], own
assert all("witness.test" not in c for c in own["cosigners"]), own
EOF
status_text=$("$KH" status --data "$WORK/a")
grep -q "1 external witness (witness.test/w1)" <<<"$status_text" || fail "status: $status_text"

step "a court bundle carries the external cosignature; verify-bundle checks it, a policy counts it"
"$KH" export --data "$WORK/a" --case case-1 --out "$WORK/bundle" >/dev/null || fail "export"
grep -aq "^— witness.test/w1 " "$WORK/bundle/logs/${NODE_ID[a]}/checkpoint.note" ||
  fail "no external line in the bundle's checkpoint: $(cat "$WORK/bundle/logs/${NODE_ID[a]}/checkpoint.note")"
wkey="$WORK/bundle/keys/witnesses/$(printf '%s' "$W_VKEY" | sha256sum | cut -c1-64).vkey"
[[ "$(cat "$wkey")" == "$W_VKEY" ]] || fail "keys/witnesses/ does not hold the witness's key"
out=$("$KH" verify-bundle "$WORK/bundle") || fail "verify-bundle: $out"
grep -q "and by 1 external witness" <<<"$out" || fail "verify-bundle does not count it: $out"
grep -q "^    external witness witness.test/w1$" <<<"$out" || fail "verify-bundle does not name it: $out"
grep -q "and by 1 external witness, which are no federation members" "$WORK/bundle/REPORT.md" ||
  fail "REPORT.md does not show it"
# A court that wants one of two independent witnesses (the second never cosigned): met by w1.
{ echo "log ${VKEY[a]}"
  echo "witness w1 $W_VKEY"
  echo "witness w2 $($PY keygen witness.test/w2 "$WORK/w2.seed")"
  echo "group outside 1 w1 w2"
  echo "quorum outside"; } >"$WORK/court.policy"
out=$("$KH" verify-bundle "$WORK/bundle" --policy "$WORK/court.policy") ||
  fail "verify-bundle --policy (an external witness): $out"
grep -q "quorum outside: met" <<<"$out" || fail "the policy is not met: $out"
# Both must cosign: not met, and said so (exit 1).
sed -i 's/^group outside 1 /group outside 2 /' "$WORK/court.policy"
if out=$("$KH" verify-bundle "$WORK/bundle" --policy "$WORK/court.policy"); then
  fail "a policy of two external witnesses was met by one: $out"
fi
grep -q "does NOT meet the policy" <<<"$out" || fail "not said: $out"
# The external line altered: the bundle fails, naming it.
cp -r "$WORK/bundle" "$WORK/forged"
note="$WORK/forged/logs/${NODE_ID[a]}/checkpoint.note"
python3 - "$note" <<'EOF2'
import base64, sys
p = sys.argv[1]
lines = open(p, encoding="utf-8").read().split("\n")
for i, l in enumerate(lines):
    if l.startswith("\u2014 witness.test/w1 "):
        name, sig = l.rsplit(" ", 1)
        raw = bytearray(base64.b64decode(sig)); raw[-1] ^= 1
        lines[i] = name + " " + base64.b64encode(bytes(raw)).decode()
open(p, "w", encoding="utf-8").write("\n".join(lines))
EOF2
sum=$(sha256sum "$note" | cut -c1-64)
sed -i "s|^[0-9a-f]\{64\}  logs/${NODE_ID[a]}/checkpoint.note\$|$sum  logs/${NODE_ID[a]}/checkpoint.note|" \
  "$WORK/forged/MANIFEST.sha256"
if out=$("$KH" verify-bundle "$WORK/forged" 2>&1); then fail "a forged external cosignature verified: $out"; fi
grep -q "external witness 'witness.test/w1' does not verify" <<<"$out" || fail "not named: $out"
echo "tlog_witness_test: all passed"
