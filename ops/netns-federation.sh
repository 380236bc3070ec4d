#!/usr/bin/env bash
# Three khronika nodes, each serving inside its own network namespace (khronika-a, -b, -c), in a
# full mesh of peers. The namespaces are joined in a line through a bridge inside khronika-b:
#
#   khronika-a [va 10.231.0.1] ---- [vba]-br0(10.231.0.2)-[vbc] ---- [vc 10.231.0.3] khronika-c
#
# Entries are submitted to each node and synced; A's link is then cut with `ip link set down`,
# more entries go to A and B, the link is restored, and after sync rounds all three nodes must
# hold identical logs. Addresses in 10.231.0.0/24 exist only inside these namespaces; nothing is
# configured in the host's own namespace. Needs root and `ip netns`; otherwise it says so and
# exits 0.
#
# Usage: ops/netns-federation.sh PATH/TO/khronika
set -euo pipefail

KHRONIKA=${1:-}
if [[ -z "$KHRONIKA" || ! -x "$KHRONIKA" ]]; then
  echo "usage: $0 PATH/TO/khronika" >&2
  exit 2
fi
KHRONIKA=$(readlink -f "$KHRONIKA")

if [[ $(id -u) -ne 0 ]] || ! command -v ip >/dev/null 2>&1 || ! ip netns list >/dev/null 2>&1; then
  echo "skipped: needs root and ip netns"
  exit 0
fi

NODES=(a b c)
declare -A ADDR=([a]=10.231.0.1 [b]=10.231.0.2 [c]=10.231.0.3)
PORT=7443
WORK=$(mktemp -d "${TMPDIR:-/tmp}/khronika-netns.XXXXXX")
declare -A PID

