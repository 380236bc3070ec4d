#!/usr/bin/env bash
# README's first command, in its --check mode: it creates a node, prints the node id, an admin
# token and how to submit, serves, and exits once /healthz answers. Run twice, it reuses the same
# node and tokens (idempotent). The build step is skipped (KHRONIKA_BIN): the suite has built it.
#
# Usage: quickstart_test.sh /path/to/khronika
set -euo pipefail
KH=$(readlink -f "${1:?usage: $0 /path/to/khronika}")
HERE=$(cd "$(dirname "$0")/../.." && pwd)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/khronika-quickstart.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
run() { KHRONIKA_BIN=$KH KHRONIKA_VAR=$WORK/var KHRONIKA_LISTEN=127.0.0.1:$port bash "$HERE/ops/quickstart.sh" --check; }

first=$(run) || fail "quickstart --check: $first"
echo "$first"
grep -q "the node answers https://127.0.0.1:$port/healthz" <<<"$first" || fail "no /healthz answer"
node_id=$(sed -n 's/^Node id: *\([0-9a-f]\{64\}\)$/\1/p' <<<"$first")
[[ -n "$node_id" ]] || fail "no node id printed"
grep -Eq "^Admin token: +khr_[0-9a-f]{64} " <<<"$first" || fail "no admin token printed"
grep -q "submit --node https://127.0.0.1:$port --pin sha256:" <<<"$first" || fail "no submit command printed"
[[ $(stat -c %a "$WORK/var/admin.token") == 600 ]] || fail "admin.token is not mode 0600"
# Encrypted at rest, with its key file outside the data directory, and a warning saying so.
[[ -f "$WORK/var/node1/node.keyring" && ! -e "$WORK/var/node1/node.key" ]] || fail "the node is not encrypted"
[[ $(stat -c %a "$WORK/var/node1.key-file") == 600 ]] || fail "no key file (mode 0600) outside the data directory"
grep -q "^WARNING: the store is encrypted, but its key file" <<<"$first" || fail "no key file warning"
if grep -rqa "Sample evidence made by the Khronika quickstart" "$WORK/var/node1"; then
  fail "the sample evidence is readable in the data directory"
fi

# The printed submit command works as printed.
cmd=$(grep -A1 "submit --node" <<<"$first" | tr -d '\\\n' | sed 's/  */ /g')
(cd "$WORK" && KHRONIKA_BIN=$KH bash -c "
  $KH serve --data var/node1 --listen 127.0.0.1:$port >/dev/null 2>&1 & pid=\$!
  for _ in \$(seq 100); do curl -sfk --max-time 1 https://127.0.0.1:$port/healthz >/dev/null && break; sleep 0.1; done
  $cmd >/dev/null; rc=\$?; kill \$pid; wait \$pid; exit \$rc") || fail "the printed submit command failed: $cmd"

second=$(run) || fail "second run: $second"
[[ $(sed -n 's/^Node id: *\([0-9a-f]\{64\}\)$/\1/p' <<<"$second") == "$node_id" ]] || fail "the second run made a new node"
grep -q "$(cat "$WORK/var/admin.token")" <<<"$second" || fail "the second run changed the admin token"
"$KH" verify --data "$WORK/var/node1" >/dev/null || fail "verify after the quickstart"
echo "quickstart test passed"
