#!/usr/bin/env bash
# Installs the Debian 12 packages that Khronika's build and tests need. Non-interactive and
# idempotent: when everything is present it changes nothing and touches no network.
set -euo pipefail

packages=(
  g++ cmake ninja-build pkg-config ccache git
  libssl-dev openssl
  liblmdb-dev lmdb-utils
  libcereal-dev nlohmann-json3-dev
  libboost-dev libgit2-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  time curl python3 python3-jsonschema iproute2
  dpkg-dev systemd xxd
  clang libclang-rt-14-dev
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: missing ${missing[*]}; run as root (or with sudo) to install them" >&2
  exit 1
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
