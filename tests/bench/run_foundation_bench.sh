#!/usr/bin/env bash
# The foundation benchmark, in one run: the library micro-benchmarks (foundation_bench), the
# `khronika add` command end to end, and the baselines they are compared with, all measured on
# this machine in this run. Prints absolute figures and ratios; asserts nothing.
#
#   tests/bench/run_foundation_bench.sh BUILD_DIR
#
# BUILD_DIR is a build configured with KHRONIKA_BUILD_BENCH=ON (a Release build gives the
# figures worth quoting), with the targets foundation_bench and khronika built. The work
# directory lives under ${TMPDIR:-/tmp} and is removed on exit. Needs about 3.5 GiB of free
# space there, python3, git and /usr/bin/time. Takes about 3 minutes on a 2-core machine.
# See docs/performance.md for what the figures mean.
set -euo pipefail

if [[ $# -ne 1 || ! -d "$1" ]]; then
  echo "usage: $0 BUILD_DIR" >&2
  exit 2
fi
BUILD_DIR=$(cd "$1" && pwd)
KHRONIKA=${KHRONIKA_BIN:-$BUILD_DIR/server/cli/khronika}
BENCH=${FOUNDATION_BENCH_BIN:-$BUILD_DIR/tests/bench/foundation_bench}
SMALL_FILES=10000   # 1 KiB files for git fast-import (one commit each)
CLI_ADDS=1000       # separate `khronika add` processes, one 1 KiB entry each

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
bench_need_bins "ninja -C $BUILD_DIR foundation_bench khronika" "$KHRONIKA" "$BENCH"
bench_need_tools python3 git /usr/bin/time sha256sum openssl
bench_begin foundation-bench

# ---- machine ----
bench_machine_figs

# ---- 1. library micro-benchmarks ----
step "foundation_bench (Ed25519, SHA-256, Log::Append batch 1 and 100) ..."
TMPDIR="$WORK" "$BENCH" --benchmark_format=json >"$WORK/bench.json"

# ---- inputs ----
step "generating $SMALL_FILES random 1 KiB files and one 1 GiB random file ..."
random_files "$WORK/small" "$SMALL_FILES" 1024 5
head -c 1G /dev/urandom >"$WORK/big.bin"

# ---- 2. khronika add, 1 KiB entries, one process each ----
step "khronika add: $CLI_ADDS separate invocations of one 1 KiB file ..."
"$KHRONIKA" init --data "$WORK/node-small" --key-file "$WORK/node-small.key-file" --name bench >/dev/null 2>&1
"$KHRONIKA" keygen --out "$WORK/author.pem" >/dev/null 2>&1
"$KHRONIKA" author add --data "$WORK/node-small" --name bench --pubkey "$WORK/author.pem.pub" >/dev/null
t0=$(now_ns)
for ((i = 0; i < CLI_ADDS; i++)); do
  "$KHRONIKA" add --data "$WORK/node-small" --key "$WORK/author.pem" --case bench-case \
    "$(printf '%s/small/f%05d.bin' "$WORK" "$i")" >/dev/null
done
t1=$(now_ns)
fig cli_adds "$CLI_ADDS"
fig cli_add_s "$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.3f", (b - a) / 1e9}')"
"$KHRONIKA" verify --data "$WORK/node-small" >"$WORK/verify-small.txt" 2>&1 || {
  echo "khronika verify failed after the small adds:" >&2; cat "$WORK/verify-small.txt" >&2; exit 1; }
fig small_store_kib "$(du -sk "$WORK/node-small/store" | cut -f1)"

# ---- 3. baseline peer: git fast-import, one commit per 1 KiB file ----
step "git fast-import: $SMALL_FILES commits of one 1 KiB file each ..."
git_import_stream "$WORK/small" "$SMALL_FILES" >"$WORK/import.stream"
git init -q --bare "$WORK/repo.git"
t0=$(now_ns)
git -C "$WORK/repo.git" fast-import --quiet <"$WORK/import.stream"
t1=$(now_ns)
fig git_commits "$(git -C "$WORK/repo.git" rev-list --count main)"
fig git_s "$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.3f", (b - a) / 1e9}')"

