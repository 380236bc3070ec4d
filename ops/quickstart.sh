#!/usr/bin/env bash
# The main job, from a fresh Debian 12 machine as root: install what is needed, build, create a
# node under ./var/node1 (once), print its id, an admin token and how to submit, then run the
# node in the foreground on https://127.0.0.1:8443. Safe to run again: the node, its keys and
# tokens are reused. Stop it with Ctrl-C; every acknowledged entry is committed first.
set -euo pipefail
cd "$(dirname "$0")/.."

bash ops/install-deps.sh
echo "== building khronika (Release)"
bash ops/build.sh build/quickstart -DCMAKE_BUILD_TYPE=Release -DKHRONIKA_BUILD_TESTS=OFF -DKHRONIKA_BUILD_BENCH=OFF
k=$PWD/build/quickstart/server/cli/khronika
data=var/node1
listen=${KHRONIKA_LISTEN:-127.0.0.1:8443}

mkdir -p var
chmod 700 var
if [ ! -f "$data/node.key" ]; then
  echo "== creating a node in $data"
  "$k" init --data "$data" --name node1 >/dev/null
fi
if [ ! -f var/author.key ]; then
  # A demo author; in real use each author makes a key on their own machine (khronika keygen)
  # and the operator registers only the public half.
  "$k" keygen --out var/author.key >/dev/null 2>&1
  "$k" author add --data "$data" --name "quickstart author" --pubkey var/author.key.pub >/dev/null
fi
for role in admin submitter; do
  if [ ! -f "var/$role.token" ]; then
    (umask 077 && "$k" token create --data "$data" --role "$role" 2>/dev/null > "var/$role.token")
  fi
done
if [ ! -f var/sample-evidence.txt ]; then
  printf 'Sample evidence made by the Khronika quickstart at %s\n' "$(date -u +%FT%TZ)" > var/sample-evidence.txt
fi

node_id=$("$k" id --data "$data" --json | sed -n 's/.*"node_id":"\([0-9a-f]*\)".*/\1/p')
cert=$("$k" id --data "$data" --json | sed -n 's/.*"cert_sha256":"\([0-9a-f]*\)".*/\1/p')
cat <<INFO

Node id:        $node_id
Certificate:    sha256:$cert
Admin token:    $(cat var/admin.token)   (also in var/admin.token, mode 0600)
Submit token:   $(cat var/submitter.token)   (var/submitter.token)

Submit evidence from another terminal:
  $k submit --node https://$listen --pin sha256:$cert \\
    --token \$(cat var/submitter.token) --key var/author.key --case demo-case var/sample-evidence.txt

Check the node's whole store at any time:   $k verify --data $data
INFO
echo "== starting the node (Ctrl-C to stop)"
exec "$k" serve --data "$data" --listen "$listen"
