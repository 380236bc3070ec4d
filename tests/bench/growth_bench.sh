#!/usr/bin/env bash
# The growth benchmark: one encrypted node (the default of `khronika init`) grown from 10^3 to
# 10^6 entries of small files, and at each size: the append rate of the last decade (growth_fill:
# the Log API in batches of 1,000, checks on both cores), the full `khronika verify` rate, the
# inclusion-proof latency over HTTPS keep-alive (a real `khronika serve` on that store,
# proof_load asking for proofs of random indices after a warm-up) and the store's size on disk.
# Writes the figures as a TSV and draws them with gnuplot as one PNG. Asserts no speed; dies if
# a check fails (verify not clean, a record missing, a proof that does not verify).
#
#   tests/bench/growth_bench.sh BUILD_DIR [MAX=1000000]
#
# BUILD_DIR is a build configured with KHRONIKA_BUILD_BENCH=ON (Release for figures worth
# quoting) with the targets khronika, growth_fill and proof_load built. Sizes are the powers of
# ten from 10^3 up to MAX, and MAX itself. GROWTH_PNG (default docs/performance-growth.png in this
# source tree) names the plot; the TSV goes beside it (.tsv). GROWTH_SIZE sets the file size
# (1024 bytes), GROWTH_BATCH the entries per append (1000), PROOF_SECONDS the measured time per
# size (5, after 1 s of warm-up), PROOF_CLIENTS the connections (1). gnuplot comes from
# ops/install-bench-deps.sh, called here when it is missing. At 10^6 the work directory needs
# about 11 GiB; the run took 27 minutes on 2 cores shared with other builds (load 13), 18 of them
# filling (docs/performance.md, "How to measure").
set -euo pipefail
shopt -s inherit_errexit

