#!/usr/bin/env bash
# The replication benchmark, in one run: `khronika sync` of 10,000 entries of 1 KiB, then of
# one 1 GiB file, from node A (serving over loopback TLS) to node B, beside `git clone` and
# `git fetch` over `git daemon` on 127.0.0.1 of the same kind of content built with
# `git fast-import`, all measured on this machine in this run. Prints absolute figures and
# ratios; asserts nothing.
#
#   tests/bench/replication_bench.sh BUILD_DIR
#
# BUILD_DIR is a build configured with KHRONIKA_BUILD_BENCH=ON (a Release build gives the
# figures worth quoting), with the targets khronika and growth_fill built. The work directory
# lives under ${TMPDIR:-/tmp} and is removed on exit; it needs about 7.5 GiB free. Needs git,
# python3, openssl and /usr/bin/time. Takes about 2 to 3 minutes on 2 cores.
# See docs/performance.md ("Replication benchmark") for what the figures mean.
set -euo pipefail
shopt -s inherit_errexit

if [[ $# -ne 1 || ! -d "$1" ]]; then
  echo "usage: $0 BUILD_DIR" >&2
  exit 2
fi
BUILD_DIR=$(cd "$1" && pwd)
KHRONIKA=${KHRONIKA_BIN:-$BUILD_DIR/server/cli/khronika}
FILL=${GROWTH_FILL_BIN:-$BUILD_DIR/tests/bench/growth_fill}
ENTRIES=10000       # 1 KiB entries in A's log (and commits in the git repository)

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
bench_need_bins "ninja -C $BUILD_DIR khronika growth_fill" "$KHRONIKA" "$FILL"
bench_need_tools git python3 openssl /usr/bin/time
bench_begin replication-bench
SERVER_PID='' DAEMON_PID='' SAMPLER_PID=''
idj() { "$KHRONIKA" id --data "$1" --json | python3 -c "import json, sys; print(json.load(sys.stdin)['$2'])"; }

# The sync report line "peer P log O: received records F to T (C chunks)..." -> "F T C"
sync_moved() {
  sed -n 's/.*: received records \([0-9]*\) to \([0-9]*\) (\([0-9]*\) chunks).*/\1 \2 \3/p' "$1" | head -1
}

# ---- machine ----
bench_machine_figs date openssl git

# ---- inputs ----
step "generating one 1 GiB random file and $ENTRIES random 1 KiB files ..."
head -c 1G /dev/urandom >"$WORK/big.bin"
fig big_bytes "$(stat -c %s "$WORK/big.bin")"
random_files "$WORK/small" "$ENTRIES" 1024 5

step "Ed25519 verify rate (openssl speed), the cost of checking one author signature ..."
fig openssl_verify "$(ed25519_speed 2)"

# ---- 1. two nodes, members and peers of each other; A serves ----
step "nodes A and B: init, members of each other, peers of each other; A serves ..."
"$KHRONIKA" keygen --out "$WORK/author.pem" >/dev/null 2>&1
for n in A B; do
  "$KHRONIKA" init --data "$WORK/$n" --key-file "$WORK/$n.key-file" --name "bench-$n" >/dev/null 2>&1
  echo "sync_interval_s = 0" >"$WORK/$n/khronika.conf"   # no scheduled pulls: only ours
done
"$KHRONIKA" author add --data "$WORK/A" --name bench --pubkey "$WORK/author.pem.pub" >/dev/null
"$KHRONIKA" member add --data "$WORK/A" --vkey "$(idj "$WORK/B" vkey)" \
  --cosigner-vkey "$(idj "$WORK/B" cosigner_vkey)" >/dev/null
"$KHRONIKA" member add --data "$WORK/B" --vkey "$(idj "$WORK/A" vkey)" \
  --cosigner-vkey "$(idj "$WORK/A" cosigner_vkey)" >/dev/null
# B does not serve here (only B pulls), so A's entry for B names a port nobody listens on.
"$KHRONIKA" peer add --data "$WORK/A" --url "https://127.0.0.1:$(free_port)" \
  --id "$(idj "$WORK/B" node_id)" --cert-sha256 "$(idj "$WORK/B" cert_sha256)" >/dev/null
start_server "$WORK/A" "$WORK/serve-A"
A_ID=$(idj "$WORK/A" node_id)
"$KHRONIKA" peer add --data "$WORK/B" --url "$URL" --id "$A_ID" \
  --cert-sha256 "$(idj "$WORK/A" cert_sha256)" >/dev/null

# ---- 2. fill A with exactly $ENTRIES entries of 1 KiB (not timed) ----
# growth_fill: random 1 KiB files through the Log API in batches of 1,000 (one transaction
# each), a count and not a time (server_load for a time, in shrinking rounds, overshot when
# the machine's load changed between rounds). A is idle meanwhile, and the server keeps no log
# state outside LMDB.
step "filling A with $ENTRIES entries of 1 KiB (growth_fill, batches of 1,000) ..."
t0=$(now_ns)
line=$("$FILL" --data "$WORK/A" --author "$WORK/author.pem" --case bench --to "$ENTRIES") ||
  die "growth_fill failed while filling A: $line"
fig fill_s "$(secs_since "$t0")"
held=$(log_size "$WORK/A")
((held == ENTRIES)) || die "A holds $held entries, not $ENTRIES"
fig a_records "$held"

# ---- 3. khronika sync of the 10,000 entries to B ----
fig small_flush "$(flush_rate)"
step "khronika sync --data B: $ENTRIES entries of 1 KiB ..."
c0=$(server_cpu_ticks)
timed ksmall "$KHRONIKA" sync --data "$WORK/B" ||
  die "khronika sync failed: $(cat "$WORK/ksmall.out" "$WORK/ksmall.err")"
c1=$(server_cpu_ticks)
timed_figs ksmall
fig ksmall_server_cpu_s "$(ticks_to_s "$c0" "$c1")"
read -r from to chunks < <(sync_moved "$WORK/ksmall.out") || die "no sync report: $(cat "$WORK/ksmall.out")"
fig ksmall_records "$((to - from + 1))"
fig ksmall_chunks "$chunks"
fig ksmall_report "$(head -1 "$WORK/ksmall.out")"
fig ksmall_b_records "$(verify_records "$WORK/B")"
fig ksmall_b_store_kib "$(du -sk "$WORK/B/store" | cut -f1)"

# ---- 4. one 1 GiB file added to A, synced to B ----
step "khronika add of the 1 GiB file to A (not part of the ratios) ..."
t0=$(now_ns)
"$KHRONIKA" add --data "$WORK/A" --key "$WORK/author.pem" --case bench-big "$WORK/big.bin" >/dev/null
fig kadd_big_s "$(secs_since "$t0")"
fig big_flush "$(flush_rate)"
step "khronika sync --data B: one 1 GiB file ..."
hwm0=$(server_status_kib VmHWM)
c0=$(server_cpu_ticks)
# The server's resident memory while it serves the file, every 0.1 s: max VmRSS, RssAnon, RssFile.
start_sampler "$WORK/server-big.rss" "$SERVER_PID"
timed kbig "$KHRONIKA" sync --data "$WORK/B" ||
  die "khronika sync failed: $(cat "$WORK/kbig.out" "$WORK/kbig.err")"
c1=$(server_cpu_ticks)
stop_sampler
read -r rss anon file <"$WORK/server-big.rss"
fig server_big_rss_kib "$rss"; fig server_big_anon_kib "$anon"; fig server_big_file_kib "$file"
timed_figs kbig
fig kbig_server_cpu_s "$(ticks_to_s "$c0" "$c1")"
fig server_hwm_before_big_kib "$hwm0"
fig server_hwm_after_big_kib "$(server_status_kib VmHWM)"
read -r from to chunks < <(sync_moved "$WORK/kbig.out") || die "no sync report: $(cat "$WORK/kbig.out")"
fig kbig_records "$((to - from + 1))"
fig kbig_chunks "$chunks"
fig kbig_report "$(head -1 "$WORK/kbig.out")"
fig kbig_b_records "$(verify_records "$WORK/B")"
fig kbig_b_store_kib "$(du -sk "$WORK/B/store" | cut -f1)"

# ---- 5. a new node C replicates everything from scratch (the analogue of a full clone) ----
step "khronika sync --data C: a fresh node pulls all $((ENTRIES + 1)) entries ..."
"$KHRONIKA" init --data "$WORK/C" --key-file "$WORK/C.key-file" --name bench-C >/dev/null 2>&1
echo "sync_interval_s = 0" >"$WORK/C/khronika.conf"
"$KHRONIKA" member add --data "$WORK/C" --vkey "$(idj "$WORK/A" vkey)" \
  --cosigner-vkey "$(idj "$WORK/A" cosigner_vkey)" >/dev/null
"$KHRONIKA" member add --data "$WORK/A" --vkey "$(idj "$WORK/C" vkey)" \
  --cosigner-vkey "$(idj "$WORK/C" cosigner_vkey)" >/dev/null
"$KHRONIKA" peer add --data "$WORK/A" --url "https://127.0.0.1:$(free_port)" \
  --id "$(idj "$WORK/C" node_id)" --cert-sha256 "$(idj "$WORK/C" cert_sha256)" >/dev/null
"$KHRONIKA" peer add --data "$WORK/C" --url "$URL" --id "$A_ID" \
  --cert-sha256 "$(idj "$WORK/A" cert_sha256)" >/dev/null
rm -rf "$WORK/B"   # room on the disk
timed kfull "$KHRONIKA" sync --data "$WORK/C" ||
  die "khronika sync failed: $(cat "$WORK/kfull.out" "$WORK/kfull.err")"
timed_figs kfull
read -r from to chunks < <(sync_moved "$WORK/kfull.out") || die "no sync report: $(cat "$WORK/kfull.out")"
fig kfull_records "$((to - from + 1))"
fig kfull_chunks "$chunks"
fig kfull_c_records "$(verify_records "$WORK/C")"
rm -rf "$WORK/C"
server_stderr_report "$WORK/serve-A" A
stop_server
rm -rf "$WORK/A"

# ---- 6. baseline: git fast-import, git daemon, git clone / fetch ----
step "git fast-import: $ENTRIES commits of one 1 KiB file each (100 files a directory) ..."
mkdir -p "$WORK/git"
git_import_stream "$WORK/small" "$ENTRIES" >"$WORK/import.stream"
git init -q --bare "$WORK/git/repo.git"
git -C "$WORK/git/repo.git" symbolic-ref HEAD refs/heads/main
git -C "$WORK/git/repo.git" fast-import --quiet <"$WORK/import.stream"
rm -f "$WORK/import.stream"

start_git_daemon "$WORK/git" repo.git
GURL="$GIT_BASE_URL/repo.git"

# --mirror: a bare copy with every ref, no working tree to check out (a Khronika node keeps
# no checked-out copy either); `git fetch` in it later brings the 1 GiB commit.
fig gsmall_flush "$(flush_rate)"
step "git clone --mirror $GURL: $ENTRIES commits ..."
timed gsmall git clone -q --mirror "$GURL" "$WORK/clone1.git" || die "git clone failed: $(cat "$WORK/gsmall.err")"
timed_figs gsmall
fig gsmall_objects "$(git -C "$WORK/clone1.git" count-objects -v | awk '$1 == "in-pack:" {print $2}')"
fig gsmall_pack_kib "$(git -C "$WORK/clone1.git" count-objects -v | awk '$1 == "size-pack:" {print $2}')"
fig gsmall_commits "$(git -C "$WORK/clone1.git" rev-list --count main)"

step "git fast-import: one more commit with the 1 GiB file (not timed) ..."
{
  printf 'commit refs/heads/main\ncommitter Bench <bench@example.org> 1800000000 +0000\n'
  printf 'data 8\nadd big\nfrom refs/heads/main^0\n'
  printf 'M 100644 inline big/big.bin\ndata %d\n' "$(stat -c %s "$WORK/big.bin")"
  cat "$WORK/big.bin"
  printf '\n'
} | git -C "$WORK/git/repo.git" fast-import --quiet
rm -f "$WORK/big.bin"

fig gbig_flush "$(flush_rate)"
step "git fetch in the mirror: the 1 GiB commit ..."
timed gbig git -C "$WORK/clone1.git" fetch -q || die "git fetch failed: $(cat "$WORK/gbig.err")"
timed_figs gbig
# fetch.unpackLimit (100 by default): a fetch of fewer objects stores them loose.
fig gbig_objects "$(( $(git -C "$WORK/clone1.git" count-objects -v | awk '$1 == "in-pack:" || $1 == "count:" {s += $2} END {print s}') - $(awk -F= '$1 == "gsmall_objects" {print $2}' "$FIG") ))"
fig gbig_loose "$(git -C "$WORK/clone1.git" count-objects -v | awk '$1 == "count:" {print $2}')"
rm -rf "$WORK/clone1.git"

step "git clone --mirror $GURL: everything, from scratch ..."
timed gfull git clone -q --mirror "$GURL" "$WORK/clone2.git" || die "git clone failed: $(cat "$WORK/gfull.err")"
timed_figs gfull
fig gfull_objects "$(git -C "$WORK/clone2.git" count-objects -v | awk '$1 == "in-pack:" {print $2}')"
rm -rf "$WORK/clone2.git"

# ---- report ----
bench_report "$FIG" "$ENTRIES" <<'EOF'
n = int(sys.argv[1])
big = f("big_bytes")
small_bytes = n * 1024.0

# Khronika objects (format 2): records + sealed entries (which hold the file descriptors) +
# sealed chunks.
def kobj(p): return 2 * f(p + "_records") + f(p + "_chunks")
ks_obj, kb_obj, kf_obj = kobj("ksmall"), kobj("kbig"), kobj("kfull")
ks_ops, gs_ops = ks_obj / f("ksmall_s"), f("gsmall_objects") / f("gsmall_s")
ks_mbs, gs_mbs = small_bytes / MB / f("ksmall_s"), small_bytes / MB / f("gsmall_s")
ks_eps, gs_cps = f("ksmall_records") / f("ksmall_s"), f("gsmall_commits") / f("gsmall_s")
kb_mbs, gb_mbs = big / MB / f("kbig_s"), big / MB / f("gbig_s")
kf_mbs = (big + small_bytes) / MB / f("kfull_s")
gf_mbs = (big + small_bytes) / MB / f("gfull_s")

def mem(p):
    return (f"peak RSS {f(p + '_rss_kib') / MiB:.1f} MiB (sampled: anonymous "
            f"{f(p + '_anon_kib') / MiB:.1f}, file-backed {f(p + '_file_kib') / MiB:.1f})")
def cpu(p): return f"user {f(p + '_user_s'):.2f} s, sys {f(p + '_sys_s'):.2f} s"

print()
print("Khronika replication benchmark")
print(machine_line(fig['openssl_version'], f"git {fig['git_version']}", fig['date']))
print("MB = 10^6 bytes of file content. Puller and server (or git daemon) share the machine, "
      "over loopback.")
print(f"A was filled with {fig['a_records']} entries by growth_fill ({f('fill_s'):.1f} s, not timed "
      f"below).")
print()
print("Absolute figures")
rows = [
    ("Ed25519 verify (openssl speed)", f"{f('openssl_verify'):,.0f} /s"),
    ("disk flushes/s (4 KiB + fdatasync), before each run",
     f"sync {f('small_flush'):,.0f}, big sync {f('big_flush'):,.0f}, clone "
     f"{f('gsmall_flush'):,.0f}, fetch {f('gbig_flush'):,.0f}"),
    (f"khronika sync, {n} entries of 1 KiB",
     f"{ks_ops:,.0f} objects/s, {ks_mbs:.2f} MB/s ({f('ksmall_s'):.2f} s, "
     f"{ks_eps:,.0f} entries/s)"),
    ("  objects moved (records+sealed entries+sealed chunks)",
     f"{ks_obj:,.0f} ({fig['ksmall_records']} records, {fig['ksmall_chunks']} chunks)"),
    ("  puller CPU; server A CPU", f"{cpu('ksmall')}; {f('ksmall_server_cpu_s'):.2f} s"),
    ("  puller memory", mem("ksmall")),
    ("  B's store after", f"{f('ksmall_b_store_kib') / MiB:.1f} MiB"),
    (f"git clone --mirror, {fig['gsmall_commits']} commits of 1 KiB",
     f"{gs_ops:,.0f} objects/s, {gs_mbs:.2f} MB/s ({f('gsmall_s'):.2f} s, "
     f"{gs_cps:,.0f} commits/s)"),
    ("  objects moved (commits+trees+blobs)",
     f"{f('gsmall_objects'):,.0f} (pack {f('gsmall_pack_kib') / MiB:.1f} MiB)"),
    ("  clone CPU; memory", f"{cpu('gsmall')}; peak RSS {f('gsmall_rss_kib') / MiB:.1f} MiB"),
    ("khronika sync, one 1 GiB file",
     f"{kb_mbs:,.1f} MB/s ({f('kbig_s'):.2f} s; {kb_obj:,.0f} objects: "
     f"{fig['kbig_records']} record, {fig['kbig_chunks']} chunks)"),
    ("  puller CPU; server A CPU", f"{cpu('kbig')}; {f('kbig_server_cpu_s'):.2f} s"),
    ("  puller memory", mem("kbig")),
    ("  server A peak RSS while serving it (sampled)",
     f"{f('server_big_rss_kib') / MiB:.1f} MiB (anonymous {f('server_big_anon_kib') / MiB:.1f}, "
     f"file-backed {f('server_big_file_kib') / MiB:.1f})"),
    ("  server A VmHWM before / after", f"{f('server_hwm_before_big_kib') / MiB:.1f} / "
     f"{f('server_hwm_after_big_kib') / MiB:.1f} MiB"),
    ("  B's store after", f"{f('kbig_b_store_kib') / MiB:,.0f} MiB"),
    ("git fetch of the 1 GiB commit",
     f"{gb_mbs:,.1f} MB/s ({f('gbig_s'):.2f} s; {fig['gbig_objects']} objects, "
     f"{fig['gbig_loose']} stored loose)"),
    ("  fetch CPU; memory", f"{cpu('gbig')}; peak RSS {f('gbig_rss_kib') / MiB:.1f} MiB"),
    (f"khronika sync, fresh node, all {n + 1} entries",
     f"{kf_mbs:,.1f} MB/s, {kf_obj / f('kfull_s'):,.0f} objects/s ({f('kfull_s'):.2f} s); "
     f"peak RSS {f('kfull_rss_kib') / MiB:.1f} MiB"),
    ("  puller CPU", cpu("kfull")),
    (f"git clone --mirror, all {int(f('gsmall_commits')) + 1} commits",
     f"{gf_mbs:,.1f} MB/s, {f('gfull_objects') / f('gfull_s'):,.0f} objects/s "
     f"({f('gfull_s'):.2f} s); peak RSS {f('gfull_rss_kib') / MiB:.1f} MiB"),
    ("  clone CPU", cpu("gfull")),
    ("khronika add of the 1 GiB file on A (context)", f"{big / MB / f('kadd_big_s'):,.1f} MB/s"),
]
print_rows(rows)
print()
print("Checks")
print(f"  A held {fig['a_records']} records; B after the first sync: {fig['ksmall_b_records']} "
      f"records, after the second: {fig['kbig_b_records']}; the fresh node: "
      f"{fig['kfull_c_records']}; khronika verify clean on each")
print(f"  {fig['ksmall_report']}")
print(f"  {fig['kbig_report']}")
held = int(fig["a_records"])
failed = [k for k, want in (("ksmall_b_records", held), ("kbig_b_records", held + 1),
                            ("kfull_c_records", held + 1)) if int(fig[k]) != want]
print()
print("Ratios (Khronika / git, same content, same run)")
ratios = [
    ("1 KiB entries: sync objects/s / clone objects/s", ks_obj / f("ksmall_s") / gs_ops),
    ("1 KiB entries: sync entries/s / clone commits/s", ks_eps / gs_cps),
    ("1 KiB entries: sync MB/s / clone MB/s", ks_mbs / gs_mbs),
    ("1 GiB file: sync MB/s / fetch MB/s", kb_mbs / gb_mbs),
    ("everything, from scratch: sync MB/s / clone MB/s", kf_mbs / gf_mbs),
    ("1 KiB sync entries/s / Ed25519 verify/s", ks_eps / f("openssl_verify")),
    ("1 GiB sync peak RSS / git fetch peak RSS", f("kbig_rss_kib") / f("gbig_rss_kib")),
]
print_ratios(ratios)
if failed:
    print(f"CHECK FAILED: {', '.join(failed)}: a node holds other than every record of A")
    sys.exit(1)
EOF
