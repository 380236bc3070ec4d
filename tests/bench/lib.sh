# The parts that Khronika's benchmark scripts share (server_bench.sh, replication_bench.sh,
# run_foundation_bench.sh, growth_bench.sh, table.sh): the work directory and its cleanup, the
# figures file, the machine's description, the disk flush probe, starting and stopping a node's
# server, sampling a process's resident memory, /usr/bin/time, and the Python prelude that prints
# the aligned tables and ratios. Sourced, never run:
#
#   source "$(dirname "$0")/lib.sh"
#   bench_begin NAME                # WORK (removed on exit), FIG (key=value figures)
#
# Every function dies (exits the script) on what would make a figure meaningless; none asserts a
# speed. BENCH_FIGURES_OUT=FILE copies the figures file there on exit (table.sh reads them).
# shellcheck shell=bash

BENCH_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BENCH_PIDS=()   # processes to stop on exit (servers, samplers, daemons), by id

now_ns() { date +%s%N; }
secs_since() { awk -v a="$1" -v b="$(now_ns)" 'BEGIN {printf "%.3f", (b - a) / 1e9}'; }
step() { echo "== $*" >&2; }
die() { echo "$0: $*" >&2; exit 1; }
fig() { echo "$1=$2" >>"$FIG"; }
# The value of a figure already recorded (the last one of that name).
fig_get() { awk -F= -v k="$1" '$1 == k {v = substr($0, length(k) + 2)} END {print v}' "$FIG"; }
ticks_to_s() { awk -v a="$1" -v b="$2" -v t="$(getconf CLK_TCK)" 'BEGIN {printf "%.2f", (b - a) / t}'; }
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

bench_track() { BENCH_PIDS+=("$1"); }
# Stops one tracked process (SIGTERM) and reaps it; quiet if it is gone already.
bench_kill() {
  local p=$1 i
  [[ -n "$p" ]] || return 0
  kill "$p" 2>/dev/null || true
  wait "$p" 2>/dev/null || true
  for i in "${!BENCH_PIDS[@]}"; do
    [[ "${BENCH_PIDS[$i]}" == "$p" ]] && unset 'BENCH_PIDS[i]'
  done
  return 0
}
bench_untrack() {
  local i
  for i in "${!BENCH_PIDS[@]}"; do
    [[ "${BENCH_PIDS[$i]}" == "$1" ]] && unset 'BENCH_PIDS[i]'
  done
  return 0
}
bench_cleanup() {
  local p
  for p in "${BENCH_PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${BENCH_PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  if [[ -n "${BENCH_FIGURES_OUT:-}" && -f "${FIG:-}" ]]; then cp "$FIG" "$BENCH_FIGURES_OUT"; fi
  if [[ -n "${WORK:-}" ]]; then rm -rf "$WORK"; fi
}

# Makes the work directory ${TMPDIR:-/tmp}/khronika-NAME.XXXXXX and the figures file, and
# arranges for both (and every tracked process) to go on exit.
bench_begin() {
  WORK=$(mktemp -d "${TMPDIR:-/tmp}/khronika-$1.XXXXXX")
  FIG="$WORK/figures.env"
  : >"$FIG"
  trap bench_cleanup EXIT
  trap 'exit 130' INT TERM
}

# Dies unless each argument is an executable file; HINT says how to build them.
bench_need_bins() {
  local hint=$1 f
  shift
  for f in "$@"; do
    [[ -x "$f" ]] || { echo "$0: $f not found; build it first ($hint)" >&2; exit 2; }
  done
}
bench_need_tools() {
  local tool
  for tool in "$@"; do
    command -v "$tool" >/dev/null || { echo "$0: $tool is required" >&2; exit 2; }
  done
}