if [[ $# -lt 1 || $# -gt 2 || ! -d "$1" ]]; then
  echo "usage: $0 BUILD_DIR [MAX=1000000]" >&2
  exit 2
fi
BUILD_DIR=$(cd "$1" && pwd)
MAX=${2:-1000000}
KHRONIKA=${KHRONIKA_BIN:-$BUILD_DIR/server/cli/khronika}
FILL=${GROWTH_FILL_BIN:-$BUILD_DIR/tests/bench/growth_fill}
PROOF=${PROOF_LOAD_BIN:-$BUILD_DIR/tests/bench/proof_load}
SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
PNG=${GROWTH_PNG:-$SRC/docs/performance-growth.png}
SIZE=${GROWTH_SIZE:-1024}
BATCH=${GROWTH_BATCH:-1000}
PROOF_SECONDS=${PROOF_SECONDS:-5}
PROOF_CLIENTS=${PROOF_CLIENTS:-1}
[[ "$MAX" =~ ^[0-9]+$ ]] && ((MAX >= 1)) || { echo "$0: MAX must be a positive number" >&2; exit 2; }

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
bench_need_bins "ninja -C $BUILD_DIR khronika growth_fill proof_load" "$KHRONIKA" "$FILL" "$PROOF"
bench_need_tools python3 /usr/bin/time
if ! command -v gnuplot >/dev/null; then
  bash "$SRC/ops/install-bench-deps.sh" >&2 || die "gnuplot is required (ops/install-bench-deps.sh)"
fi
bench_begin growth-bench
SERVER_PID='' SAMPLER_PID=''
T_START=$(now_ns)

sizes=()
for ((n = 1000; n < MAX; n *= 10)); do sizes+=("$n"); done
sizes+=("$MAX")

bench_machine_figs date openssl load
fig sizes "${sizes[*]}"
"$KHRONIKA" keygen --out "$WORK/author.pem" >/dev/null 2>&1
NODE=$WORK/node
"$KHRONIKA" init --data "$NODE" --key-file "$NODE.key-file" --name growth >/dev/null 2>&1
"$KHRONIKA" author add --data "$NODE" --name bench --pubkey "$WORK/author.pem.pub" >/dev/null 2>&1
reader=$("$KHRONIKA" token create --data "$NODE" --role reader 2>/dev/null)
[[ -n "$reader" ]] || die "khronika token create printed no token"
[[ -f "$NODE/node.keyring" ]] || die "the node is not encrypted (no node.keyring)"

for n in "${sizes[@]}"; do
  step "growing to $n entries of $SIZE bytes (growth_fill, batches of $BATCH) ..."
  fig "n${n}_flush" "$(flush_rate)"
  line=$("$FILL" --data "$NODE" --author "$WORK/author.pem" --case growth --to "$n" \
    --batch "$BATCH" --size "$SIZE") || die "growth_fill failed: $line"
  figs_from "n${n}_fill" "$line"
  fig "n${n}_store_kib" "$(du -sk "$NODE/store" | cut -f1)"

  step "khronika verify of $n entries ..."
  timed "verify$n" "$KHRONIKA" verify --data "$NODE" ||
    die "khronika verify at $n entries failed: $(cat "$WORK/verify$n.out" "$WORK/verify$n.err")"
  timed_figs "verify$n"
  records=$(sed -n 's/^clean: checked \([0-9]*\) records.*/\1/p' "$WORK/verify$n.out")
  [[ "$records" == "$n" ]] || die "verify at $n entries checked ${records:-no} records"
  fig "n${n}_verified" "$records"

  step "inclusion proofs over HTTPS keep-alive at $n entries ($PROOF_CLIENTS connection(s), ${PROOF_SECONDS} s) ..."
  start_server "$NODE" "$WORK/serve$n"
  read -r cpu0 wait0 < <(server_schedstat)
  line=$("$PROOF" --node "$URL" --pin "$PIN" --token "$reader" --size "$n" \
    --clients "$PROOF_CLIENTS" --warmup 1 --seconds "$PROOF_SECONDS") ||
    die "proof_load at $n entries reported errors: $line"
  read -r cpu1 wait1 < <(server_schedstat)
  figs_from "n${n}_proof" "$line"
  # The server's CPU time and run-queue wait per proof, warm-up included (us).
  fig "n${n}_server_sched" "$(awk -v c="$((cpu1 - cpu0))" -v w="$((wait1 - wait0))" \
    -v n="$(($(fig_get "n${n}_proof_requests") + $(fig_get "n${n}_proof_warm_requests")))" \
    'BEGIN {printf "%.1f %.1f", c / n / 1000, w / n / 1000}')"
  fig "n${n}_server_hwm_kib" "$(server_status_kib VmHWM)"
  stop_server
  server_stderr_report "$WORK/serve$n" "$n"
done
fig total_s "$(secs_since "$T_START")"

# ---- the TSV, the plot, the report ----
TSV=${PNG%.png}.tsv
mkdir -p "$(dirname "$PNG")"
bench_report "$FIG" "$TSV" "$SIZE" <<'EOF'
tsv, size = sys.argv[1], int(sys.argv[2])
sizes = [int(x) for x in fig["sizes"].split()]
with open(tsv, "w") as out:
    out.write("# entries\tappend_per_s\tverify_per_s\tproof_p50_us\tproof_p99_us\tstore_mib"
              "\tbytes_per_entry\tverify_rss_mib\n")
    for n in sizes:
        p = f"n{n}"
        out.write(f"{n}\t{f(p + '_fill_rate'):.1f}\t{n / f(f'verify{n}_s'):.1f}"
                  f"\t{f(p + '_proof_p50_us'):.1f}\t{f(p + '_proof_p99_us'):.1f}"
                  f"\t{f(p + '_store_kib') / MiB:.1f}\t{f(p + '_store_kib') * 1024 / n:.0f}"
                  f"\t{f(f'verify{n}_rss_kib') / MiB:.1f}\n")
print()
print("Khronika growth benchmark")
print(machine_line(fig["openssl_version"], fig["date"], f"load {fig['loadavg']}"))
print(f"One encrypted node, files of {size} bytes, appended through the Log API in batches "
      f"(growth_fill); verify: `khronika verify` of the whole store; proofs: `khronika serve` and "
      f"proof_load, {fig[f'n{sizes[0]}_proof_clients']} keep-alive connection(s), random "
      f"indices, after a warm-up.")
print()
rows = []
for n in sizes:
    p = f"n{n}"
    rows.append((f"{n:,} entries",
                 f"append {f(p + '_fill_rate'):,.0f}/s (last {fig[p + '_fill_entries']} in "
                 f"{f(p + '_fill_seconds'):.1f} s); verify {n / f(f'verify{n}_s'):,.0f}/s "
                 f"({f(f'verify{n}_s'):.1f} s, peak RSS {f(f'verify{n}_rss_kib') / MiB:.0f} MiB); "
                 f"proof p50 {f(p + '_proof_p50_us'):,.0f} us, p99 {f(p + '_proof_p99_us'):,.0f} us "
                 f"({fig[p + '_proof_requests']} requests; server CPU "
                 f"{fig[p + '_server_sched'].split()[0]} us and run-queue wait "
                 f"{fig[p + '_server_sched'].split()[1]} us per proof); store {f(p + '_store_kib') / MiB:,.0f} MiB "
                 f"({f(p + '_store_kib') * 1024 / n:,.0f} B/entry); disk {f(p + '_flush'):,.0f} flushes/s"))
print_rows(rows)
print()
print("Checks")
for n in sizes:
    p = f"n{n}"
    print(f"  {n}: khronika verify clean, {fig[p + '_verified']} records; "
          f"{fig[p + '_proof_requests']} proofs verified, {fig[p + '_proof_errors']} errors")
print(f"whole run: {f('total_s'):.0f} s")
EOF

gnuplot <<EOF || die "gnuplot failed"
set terminal pngcairo size 1200,900 font "sans,10"
set output "$PNG"
set datafile separator "\t"
set logscale x
set autoscale xfix
set offsets graph 0.05, graph 0.05, 0, 0
set format x "10^{%L}"
set grid
set key top right
set multiplot layout 2,2 title "Khronika growth: one encrypted node, ${SIZE}-byte files ($(date -u +%Y-%m-%d), $(nproc) cores)"
set title "append (Log API, batches of $BATCH)"
set ylabel "entries/s"
set yrange [0:*]
plot "$TSV" using 1:2 with linespoints lw 2 title "append"
set title "khronika verify (whole store)"
plot "$TSV" using 1:3 with linespoints lw 2 title "verify"
set title "inclusion proof over HTTPS keep-alive"
set ylabel "microseconds"
plot "$TSV" using 1:4 with linespoints lw 2 title "p50", \
     "$TSV" using 1:5 with linespoints lw 2 title "p99", \
     1000 with lines dt 2 title "target p99"
set title "store size on disk"
set key top left
set logscale y
set yrange [*:*]
set ylabel "MiB"
set y2label "bytes per entry"
set y2tics
set y2range [0:*]
plot "$TSV" using 1:6 with linespoints lw 2 title "MiB", \
     "$TSV" using 1:7 axes x1y2 with linespoints lw 2 title "bytes/entry"
unset multiplot
EOF
echo "plot: $PNG; figures: $TSV"
