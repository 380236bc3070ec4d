#!/usr/bin/env bash
# The main job, from a fresh Debian 12 machine: install, build, create a node under ./var/node1
# (once), add a sample evidence file signed by a local author key, verify the store, and say
# what happened. Safe to run again: an existing node and key are reused.
set -euo pipefail
cd "$(dirname "$0")/.."

bash ops/install-deps.sh
echo "== building khronika (Release)"
bash ops/build.sh build/quickstart -DCMAKE_BUILD_TYPE=Release -DKHRONIKA_BUILD_TESTS=OFF -DKHRONIKA_BUILD_BENCH=OFF
k=build/quickstart/server/cli/khronika
data=var/node1
key=var/author.key

mkdir -p var
if [ ! -f "$data/node.key" ]; then
  echo "== creating a node in $data"
  "$k" init --data "$data" --name node1
else
  echo "== reusing the node in $data"
fi
if [ ! -f "$key" ]; then
  echo "== creating an author key in $key (keep it on the author's own machine in real use)"
  "$k" keygen --out "$key" >/dev/null
  "$k" author add --data "$data" --name "quickstart author" --pubkey "$key.pub"
fi

sample=var/sample-evidence.txt
printf 'Sample evidence recorded by the Khronika quickstart at %s\n' "$(date -u +%FT%TZ)" > "$sample"
echo "== adding $sample to case quickstart-demo"
"$k" add --data "$data" --key "$key" --case quickstart-demo --meta source=quickstart "$sample"
echo "== the case so far"
"$k" log --data "$data" --case quickstart-demo
echo "== latest signed checkpoint"
"$k" checkpoint --data "$data"
echo "== verifying the whole store"
"$k" verify --data "$data"
echo
echo "Node: $("$k" id --data "$data" | head -1)"
echo "Binary: $k   (try: $k --help)"