# Figures describing the machine: nproc, cpu, mem_mib, work_fs (and date, openssl_version,
# git_version for the words given).
bench_machine_figs() {
  local w
  fig nproc "$(nproc)"
  fig cpu "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
  fig mem_mib "$(awk '/MemTotal/ {printf "%d", $2/1024}' /proc/meminfo)"
  fig work_fs "$(df -PT "$WORK" | awk 'NR==2 {print $1" ("$2")"}')"
  for w in "$@"; do
    case $w in
      date) fig date "$(date -u +%Y-%m-%dT%H:%M:%SZ)" ;;
      openssl) fig openssl_version "$(openssl version | cut -d' ' -f1-2)" ;;
      git) fig git_version "$(git --version | cut -d' ' -f3)" ;;
      load) fig loadavg "$(cut -d' ' -f1-3 /proc/loadavg)" ;;
    esac
  done
}

# How fast this disk flushes right now: 4 KiB overwritten in a preallocated file, then
# fdatasync, for 1.5 s; prints flushes/s. A lower bound on the cost of one LMDB commit, which
# flushes twice (data pages, then the meta page). Other work on the machine changes it within
# seconds, so the scripts measure it just before (and after) each run.
flush_rate() {
  python3 - "$WORK/flush.bin" <<'PY'
import os, sys, time
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
os.write(fd, b"\0" * (64 * 4096))
os.fsync(fd)
buf, n = os.urandom(4096), 0
t0 = time.perf_counter()
while time.perf_counter() - t0 < 1.5:
    os.pwrite(fd, buf, (n % 64) * 4096)
    os.fdatasync(fd)
    n += 1
print("%.1f" % (n / (time.perf_counter() - t0)))
os.close(fd)
os.unlink(sys.argv[1])
PY
}

# openssl speed's Ed25519 verifications per second, summed over PROCESSES run at once (1 by
# default): "253 bits EdDSA (Ed25519)   0.0000s   0.0001s  25000.0   9000.0": sign/s, verify/s
# last. Separate processes rather than `openssl speed -multi`, whose EdDSA figures (OpenSSL
# 3.0.19) come out far below one process's.
ed25519_speed() {
  local seconds=$1 procs=${2:-1} i pids=()
  for ((i = 0; i < procs; i++)); do
    openssl speed -seconds "$seconds" ed25519 >"$WORK/ed25519-speed.$i" 2>/dev/null &
    pids+=($!)
  done
  for i in "${pids[@]}"; do wait "$i"; done
  for ((i = 0; i < procs; i++)); do
    awk '/EdDSA \(Ed25519\)/ && $NF ~ /^[0-9.]+$/ {v=$NF} END {print v+0}' "$WORK/ed25519-speed.$i"
  done | awk '{s += $1} END {printf "%.1f\n", s}'
}

# Random files: `random_files DIR COUNT BYTES DIGITS` makes DIR/f0000.bin... (DIGITS wide).
random_files() {
  local dir=$1 count=$2 bytes=$3 digits=$4
  mkdir -p "$dir"
  head -c $((count * bytes)) /dev/urandom |
    (cd "$dir" && split -b "$bytes" -d -a "$digits" --additional-suffix=.bin - f)
}

