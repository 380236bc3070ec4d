#!/usr/bin/env bash
# The Debian package and the systemd unit, checked without installing anything on this machine:
# CPack builds the .deb from the test build, its contents and dependencies are checked, the
# packaged binary runs, `systemd-analyze verify` accepts the unit, and `systemd-analyze security`
# rates its hardening "OK" or better (exposure below 2.0). ops/install.sh --root installs the same
# files into a temporary root.
#
# Usage: package_test.sh BUILD_DIR
set -euo pipefail
BUILD=$(cd "${1:?usage: $0 BUILD_DIR}" && pwd)
HERE=$(cd "$(dirname "$0")/../.." && pwd)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/khronika-package.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

(cd "$WORK" && cpack --config "$BUILD/CPackConfig.cmake" -G DEB -B "$WORK/out" >/dev/null) || fail "cpack"
deb=$(ls "$WORK"/out/khronika_*.deb)
echo "built $(basename "$deb") ($(du -h "$deb" | cut -f1))"

contents=$(dpkg-deb -c "$deb")
for f in ./usr/bin/khronika ./usr/lib/systemd/system/khronika.service \
         ./usr/share/doc/khronika/khronika.conf.example ./usr/share/doc/khronika/operator.md \
         ./usr/share/doc/khronika/README.md ./usr/share/doc/khronika/tools/log_root.py \
         ./usr/share/doc/khronika/tools/check_consistency.py \
         ./usr/share/doc/khronika/tools/check_bundle.sh ./usr/share/doc/khronika/lawyer.md; do
  grep -q " $f\$" <<<"$contents" || fail "$f missing from the package"
done
info=$(dpkg-deb -I "$deb")
for dep in libssl3 liblmdb0 libgit2-1.5 adduser; do
  grep -q "^ Depends:.*$dep" <<<"$info" || fail "the package does not depend on $dep"
done
grep -q "postinst" <<<"$info" || fail "no postinst"

dpkg-deb -x "$deb" "$WORK/root"
"$WORK/root/usr/bin/khronika" --help | grep -q "verify-bundle" || fail "the packaged binary does not run"
for tool in log_root.py check_consistency.py check_bundle.sh; do  # docs/auditor.md, docs/lawyer.md
  "$WORK/root/usr/share/doc/khronika/tools/$tool" --help | grep -q '^usage: ' || fail "$tool does not run"
done
cmp "$WORK/root/usr/share/doc/khronika/tools/check_bundle.sh" "$HERE/docs/tools/check_bundle.sh" ||
  fail "the packaged check_bundle.sh is not docs/tools/check_bundle.sh"

unit=$WORK/khronika.service
sed "s|/usr/bin/khronika|$WORK/root/usr/bin/khronika|" "$WORK/root/usr/lib/systemd/system/khronika.service" >"$unit"
if command -v systemd-analyze >/dev/null; then
  out=$(systemd-analyze verify "$unit" 2>&1) || fail "systemd-analyze verify: $out"
  [[ -z "$out" ]] || fail "systemd-analyze verify warns: $out"
  score=$(systemd-analyze security --offline=true "$unit" 2>&1 | sed -n 's/.*Overall exposure level for .*: \([0-9.]*\).*/\1/p')
  [[ -n "$score" ]] || fail "no exposure score"
  awk -v s="$score" 'BEGIN { exit !(s < 2.0) }' || fail "exposure level $score (want < 2.0)"
  echo "unit verified; exposure level $score"
  for key in "ProtectSystem=strict" "ReadWritePaths=/var/lib/khronika" "NoNewPrivileges=yes" \
             "PrivateTmp=yes" "Restart=on-failure" "User=khronika"; do
    grep -qx "$key" "$unit" || fail "$key missing from the unit"
  done
else
  echo "systemd-analyze not found: unit checks skipped"
fi

bash "$HERE/ops/install.sh" --root "$WORK/installed" --binary "$WORK/root/usr/bin/khronika" >/dev/null
cmp "$WORK/installed/usr/bin/khronika" "$WORK/root/usr/bin/khronika" || fail "install.sh --root: binary differs"
[[ -f "$WORK/installed/lib/systemd/system/khronika.service" ]] || fail "install.sh --root: no unit"
echo "package test passed"
