#!/usr/bin/env bash
# Builds the Debian package with CPack: build/package/khronika_<version>_<arch>.deb, holding
# /usr/bin/khronika, the systemd unit, an example configuration and the docs. Install it with
#   apt install ./build/package/khronika_*.deb
set -euo pipefail
cd "$(dirname "$0")/.."
bash ops/install-deps.sh
bash ops/build.sh build/package -DCMAKE_BUILD_TYPE=Release -DKHRONIKA_BUILD_TESTS=OFF \
  -DKHRONIKA_BUILD_BENCH=OFF -DCMAKE_INSTALL_PREFIX=/usr
(cd build/package && cpack -G DEB >/dev/null)
ls -1 build/package/khronika_*.deb