# A git fast-import stream on stdout: one commit per file DIR/f%05d.bin (COUNT of them), 100
# files a directory, so that each commit rewrites two small trees (one flat directory would
# time git's rewriting of a tree of every file so far, not its commits).
git_import_stream() {
  python3 - "$1" "$2" <<'EOF'
import sys
d, n = sys.argv[1], int(sys.argv[2])
out = sys.stdout.buffer
for i in range(n):
    name = "f%05d.bin" % i
    with open("%s/%s" % (d, name), "rb") as f:
        data = f.read()
    msg = ("add %s\n" % name).encode()
    out.write(b"commit refs/heads/main\n")
    out.write(b"committer Bench <bench@example.org> %d +0000\n" % (1700000000 + i))
    out.write(b"data %d\n%s" % (len(msg), msg))
    path = "evidence/%03d/%s" % (i // 100, name)
    out.write(b"M 100644 inline %s\ndata %d\n" % (path.encode(), len(data)))
    out.write(data)
    out.write(b"\n")
EOF
}

# `git daemon` exporting every repository under DIR on a free loopback port; sets DAEMON_PID
# and GIT_BASE_URL (git://127.0.0.1:PORT), and waits until it answers for REPO.
start_git_daemon() {
  local dir=$1 repo=$2 port _
  port=$(free_port)
  git daemon --export-all --reuseaddr --base-path="$dir" --listen=127.0.0.1 --port="$port" \
    "$dir" >"$WORK/daemon.log" 2>&1 &
  DAEMON_PID=$!
  bench_track "$DAEMON_PID"
  GIT_BASE_URL="git://127.0.0.1:$port"
  for _ in $(seq 100); do
    git ls-remote "$GIT_BASE_URL/$repo" >/dev/null 2>&1 && break
    kill -0 "$DAEMON_PID" 2>/dev/null || die "git daemon exited: $(cat "$WORK/daemon.log")"
    sleep 0.05
  done
  git ls-remote "$GIT_BASE_URL/$repo" >/dev/null || die "git daemon does not answer on $GIT_BASE_URL/$repo"
}

# ---- loopback TLS 1.3 ----
# `openssl s_server -WWW -tls1_3` serving DIR on a free loopback port with the same kind of
# certificate as a node's (ECDSA P-256, made by `khronika init`), fetched by curl COUNT times;
# sets TLS_S to the best time in seconds. Dies if curl gets other than the file's size.
tls_baseline() {
  local dir=$1 file=$2 count=$3 port pid best='' got secs _ size
  size=$(stat -c %s "$dir/$file")
  port=$(free_port)
  if [[ ! -f "$WORK/node-tls/tls.crt" ]]; then
    "$KHRONIKA" init --data "$WORK/node-tls" --key-file "$WORK/node-tls.key-file" --name tls >/dev/null 2>&1
  fi
  (cd "$dir" && exec openssl s_server -quiet -WWW -tls1_3 -accept "127.0.0.1:$port" \
    -cert "$WORK/node-tls/tls.crt" -key "$WORK/node-tls/tls.key" </dev/null >"$WORK/s_server.log" 2>&1) &
  pid=$!
  bench_track "$pid"
  for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    sleep 0.05
  done
  for ((i = 0; i < count; i++)); do
    read -r got secs < <(curl -k --tlsv1.3 -s -o /dev/null -w '%{size_download} %{time_total}\n' \
      "https://127.0.0.1:$port/$file")
    [[ "$got" == "$size" ]] || die "curl fetched $got bytes from s_server, not $size"
    if [[ -z "$best" ]] || awk -v a="$secs" -v b="$best" 'BEGIN {exit !(a < b)}'; then best=$secs; fi
  done
  bench_kill "$pid"
  TLS_S=$best
}

# ---- a node's server ----
# `khronika serve --data DIR` on a free loopback port, its output in LOG.out and LOG.err; waits
# until it prints its certificate; sets SERVER_PID, URL and PIN.
start_server() {
  local dir=$1 log=$2 _
  "$KHRONIKA" serve --data "$dir" --listen 127.0.0.1:0 >"$log.out" 2>"$log.err" &
  SERVER_PID=$!
  bench_track "$SERVER_PID"
  for _ in $(seq 200); do
    grep -q '^certificate sha256:' "$log.out" 2>/dev/null && break
    kill -0 "$SERVER_PID" 2>/dev/null || die "khronika serve exited: $(cat "$log.err")"
    sleep 0.05
  done
  URL=$(sed -n 's/^listening on //p' "$log.out")
  PIN=$(sed -n 's/^certificate //p' "$log.out")
  [[ -n "$URL" && -n "$PIN" ]] || die "khronika serve did not print its URL and certificate"
}

# SIGTERM, then wait; dies unless it exits 0; sets STOP_S to the seconds the shutdown took.
stop_server() {
  local t0 rc=0
  t0=$(now_ns)
  kill -TERM "$SERVER_PID"
  wait "$SERVER_PID" || rc=$?
  bench_untrack "$SERVER_PID"
  SERVER_PID=
  ((rc == 0)) || die "khronika serve exited with status $rc after SIGTERM"
  STOP_S=$(secs_since "$t0")
}

# Prints what the server wrote to LOG.err besides its stopping line (NAME says which).
server_stderr_report() {
  local log=$1 name=$2
  if grep -v ' info serve: stopping' "$log.err" | grep -q .; then
    echo "khronika serve ($name) wrote to stderr:" >&2
    sed 's/^/  /' "$log.err" | head -20 >&2
  fi
  return 0
}

# The server's threads' time on a CPU and waiting for one (run queue), in ns, summed over its
# threads from /proc/PID/task/*/schedstat: "CPU_NS WAIT_NS". What a latency is made of when
# the machine is busy.
server_schedstat() {
  cat /proc/"$SERVER_PID"/task/*/schedstat 2>/dev/null | awk '{c += $1; w += $2} END {printf "%.0f %.0f\n", c, w}'
}
server_cpu_ticks() { awk '{print $14 + $15}' "/proc/$SERVER_PID/stat"; }
server_status_kib() { awk -v k="$1:" '$1 == k {print $2}' "/proc/$SERVER_PID/status"; }

# ---- resident memory ----
# Samples PID's resident memory every 0.1 s until it exits or FILE.done appears, writing
# "max VmRSS max RssAnon max RssFile" (KiB) to FILE; sets SAMPLER_PID.
start_sampler() {
  local out=$1 pid=$2
  echo "0 0 0" >"$out"
  (
    max_rss=0 max_anon=0 max_file=0
    while kill -0 "$pid" 2>/dev/null && [[ ! -e "$out.done" ]]; do
      read -r rss anon file < <(awk '/^VmRSS/ {r=$2} /^RssAnon/ {a=$2} /^RssFile/ {f=$2}
                                     END {print r+0, a+0, f+0}' "/proc/$pid/status" 2>/dev/null ||
                                echo "0 0 0")
      ((rss > max_rss)) && max_rss=$rss
      ((anon > max_anon)) && max_anon=$anon
      ((file > max_file)) && max_file=$file
      echo "$max_rss $max_anon $max_file" >"$out.tmp" && mv "$out.tmp" "$out"
      sleep 0.1
    done
  ) &
  SAMPLER_PID=$!
  bench_track "$SAMPLER_PID"
}
stop_sampler() {
  bench_kill "$SAMPLER_PID"
  SAMPLER_PID=
}

# Runs CMD... under /usr/bin/time -f '%e %M %U %S' (into WORK/NAME.time) while sampling the
# resident memory of the timed process (the child of /usr/bin/time) every 0.1 s into
# WORK/NAME.rss as "max VmRSS max RssAnon max RssFile" in KiB. Its standard output goes to
# WORK/NAME.out, its standard error to WORK/NAME.err, and its standard input comes from the
# file TIMED_STDIN names (/dev/null if unset). Returns the command's status.
timed() {
  local name=$1
  shift
  /usr/bin/time -f '%e %M %U %S' -o "$WORK/$name.time" "$@" <"${TIMED_STDIN:-/dev/null}" \
    >"$WORK/$name.out" 2>"$WORK/$name.err" &
  local tpid=$!
  (
    max_rss=0 max_anon=0 max_file=0 pid=
    echo "0 0 0" >"$WORK/$name.rss"
    while kill -0 "$tpid" 2>/dev/null; do
      [[ -z "$pid" ]] && pid=$(pgrep -P "$tpid" || true)
      if [[ -n "$pid" && -r /proc/$pid/status ]]; then
        read -r rss anon file < <(awk '/^VmRSS/ {r=$2} /^RssAnon/ {a=$2} /^RssFile/ {f=$2}
                                       END {print r+0, a+0, f+0}' "/proc/$pid/status" 2>/dev/null ||
                                  echo "0 0 0")
        ((rss > max_rss)) && max_rss=$rss
        ((anon > max_anon)) && max_anon=$anon
        ((file > max_file)) && max_file=$file
        echo "$max_rss $max_anon $max_file" >"$WORK/$name.rss.tmp" && mv "$WORK/$name.rss.tmp" "$WORK/$name.rss"
      fi
      sleep 0.1
    done
  ) &
  local spid=$!
  bench_track "$spid"
  local rc=0
  wait "$tpid" || rc=$?
  wait "$spid" 2>/dev/null || true
  bench_untrack "$spid"
  return "$rc"
}
# NAME -> figures NAME_s, NAME_rss_kib, NAME_user_s, NAME_sys_s (/usr/bin/time) and
# NAME_anon_kib, NAME_file_kib (sampled).
timed_figs() {
  local name=$1 s rss user sys anon file
  read -r s rss user sys <"$WORK/$name.time"
  fig "${name}_s" "$s"; fig "${name}_rss_kib" "$rss"; fig "${name}_user_s" "$user"; fig "${name}_sys_s" "$sys"
  read -r rss anon file <"$WORK/$name.rss"
  fig "${name}_anon_kib" "$anon"; fig "${name}_file_kib" "$file"
}

# ---- checks ----
# `khronika verify --data DIR`, dying unless it is clean; prints "ENTRIES CHECKPOINTS" from
# "clean: checked N records in L logs, O objects (E sealed entries), ..., C checkpoints[; more]":
# the sealed entries of every log held, not custody records (a read or a token grant is one).
verify_counts() {
  local dir=$1 out
  out=$("$KHRONIKA" verify --data "$dir" 2>&1) || die "khronika verify of $dir failed: $out"
  sed -n 's/^clean: checked [0-9]* records in [0-9]* logs, [0-9]* objects (\([0-9]*\) sealed entries)[^;]* \([0-9]*\) checkpoints\(;.*\)\{0,1\}$/\1 \2/p' <<<"$out"
}
# The sealed entries (evidence) of every log held, verify clean.
verify_records() { local c; c=$(verify_counts "$1"); echo "${c% *}"; }
# The size of a node's own log (line 2 of its checkpoint note).
log_size() { "$KHRONIKA" checkpoint --data "$1" | sed -n 2p; }

# key=value words on one line -> fig PREFIX_key value
figs_from() {
  local prefix=$1 line=$2 kv
  for kv in $line; do fig "${prefix}_${kv%%=*}" "${kv#*=}"; done
}

# ---- the report ----
# Runs a Python report (its text on stdin) after a prelude that gives it: `fig` (the figures
# file named by the first argument, as a dict), f(KEY) (a figure as a float), MB and MiB,
# machine_line(*more) ("machine: N cores, CPU, M MiB RAM; work dir on FS; more..."),
# print_rows(rows) (label and value, aligned) and print_ratios(rows) (label and a number, 4
# significant digits). sys.argv[1:] are the arguments after the figures file.
bench_report() {
  local figs=$1 script
  shift
  script=$(cat)
  python3 - "$figs" "$@" <<EOF
$(cat <<'PRELUDE'
import sys

_figs_path = sys.argv.pop(1)
fig = {}
for _line in open(_figs_path):
    _k, _, _v = _line.rstrip("\n").partition("=")
    fig[_k] = _v
def f(k): return float(fig[k])
MB, MiB = 1e6, 1024.0

def machine_line(*more):
    parts = [f"machine: {fig['nproc']} cores, {fig['cpu']}, {fig['mem_mib']} MiB RAM; work dir on "
             f"{fig['work_fs']}"] + list(more)
    return "; ".join(parts)

def print_rows(rows):
    w = max(len(r[0]) for r in rows)
    for k, v in rows:
        print(f"  {k:<{w}}  {v}")

def print_ratios(rows, extra=()):
    w = max(len(r[0]) for r in rows)
    for k, v in rows:
        print(f"  {k:<{w}}  {v:.4g}")
    for k, v in extra:
        print(f"  {k:<{w}}  {v}")
PRELUDE
)
$script
EOF
}
