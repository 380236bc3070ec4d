#!/usr/bin/env bash
# The server benchmark, in one run: submissions per second through the HTTPS API at 1, 8 and 32
# concurrent clients (1 KiB files), `khronika submit` processes at 8 concurrent for reference,
# upload and download of a 1 GiB file with the server's memory, and the baselines they are
# compared with (Ed25519 verify rate, loopback TLS 1.3 throughput), all measured on this machine
# in this run. Prints absolute figures and ratios; asserts nothing.
#
#   tests/bench/server_bench.sh BUILD_DIR
#
# BUILD_DIR is a build configured with KHRONIKA_BUILD_BENCH=ON (a Release build gives the
# figures worth quoting), with the targets khronika, server_load and foundation_bench built.
# The work directory lives under ${TMPDIR:-/tmp} and is removed on exit; it needs about 3.2 GiB
# free. Needs python3, openssl, curl and /usr/bin/time. Takes about 2 minutes on 2 cores.
# LOAD_SECONDS (default 10) sets the measured time per concurrency level.
# See docs/performance.md for what the figures mean.
set -euo pipefail
shopt -s inherit_errexit

if [[ $# -ne 1 || ! -d "$1" ]]; then
  echo "usage: $0 BUILD_DIR" >&2
  exit 2
fi
BUILD_DIR=$(cd "$1" && pwd)
KHRONIKA=${KHRONIKA_BIN:-$BUILD_DIR/server/cli/khronika}
LOAD=${SERVER_LOAD_BIN:-$BUILD_DIR/tests/bench/server_load}
BENCH=${FOUNDATION_BENCH_BIN:-$BUILD_DIR/tests/bench/foundation_bench}
LEVELS=(1 8 32)                   # concurrent connections of server_load
LOAD_SECONDS=${LOAD_SECONDS:-10}  # measured time per level
WARM_SECONDS=1                    # unmeasured run at the same level first
DIAG_SECONDS=5                    # the same-content diagnostic at 32 clients
CLI_CLIENTS=8                     # concurrent `khronika submit` loops
CLI_SECONDS=10
CLI_FILES=1000                    # distinct 1 KiB files per loop (reused if it runs out)

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
bench_need_bins "ninja -C $BUILD_DIR khronika server_load foundation_bench" "$KHRONIKA" "$LOAD" "$BENCH"
bench_need_tools python3 openssl curl /usr/bin/time
bench_begin server-bench
SERVER_PID='' SAMPLER_PID=''

# A fresh node with one registered author; prints a submitter token.
new_node() {
  local dir=$1
  "$KHRONIKA" init --data "$dir" --key-file "$dir.key-file" --name bench >/dev/null 2>&1
  "$KHRONIKA" author add --data "$dir" --name bench --pubkey "$WORK/author.pem.pub" >/dev/null
  "$KHRONIKA" token create --data "$dir" --role submitter 2>/dev/null
}

# ---- machine ----
bench_machine_figs date openssl
"$KHRONIKA" keygen --out "$WORK/author.pem" >/dev/null 2>&1

# ---- 1. baseline: Ed25519 verify rate ----
step "Ed25519 sign and verify (foundation_bench, openssl speed) ..."
"$BENCH" --benchmark_filter='^BM_Ed25519' --benchmark_format=json >"$WORK/ed25519.json" 2>/dev/null
fig openssl_verify "$(ed25519_speed 3)"

# ---- inputs ----
step "generating one 1 GiB random file and ${CLI_CLIENTS}x$CLI_FILES random 1 KiB files ..."
mkdir -p "$WORK/www"
head -c 1G /dev/urandom >"$WORK/www/big.bin"
fig big_bytes "$(stat -c %s "$WORK/www/big.bin")"
for ((w = 0; w < CLI_CLIENTS; w++)); do
  random_files "$WORK/cli/w$w" "$CLI_FILES" 1024 4
done

# ---- 2. baseline: loopback TLS 1.3 throughput ----
step "loopback TLS 1.3: openssl s_server -WWW, curl of the 1 GiB file (best of 2) ..."
tls_baseline "$WORK/www" big.bin 2
fig tls_s "$TLS_S"

# (3. how fast this disk flushes: flush_rate in lib.sh, just before and after each run.)

# ---- 4. submissions through the API: server_load at 1, 8 and 32 connections ----
# Each level gets a fresh node and server, so each starts from an empty store; the node's
# checkpoint count afterwards is its number of append transactions (one checkpoint each).
run_level() {
  local name=$1 clients=$2 seconds=$3 token c0 c1 line counts
  local extra=("${@:4}")   # more server_load options
  fig "${name}_flush" "$(flush_rate)"
  token=$(new_node "$WORK/node-$name")
  start_server "$WORK/node-$name" "$WORK/serve-$name"
  # The same-content diagnostic gets refusals in format 2: its clients share one token, and an
  # upload chunk is deleted when the first entry naming it is sealed, so a client whose POST
  # comes after that is told the chunk "has not been uploaded". Counted, not fatal, there.
  if ! line=$("$LOAD" --node "$URL" --pin "$PIN" --token "$token" --key "$WORK/author.pem" \
    --case bench --clients "$clients" --seconds "$WARM_SECONDS" "${extra[@]}"); then
    ((${#extra[@]} > 0)) || die "server_load ($name, warm-up) reported errors: $line"
    echo "server_load ($name, warm-up) reported errors: $line" >&2
  fi
  figs_from "${name}_warm" "$line"
  c0=$(server_cpu_ticks)
  line=$("$LOAD" --node "$URL" --pin "$PIN" --token "$token" --key "$WORK/author.pem" \
    --case bench --clients "$clients" --seconds "$seconds" "${extra[@]}") ||
    echo "server_load ($name) reported errors: $line" >&2
  c1=$(server_cpu_ticks)
  fig "${name}_flush_after" "$(flush_rate)"
  figs_from "$name" "$line"
  fig "${name}_server_cpu_s" "$(awk -v a="$c0" -v b="$c1" -v t="$(getconf CLK_TCK)" 'BEGIN {printf "%.2f", (b - a) / t}')"
  fig "${name}_server_hwm_kib" "$(server_status_kib VmHWM)"
  fig "${name}_server_anon_kib" "$(server_status_kib RssAnon)"
  fig "${name}_server_file_kib" "$(server_status_kib RssFile)"
  stop_server
  fig "${name}_stop_s" "$STOP_S"
  counts=$(verify_counts "$WORK/node-$name")
  fig "${name}_records" "${counts% *}"
  fig "${name}_txns" "$((${counts#* } - 1))"   # `init` writes the first checkpoint
  server_stderr_report "$WORK/serve-$name" "$name"
  rm -rf "$WORK/node-$name"
}
for c in "${LEVELS[@]}"; do
  step "server_load: $c concurrent connections, $LOAD_SECONDS s ..."
  run_level "c$c" "$c" "$LOAD_SECONDS"
done
step "server_load: 32 connections, every file the same bytes (chunk already stored), $DIAG_SECONDS s ..."
run_level same32 32 "$DIAG_SECONDS" --same-content 1

# ---- 5. khronika submit processes, 8 at a time ----
step "khronika submit: $CLI_CLIENTS concurrent loops of one process per 1 KiB file, $CLI_SECONDS s ..."
fig cli_flush "$(flush_rate)"
token=$(new_node "$WORK/node-cli")
start_server "$WORK/node-cli" "$WORK/serve-cli"
cli_loop() {
  local w=$1 end=$2 ok=0 bad=0 i=0 file
  while (($(date +%s%N) < end)); do
    file=$(printf '%s/cli/w%d/f%04d.bin' "$WORK" "$w" $((i % CLI_FILES)))
    if "$KHRONIKA" submit --node "$URL" --token "$token" --pin "$PIN" --key "$WORK/author.pem" \
      --case bench "$file" >/dev/null 2>"$WORK/cli-stderr.$w"; then
      ok=$((ok + 1))
    else
      bad=$((bad + 1))
      cat "$WORK/cli-stderr.$w" >>"$WORK/cli-errors.$w"
    fi
    i=$((i + 1))
  done
  echo "$ok $bad" >"$WORK/cli-count.$w"
}
t0=$(now_ns)
end=$((t0 + CLI_SECONDS * 1000000000))
c0=$(server_cpu_ticks)
pids=()
for ((w = 0; w < CLI_CLIENTS; w++)); do
  cli_loop "$w" "$end" &
  pids+=($!)
done
for p in "${pids[@]}"; do wait "$p"; done
fig cli_s "$(secs_since "$t0")"
c1=$(server_cpu_ticks)
fig cli_server_cpu_s "$(awk -v a="$c0" -v b="$c1" -v t="$(getconf CLK_TCK)" 'BEGIN {printf "%.2f", (b - a) / t}')"
fig cli_ok "$(cat "$WORK"/cli-count.* | awk '{s += $1} END {print s}')"
fig cli_errors "$(cat "$WORK"/cli-count.* | awk '{s += $2} END {print s}')"
if cat "$WORK"/cli-errors.* 2>/dev/null | grep -q .; then
  echo "khronika submit errors (first 5):" >&2
  cat "$WORK"/cli-errors.* | head -5 | sed 's/^/  /' >&2
fi
stop_server
fig cli_stop_s "$STOP_S"
counts=$(verify_counts "$WORK/node-cli")
fig cli_records "${counts% *}"
rm -rf "$WORK/node-cli" "$WORK/cli"

# ---- 6. one 1 GiB file: khronika submit, then khronika get ----
step "1 GiB file: khronika submit, then khronika get, sampling the server's memory ..."
fig big_flush "$(flush_rate)"
token=$(new_node "$WORK/node-big")
reader=$("$KHRONIKA" token create --data "$WORK/node-big" --role reader 2>/dev/null)
start_server "$WORK/node-big" "$WORK/serve-big"
sleep 0.2
fig big_idle_rss_kib "$(server_status_kib VmRSS)"
fig big_idle_hwm_kib "$(server_status_kib VmHWM)"

c0=$(server_cpu_ticks)
start_sampler "$WORK/rss-up" "$SERVER_PID"
/usr/bin/time -f '%e %M %U %S' -o "$WORK/up.time" \
  "$KHRONIKA" submit --node "$URL" --token "$token" --pin "$PIN" --key "$WORK/author.pem" \
  --case bench --json "$WORK/www/big.bin" >"$WORK/up.json" 2>"$WORK/up.err" ||
  die "khronika submit of the 1 GiB file failed: $(cat "$WORK/up.err")"
stop_sampler
c1=$(server_cpu_ticks)
read -r s rss user sys <"$WORK/up.time"
fig up_s "$s"; fig up_client_rss_kib "$rss"; fig up_client_user_s "$user"; fig up_client_sys_s "$sys"
fig up_server_cpu_s "$(awk -v a="$c0" -v b="$c1" -v t="$(getconf CLK_TCK)" 'BEGIN {printf "%.2f", (b - a) / t}')"
read -r rss anon file <"$WORK/rss-up"
fig up_server_rss_kib "$rss"; fig up_server_anon_kib "$anon"; fig up_server_file_kib "$file"
fig up_server_hwm_kib "$(server_status_kib VmHWM)"
entry=$(python3 -c 'import json, sys; print(json.load(sys.stdin)["entry_id"])' <"$WORK/up.json")

c0=$(server_cpu_ticks)
start_sampler "$WORK/rss-down" "$SERVER_PID"
/usr/bin/time -f '%e %M %U %S' -o "$WORK/down.time" \
  "$KHRONIKA" get --node "$URL" --token "$reader" --pin "$PIN" --out "$WORK/download" "$entry" \
  >"$WORK/down.out" 2>"$WORK/down.err" ||
  die "khronika get of the 1 GiB file failed: $(cat "$WORK/down.err")"
stop_sampler
c1=$(server_cpu_ticks)
read -r s rss user sys <"$WORK/down.time"
fig down_s "$s"; fig down_client_rss_kib "$rss"; fig down_client_user_s "$user"; fig down_client_sys_s "$sys"
fig down_server_cpu_s "$(awk -v a="$c0" -v b="$c1" -v t="$(getconf CLK_TCK)" 'BEGIN {printf "%.2f", (b - a) / t}')"
read -r rss anon file <"$WORK/rss-down"
fig down_server_rss_kib "$rss"; fig down_server_anon_kib "$anon"; fig down_server_file_kib "$file"
fig down_server_hwm_kib "$(server_status_kib VmHWM)"
fig down_bytes "$(stat -c %s "$WORK/download/big.bin")"
stop_server
fig big_stop_s "$STOP_S"
fig big_store_kib "$(du -sk "$WORK/node-big/store" | cut -f1)"
rm -rf "$WORK/download" "$WORK/node-big"

# ---- report ----
bench_report "$FIG" "$WORK/ed25519.json" "${LEVELS[*]}" <<'EOF'
import json

bench = json.load(open(sys.argv[1]))
levels = [int(x) for x in sys.argv[2].split()]
by_name = {b["name"]: b for b in bench["benchmarks"] if b.get("run_type", "iteration") == "iteration"}

sign = by_name["BM_Ed25519Sign"]["items_per_second"]
verify = by_name["BM_Ed25519Verify"]["items_per_second"]
ossl_verify = f("openssl_verify")
big = f("big_bytes")
tls = big / MB / f("tls_s")
up = big / MB / f("up_s")
down = big / MB / f("down_s")
rate = {c: f(f"c{c}_rate") for c in levels}
cli = f("cli_ok") / f("cli_s")

def batch(name):
    txns = f(f"{name}_txns")
    return f(f"{name}_records") / txns if txns else float("nan")
def cpu_ms(name):  # server CPU per entry, ms
    return 1000 * f(f"{name}_server_cpu_s") / max(1.0, f(f"{name}_entries"))
def cores(name):
    return f(f"{name}_server_cpu_s") / f(f"{name}_seconds")

print()
print("Khronika server benchmark")
print(machine_line(fig['openssl_version'], fig['date']))
print("MB = 10^6 bytes. Server and clients share the machine. Latencies are per submission "
      "(PUT chunk + POST entry).")
print()
print("Absolute figures")
rows = [
    ("Ed25519 verify (foundation_bench)", f"{verify:,.0f} /s"),
    ("Ed25519 verify (openssl speed)", f"{ossl_verify:,.0f} /s"),
    ("Ed25519 sign (foundation_bench)", f"{sign:,.0f} /s"),
    ("loopback TLS 1.3, s_server -WWW -> curl, 1 GiB", f"{tls:,.1f} MB/s ({f('tls_s'):.2f} s, best of 2)"),
]
for c in levels:
    n = f"c{c}"
    rows.append((f"API submissions, {c} connection{'s' if c > 1 else ''}, 1 KiB",
                 f"{rate[c]:,.1f} entries/s ({fig[n + '_entries']} in {f(n + '_seconds'):.1f} s, "
                 f"{fig[n + '_errors']} errors)"))
    rows.append(("  latency p50 / p99 / max",
                 f"{f(n + '_p50_ms'):.2f} / {f(n + '_p99_ms'):.2f} / {f(n + '_max_ms'):.1f} ms "
                 f"(PUT p50 {f(n + '_put_p50_ms'):.2f}, POST p50 {f(n + '_post_p50_ms'):.2f} ms)"))
    rows.append(("  entries per append transaction", f"{batch(n):.2f}"))
    rows.append(("  disk before / after: 4 KiB write + fdatasync",
                 f"{f(n + '_flush'):,.0f} / {f(n + '_flush_after'):,.0f} /s"))
    rows.append(("  server CPU", f"{cpu_ms(n):.3f} ms/entry, {cores(n):.2f} of {fig['nproc']} cores "
                 f"(load generator {f(n + '_client_cpu_s') / f(n + '_seconds'):.2f} cores)"))
    rows.append(("  server peak RSS (VmHWM); at the end: anon / file",
                 f"{f(n + '_server_hwm_kib') / MiB:.1f} MiB; {f(n + '_server_anon_kib') / MiB:.1f} / "
                 f"{f(n + '_server_file_kib') / MiB:.1f} MiB ({fig[n + '_records']} entries stored)"))
n = "same32"
rows += [
    ("diagnostic: 32 connections, chunk already stored",
     f"{f(n + '_rate'):,.1f} entries/s ({fig[n + '_errors']} errors; PUT p50 "
     f"{f(n + '_put_p50_ms'):.2f} ms, POST p50 {f(n + '_post_p50_ms'):.2f} ms)"),
    ("  entries per append transaction", f"{batch(n):.2f}"),
    ("  disk before / after: 4 KiB write + fdatasync",
     f"{f(n + '_flush'):,.0f} / {f(n + '_flush_after'):,.0f} /s"),
    ("  server CPU", f"{cpu_ms(n):.3f} ms/entry, {cores(n):.2f} cores"),
    (f"khronika submit, {fig.get('cli_ok')} processes, 8 at a time",
     f"{cli:,.1f} entries/s ({f('cli_s'):.1f} s, {fig['cli_errors']} errors, "
     f"server CPU {f('cli_server_cpu_s') / f('cli_s'):.2f} cores)"),
    ("  disk just before: 4 KiB write + fdatasync", f"{f('cli_flush'):,.0f} /s"),
    ("disk before the 1 GiB transfers: 4 KiB + fdatasync", f"{f('big_flush'):,.0f} /s"),
    ("upload: khronika submit of a 1 GiB file",
     f"{up:,.1f} MB/s ({f('up_s'):.2f} s; client user {f('up_client_user_s'):.2f} s sys "
     f"{f('up_client_sys_s'):.2f} s; server CPU {f('up_server_cpu_s'):.2f} s)"),
    ("download: khronika get of that file",
     f"{down:,.1f} MB/s ({f('down_s'):.2f} s; client user {f('down_client_user_s'):.2f} s sys "
     f"{f('down_client_sys_s'):.2f} s; server CPU {f('down_server_cpu_s'):.2f} s)"),
    ("server RSS idle, before the transfers", f"{f('big_idle_rss_kib') / MiB:.1f} MiB"),
    ("server peak RSS during upload (sampled)",
     f"{f('up_server_rss_kib') / MiB:.1f} MiB (anonymous {f('up_server_anon_kib') / MiB:.1f}, "
     f"file-backed {f('up_server_file_kib') / MiB:.1f})"),
    ("server peak RSS during download (sampled)",
     f"{f('down_server_rss_kib') / MiB:.1f} MiB (anonymous {f('down_server_anon_kib') / MiB:.1f}, "
     f"file-backed {f('down_server_file_kib') / MiB:.1f})"),
    ("server VmHWM after upload / after download",
     f"{f('up_server_hwm_kib') / MiB:.1f} / {f('down_server_hwm_kib') / MiB:.1f} MiB"),
    ("client peak RSS, submit / get (/usr/bin/time)",
     f"{f('up_client_rss_kib') / MiB:.1f} / {f('down_client_rss_kib') / MiB:.1f} MiB"),
    ("store size after the 1 GiB upload", f"{f('big_store_kib') / MiB:,.0f} MiB"),
    ("graceful stop (SIGTERM to exit), largest",
     f"{max(f(k) for k in fig if k.endswith('_stop_s')):.2f} s"),
]
print_rows(rows)
print()
print("Checks")
failed = []
for name in [f"c{c}" for c in levels] + ["same32"]:
    acked = int(fig[name + "_warm_entries"]) + int(fig[name + "_entries"])
    print(f"  {name}: {acked} acknowledged, {fig[name + '_records']} records after stop; verify clean")
    if str(acked) != fig[name + "_records"]: failed.append(name)
print(f"  cli: {fig['cli_ok']} acknowledged, {fig['cli_records']} records; verify clean")
if fig["cli_ok"] != fig["cli_records"]: failed.append("cli")
if fig["down_bytes"] != fig["big_bytes"]: failed.append("1 GiB download")
print(f"  1 GiB: {fig['down_bytes']} bytes downloaded and checked by khronika get")
print()
print("Ratios (Khronika / baseline)")
ratios = [(f"entries/s, {c} conn. / Ed25519 verify/s", rate[c] / verify) for c in levels]
ratios += [
    ("entries/s, 32 conn. / openssl speed verify/s", rate[32] / ossl_verify),
    ("group commit scaling: 8 conn. / 1 conn.", rate[8] / rate[1]),
    ("group commit scaling: 32 conn. / 1 conn.", rate[32] / rate[1]),
    ("32 conn., chunk stored / chunk new", f("same32_rate") / rate[32]),
    ("khronika submit x8 / server_load 8 conn.", cli / rate[8]),
    ("upload MB/s / loopback TLS MB/s", up / tls),
    ("download MB/s / loopback TLS MB/s", down / tls),
]
print_ratios(ratios, [("server peak RSS, 1 GiB up / down",
                      f"{f('up_server_rss_kib') / MiB:.1f} / {f('down_server_rss_kib') / MiB:.1f} "
                      f"MiB ({big / MiB / MiB:.0f} MiB file)")])
if failed:
    print(f"CHECK FAILED: {', '.join(failed)}: acknowledged and stored differ")
    sys.exit(1)
EOF
