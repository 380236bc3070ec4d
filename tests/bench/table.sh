#!/usr/bin/env bash
# The table of issue #15: every row of it measured RUNS times on this machine, each against its
# baseline measured in the same run, printed as ONE markdown table (ratio: median of the runs;
# spread: min-max over the runs; target; the baseline measured; what measured it). The
# inclusion-proof row comes from tests/bench/growth_bench.sh, run once after the others.
#
#   tests/bench/table.sh BUILD_DIR [RUNS=3]
#
# BUILD_DIR: a Release build with KHRONIKA_BUILD_BENCH=ON and the targets khronika server_load
# growth_fill proof_load lmdb_write_bench built. Rows whose command this khronika lacks
# (`khronika import`, `submit --each`) print "n/a (no such command)". Every correctness check
# must hold (each acknowledged entry present, verify clean, downloads equal to what was sent,
# every record synced): if one does not, the script stops at once with "CHECK FAILED" and
# exit status 1. Speeds are never asserted.
#
# Sizes (environment; smaller ones are for trying the script, and the table says when they
# differ from the issue's): BIG_MIB (1024: the "1 GiB" file), SMALL_FILES (10000: the 1 KiB
# files synced, imported and submitted), VERIFY_ENTRIES (100000), LOAD_SECONDS (10: each
# server_load level), GROWTH_MAX (1000000; 0 leaves the proof row out), GROWTH_PNG (the growth
# plot; default: beside the table). TABLE_OUT (default ${TMPDIR:-/tmp}/khronika-table-DATE) keeps
# the table, each run's figures and the growth bench's output. The work directory needs about
# 4 x BIG_MIB + 1 GiB (plus 11 GiB during the growth bench at 10^6). Measured on this 2-core
# machine shared with other builds (load 14): one run 10 minutes, the growth bench 27 (see
# docs/performance.md, "How to measure"); GROWTH_MAX=100000 shortens the latter to about 4.
set -euo pipefail
shopt -s inherit_errexit

