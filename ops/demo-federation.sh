#!/usr/bin/env bash
# A four-node Khronika federation on this machine, in under a minute, told step by step: four
# NGOs' nodes peer with each other, the first splits its archive key 2 of 3 among its partners,
# a witness statement is submitted to it and acknowledged only once two partners have cosigned
# it, the first node is raided (its data wiped) and rebuilt from its partners with its key
# export, a follow-up statement is timestamped by an outside time-stamping authority (a
# stand-in made here with openssl), and a lawyer's court bundle is exported and verified
# offline, its timestamp included, against a cosignature policy. Then the worst case: the rebuilt node is destroyed again, and its key export with it;
# a new node gets the archive key back from 2 of the 3 partners, reads the old evidence byte for
# byte and exports a bundle.
#
#   ops/demo-federation.sh [PATH/TO/khronika]     (default: $KHRONIKA_BIN, else
#                                                   build/release/server/cli/khronika)
#
# Everything lives in a temporary folder that is removed at the end (KEEP=1 keeps it). Each step
# prints one line starting with "step N:" and ends with "ok"; the test suite checks them. Every
# khronika command the story runs is printed as "$ khronika ..." with $WORK for the demo's
# folder, so that an operator can copy the real thing.
set -euo pipefail

HERE=$(cd "$(dirname "$0")/.." && pwd)
KHRONIKA=${1:-${KHRONIKA_BIN:-$HERE/build/release/server/cli/khronika}}
if [[ ! -x "$KHRONIKA" ]]; then
  echo "usage: $0 [PATH/TO/khronika]  (build first: ops/build.sh build/release)" >&2
  exit 2
fi
KHRONIKA=$(readlink -f "$KHRONIKA")
WORK=$(mktemp -d "${TMPDIR:-/tmp}/khronika-demo.XXXXXX")
NODES=(a b c d)
declare -A NAME=([a]="Memorial Archive" [b]="Rights Watch" [c]="Legal Aid Centre"
                 [d]="Press Freedom Desk")
declare -A PORT PID NODE_ID VKEY COSIGNER FP RECOVERY