# ---- 4. one 1 GiB file: baselines, then khronika add ----
fig big_bytes "$(stat -c %s "$WORK/big.bin")"
step "sha256sum of the 1 GiB file ..."
t0=$(now_ns)
sha256sum "$WORK/big.bin" >/dev/null
t1=$(now_ns)
fig sha256sum_s "$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.3f", (b - a) / 1e9}')"

step "openssl dgst -sha256 of the 1 GiB file ..."
t0=$(now_ns)
openssl dgst -sha256 "$WORK/big.bin" >/dev/null
t1=$(now_ns)
fig openssl_s "$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.3f", (b - a) / 1e9}')"

step "cp + sync of the 1 GiB file ..."
t0=$(now_ns)
cp "$WORK/big.bin" "$WORK/copy.bin"
sync "$WORK/copy.bin"
t1=$(now_ns)
fig cp_sync_s "$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.3f", (b - a) / 1e9}')"
rm -f "$WORK/copy.bin"

step "khronika add of the 1 GiB file ..."
"$KHRONIKA" init --data "$WORK/node-big" --key-file "$WORK/node-big.key-file" --name bench-big >/dev/null 2>&1
"$KHRONIKA" author add --data "$WORK/node-big" --name bench --pubkey "$WORK/author.pem.pub" >/dev/null
# /usr/bin/time's peak RSS counts both the anonymous (heap) and the file-backed (LMDB map, page
# cache) resident memory; `timed` samples them apart.
timed bigadd "$KHRONIKA" add --data "$WORK/node-big" --key "$WORK/author.pem" --case bench-case \
  "$WORK/big.bin" || die "khronika add of the 1 GiB file failed: $(cat "$WORK/bigadd.err")"
read -r big_s big_rss_kib big_user big_sys <"$WORK/bigadd.time"
fig big_add_s "$big_s"
fig big_user_s "$big_user"
fig big_sys_s "$big_sys"
fig big_rss_kib "$big_rss_kib"
read -r _ anon_kib file_kib <"$WORK/bigadd.rss"
fig big_rss_anon_kib "$anon_kib"
fig big_rss_file_kib "$file_kib"
fig big_store_kib "$(du -sk "$WORK/node-big/store" | cut -f1)"
t0=$(now_ns)
"$KHRONIKA" verify --data "$WORK/node-big" >"$WORK/verify-big.txt" 2>&1 || {
  echo "khronika verify failed after the 1 GiB add:" >&2; cat "$WORK/verify-big.txt" >&2; exit 1; }
t1=$(now_ns)
fig big_verify_s "$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.3f", (b - a) / 1e9}')"

# ---- report ----
bench_report "$FIG" "$WORK/bench.json" <<'EOF'
import json

bench = json.load(open(sys.argv[1]))

by_name = {b["name"].split("/")[0]: b for b in bench["benchmarks"]
           if b.get("run_type", "iteration") == "iteration"}
def items(n): return by_name[n]["items_per_second"]

sign, verify = items("BM_Ed25519Sign"), items("BM_Ed25519Verify")
ceiling = 1.0 / (1.0 / sign + 1.0 / verify)        # one author signature made and checked
sha_lib = by_name["BM_Sha256"]["bytes_per_second"] / MB
lib1, lib100 = items("BM_AppendEntries_1KiB"), items("BM_AppendBatch_1KiB")
def cpu_share(n): return by_name[n]["cpu_time"] / by_name[n]["real_time"]
cpu1, cpu100 = cpu_share("BM_AppendEntries_1KiB"), cpu_share("BM_AppendBatch_1KiB")
cli = f("cli_adds") / f("cli_add_s")
git = f("git_commits") / f("git_s")
big = f("big_bytes")
add_mbs = big / MB / f("big_add_s")
sha_mbs = big / MB / f("sha256sum_s")
ossl_mbs = big / MB / f("openssl_s")
cp_mbs = big / MB / f("cp_sync_s")
verify_mbs = big / MB / f("big_verify_s")
rss_mib = f("big_rss_kib") / 1024
anon_mib = f("big_rss_anon_kib") / 1024
file_mib = f("big_rss_file_kib") / 1024