if [[ $# -lt 1 || $# -gt 2 || ! -d "$1" ]]; then
  echo "usage: $0 BUILD_DIR [RUNS=3]" >&2
  exit 2
fi
BUILD_DIR=$(cd "$1" && pwd)
RUNS=${2:-3}
KHRONIKA=${KHRONIKA_BIN:-$BUILD_DIR/server/cli/khronika}
LOAD=${SERVER_LOAD_BIN:-$BUILD_DIR/tests/bench/server_load}
FILL=${GROWTH_FILL_BIN:-$BUILD_DIR/tests/bench/growth_fill}
LMDB_BENCH=${LMDB_WRITE_BENCH_BIN:-$BUILD_DIR/tests/bench/lmdb_write_bench}
BIG_MIB=${BIG_MIB:-1024}
SMALL_FILES=${SMALL_FILES:-10000}
VERIFY_ENTRIES=${VERIFY_ENTRIES:-100000}
LOAD_SECONDS=${LOAD_SECONDS:-10}
GROWTH_MAX=${GROWTH_MAX:-1000000}
TABLE_OUT=${TABLE_OUT:-${TMPDIR:-/tmp}/khronika-table-$(date -u +%Y%m%dT%H%M%SZ)}
for v in RUNS BIG_MIB SMALL_FILES VERIFY_ENTRIES LOAD_SECONDS GROWTH_MAX; do
  [[ "${!v}" =~ ^[0-9]+$ ]] || { echo "$0: $v must be a number" >&2; exit 2; }
done
((RUNS >= 1 && BIG_MIB >= 1 && SMALL_FILES >= 1 && SMALL_FILES <= 99999 && VERIFY_ENTRIES >= 1 &&
  LOAD_SECONDS >= 1)) || { echo "$0: a size is out of range" >&2; exit 2; }

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
bench_need_bins "ninja -C $BUILD_DIR khronika server_load growth_fill proof_load lmdb_write_bench" \
  "$KHRONIKA" "$LOAD" "$FILL" "$LMDB_BENCH"
bench_need_tools python3 openssl curl git cmp /usr/bin/time
bench_begin table
mkdir -p "$TABLE_OUT"
SERVER_PID='' SAMPLER_PID='' DAEMON_PID=''
T_START=$(now_ns)

check() {   # check CONDITION-DESCRIPTION TEST...
  local what=$1
  shift
  "$@" || { echo "$0: CHECK FAILED: $what" >&2; exit 1; }
}
same() { [[ "$1" == "$2" ]]; }
idj() { "$KHRONIKA" id --data "$1" --json | python3 -c "import json, sys; print(json.load(sys.stdin)['$2'])"; }
has_import() { "$KHRONIKA" import --help >/dev/null 2>&1; }
has_submit_each() { "$KHRONIKA" submit --help 2>/dev/null | grep -q -- '--each'; }
# A fresh encrypted node with the bench author registered.
new_node() {
  "$KHRONIKA" init --data "$1" --key-file "$1.key-file" --name "${2:-bench}" >/dev/null 2>&1
  "$KHRONIKA" author add --data "$1" --name bench --pubkey "$WORK/author.pem.pub" >/dev/null 2>&1
}
mbs() { awk -v b="$1" -v s="$2" 'BEGIN {printf "%.3f", b / 1e6 / s}'; }

# ---- once: machine, inputs, the store that verify reads ----
GLOBAL_FIG=$WORK/global.env
FIG=$GLOBAL_FIG
: >"$FIG"
bench_machine_figs date openssl git load
fig runs "$RUNS"
fig big_mib "$BIG_MIB"; fig small_files "$SMALL_FILES"; fig verify_entries "$VERIFY_ENTRIES"
fig load_seconds "$LOAD_SECONDS"; fig growth_max "$GROWTH_MAX"
fig has_import "$(has_import && echo 1 || echo 0)"
fig has_submit_each "$(has_submit_each && echo 1 || echo 0)"
"$KHRONIKA" keygen --out "$WORK/author.pem" >/dev/null 2>&1
step "inputs: one $BIG_MIB MiB random file, $SMALL_FILES random 1 KiB files ..."
mkdir -p "$WORK/www"
head -c "$((BIG_MIB * 1024 * 1024))" /dev/urandom >"$WORK/www/big.bin"
BIG_BYTES=$(stat -c %s "$WORK/www/big.bin")
fig big_bytes "$BIG_BYTES"
random_files "$WORK/small" "$SMALL_FILES" 1024 5
SMALL_LIST=()
for ((i = 0; i < SMALL_FILES; i++)); do SMALL_LIST+=("$(printf '%s/small/f%05d.bin' "$WORK" "$i")"); done
git_import_stream "$WORK/small" "$SMALL_FILES" >"$WORK/import.stream"
step "the verify store: $VERIFY_ENTRIES entries of 1 KiB (growth_fill, not timed) ..."
new_node "$WORK/node-verify"
line=$("$FILL" --data "$WORK/node-verify" --author "$WORK/author.pem" --case verify \
  --to "$VERIFY_ENTRIES") || die "growth_fill failed: $line"
figs_from verify_fill "$line"

# ---- one run of every row ----
run_once() {
  local r=$1 R=$WORK/run$1 token reader line c entry got counts acked from to chunks
  mkdir -p "$R"
  FIG=$WORK/run$r.env
  : >"$FIG"
  local t0
  t0=$(now_ns)
  fig loadavg "$(cut -d' ' -f1-3 /proc/loadavg)"
  fig flush "$(flush_rate)"

  step "run $r: Ed25519 verify, one core and both (openssl speed, 1 and 2 processes) ..."
  fig ed1 "$(ed25519_speed 3 1)"
  fig ed2 "$(ed25519_speed 3 2)"

  step "run $r: loopback TLS 1.3 (s_server -WWW, curl, best of 2) ..."
  tls_baseline "$WORK/www" big.bin 2
  fig tls_s "$TLS_S"

  # What `get` must do besides TLS: write the file and flush it (the baseline's curl writes to
  # /dev/null). Its rate bounds the download row.
  step "run $r: the disk's own write rate (dd of the $BIG_MIB MiB file, conv=fsync) ..."
  timed dd dd if="$WORK/www/big.bin" of="$R/dd.bin" bs=1M conv=fsync || die "dd failed: $(cat "$WORK/dd.err")"
  timed_figs dd
  rm -f "$R/dd.bin"

  step "run $r: LMDB's own write rate, $BIG_MIB x 1 MiB values, 8 per transaction ..."
  line=$("$LMDB_BENCH" "$R/lmdb" "$BIG_MIB" 8) || die "lmdb_write_bench failed: $line"
  figs_from lmdb "$line"

  step "run $r: git fast-import of $SMALL_FILES x 1 KiB, git clone --mirror over git daemon ..."
  mkdir -p "$R/git"
  git init -q --bare "$R/git/repo.git"
  git -C "$R/git/repo.git" symbolic-ref HEAD refs/heads/main
  TIMED_STDIN=$WORK/import.stream timed gimport git -C "$R/git/repo.git" fast-import --quiet ||
    die "git fast-import failed: $(cat "$WORK/gimport.err")"
  timed_figs gimport
  start_git_daemon "$R/git" repo.git
  timed gclone git clone -q --mirror "$GIT_BASE_URL/repo.git" "$R/clone.git" ||
    die "git clone failed: $(cat "$WORK/gclone.err")"
  timed_figs gclone
  check "git clone holds $SMALL_FILES commits" same "$(git -C "$R/clone.git" rev-list --count main)" "$SMALL_FILES"
  bench_kill "$DAEMON_PID"
  rm -rf "$R/git" "$R/clone.git"

  for c in 8 32; do
    step "run $r: HTTPS submissions, 1 KiB, $c keep-alive connections, $LOAD_SECONDS s ..."
    new_node "$R/node-c$c"
    token=$("$KHRONIKA" token create --data "$R/node-c$c" --role submitter 2>/dev/null)
    start_server "$R/node-c$c" "$R/serve-c$c"
    # --inline 1: each 1 KiB file inside its entry's POST, as `khronika submit` sends it.
    line=$("$LOAD" --node "$URL" --pin "$PIN" --token "$token" --key "$WORK/author.pem" \
      --case bench --clients "$c" --seconds 1 --inline 1) || die "server_load (warm-up, $c) reported errors: $line"
    figs_from "c${c}_warm" "$line"
    line=$("$LOAD" --node "$URL" --pin "$PIN" --token "$token" --key "$WORK/author.pem" \
      --case bench --clients "$c" --seconds "$LOAD_SECONDS" --inline 1) ||
      die "CHECK FAILED: server_load ($c connections) reported errors: $line"
    figs_from "c$c" "$line"
    stop_server
    server_stderr_report "$R/serve-c$c" "c$c"
    acked=$(($(fig_get "c${c}_warm_entries") + $(fig_get "c${c}_entries")))
    counts=$(verify_counts "$R/node-c$c")
    check "$c connections: $acked acknowledged, ${counts% *} records after stop" same "${counts% *}" "$acked"
    rm -rf "$R/node-c$c"
  done

  step "run $r: khronika submit, then khronika get, of the $BIG_MIB MiB file ..."
  new_node "$R/node-big"
  token=$("$KHRONIKA" token create --data "$R/node-big" --role submitter 2>/dev/null)
  reader=$("$KHRONIKA" token create --data "$R/node-big" --role reader 2>/dev/null)
  start_server "$R/node-big" "$R/serve-big"
  # --timeout 600: the node answers the POST only once the whole file is sealed and committed,
  # which took over the default 30 s on a loaded machine.
  timed up "$KHRONIKA" submit --node "$URL" --token "$token" --pin "$PIN" --key "$WORK/author.pem" \
    --timeout 600 --case bench --json "$WORK/www/big.bin" || die "khronika submit failed: $(cat "$WORK/up.err")"
  timed_figs up
  entry=$(python3 -c 'import json, sys; print(json.load(sys.stdin)["entry_id"])' <"$WORK/up.out")
  timed down "$KHRONIKA" get --node "$URL" --token "$reader" --pin "$PIN" --timeout 600 \
    --out "$R/download" "$entry" ||
    die "khronika get failed: $(cat "$WORK/down.err")"
  timed_figs down
  stop_server
  server_stderr_report "$R/serve-big" big
  check "the downloaded file equals the one submitted" cmp -s "$WORK/www/big.bin" "$R/download/big.bin"
  check "the node holds the one entry submitted (verify clean)" same "$(verify_records "$R/node-big")" 1
  rm -rf "$R/node-big" "$R/download"

  step "run $r: khronika add of the $BIG_MIB MiB file ..."
  new_node "$R/node-add"
  timed add "$KHRONIKA" add --data "$R/node-add" --key "$WORK/author.pem" --case bench "$WORK/www/big.bin" ||
    die "khronika add failed: $(cat "$WORK/add.err")"
  timed_figs add
  check "the node holds the one entry added (verify clean)" same "$(verify_records "$R/node-add")" 1
  rm -rf "$R/node-add"

  step "run $r: khronika sync of $SMALL_FILES x 1 KiB, then of the $BIG_MIB MiB file, A to B ..."
  new_node "$R/A" bench-A
  "$KHRONIKA" init --data "$R/B" --key-file "$R/B.key-file" --name bench-B >/dev/null 2>&1
  for n in A B; do echo "sync_interval_s = 0" >"$R/$n/khronika.conf"; done
  "$KHRONIKA" member add --data "$R/A" --vkey "$(idj "$R/B" vkey)" \
    --cosigner-vkey "$(idj "$R/B" cosigner_vkey)" >/dev/null
  "$KHRONIKA" member add --data "$R/B" --vkey "$(idj "$R/A" vkey)" \
    --cosigner-vkey "$(idj "$R/A" cosigner_vkey)" >/dev/null
  "$KHRONIKA" peer add --data "$R/A" --url "https://127.0.0.1:$(free_port)" \
    --id "$(idj "$R/B" node_id)" --cert-sha256 "$(idj "$R/B" cert_sha256)" >/dev/null
  line=$("$FILL" --data "$R/A" --author "$WORK/author.pem" --case bench --to "$SMALL_FILES") ||
    die "growth_fill of A failed: $line"
  start_server "$R/A" "$R/serve-A"
  "$KHRONIKA" peer add --data "$R/B" --url "$URL" --id "$(idj "$R/A" node_id)" \
    --cert-sha256 "$(idj "$R/A" cert_sha256)" >/dev/null
  timed ksmall "$KHRONIKA" sync --data "$R/B" || die "khronika sync failed: $(cat "$WORK/ksmall.out" "$WORK/ksmall.err")"
  timed_figs ksmall
  check "B holds A's $SMALL_FILES records (verify clean)" same "$(verify_records "$R/B")" "$SMALL_FILES"
  "$KHRONIKA" add --data "$R/A" --key "$WORK/author.pem" --case bench-big "$WORK/www/big.bin" >/dev/null
  start_sampler "$R/server-big.rss" "$SERVER_PID"
  timed kbig "$KHRONIKA" sync --data "$R/B" || die "khronika sync failed: $(cat "$WORK/kbig.out" "$WORK/kbig.err")"
  stop_sampler
  timed_figs kbig
  read -r from to chunks < <(sed -n 's/.*: received records \([0-9]*\) to \([0-9]*\) (\([0-9]*\) chunks).*/\1 \2 \3/p' \
    "$WORK/kbig.out" | head -1) || die "no sync report: $(cat "$WORK/kbig.out")"
  check "the big sync received record $SMALL_FILES (got $from..$to)" same "$from $to" "$SMALL_FILES $SMALL_FILES"
  check "B holds A's $((SMALL_FILES + 1)) records (verify clean)" same "$(verify_records "$R/B")" "$((SMALL_FILES + 1))"
  stop_server
  server_stderr_report "$R/serve-A" A
  rm -rf "$R/A" "$R/B"

  if has_import; then
    step "run $r: khronika import of $SMALL_FILES x 1 KiB in one process ..."
    new_node "$R/node-import"
    timed import "$KHRONIKA" import --data "$R/node-import" --key "$WORK/author.pem" --case bench \
      "${SMALL_LIST[@]}" || die "khronika import failed: $(tail -5 "$WORK/import.err")"
    timed_figs import
    check "the node holds the $SMALL_FILES entries imported (verify clean)" \
      same "$(verify_records "$R/node-import")" "$SMALL_FILES"
    rm -rf "$R/node-import"
  fi

  if has_submit_each; then
    step "run $r: khronika submit --each of $SMALL_FILES x 1 KiB ..."
    new_node "$R/node-each"
    token=$("$KHRONIKA" token create --data "$R/node-each" --role submitter 2>/dev/null)
    start_server "$R/node-each" "$R/serve-each"
    timed each "$KHRONIKA" submit --node "$URL" --token "$token" --pin "$PIN" --key "$WORK/author.pem" \
      --case bench --each "${SMALL_LIST[@]}" || die "khronika submit --each failed: $(tail -5 "$WORK/each.err")"
    timed_figs each
    stop_server
    server_stderr_report "$R/serve-each" each
    check "the node holds the $SMALL_FILES entries submitted (verify clean)" \
      same "$(verify_records "$R/node-each")" "$SMALL_FILES"
    rm -rf "$R/node-each"
  fi

  step "run $r: khronika verify of $VERIFY_ENTRIES entries ..."
  timed verify "$KHRONIKA" verify --data "$WORK/node-verify" ||
    die "CHECK FAILED: khronika verify: $(cat "$WORK/verify.out" "$WORK/verify.err")"
  timed_figs verify
  check "verify checked $VERIFY_ENTRIES records" \
    same "$(sed -n 's/^clean: checked \([0-9]*\) records.*/\1/p' "$WORK/verify.out")" "$VERIFY_ENTRIES"

  fig run_s "$(secs_since "$t0")"
  step "run $r took $(fig_get run_s) s"
  rm -rf "$R"
}

for ((run = 1; run <= RUNS; run++)); do
  run_once "$run"
  cp "$WORK/run$run.env" "$TABLE_OUT/run$run.env"
done
FIG=$GLOBAL_FIG
rm -rf "$WORK/node-verify"

if ((GROWTH_MAX > 0)); then
  step "the growth bench, once, up to $GROWTH_MAX entries (the inclusion-proof row) ..."
  BENCH_FIGURES_OUT="$TABLE_OUT/growth.env" GROWTH_PNG="${GROWTH_PNG:-$TABLE_OUT/growth.png}" \
    bash "$BENCH_LIB_DIR/growth_bench.sh" "$BUILD_DIR" "$GROWTH_MAX" >"$TABLE_OUT/growth.txt" ||
    die "CHECK FAILED: growth_bench.sh failed (see $TABLE_OUT/growth.txt)"
fi
fig total_s "$(secs_since "$T_START")"
cp "$GLOBAL_FIG" "$TABLE_OUT/global.env"

# ---- the table ----
bench_report "$GLOBAL_FIG" "$TABLE_OUT" <<'EOF' | tee "$TABLE_OUT/table.md"
import os, statistics

out = sys.argv[1]
runs = []
for i in range(1, int(fig["runs"]) + 1):
    d = {}
    for line in open(os.path.join(out, f"run{i}.env")):
        k, _, v = line.rstrip("\n").partition("=")
        d[k] = v
    runs.append(d)
growth = {}
if os.path.exists(os.path.join(out, "growth.env")):
    for line in open(os.path.join(out, "growth.env")):
        k, _, v = line.rstrip("\n").partition("=")
        growth[k] = v
big, big_mib = f("big_bytes"), int(fig["big_mib"])
small, nver = int(fig["small_files"]), int(fig["verify_entries"])
def g(run, k): return float(run[k])
def size_note():
    notes = []
    if big_mib != 1024: notes.append(f"{big_mib} MiB instead of 1 GiB")
    if small != 10000: notes.append(f"{small:,} files instead of 10,000")
    if nver != 100000: notes.append(f"{nver:,} entries instead of 100,000")
    if int(fig["growth_max"]) not in (0, 1000000): notes.append(f"proofs at {int(fig['growth_max']):,} entries")
    return notes
bigname = "1 GiB" if big_mib == 1024 else f"{big_mib} MiB"
smallname = f"{small:,} x 1 KiB"

def tls(run): return big / MB / g(run, "tls_s")
def rate(run, k): return big / MB / g(run, k)
rows = []  # (work, [ratio per run] or None, fmt, target, baseline text, measured text, command)
def med(xs): return statistics.median(xs)
def row(work, ratios, fmt, target, baseline, measured, command, na=None):
    rows.append((work, ratios, fmt, target, baseline, measured, command, na))

ed1 = [g(r, "ed1") for r in runs]
ed2 = [g(r, "ed2") for r in runs]
c8 = [g(r, "c8_rate") for r in runs]
c32 = [g(r, "c32_rate") for r in runs]
ratio = lambda v: f"{v:.3g}"
row("HTTPS submissions, 1 KiB, 32 keep-alive connections / one core's Ed25519 verify",
    [a / b for a, b in zip(c32, ed1)], ratio, ">= 0.5",
    f"{med(ed1):,.0f} verify/s (openssl speed ed25519)", f"{med(c32):,.0f} entries/s",
    f"server_load --clients 32 --seconds {fig['load_seconds']} --inline 1")
row("the same at 8 connections / one core's Ed25519 verify",
    [a / b for a, b in zip(c8, ed1)], ratio, "(for the next row)",
    f"{med(ed1):,.0f} verify/s", f"{med(c8):,.0f} entries/s",
    f"server_load --clients 8 --seconds {fig['load_seconds']} --inline 1")
row("submissions at 32 connections / at 8", [a / b for a, b in zip(c32, c8)], ratio,
    ">= 1 (never fewer at 32)", f"{med(c8):,.0f} entries/s at 8", f"{med(c32):,.0f} entries/s at 32",
    "server_load, as above")
row(f"upload of a {bigname} file (`khronika submit`) / loopback TLS",
    [rate(r, "up_s") / tls(r) for r in runs], ratio, ">= 0.5",
    f"{med([tls(r) for r in runs]):,.0f} MB/s (openssl s_server -WWW, curl)",
    f"{med([rate(r, 'up_s') for r in runs]):,.0f} MB/s", "khronika submit FILE")
row("download of it (`khronika get`) / loopback TLS",
    [rate(r, "down_s") / tls(r) for r in runs], ratio, ">= 0.7",
    f"{med([tls(r) for r in runs]):,.0f} MB/s", f"{med([rate(r, 'down_s') for r in runs]):,.0f} MB/s",
    "khronika get ENTRY")
lmdb = [g(r, "lmdb_mb_s") for r in runs]
row(f"local `add` of a {bigname} file / LMDB's own sequential write rate",
    [rate(r, "add_s") / l for r, l in zip(runs, lmdb)], ratio, ">= 0.8, peak RSS < 64 MiB",
    f"{med(lmdb):,.0f} MB/s (lmdb_write_bench: 1 MiB values, 8 per transaction)",
    f"{med([rate(r, 'add_s') for r in runs]):,.0f} MB/s, peak RSS "
    f"{max(g(r, 'add_rss_kib') for r in runs) / MiB:.0f} MiB", "khronika add FILE")
row(f"`sync` of {smallname} entries / `git clone --mirror` over `git daemon` (time)",
    [g(r, "ksmall_s") / g(r, "gclone_s") for r in runs], lambda v: f"{v:.2f}x slower",
    "<= 2x slower, every signature and chunk verified",
    f"{med([g(r, 'gclone_s') for r in runs]):.2f} s (git clone --mirror)",
    f"{med([g(r, 'ksmall_s') for r in runs]):.2f} s", "khronika sync --data B")
row(f"`sync` of one {bigname} file / loopback TLS",
    [rate(r, "kbig_s") / tls(r) for r in runs], ratio, ">= 0.5, puller RSS < 64 MiB",
    f"{med([tls(r) for r in runs]):,.0f} MB/s",
    f"{med([rate(r, 'kbig_s') for r in runs]):,.0f} MB/s, puller peak RSS "
    f"{max(g(r, 'kbig_rss_kib') for r in runs) / MiB:.0f} MiB", "khronika sync --data B")
gi = [g(r, "gimport_s") for r in runs]
if fig["has_import"] == "1":
    row(f"bulk import of {smallname} files in one process / `git fast-import`",
        [a / g(r, "import_s") for a, r in zip(gi, runs)], lambda v: f"{v:.2f}x", ">= 1.0x",
        f"{med(gi):.2f} s (git fast-import, one commit a file)",
        f"{med([g(r, 'import_s') for r in runs]):.2f} s", "khronika import --data D --key K --case C FILE...")
else:
    row(f"bulk import of {smallname} files in one process / `git fast-import`", None, None, ">= 1.0x",
        f"{med(gi):.2f} s (git fast-import)", "", "khronika import", na="n/a (no such command)")
row(f"full `verify` of {nver:,} small entries / both cores' Ed25519 verify rate",
    [nver / g(r, "verify_s") / e for r, e in zip(runs, ed2)], ratio, ">= 0.9",
    f"{med(ed2):,.0f} verify/s (2 openssl speed ed25519 at once)",
    f"{med([nver / g(r, 'verify_s') for r in runs]):,.0f} entries/s", "khronika verify --data D")
gmax = int(fig["growth_max"])
if gmax and growth:
    p = f"n{gmax}"
    row(f"inclusion proof over HTTPS keep-alive at {gmax:,} entries", None, None, "p99 < 1 ms",
        "(latency, no baseline)",
        f"p99 {float(growth[p + '_proof_p99_us']) / 1000:.3f} ms, p50 "
        f"{float(growth[p + '_proof_p50_us']) / 1000:.3f} ms ({growth[p + '_proof_requests']} requests, one run)",
        "proof_load --clients 1 (growth_bench.sh)", na=f"p99 {float(growth[p + '_proof_p99_us']) / 1000:.3f} ms")
else:
    row("inclusion proof over HTTPS keep-alive at 10^6 entries", None, None, "p99 < 1 ms", "", "",
        "growth_bench.sh", na="not measured (GROWTH_MAX=0)")
row(f"disk: `dd` of the {bigname} file with `conv=fsync` / loopback TLS (context: bounds the download, which writes the file and flushes it)",
    [rate(r, "dd_s") / tls(r) for r in runs], ratio, "-",
    f"{med([tls(r) for r in runs]):,.0f} MB/s", f"{med([rate(r, 'dd_s') for r in runs]):,.0f} MB/s",
    "dd if=FILE of=OUT bs=1M conv=fsync")
if fig["has_submit_each"] == "1":
    row(f"`khronika submit --each` of {smallname} files / one core's Ed25519 verify (context)",
        [small / g(r, "each_s") / e for r, e in zip(runs, ed1)], ratio, "-",
        f"{med(ed1):,.0f} verify/s", f"{med([small / g(r, 'each_s') for r in runs]):,.0f} entries/s",
        "khronika submit --each FILE...")
else:
    row(f"`khronika submit --each` of {smallname} files / one core's Ed25519 verify (context)",
        None, None, "-", "", "", "khronika submit --each", na="n/a (no such command)")

print(f"| work | ratio (median of {len(runs)}) | spread (min-max) | target | baseline (median) | "
      f"measured (median) | command |")
print("| --- | --- | --- | --- | --- | --- | --- |")
for work, ratios, fmt, target, baseline, measured, command, na in rows:
    if ratios is None:
        print(f"| {work} | {na} | - | {target} | {baseline} | {measured} | `{command}` |")
        continue
    print(f"| {work} | {fmt(med(ratios))} | {min(ratios):.3g} - {max(ratios):.3g} | {target} | "
          f"{baseline} | {measured} | `{command}` |")
print()
notes = size_note()
print(f"{machine_line(fig['openssl_version'], 'git ' + fig['git_version'], fig['date'])}; "
      f"load average at the start {fig['loadavg']}; per run: "
      + ", ".join(f"load {r['loadavg'].split()[0]}, disk {float(r['flush']):,.0f} flushes/s, "
                  f"{float(r['run_s']):.0f} s" for r in runs)
      + f"; whole table {f('total_s') / 60:.1f} min. "
      + ("Sizes: " + "; ".join(notes) + "." if notes else "Sizes as in the issue."))
print("Checks held in every run: each acknowledged submission present after the server stopped, "
      "each node's `khronika verify` clean, the download equal to the file submitted, every "
      "record synced.")
EOF
echo "table.sh: the table, each run's figures and the growth bench's output are in $TABLE_OUT" >&2
