#!/usr/bin/env bash
# Installs the Debian 12 packages that Khronika's build and tests need, and the npm package the
# console's browser tests drive Chromium with (tests/browser: playwright-core, pinned in its
# package-lock.json, into tests/browser/node_modules). Non-interactive and idempotent: when
# everything is present it changes nothing and touches no network.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  g++ cmake ninja-build pkg-config ccache git
  libssl-dev openssl
  liblmdb-dev lmdb-utils
  libcereal-dev nlohmann-json3-dev
  libboost-dev libgit2-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  time curl python3 python3-jsonschema python3-cryptography iproute2 jq
  dpkg-dev systemd xxd
  clang libclang-rt-14-dev
  chromium
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

# Node.js 20 or later runs the browser tests (playwright-core needs it). A machine that has one
# (from Debian or elsewhere) keeps it; otherwise Debian's nodejs and npm are installed.
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  missing+=(nodejs npm)
fi

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
else
  if [ "$(id -u)" -ne 0 ]; then
    echo "install-deps: missing ${missing[*]}; run as root (or with sudo) to install them" >&2
    exit 1
  fi
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

node_major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$node_major" -lt 20 ]; then
  echo "install-deps: Node.js $(node --version) is too old for the browser tests (playwright-core needs 20)" >&2
  exit 1
fi
# tests/browser/node_modules matches package-lock.json exactly (npm ci), installed only when it
# is missing or the lock file changed since.
lock=tests/browser/package-lock.json
stamp=tests/browser/node_modules/.khronika-lock.sha256
if [ ! -f "$stamp" ] || [ "$(sha256sum <"$lock")" != "$(cat "$stamp")" ]; then
  echo "install-deps: npm ci in tests/browser"
  (cd tests/browser && npm ci --no-audit --no-fund --ignore-scripts)
  sha256sum <"$lock" >"$stamp"
fi