print()
print("Khronika foundation benchmark")
print(machine_line(bench['context']['date']))
print("MB = 10^6 bytes. Library figures: foundation_bench; CLI figures: the khronika binary.")
print()
print("Absolute figures")
rows = [
    ("Ed25519 sign (60-byte entry message)", f"{sign:,.0f} /s"),
    ("Ed25519 verify", f"{verify:,.0f} /s"),
    ("Ed25519 sign+verify (crypto ceiling per entry)", f"{ceiling:,.0f} entries/s"),
    ("SHA-256, library, 1 MiB buffers", f"{sha_lib:,.0f} MB/s"),
    ("Log::Append, 1 KiB entry, 1 per transaction",
     f"{lib1:,.1f} entries/s (CPU busy {cpu1:.0%} of wall time)"),
    ("Log::Append, 1 KiB entries, 100 per transaction",
     f"{lib100:,.1f} entries/s (CPU busy {cpu100:.0%} of wall time)"),
    (f"khronika add, {fig['cli_adds']} processes, 1 KiB each",
     f"{cli:,.1f} entries/s ({f('cli_add_s'):.1f} s)"),
    (f"git fast-import, {fig['git_commits']} commits of 1 KiB",
     f"{git:,.0f} commits/s ({f('git_s'):.2f} s)"),
    ("khronika add, one 1 GiB file", f"{add_mbs:,.1f} MB/s ({f('big_add_s'):.2f} s, "
     f"user {f('big_user_s'):.2f} s, sys {f('big_sys_s'):.2f} s)"),
    ("  peak RSS (/usr/bin/time %M)", f"{rss_mib:,.1f} MiB"),
    ("  of which anonymous (heap) / file-backed, sampled", f"{anon_mib:,.1f} / {file_mib:,.1f} MiB"),
    ("  store size on disk after the add", f"{f('big_store_kib') / 1024:,.0f} MiB"),
    ("khronika verify of that store", f"{verify_mbs:,.1f} MB/s ({f('big_verify_s'):.2f} s)"),
    ("sha256sum of the 1 GiB file", f"{sha_mbs:,.1f} MB/s ({f('sha256sum_s'):.2f} s)"),
    ("openssl dgst -sha256 of the 1 GiB file", f"{ossl_mbs:,.1f} MB/s ({f('openssl_s'):.2f} s)"),
    ("cp + sync of the 1 GiB file", f"{cp_mbs:,.1f} MB/s ({f('cp_sync_s'):.2f} s)"),
]
print_rows(rows)
print()
print("Ratios (Khronika / baseline)")
ratios = [
    ("append, 1 per txn / crypto ceiling", lib1 / ceiling),
    ("append, 100 per txn / crypto ceiling", lib100 / ceiling),
    ("khronika add (CLI) / crypto ceiling", cli / ceiling),
    ("append, 1 per txn / git fast-import commits", lib1 / git),
    ("append, 100 per txn / git fast-import commits", lib100 / git),
    ("khronika add (CLI) / git fast-import commits", cli / git),
    ("group commit gain: 100 per txn / 1 per txn", lib100 / lib1),
    ("khronika add (CLI) / library append, 1 per txn", cli / lib1),
    ("1 GiB add MB/s / sha256sum MB/s", add_mbs / sha_mbs),
    ("1 GiB add MB/s / openssl dgst -sha256 MB/s", add_mbs / ossl_mbs),
    ("1 GiB add MB/s / library SHA-256 MB/s", add_mbs / sha_lib),
    ("1 GiB add MB/s / cp+sync MB/s", add_mbs / cp_mbs),
]
print_ratios(ratios, [("peak RSS of the 1 GiB add",
                      f"{rss_mib:.1f} MiB ({anon_mib:.1f} MiB anonymous)")])
EOF
