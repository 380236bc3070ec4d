#!/usr/bin/env bash
# Installs Khronika as a system service: builds in Release (unless --binary is given), installs
# the binary, creates the `khronika` system user, installs the hardened systemd unit, creates the
# node in /var/lib/khronika/node on first install, and starts it when systemd is running.
# Idempotent: running it again upgrades the binary and the unit and keeps the node.
#
#   ops/install.sh [--binary PATH] [--root DIR]
#
# --root DIR installs into DIR instead of / (for packaging and tests): no user is created, no
# node is made and systemd is not touched.
set -euo pipefail
cd "$(dirname "$0")/.."

root=
binary=
while [[ $# -gt 0 ]]; do
  case $1 in
    --root) root=$2; shift 2 ;;
    --binary) binary=$2; shift 2 ;;
    *) echo "usage: $0 [--binary PATH] [--root DIR]" >&2; exit 2 ;;
  esac
done
if [[ -z "$root" && $(id -u) -ne 0 ]]; then
  echo "install: run as root (or with --root DIR)" >&2
  exit 1
fi

if [[ -z "$binary" ]]; then
  bash ops/install-deps.sh
  echo "== building khronika (Release)"
  bash ops/build.sh build/install -DCMAKE_BUILD_TYPE=Release -DKHRONIKA_BUILD_TESTS=OFF -DKHRONIKA_BUILD_BENCH=OFF
  binary=build/install/server/cli/khronika
fi

install -D -m 0755 "$binary" "$root/usr/bin/khronika"
install -D -m 0644 ops/systemd/khronika.service "$root/lib/systemd/system/khronika.service"
install -D -m 0644 ops/khronika.conf.example "$root/usr/share/doc/khronika/khronika.conf.example"
for doc in README.md CHANGELOG.md docs/*.md; do
  install -D -m 0644 "$doc" "$root/usr/share/doc/khronika/$(basename "$doc")"
done
echo "installed $root/usr/bin/khronika and $root/lib/systemd/system/khronika.service"
[[ -n "$root" ]] && exit 0

if ! getent passwd khronika >/dev/null; then
  useradd --system --home-dir /var/lib/khronika --no-create-home --shell /usr/sbin/nologin khronika
  echo "created system user khronika"
fi
install -d -m 0700 -o khronika -g khronika /var/lib/khronika
if [[ ! -f /var/lib/khronika/node/node.key && ! -f /var/lib/khronika/node/node.keyring ]]; then
  # Encrypted at rest, unlocked by a key file outside the data directory so that the service
  # starts unattended (init prints the warning); docs/operator.md: move it off the disk or use
  # a passphrase.
  runuser -u khronika -- /usr/bin/khronika init --data /var/lib/khronika/node --name "$(hostname)" \
    --key-file /var/lib/khronika/node.key-file
fi
if [[ -d /run/systemd/system ]]; then
  systemctl daemon-reload
  systemctl enable --now khronika.service
  systemctl restart khronika.service
  echo "khronika is running: systemctl status khronika; journalctl -u khronika"
else
  echo "systemd is not running here; start the node with:"
  echo "  runuser -u khronika -- /usr/bin/khronika serve --data /var/lib/khronika/node"
fi
echo "next: seal the node's keys for safekeeping (khronika key export), create tokens, peer (docs/operator.md)"