cleanup() {
  local status=$?
  for n in "${NODES[@]}"; do
    if [[ -n "${PID[$n]:-}" ]]; then
      kill "${PID[$n]}" 2>/dev/null || true
      for _ in $(seq 100); do kill -0 "${PID[$n]}" 2>/dev/null || break; sleep 0.1; done
      kill -9 "${PID[$n]}" 2>/dev/null || true
      wait "${PID[$n]}" 2>/dev/null || true
    fi
  done
  for n in "${NODES[@]}"; do ip netns del "khronika-$n" 2>/dev/null || true; done
  if [[ $status -ne 0 ]]; then
    for n in "${NODES[@]}"; do
      [[ -f "$WORK/$n.serve.err" ]] && { echo "--- serve log of $n:" >&2; tail -n 20 "$WORK/$n.serve.err" >&2; }
    done
  fi
  rm -rf "$WORK"
  exit $status
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { echo "[$SECONDS s] $*"; }

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

in_ns() {  # in_ns NODE COMMAND...
  local n=$1
  shift
  ip netns exec "khronika-$n" "$@"
}

# ---- network: namespaces, veth pairs, a bridge inside khronika-b ----
for n in "${NODES[@]}"; do
  ip netns del "khronika-$n" 2>/dev/null || true  # a stale one from an interrupted run
  if ! ip netns add "khronika-$n" 2>/dev/null; then
    echo "skipped: needs root and ip netns (cannot create a network namespace here)"
    exit 0
  fi
  ip -n "khronika-$n" link set lo up
done
ip -n khronika-a link add va type veth peer name vba netns khronika-b
ip -n khronika-c link add vc type veth peer name vbc netns khronika-b
ip -n khronika-b link add br0 type bridge
ip -n khronika-b link set vba master br0
ip -n khronika-b link set vbc master br0
ip -n khronika-a addr add "${ADDR[a]}/24" dev va
ip -n khronika-b addr add "${ADDR[b]}/24" dev br0
ip -n khronika-c addr add "${ADDR[c]}/24" dev vc
for dev in vba vbc br0; do ip -n khronika-b link set "$dev" up; done
ip -n khronika-a link set va up
ip -n khronika-c link set vc up

reachable() {  # reachable FROM_NODE TO_NODE: a TCP connection gets an answer (even a refusal)
  in_ns "$1" python3 - "${ADDR[$2]}" "$PORT" <<'PY'
import socket, sys
s = socket.socket()
s.settimeout(1)
try:
    s.connect((sys.argv[1], int(sys.argv[2])))
except ConnectionRefusedError:
    pass
except OSError:
    sys.exit(1)
PY
}

wait_reachable() {  # wait_reachable FROM_NODE TO_NODE
  for _ in $(seq 50); do
    reachable "$1" "$2" && return 0
    sleep 0.1
  done
  fail "${ADDR[$2]} not reachable from khronika-$1"
}
wait_reachable a c

# ---- nodes ----
json_field() {  # json_field FIELD  (reads one JSON object on stdin)
  python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"
}

declare -A NODE_ID VKEY COSIGNER FP TOKEN
for n in "${NODES[@]}"; do
  d=$WORK/$n
  "$KHRONIKA" init --data "$d" --key-file "$d.key-file" --name "ngo-$n" >/dev/null 2>&1
  "$KHRONIKA" keygen --out "$WORK/$n.author.key" >/dev/null 2>&1
  "$KHRONIKA" author add --data "$d" --name "author $n" --pubkey "$WORK/$n.author.key.pub" >/dev/null
  printf 'sync_interval_s = 0\n' >"$d/khronika.conf"
  id_json=$("$KHRONIKA" id --data "$d" --json)
  NODE_ID[$n]=$(json_field node_id <<<"$id_json")
  VKEY[$n]=$(json_field vkey <<<"$id_json")
  COSIGNER[$n]=$(json_field cosigner_vkey <<<"$id_json")
  FP[$n]=$(json_field cert_sha256 <<<"$id_json")
  TOKEN[$n]=$("$KHRONIKA" token create --data "$d" --role submitter 2>/dev/null)
done
for x in "${NODES[@]}"; do
  for y in "${NODES[@]}"; do
    [[ $x == "$y" ]] && continue
    "$KHRONIKA" member add --data "$WORK/$x" --vkey "${VKEY[$y]}" --cosigner-vkey "${COSIGNER[$y]}" >/dev/null
    "$KHRONIKA" peer add --data "$WORK/$x" --url "https://${ADDR[$y]}:$PORT" --id "${NODE_ID[$y]}" \
      --cert-sha256 "${FP[$y]}" >/dev/null
  done
done

for n in "${NODES[@]}"; do
  # 0.0.0.0 inside the node's own namespace: its addresses there are 127.0.0.1 and ADDR[n].
  # Not through the in_ns function: `fn &` forks a subshell, and $! would be that subshell, whose
  # death on SIGTERM left the server itself running after the script ended.
  ip netns exec "khronika-$n" "$KHRONIKA" serve --data "$WORK/$n" --listen "0.0.0.0:$PORT" \
    >"$WORK/$n.serve.out" 2>"$WORK/$n.serve.err" &
  PID[$n]=$!
done
for n in "${NODES[@]}"; do
  for _ in $(seq 300); do
    grep -q '^listening on https://' "$WORK/$n.serve.out" 2>/dev/null && break
    kill -0 "${PID[$n]}" 2>/dev/null || fail "khronika serve of $n exited"
    sleep 0.1
  done
  grep -q '^listening on https://' "$WORK/$n.serve.out" || fail "khronika serve of $n did not start"
done

SEQ=0
submit() {  # submit NODE: one entry through the node's own server, from inside its namespace
  local n=$1
  SEQ=$((SEQ + 1))
  local f=$WORK/$n.entry$SEQ.txt
  echo "statement $SEQ recorded at ngo-$n" >"$f"
  in_ns "$n" "$KHRONIKA" submit --node "https://127.0.0.1:$PORT" --pin "sha256:${FP[$n]}" \
    --token "${TOKEN[$n]}" --key "$WORK/$n.author.key" --case "case-$n" --json "$f" >/dev/null ||
    fail "submit to $n"
}

sync_round() {  # sync_round [must-succeed]
  for n in "${NODES[@]}"; do
    if ! out=$(in_ns "$n" "$KHRONIKA" sync --data "$WORK/$n" 2>&1); then
      [[ ${1:-} == must-succeed ]] && fail "sync on $n: $out"
      echo "  (sync on $n, expected to fail while A is cut off: $(head -n1 <<<"$out"))"
    fi
  done
}

log "submitting to each node and syncing"
for n in "${NODES[@]}"; do submit "$n"; submit "$n"; done
log "sync round"; sync_round must-succeed
log "sync round"; sync_round must-succeed

log "cutting A's link"
ip -n khronika-a link set va down
if reachable b a; then fail "A still reachable with its link down"; fi
submit a
submit a
submit b
# While A is cut off, B and C still sync with each other. (No sync towards A here: a peer whose
# packets are black-holed makes `khronika sync` wait for the kernel's SYN retries, about two
# minutes, since the client's 30 s connect deadline does not apply to its blocking connect.)
for pair in "b c" "c b"; do
  set -- $pair
  out=$(in_ns "$1" "$KHRONIKA" sync --data "$WORK/$1" --peer "${NODE_ID[$2]}" 2>&1) || fail "sync $1 from $2 during the cut: $out"
done

log "restoring A's link"
ip -n khronika-a link set va up
wait_reachable b a
wait_reachable c a
log "sync round"; sync_round must-succeed
log "sync round"; sync_round must-succeed

# What every holder of a log sees of it: the records and the sealed objects they name. The origin
# opens its own entries as well (case, files, ...); a partner sees only ciphertext.
held_form() {
  python3 -c '
import json, sys
for line in sys.stdin:
    o = json.loads(line)
    print(json.dumps({k: o[k] for k in ("index", "origin", "object_type", "entry_id",
                                        "leaf_hash", "record_hex", "object_hex")}, sort_keys=True))'
}
opened_records() {  # opened_records: how many lines of `log --json` on stdin carry a case
  python3 -c 'import json,sys; print(sum("case" in json.loads(l) for l in sys.stdin))'
}
entry_records() {  # entry_records: how many lines of `log --json` on stdin are sealed entries
  python3 -c 'import json,sys; print(sum(json.loads(l)["object_type"] == "sealed_entry" for l in sys.stdin))'
}

log "comparing logs"
for origin in "${NODES[@]}"; do
  ref=""
  for n in "${NODES[@]}"; do
    full=$("$KHRONIKA" log --data "$WORK/$n" --origin "${NODE_ID[$origin]}" --json)
    [[ -n "$full" ]] || fail "node $n holds nothing of $origin's log"
    got=$(held_form <<<"$full")
    opened=$(opened_records <<<"$full")
    if [[ $n == "$origin" ]]; then
      # every entry (custody records, such as its tokens' grants, have no case to show)
      [[ $opened -eq $(entry_records <<<"$full") ]] || fail "node $n does not open its own entries"
    else
      [[ $opened -eq 0 ]] || fail "node $n opens $opened entries of $origin's log"
    fi
    if [[ -z "$ref" ]]; then
      ref=$got
    elif [[ "$got" != "$ref" ]]; then
      fail "node $n holds another log of $origin than node a"
    fi
  done
  count=$(wc -l <<<"$ref")
  echo "  log of $origin: $count records, identical on a, b and c (sealed but at its origin)"
done
[[ $("$KHRONIKA" log --data "$WORK/a" --origin "${NODE_ID[a]}" --json | entry_records) -eq 4 ]] || fail "A's entries"
[[ $("$KHRONIKA" log --data "$WORK/a" --origin "${NODE_ID[b]}" --json | entry_records) -eq 3 ]] || fail "B's entries"
for n in "${NODES[@]}"; do
  "$KHRONIKA" verify --data "$WORK/$n" >/dev/null || fail "verify on $n"
done
echo "netns federation: logs converged after the link came back"
