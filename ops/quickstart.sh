#!/usr/bin/env bash
# The main job, from a fresh Debian 12 machine as root: install what is needed, build, create a
# node under ./var/node1 (once), print its id, an admin token and how to submit, then run the
# node in the foreground on https://127.0.0.1:8443. Safe to run again: the node, its keys and
# tokens are reused. Stop it with Ctrl-C; every acknowledged entry is committed first.
#
#   ops/quickstart.sh            the above
#   ops/quickstart.sh --check    the same, but exit 0 as soon as the node answers /healthz (the
#                                test suite runs this, with KHRONIKA_BIN set to skip the build and
#                                KHRONIKA_VAR to keep its node out of ./var)
set -euo pipefail
cd "$(dirname "$0")/.."
check=0
[[ ${1:-} == --check ]] && check=1

if [[ -n "${KHRONIKA_BIN:-}" ]]; then
  k=$(readlink -f "$KHRONIKA_BIN")
else
  bash ops/install-deps.sh
  echo "== building khronika (Release)"
  bash ops/build.sh build/quickstart -DCMAKE_BUILD_TYPE=Release -DKHRONIKA_BUILD_TESTS=OFF -DKHRONIKA_BUILD_BENCH=OFF
  k=$PWD/build/quickstart/server/cli/khronika
fi
var=${KHRONIKA_VAR:-var}
cd "$(dirname "$var")"
var=$(basename "$var")
data=$var/node1
listen=${KHRONIKA_LISTEN:-127.0.0.1:8443}

mkdir -p "$var"
chmod 700 "$var"
key_file=$var/node1.key-file
if [ ! -f "$data/node.keyring" ] && [ ! -f "$data/node.key" ]; then
  echo "== creating a node in $data, encrypted at rest"
  # The quickstart unlocks with a key file beside (never inside) the data directory so that it
  # starts without a question; `init` prints why that is for trying out only.
  "$k" init --data "$data" --name node1 --key-file "$key_file" >/dev/null
fi
if [ ! -f $var/author.key ]; then
  # A demo author; in real use each author makes a key on their own machine (khronika keygen)
  # and the operator registers only the public half.
  "$k" keygen --out $var/author.key >/dev/null 2>&1
  "$k" author add --data "$data" --name "quickstart author" --pubkey $var/author.key.pub >/dev/null
fi
for role in admin submitter; do
  if [ ! -f "$var/$role.token" ]; then
    (umask 077 && "$k" token create --data "$data" --role "$role" 2>/dev/null > "$var/$role.token")
  fi
done
if [ ! -f $var/sample-evidence.txt ]; then
  printf 'Sample evidence made by the Khronika quickstart at %s\n' "$(date -u +%FT%TZ)" > $var/sample-evidence.txt
fi

node_id=$("$k" id --data "$data" --json | sed -n 's/.*"node_id":"\([0-9a-f]*\)".*/\1/p')
cert=$("$k" id --data "$data" --json | sed -n 's/.*"cert_sha256":"\([0-9a-f]*\)".*/\1/p')
cat <<INFO

Node id:        $node_id
Certificate:    sha256:$cert
Admin token:    $(cat $var/admin.token)   (also in $var/admin.token, mode 0600)
Submit token:   $(cat $var/submitter.token)   ($var/submitter.token)

Submit evidence from another terminal:
  $k submit --node https://$listen --pin sha256:$cert \\
    --token \$(cat $var/submitter.token) --key $var/author.key --case demo-case $var/sample-evidence.txt

Check the node's whole store at any time:   $k verify --data $data
Web console (lawyers, auditors, operators): https://$listen/ in a browser; sign in with a token
  (the admin token shows the node's health; the browser warns about the node's own certificate:
  compare its SHA-256 with the certificate line above)

WARNING: the store is encrypted, but its key file $key_file sits on the
same disk, so this node is for trying out. In real use keep the key file off the machine (a USB
stick you take away), or seal the keys with a passphrase instead:
  $k passphrase change --data $data
INFO
if [[ $check == 1 ]]; then
  "$k" serve --data "$data" --listen "$listen" &
  pid=$!
  trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null' EXIT
  for _ in $(seq 100); do
    if curl -sfk --max-time 1 "https://$listen/healthz" >/dev/null; then
      echo "== the node answers https://$listen/healthz"
      exit 0
    fi
    sleep 0.1
  done
  echo "quickstart: the node did not answer /healthz" >&2
  exit 1
fi
echo "== starting the node (Ctrl-C to stop)"
exec "$k" serve --data "$data" --listen "$listen"