cleanup() {
  local status=$?
  for n in "${NODES[@]}" a2; do stop_node "$n"; done
  if [[ -n "${TSA_PID:-}" ]]; then
    kill "$TSA_PID" 2>/dev/null || true
    wait "$TSA_PID" 2>/dev/null || true
  fi
  if [[ $status -ne 0 ]]; then
    for n in "${NODES[@]}" a2; do
      [[ -f "$WORK/$n.serve.log" ]] && { echo "--- last lines of node $n's log:" >&2; tail -n 15 "$WORK/$n.serve.log" >&2; }
    done
  fi
  if [[ ${KEEP:-0} == 1 ]]; then echo "(kept $WORK)"; else rm -rf "$WORK"; fi
  exit $status
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say() { echo "        $*"; }
exec 4>&1  # the story's own output, also from inside $(...)
# Prints a command as an operator would type it (khronika for the binary, $WORK for the demo's
# folder, "$TOKEN" for a token's secret), then runs it.
show() {
  local line="khronika" a
  for a in "$@"; do
    if [[ $a == khr_* ]]; then line+=' "$TOKEN"'; else line+=" $(printf '%q' "$a")"; fi  # no secrets
  done
  echo "        \$ ${line//$WORK/\$WORK}" >&4
}
kh() {
  show "$@"
  "$KHRONIKA" "$@"
}
step() { STEP=$1; shift; echo "step $STEP: $*"; }
ok() { echo "step $STEP: ok"; }
fail() { echo "step ${STEP:-0}: FAILED: $*" >&2; exit 1; }
json_field() { python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

start_node() {
  local n=$1
  show serve --data "$WORK/$n" --listen "127.0.0.1:${PORT[$n]}"
  "$KHRONIKA" serve --data "$WORK/$n" --listen "127.0.0.1:${PORT[$n]}" >>"$WORK/$n.serve.log" 2>&1 &
  PID[$n]=$!
  for _ in $(seq 100); do
    curl -sk --max-time 1 "https://127.0.0.1:${PORT[$n]}/healthz" >/dev/null 2>&1 && return 0
    kill -0 "${PID[$n]}" 2>/dev/null || fail "node $n stopped (see its log)"
    sleep 0.1
  done
  fail "node $n did not start"
}

stop_node() {
  local n=$1
  [[ -n "${PID[$n]:-}" ]] || return 0
  kill "${PID[$n]}" 2>/dev/null || true
  wait "${PID[$n]}" 2>/dev/null || true
  PID[$n]=
}

# A stand-in RFC 3161 time-stamping authority on this machine, made with stock openssl (a real
# node names an outside TSA: docs/operator.md, "Timestamps"). Sets TSA_PORT; $WORK/tsa/ca.pem is
# the CA certificate a node (and a court) checks its tokens against.
start_tsa() {
  local d="$WORK/tsa"
  mkdir -p "$d"
  (
    cd "$d"
    printf '[req]\ndistinguished_name=dn\n[dn]\n[ca]\nbasicConstraints=critical,CA:true\n'`
          `'keyUsage=critical,keyCertSign\n[tsa]\nbasicConstraints=critical,CA:false\n'`
          `'keyUsage=critical,digitalSignature,nonRepudiation\n'`
          `'extendedKeyUsage=critical,timeStamping\n' >certs.cnf
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key \
      -out ca.pem -days 30 -subj "/O=Demo Time Stamping/CN=Demo TSA Root" -config certs.cnf \
      -extensions ca
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout tsa.key \
      -out tsa.csr -subj "/O=Demo Time Stamping/CN=Demo TSA" -config certs.cnf
    openssl x509 -req -in tsa.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 30 -sha256 \
      -extfile certs.cnf -extensions tsa -out tsa.pem
    echo 01 >serial
    printf '[tsa]\ndefault_tsa=demo\n[demo]\nserial=./serial\nsigner_cert=./tsa.pem\n'`
          `'signer_key=./tsa.key\nsigner_digest=sha256\ndefault_policy=1.3.6.1.4.1.99999.1\n'`
          `'digests=sha256\naccuracy=secs:1\ntsa_name=yes\ness_cert_id_alg=sha256\n' >ts.cnf
  ) >/dev/null 2>&1 || fail "making the stand-in TSA's certificates"
  python3 - "$d" >"$d/port" 2>>"$d/log" <<'PY' &
import http.server, os, subprocess, sys, threading
d, lock = sys.argv[1], threading.Lock()
class Tsa(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass
    def do_POST(self):  # an RFC 3161 request in, `openssl ts -reply`'s answer out
        query = self.rfile.read(min(int(self.headers.get("Content-Length", "0")), 65536))
        with lock:
            with open(os.path.join(d, "q.tsq"), "wb") as f:
                f.write(query)
            done = subprocess.run(["openssl", "ts", "-reply", "-config", "ts.cnf", "-queryfile",
                                   "q.tsq", "-out", "r.tsr"], cwd=d, capture_output=True)
            answer = open(os.path.join(d, "r.tsr"), "rb").read() if done.returncode == 0 else b""
        if not answer:
            self.send_error(500)
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/timestamp-reply")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)
server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Tsa)
print(server.server_address[1], flush=True)
server.serve_forever()
PY
  TSA_PID=$!
  for _ in $(seq 50); do
    TSA_PORT=$(cat "$d/port" 2>/dev/null || true)
    [[ -n "$TSA_PORT" ]] && return 0
    sleep 0.1
  done
  fail "the stand-in TSA did not start"
}

peer_with_partners() {  # the roster and peer list of node n: the other three
  local n=$1
  for m in "${NODES[@]}"; do
    [[ $m == "$n" ]] && continue
    kh member add --data "$WORK/$n" --vkey "${VKEY[$m]}" --cosigner-vkey "${COSIGNER[$m]}" >/dev/null
    kh peer add --data "$WORK/$n" --url "https://127.0.0.1:${PORT[$m]}" --id "${NODE_ID[$m]}" \
      --cert-sha256 "${FP[$m]}" >/dev/null
  done
}

PASSPHRASE="demo only: a long passphrase kept apart from the keys"
# Each partner operator's passphrase for its offline recovery key (one for all, in the demo).
RECOVERY_PASSPHRASE="demo only: the passphrase of a partner's recovery key"
STARTED=$SECONDS
step 1 "four NGOs each create a node"
for n in "${NODES[@]}"; do
  PORT[$n]=$(free_port)
  kh init --data "$WORK/$n" --key-file "$WORK/$n.key-file" --name "${NAME[$n]}" >/dev/null 2>&1
  printf 'sync_interval_s = 2\n' >"$WORK/$n/khronika.conf"
  id_json=$(kh id --data "$WORK/$n" --json)
  NODE_ID[$n]=$(json_field node_id <<<"$id_json")
  VKEY[$n]=$(json_field vkey <<<"$id_json")
  COSIGNER[$n]=$(json_field cosigner_vkey <<<"$id_json")
  FP[$n]=$(json_field cert_sha256 <<<"$id_json")
  say "${NAME[$n]}: node ${NODE_ID[$n]:0:16}… on https://127.0.0.1:${PORT[$n]}"
done
say "each store is encrypted; its keys are sealed under a key file kept outside its data directory"
say "WARNING: here the key files ($WORK/*.key-file) sit on the same disk, for the demo only; in"
say "real use keep a node's key file off the machine, or seal its keys with a passphrase"
ok

step 2 "they exchange node ids and certificate fingerprints, and peer with each other"
for n in "${NODES[@]}"; do peer_with_partners "$n"; done
for n in "${NODES[@]}"; do start_node "$n"; done
say "each node now keeps a full copy of the other three nodes' logs, sealed, and cosigns what it"
say "has checked: a partner holds ciphertext only, and cannot read another member's evidence"
ok

step 3 "the partners make offline recovery keys; ${NAME[a]} splits its archive key 2 of 3 among them"
mkdir -p "$WORK/usb"   # each partner operator's recovery key file, kept off its machine
for n in b c d; do
  rk=$(kh recovery keygen --data "$WORK/$n" --out "$WORK/usb/$n.recovery.key" --passphrase-fd 3 \
    3< <(printf '%s\n%s\n' "$RECOVERY_PASSPHRASE" "$RECOVERY_PASSPHRASE") 2>/dev/null) ||
    fail "recovery keygen on $n"
  RECOVERY[$n]=${rk#recovery_pubkey }
  kh member add --data "$WORK/a" --vkey "${VKEY[$n]}" --cosigner-vkey "${COSIGNER[$n]}" \
    --recovery-pubkey "${RECOVERY[$n]}" >/dev/null
done
split=$(kh recovery split --data "$WORK/a" --k 2) || fail "recovery split"
say "$split"
say "each share is sealed to one partner's recovery key and the set is in ${NAME[a]}'s own log;"
say "one partner alone, seized or coerced, learns nothing of the key"
ok

step 4 "a field worker makes a signing key, registered with ${NAME[a]}"
kh keygen --out "$WORK/worker.key" >/dev/null 2>&1
kh author add --data "$WORK/a" --name "Field worker 7" --pubkey "$WORK/worker.key.pub" >/dev/null
SUBMITTER=$(kh token create --data "$WORK/a" --role submitter 2>/dev/null)
READER=$(kh token create --data "$WORK/a" --role reader --case case-2026-017 2>/dev/null)
say "the key stays on the worker's laptop; the node knows only the public half"
ok

step 5 "a witness statement and a photo are submitted, and acknowledged once two partners cosigned"
printf 'On 3 March at 06:10 I saw three men in uniform enter the office of the NGO.\n' >"$WORK/statement.txt"
head -c 300000 /dev/urandom >"$WORK/photo.jpg"
receipt=$(kh submit --node "https://127.0.0.1:${PORT[a]}" --pin "sha256:${FP[a]}" --token "$SUBMITTER" \
  --key "$WORK/worker.key" --case case-2026-017 --meta place=Kharkiv --replicas 2 --replicas-timeout 45 \
  --json "$WORK/statement.txt" "$WORK/photo.jpg") || fail "submit --replicas 2"
ENTRY=$(json_field entry_id <<<"$receipt")
cosigners=$(python3 -c 'import json,sys; print(len(json.load(sys.stdin)["replicated"]["cosigners"]))' <<<"$receipt")
[[ $cosigners -ge 2 ]] || fail "the receipt has $cosigners cosigners"
say "entry ${ENTRY:0:16}… recorded by ${NAME[a]} and cosigned by $cosigners of its partners"
ok

step 6 "the partners hold the entry too"
for _ in $(seq 100); do
  have=0
  for n in b c d; do
    "$KHRONIKA" log --data "$WORK/$n" --origin "${NODE_ID[a]}" --json 2>/dev/null | grep -q "$ENTRY" &&
      have=$((have + 1))
  done
  [[ $have -eq 3 ]] && break
  sleep 0.2
done
[[ $have -eq 3 ]] || fail "the entry did not reach the three partners"
kh cat --data "$WORK/b" "$ENTRY" statement.txt >/dev/null 2>&1 && fail "a partner read the statement"
kh log --data "$WORK/a" --json >"$WORK/a.log.before"
say "${NAME[b]}, ${NAME[c]} and ${NAME[d]} each hold the entry, its sealed files and"
say "${NAME[a]}'s signed checkpoint; \`khronika cat\` on a partner opens nothing"
ok

step 7 "police raid ${NAME[a]}: its server is seized and its data is gone"
mkdir -p "$WORK/offsite"   # done once, long before: the keys sealed under a passphrase, kept away
kh key export --data "$WORK/a" --out "$WORK/offsite/memorial.keys" --passphrase-fd 3 \
  3<<<"$PASSPHRASE" >/dev/null 2>&1 || fail "key export"
stop_node a
rm -rf "$WORK/a"
say "(--passphrase-fd 3 reads the passphrase from file descriptor 3, here a here-string)"
say "only the node's keys survive: sealed with \`khronika key export\` and kept off-site"
ok

step 8 "${NAME[a]} rebuilds its node from its partners"
kh init --data "$WORK/a" --key-file "$WORK/a.key-file" --name "${NAME[a]}" --keys "$WORK/offsite/memorial.keys" \
  --passphrase-fd 3 3<<<"$PASSPHRASE" >/dev/null 2>&1 || fail "init --keys"
# The rebuilt node also asks an outside time-stamping authority to date its checkpoints.
start_tsa
printf 'sync_interval_s = 2\ntsa = http://127.0.0.1:%s/ %s\n' "$TSA_PORT" "$WORK/tsa/ca.pem" \
  >"$WORK/a/khronika.conf"
peer_with_partners a
kh sync --data "$WORK/a" >"$WORK/a.sync.out" 2>&1 || fail "sync: $(tail -n 3 "$WORK/a.sync.out")"
kh log --data "$WORK/a" --json >"$WORK/a.log.after"
cmp -s "$WORK/a.log.before" "$WORK/a.log.after" || fail "the rebuilt log differs from the one before the raid"
kh verify --data "$WORK/a" >/dev/null || fail "the rebuilt node does not verify"
kh author list --data "$WORK/a" | grep -q "Field worker 7" || fail "the author did not come back with the keys"
# Tokens never leave a node: the rebuilt node issues new ones (docs/operator.md, "After a raid").
READER=$(kh token create --data "$WORK/a" --role reader --case case-2026-017 2>/dev/null)
SUBMITTER=$(kh token create --data "$WORK/a" --role submitter 2>/dev/null)
start_node a
say "same node id, witness key, archive key, TLS certificate and authors; it pulled its own log"
say "back from its partners and opened it again with its archive key"
say "tokens are issued anew: the seized ones open nothing on the rebuilt node"
say "every acknowledged entry is back, byte for byte, and the node verifies"
ok

step 9 "a follow-up statement is timestamped by an outside authority; a lawyer exports the case"
printf 'On 4 March the same men returned and took the office computers.\n' >"$WORK/follow-up.txt"
out=$(kh submit --node "https://127.0.0.1:${PORT[a]}" --pin "sha256:${FP[a]}" --token "$SUBMITTER" \
  --key "$WORK/worker.key" --case case-2026-017 --replicas 2 --replicas-timeout 45 --timestamp \
  "$WORK/follow-up.txt" 2>&1) || fail "submit --timestamp: $out"
grep -q "existed no later than" <<<"$out" || fail "no timestamp: $out"
say "$(grep -m1 "existed no later than" <<<"$out")"
kh export --node "https://127.0.0.1:${PORT[a]}" --pin "sha256:${FP[a]}" --token "$READER" \
  --case case-2026-017 --out "$WORK/bundle" >/dev/null || fail "export"
printf '%s\n%s\n%s\n%s\n' "${VKEY[a]}" "${COSIGNER[b]}" "${COSIGNER[c]}" "${COSIGNER[d]}" \
  >"$WORK/trusted-keys.txt"
out=$(kh verify-bundle "$WORK/bundle" --trust "$WORK/trusted-keys.txt") || fail "verify-bundle: $out"
grep -Eq "[23] of them trusted" <<<"$out" || fail "the bundle lacks the partners' cosignatures: $out"
grep -q "existed no later than" <<<"$out" || fail "the bundle carries no timestamp: $out"
say "the bundle verifies with no network: signatures, hashes, inclusion proof, trusted cosigners,"
say "and the outside authority's RFC 3161 token: every record of the case existed by its time"
# The court's rule, as a C2SP tlog-policy: the node's log, cosigned by at least 2 of its 3 partners.
{
  printf 'log %s\n' "${VKEY[a]}"
  for n in b c d; do printf 'witness %s %s\n' "$n" "${COSIGNER[$n]}"; done
  printf 'group partners 2 b c d\nquorum partners\n'
} >"$WORK/court.policy"
kh policy check "$WORK/court.policy" >/dev/null || fail "policy check"
out=$(kh verify-bundle "$WORK/bundle" --trust "$WORK/trusted-keys.txt" --policy "$WORK/court.policy") ||
  fail "verify-bundle --policy: $out"
grep -q "quorum partners: met" <<<"$out" || fail "the bundle's checkpoint does not meet the policy: $out"
say "and it meets the court's policy (C2SP tlog-policy): cosigned by at least 2 of the 3 partners"
say "REPORT.md, in plain words, begins:"
sed -n 3p "$WORK/bundle/REPORT.md" | fold -s -w 90 | sed 's/^/          /'
ok

step 10 "a second raid destroys the rebuilt node, and this time its key export too"
stop_node a
rm -rf "$WORK/a" "$WORK/a.key-file" "$WORK/offsite/memorial.keys"
say "${NAME[a]}'s node key and archive key are gone for good; its log lives on, sealed, with its"
say "partners, and so do the shares of its archive key (each sealed to one partner's recovery key)"
ok

step 11 "${NAME[a]} builds a new node; two partners add it, and it pulls the old log"
kh init --data "$WORK/a2" --key-file "$WORK/a2.key-file" --name "${NAME[a]} (new)" >/dev/null 2>&1
rk=$(kh recovery keygen --data "$WORK/a2" --out "$WORK/usb/a2.recovery.key" --passphrase-fd 3 \
  3< <(printf '%s\n%s\n' "$RECOVERY_PASSPHRASE" "$RECOVERY_PASSPHRASE") 2>/dev/null) ||
  fail "recovery keygen on the new node"
id_json=$(kh id --data "$WORK/a2" --json)
NODE_ID[a2]=$(json_field node_id <<<"$id_json")
VKEY[a2]=$(json_field vkey <<<"$id_json")
COSIGNER[a2]=$(json_field cosigner_vkey <<<"$id_json")
FP[a2]=$(json_field cert_sha256 <<<"$id_json")
RECOVERY[a2]=${rk#recovery_pubkey }
for n in b c; do
  # On each partner, after checking by another channel that the old node is lost and that this
  # is its operator's new node: a member with its recovery key, a peer that pulls from them.
  kh member add --data "$WORK/$n" --vkey "${VKEY[a2]}" --cosigner-vkey "${COSIGNER[a2]}" \
    --recovery-pubkey "${RECOVERY[a2]}" >/dev/null
  kh peer add --data "$WORK/$n" --serve-only --id "${NODE_ID[a2]}" --cert-sha256 "${FP[a2]}" >/dev/null
  kh member add --data "$WORK/a2" --vkey "${VKEY[$n]}" --cosigner-vkey "${COSIGNER[$n]}" >/dev/null
  kh peer add --data "$WORK/a2" --url "https://127.0.0.1:${PORT[$n]}" --id "${NODE_ID[$n]}" \
    --cert-sha256 "${FP[$n]}" >/dev/null
done
kh member add --data "$WORK/a2" --vkey "${VKEY[a]}" --cosigner-vkey "${COSIGNER[a]}" >/dev/null
kh sync --data "$WORK/a2" >"$WORK/a2.sync.out" 2>&1 || fail "sync: $(tail -n 3 "$WORK/a2.sync.out")"
held=$(kh log --data "$WORK/a2" --origin "${NODE_ID[a]}" --json | grep -c "$ENTRY" || true)
[[ $held -eq 1 ]] || fail "the new node did not get the old log"
kh cat --data "$WORK/a2" "$ENTRY" statement.txt >/dev/null 2>&1 && fail "read before the recovery"
say "new node ${NODE_ID[a2]:0:16}…: it holds ${NAME[a]}'s old log, sealed, and cannot read it yet"
ok

step 12 "${NAME[b]} and ${NAME[c]} each release their share to the new node"
for n in b c; do
  kh recovery release --data "$WORK/$n" --recovery-key "$WORK/usb/$n.recovery.key" \
    --origin "${NODE_ID[a]}" --to "${NODE_ID[a2]}" --recovery-passphrase-fd 3 \
    3<<<"$RECOVERY_PASSPHRASE" >"$WORK/$n.release.out" 2>&1 ||
    fail "release on $n: $(cat "$WORK/$n.release.out")"
done
say "each release is the partner's share sealed again, to the new node's recovery key, and"
say "logged in the partner's own log: a custody event every member sees"
ok

step 13 "the new node combines the two releases and reads the old evidence again"
kh sync --data "$WORK/a2" >"$WORK/a2.sync.out" 2>&1 || fail "sync: $(tail -n 3 "$WORK/a2.sync.out")"
kh recovery combine --data "$WORK/a2" --recovery-key "$WORK/usb/a2.recovery.key" \
  --origin "${NODE_ID[a]}" --recovery-passphrase-fd 3 3<<<"$RECOVERY_PASSPHRASE" \
  >"$WORK/a2.combine.out" 2>&1 || fail "combine: $(cat "$WORK/a2.combine.out")"
for f in statement.txt photo.jpg; do
  kh cat --data "$WORK/a2" "$ENTRY" "$f" >"$WORK/a2.$f" || fail "cat $f"
  cmp -s "$WORK/$f" "$WORK/a2.$f" || fail "$f differs from what was submitted"
done
kh verify --data "$WORK/a2" >/dev/null || fail "the new node does not verify"
shares=$(grep -o "from [0-9]* released shares" "$WORK/a2.combine.out") || fail "combine: $(cat "$WORK/a2.combine.out")"
say "recovered ${NAME[a]}'s archive key $shares; the new node adopted the old log"
say "the statement and the photo come back byte for byte, checked against the worker's signature"
ok

step 14 "the new node exports the old case as a court bundle, and it verifies"
kh export --data "$WORK/a2" --case case-2026-017 --out "$WORK/bundle2" >/dev/null || fail "export"
out=$(kh verify-bundle "$WORK/bundle2" --trust "$WORK/trusted-keys.txt") || fail "verify-bundle: $out"
grep -Eq "[23] of them trusted" <<<"$out" || fail "the bundle lacks the partners' cosignatures: $out"
say "the bundle proves the entry in ${NAME[a]}'s original log, signed by its lost node key and"
say "cosigned by its partners; nothing a partner holds opened it, only the 2 of 3 releases"
ok

echo "demo complete in $((SECONDS - STARTED)) s"
