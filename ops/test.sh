#!/usr/bin/env bash
# Installs what is needed, builds, and runs every test: the whole suite on an optimised build,
# then the unit tests again under AddressSanitizer and UndefinedBehaviorSanitizer, then each
# libFuzzer target for 60 seconds (ops/fuzz.sh, clang).
set -euo pipefail
cd "$(dirname "$0")/.."

bash ops/install-deps.sh

echo "== build (RelWithDebInfo)"
bash ops/build.sh build/release -DCMAKE_BUILD_TYPE=RelWithDebInfo
echo "== all tests"
ctest --test-dir build/release --output-on-failure -j "$(nproc)" --timeout 900

echo "== build (ASan + UBSan)"
bash ops/build.sh build/asan -DCMAKE_BUILD_TYPE=Debug -DKHRONIKA_SANITIZE=ON -DKHRONIKA_BUILD_BENCH=OFF
echo "== unit tests under ASan + UBSan"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --test-dir build/asan -L unit --output-on-failure -j "$(nproc)" --timeout 900

echo "== fuzzing (60 s per target)"
bash ops/fuzz.sh 60
