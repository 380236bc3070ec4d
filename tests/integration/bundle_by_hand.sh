#!/usr/bin/env bash
# docs/lawyer.md, part 2 ("Checking a bundle by hand"), run for real: builds two federated nodes
# with the real binary (B keeps and cosigns A's log), exports a court bundle of one case the ways
# docs/lawyer.md describes (from the node over HTTPS, as a folder and as a .tar; and by the
# operator with --data), checks it with `khronika verify-bundle` (with and without --trust), and
# then runs the by-hand procedure as shipped, docs/tools/check_bundle.sh, which uses only
# sha256sum, openssl, xxd, od, base64, python3 (standard library) and a shell.
#
# It first checks that part 2 of docs/lawyer.md prints every function of the script exactly as
# the script has it, and nothing else in its sh blocks, so the two cannot drift apart. The script
# must pass the bundle (exit 0, "bundle check: 9 of 9 steps passed"), and a selective bundle of
# one file of the case. Then the test tampers with copies of the bundle (a flipped byte in an
# evidence file and in a sealed chunk, a forged signature, a record left out, another case, a
# changed checkpoint, a misnamed record folder, a named pipe and a link, an absurd file count, a
# key of another file) and gives the script wrong trusted keys files, and requires it to exit 1
# (within its timeout) with a summary line that names the failing steps, the failing step to say
# why, and verify-bundle to refuse the bundle too.
#
# Usage: bundle_by_hand.sh /path/to/khronika
set -euo pipefail

KH=${1:?usage: $0 /path/to/khronika}
KH=$(cd "$(dirname "$KH")" && pwd)/$(basename "$KH")
HERE=$(cd "$(dirname "$0")" && pwd)
DOC=$HERE/../../docs/lawyer.md
CHECK=$HERE/../../docs/tools/check_bundle.sh

WORK=$(mktemp -d "${TMPDIR:-/tmp}/kh-by-hand.XXXXXX")
SERVE_PID=""
cleanup() {
  if [ -n "$SERVE_PID" ]; then
    kill "$SERVE_PID" 2>/dev/null || true
    wait "$SERVE_PID" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }
step() { echo "--- $*"; }

for tool in sha256sum openssl xxd od base64 python3 tar split cmp comm date timeout mkfifo; do
  command -v "$tool" >/dev/null || fail "needs $tool"
done
openssl version | grep -q '^OpenSSL 3' || fail "needs OpenSSL 3 (pkeyutl -rawin)"
[ -x "$CHECK" ] || fail "docs/tools/check_bundle.sh is missing or not executable"
[ -f "$DOC" ] || fail "docs/lawyer.md is missing"

# ---- The procedure: docs/tools/check_bundle.sh, printed in docs/lawyer.md part 2 -----------------

step "docs/lawyer.md part 2 prints every function of check_bundle.sh, exactly as the script has it"
python3 - "$CHECK" "$DOC" "$WORK/from-doc.sh" <<'PY'
import difflib, re, sys
script = open(sys.argv[1], encoding="utf-8").read()
doc = open(sys.argv[2], encoding="utf-8").read()
START = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\(\) \{")

def fail(message):
    sys.exit("FAIL: " + message)

def functions(text, where):
    """The top-level shell functions of text (name -> source) and the lines outside them. A
    function is one line `name() { ...; }`, or a line `name() {` up to the next line `}`."""
    found, outside, lines, i = {}, [], text.split("\n"), 0
    while i < len(lines):
        m = START.match(lines[i])
        if not m:
            outside.append(lines[i])
            i += 1
            continue
        j = i
        if lines[i] == m.group(0):
            while j < len(lines) and lines[j] != "}":
                j += 1
            if j == len(lines):
                fail(f"{where}: {m.group(1)}() has no line '}}' that ends it")
        if m.group(1) in found:
            fail(f"{where}: {m.group(1)}() twice")
        found[m.group(1)] = "\n".join(lines[i:j + 1])
        i = j + 1
    return found, outside

in_script, outside = functions(script, "check_bundle.sh")
for line in outside:  # all of the script's code is in its functions, which the document shows
    if line.strip() and not line.startswith("#") and line != 'main "$@"':
        fail(f"check_bundle.sh has code outside its functions: {line}")
if "\n# Part 2" not in doc:
    fail("docs/lawyer.md has no '# Part 2'")
in_doc = {}
blocks = re.findall(r"^```sh\n(.*?)^```$", doc[doc.index("\n# Part 2"):], flags=re.M | re.S)
with open(sys.argv[3], "w", encoding="utf-8") as typed:  # the script as typed from the document
    typed.write("\n".join(blocks) + 'main "$@"\n')
for block in blocks:
    found, outside = functions(block, "docs/lawyer.md part 2")
    for line in outside:
        if line.strip():
            fail(f"docs/lawyer.md part 2: a sh block line outside the script's functions: {line}")
    for name, source in found.items():
        if name in in_doc:
            fail(f"docs/lawyer.md part 2 shows {name}() twice")
        in_doc[name] = source
for name in in_script:
    if name not in in_doc:
        fail(f"docs/lawyer.md part 2 does not show check_bundle.sh's {name}()")
for name in in_doc:
    if name not in in_script:
        fail(f"docs/lawyer.md part 2 shows {name}(), which check_bundle.sh does not have")
for name, source in in_script.items():
    if in_doc[name] != source:
        sys.stderr.writelines(difflib.unified_diff(source.splitlines(True),
                                                   in_doc[name].splitlines(True),
                                                   "check_bundle.sh", "docs/lawyer.md"))
        fail(f"{name}() in docs/lawyer.md part 2 differs from check_bundle.sh (diff above)")
for letter in "abcdefghi":
    if "step_" + letter not in in_script:
        fail(f"check_bundle.sh has no step_{letter}()")
print(f"the same {len(in_script)} functions in both")
PY

mkdir "$WORK/tmp"
# Runs check_bundle.sh with arguments $2...; its output (stdout and stderr) goes to $WORK/$1.out,
# its exit status to RC.
check() {
  local name=$1
  shift
  RC=0
  TMPDIR="$WORK/tmp" timeout 120 "$CHECK" "$@" >"$WORK/$name.out" 2>&1 || RC=$?
}
# expect_summary NAME STATUS LINE: run NAME exited with STATUS, and LINE is its one summary line,
# printed last.
expect_summary() {
  local out=$WORK/$1.out
  [ "$RC" = "$2" ] || { cat "$out"; fail "$1: check_bundle.sh exited $RC, not $2"; }
  [ "$(grep -c '^bundle check: ' "$out")" = 1 ] || { cat "$out"; fail "$1: not one summary line"; }
  [ "$(tail -n 1 "$out")" = "$3" ] || { cat "$out"; fail "$1: the summary is not: $3"; }
}
# Number of OK lines that step $2 of run $1 printed.
oks() { awk -v s="($2)" '/^\(/ {cur = $1; next} cur == s && /^    OK /{n++} END{print n + 0}' "$WORK/$1.out"; }
# Requires a FAIL line of run $1 (a step's own, indented) that contains $2.
expect_fail() {
  grep -F -- "$2" "$WORK/$1.out" | grep -q '^    FAIL ' || { cat "$WORK/$1.out"; fail "$1: no FAIL line for: $2"; }
}
# Requires the line of step $2 of run $1 to start with $3 ("ok" or "FAIL").
expect_step() {
  grep -q "^($2) $3: " "$WORK/$1.out" || { cat "$WORK/$1.out"; fail "$1: step ($2) is not $3"; }
}
flip() {  # inverts the byte at offset $2 of file $1
  local b
  b=$(xxd -p -s "$2" -l 1 "$1")
  printf "\\x$(printf %02x $((0x$b ^ 0xff)))" | dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}
reseal() {  # what a forger would do: puts file $2's new SHA-256 into bundle $1's MANIFEST.sha256
  local h
  h=$(sha256sum "$1/$2" | cut -c1-64)
  sed -i "s|^[0-9a-f]\{64\}  $2\$|$h  $2|" "$1/MANIFEST.sha256"
}
copy_bundle() { rm -rf "$WORK/$1"; cp -r "$WORK/khronika-bundle" "$WORK/$1"; }

# ---- Two organisations' nodes --------------------------------------------------------------------

cd "$WORK"
id_field() { "$KH" id --data "$1" | awk -v k="$2" '$1 == k {print $2}'; }

step "build node A (one author, two cases) and node B (one author), and federate them"
"$KH" init --data a --key-file a.key-file --name ngo-a >/dev/null 2>&1
"$KH" init --data b --key-file b.key-file --name ngo-b >/dev/null 2>&1
"$KH" keygen --out alice.pem >/dev/null 2>&1
"$KH" keygen --out bohdan.pem >/dev/null 2>&1
"$KH" author add --data a --name alice --pubkey alice.pem.pub >/dev/null
"$KH" author add --data b --name bohdan --pubkey bohdan.pem.pub >/dev/null
printf 'hello, court\n' >statement.txt
head -c 1500000 /dev/urandom >photo.jpg      # two chunks
: >empty.bin
printf 'an unrelated case\n' >other.txt
printf 'page two\n' >page2.txt
"$KH" add --data a --key alice.pem --case case-001 --meta location=Kharkiv --meta source=witness \
  statement.txt photo.jpg empty.bin >/dev/null
"$KH" add --data a --key alice.pem --case case-002 other.txt >/dev/null
"$KH" add --data a --key alice.pem --case case-001 page2.txt >/dev/null
"$KH" add --data b --key bohdan.pem --case case-001 page2.txt >/dev/null
A_ID=$(id_field a node_id); B_ID=$(id_field b node_id)
"$KH" member add --data b --vkey "$(id_field a vkey)" --cosigner-vkey "$(id_field a cosigner_vkey)" >/dev/null
# A answers B's pulls (sync endpoints answer configured peers only); A itself never pulls here.
"$KH" peer add --data a --url https://127.0.0.1:9 --id "$B_ID" --cert-sha256 "$(id_field b cert_sha256)" >/dev/null
echo 'sync_interval_s = 0' >a/khronika.conf
TOKEN=$("$KH" token create --data a --role reader --case case-001 2>/dev/null)

step "serve A; B pulls A's log and cosigns its checkpoint"
"$KH" serve --data a --listen 127.0.0.1:0 >serve.log 2>&1 &
SERVE_PID=$!
for _ in $(seq 100); do grep -q '^listening on ' serve.log && break; sleep 0.1; done
URL=$(sed -n 's/^listening on //p' serve.log)
[ -n "$URL" ] || { cat serve.log; fail "serve did not start"; }
FP=$(id_field a cert_sha256)
"$KH" peer add --data b --url "$URL" --id "$A_ID" --cert-sha256 "$FP" >/dev/null
# Outputs are captured before grep reads them: with pipefail, `grep -q` leaving a pipe early
# would fail it (SIGPIPE) whatever the output said.
grep -q 'cosigned' <<<"$("$KH" sync --data b)" || fail "B did not cosign A's checkpoint"

step "a lawyer exports from A over HTTPS: a folder (checked on arrival) and a .tar"
"$KH" export --node "$URL" --token "$TOKEN" --pin "sha256:$FP" --case case-001 --out case-001-bundle \
  >export.out || { cat export.out; fail "export --node failed"; }
grep -q '^bundle verified: case case-001, 2 records, 2 entries and 4 files disclosed (' export.out ||
  { cat export.out; fail "export --node"; }
"$KH" export --node "$URL" --token "$TOKEN" --pin "sha256:$FP" --case case-001 --out case-001.tar --tar >/dev/null
mkdir case-001-from-tar && tar -xf case-001.tar -C case-001-from-tar
"$KH" verify-bundle case-001-from-tar >/dev/null || fail "the node's .tar does not verify"
"$KH" access-log --data a | grep -c 'export' | grep -qx 2 || fail "the exports are not in A's access log"

step "a selective bundle: photo.jpg only, of the case's first entry"
"$KH" export --node "$URL" --token "$TOKEN" --pin "sha256:$FP" --case case-001 --file photo.jpg \
  --out selected.tar --tar >selected.out || { cat selected.out; fail "export --file photo.jpg"; }
grep -q '^bundle verified: case case-001, 2 records, 1 entry and 1 file disclosed (' selected.out ||
  { cat selected.out; fail "the selective bundle's summary"; }
mkdir selected && tar -xf selected.tar -C selected
if grep -rqF 'hello, court' selected || grep -rqF 'page two' selected; then
  fail "the selective bundle holds a file it does not disclose"
fi
for f in statement.txt page2.txt empty.bin; do
  h=$(sha256sum "$f" | cut -c1-64)
  if grep -rqF "$h" selected || grep -rqF "$f" selected; then fail "the selective bundle names $f"; fi
done
kill "$SERVE_PID"; wait "$SERVE_PID" || true; SERVE_PID=""

step "serve B; A pulls B's log and with it B's cosignature of A's checkpoint"
"$KH" member add --data a --vkey "$(id_field b vkey)" --cosigner-vkey "$(id_field b cosigner_vkey)" >/dev/null
echo 'sync_interval_s = 0' >b/khronika.conf
"$KH" serve --data b --listen 127.0.0.1:0 >serve-b.log 2>&1 &
SERVE_PID=$!
for _ in $(seq 100); do grep -q '^listening on ' serve-b.log && break; sleep 0.1; done
URL_B=$(sed -n 's/^listening on //p' serve-b.log)
[ -n "$URL_B" ] || { cat serve-b.log; fail "serve did not start"; }
"$KH" peer remove --data a "$B_ID" >/dev/null
"$KH" peer add --data a --url "$URL_B" --id "$B_ID" --cert-sha256 "$(id_field b cert_sha256)" >/dev/null
"$KH" sync --data a >/dev/null || fail "A did not pull from B"
kill "$SERVE_PID"; wait "$SERVE_PID" || true; SERVE_PID=""

step "A's operator exports the case (A's log, cosigned by B; B's own case-001 entry is B's, not A's case)"
"$KH" export --data a --case case-001 --out khronika-bundle >/dev/null
"$KH" export --data a --case case-001 --out khronika-bundle.tar --tar >/dev/null
[ ! -e "khronika-bundle/records/$B_ID" ] || fail "A's bundle of case-001 holds B's log"
mkdir from-tar && tar -xf khronika-bundle.tar -C from-tar
"$KH" verify-bundle from-tar >/dev/null || fail "the operator's .tar does not verify"

step "khronika verify-bundle, without and with --trust"
"$KH" verify-bundle khronika-bundle >verify.out || { cat verify.out; fail "verify-bundle"; }
grep -q '^bundle verified: case case-001, 2 records, 2 entries and 4 files disclosed (' verify.out ||
  { cat verify.out; fail "verify-bundle summary"; }
# The checkpoint's size counts A's custody records (its tokens' grants, the exports) as well.
S=$(sed -n 2p "khronika-bundle/logs/$A_ID/checkpoint.note")
grep -q "log $A_ID: 2 records of the case, checkpoint size $S, signed by its origin; cosigned by 1 other member" \
  verify.out || { cat verify.out; fail "verify-bundle: A's log"; }
for n in a b; do id_field "$n" vkey; id_field "$n" cosigner_vkey; done >trusted.keys
"$KH" id --data a | awk '$1 == "vkey" || $1 == "cosigner_vkey" {print $2}' | cmp -s - <(head -n 2 trusted.keys) ||
  fail "the awk line of docs/lawyer.md does not print the two keys"
"$KH" verify-bundle khronika-bundle --trust trusted.keys >trust.out || { cat trust.out; fail "--trust"; }
grep -q 'signed by its origin (trusted key); cosigned by 1 other member, 1 of them trusted' trust.out ||
  { cat trust.out; fail "--trust: A's log"; }
tail -n 2 trusted.keys >b-only.keys
if "$KH" verify-bundle khronika-bundle --trust b-only.keys >/dev/null 2>trust.err; then
  fail "--trust accepted an origin that is not in the trust file"
fi
grep -q "keys/origins/$A_ID.vkey: this origin key is not in the trust file" trust.err || fail "--trust message"


# ---- By hand: check_bundle.sh ----------------------------------------------------------------------

step "check_bundle.sh on the untouched bundle, with the trusted keys: every step passes"
check good "$WORK/khronika-bundle" "$WORK/trusted.keys"
expect_summary good 0 "bundle check: 9 of 9 steps passed"
[ "$(grep -o '^([a-z]) [a-zA-Z]*:' "$WORK/good.out" | tr '\n' ' ')" = \
  "(a) ok: (b) ok: (c) ok: (d) ok: (e) ok: (f) ok: (g) ok: (h) ok: (i) ok: " ] ||
  { cat "$WORK/good.out"; fail "not one ok line for each step, (a) to (i) in order"; }
if grep -v -E -e '^\([a-i]\) ok: ' -e '^    OK ' -e '^         ' -e '^bundle check: ' "$WORK/good.out"; then
  cat "$WORK/good.out"; fail "check_bundle.sh printed something other than OK lines (above)"
fi
for want in a:2 b:2 c:4 d:4 e:2 f:1 g:2 h:2 i:2; do
  got=$(oks good "${want%%:*}")
  [ "$got" = "${want#*:}" ] || { cat "$WORK/good.out"; fail "step ${want%%:*}: $got OK lines, expected ${want#*:}"; }
done
grep -q "^    OK   logs/$A_ID/checkpoint.note: cosigned by khronika/$B_ID/witness on " "$WORK/good.out" ||
  fail "(g) does not show B's cosignature"
cat "$WORK/good.out"
ls "$WORK/tmp" | grep -q . && fail "check_bundle.sh left scratch files behind"
[ -z "$(cd "$WORK/khronika-bundle" && sha256sum --quiet --strict -c MANIFEST.sha256)" ] &&
  [ "$(find "$WORK/khronika-bundle" -newer "$WORK/trusted.keys" | wc -l)" = 0 ] ||
  fail "check_bundle.sh wrote into the bundle"

step "the script typed from docs/lawyer.md's blocks prints the same"
RC=0; TMPDIR="$WORK/tmp" timeout 120 bash "$WORK/from-doc.sh" "$WORK/khronika-bundle" "$WORK/trusted.keys" \
  >"$WORK/from-doc.out" 2>&1 || RC=$?
expect_summary from-doc 0 "bundle check: 9 of 9 steps passed"
diff "$WORK/good.out" "$WORK/from-doc.out" || fail "the script typed from the document prints otherwise"

step "check_bundle.sh without trusted keys: (i) not run, and the summary says so"
check nokeys "$WORK/khronika-bundle"
expect_summary nokeys 0 "bundle check: 8 of 8 steps passed; (i) not run: no TRUSTED_KEYS_FILE, so the keys were not compared"
grep -q '^(i)' "$WORK/nokeys.out" && fail "(i) ran without a trusted keys file"

step "check_bundle.sh on the bundles exported over HTTPS (a folder, and the .tar unpacked)"
for b in case-001-bundle case-001-from-tar from-tar; do
  check "$b" "$WORK/$b" "$WORK/trusted.keys"
  expect_summary "$b" 0 "bundle check: 9 of 9 steps passed"
done

step "check_bundle.sh on the selective bundle: the one file disclosed, every step passes"
check selected "$WORK/selected" "$WORK/trusted.keys"
expect_summary selected 0 "bundle check: 9 of 9 steps passed"
grep -q '^    OK   records/.*/files/1/content.jpg is "photo.jpg", 1500000 bytes, as signed' "$WORK/selected.out" ||
  { cat "$WORK/selected.out"; fail "(d) does not show photo.jpg"; }
[ "$(oks selected c)" = 2 ] && [ "$(oks selected d)" = 1 ] && [ "$(oks selected h)" = 2 ] ||
  { cat "$WORK/selected.out"; fail "the selective bundle: not one entry, one file and two records checked"; }

step "check_bundle.sh's usage errors exit 2"
for args in "" "--bogus-count a b c" "$WORK/khronika-bundle.tar" "$WORK/khronika-bundle $WORK/no-such.keys"; do
  # shellcheck disable=SC2086
  RC=0; "$CHECK" $args >"$WORK/usage.out" 2>&1 || RC=$?
  [ "$RC" = 2 ] || { cat "$WORK/usage.out"; fail "check_bundle.sh $args: exit $RC, not 2"; }
done
"$CHECK" --help | grep -qx 'usage: check_bundle.sh BUNDLE_DIR \[TRUSTED_KEYS_FILE\]' || fail "--help"

step "wrong trusted keys: B's keys only (A's node key missing)"
check bkeys "$WORK/khronika-bundle" "$WORK/b-only.keys"
expect_summary bkeys 1 "bundle check: FAILED at (i): 8 of 9 steps passed"
expect_step bkeys i FAIL
expect_fail bkeys "keys/origins/$A_ID.vkey: this node key is not in"

step "wrong trusted keys: a file of comments only"
printf '# NGO A, handed over in person\n\n# (no keys)\n' >"$WORK/comments.keys"
check ckeys "$WORK/khronika-bundle" "$WORK/comments.keys"
expect_summary ckeys 1 "bundle check: FAILED at (i): 8 of 9 steps passed"
expect_fail ckeys "keys/origins/$A_ID.vkey: this node key is not in"

step "A's keys only, with comments: passes, but B's cosignature is not counted as confirmation"
{ echo "# NGO A, handed over by its operator"; echo; head -n 2 "$WORK/trusted.keys" | sed 's/^/  /'; } >"$WORK/a-only.keys"
check akeys "$WORK/khronika-bundle" "$WORK/a-only.keys"
expect_summary akeys 0 "bundle check: 9 of 9 steps passed"
grep -q "^         keys/cosigners/$B_ID.vkey: not in .*, so its cosignature is no independent confirmation" \
  "$WORK/akeys.out" || { cat "$WORK/akeys.out"; fail "(i) does not say that B's witness key is not trusted"; }
grep -q '1 other member, 0 of them trusted' <<<"$("$KH" verify-bundle "$WORK/khronika-bundle" --trust "$WORK/a-only.keys")" ||
  fail "verify-bundle --trust a-only.keys disagrees"

# The case's two records, wherever A's custody records put them in its log.
A_DIR=$(cd "$WORK/khronika-bundle" && ls -d "records/$A_ID"/* | sed -n 1p)
A_DIR2=$(cd "$WORK/khronika-bundle" && ls -d "records/$A_ID"/* | sed -n 2p)
A_INDEX=$((10#${A_DIR##*/}))

step "tamper 1: one byte of an evidence file flipped"
copy_bundle t1
flip "$WORK/t1/$A_DIR/files/1/content.jpg" 1000
check t1 "$WORK/t1" "$WORK/trusted.keys"
expect_summary t1 1 "bundle check: FAILED at (a), (d): 7 of 9 steps passed"
expect_fail t1 "$A_DIR/files/1/content.jpg: FAILED"
expect_fail t1 "$A_DIR/files/1: the content file is not the one the descriptor describes"
if "$KH" verify-bundle "$WORK/t1" >/dev/null 2>&1; then fail "verify-bundle missed tamper 1"; fi

step "tamper 1b: one byte of a sealed chunk flipped (and MANIFEST.sha256 updated to match)"
copy_bundle t1b
flip "$WORK/t1b/$A_DIR/files/1/sealed/0.bin" 70000
reseal "$WORK/t1b" "$A_DIR/files/1/sealed/0.bin"
check t1b "$WORK/t1b" "$WORK/trusted.keys"
expect_summary t1b 1 "bundle check: FAILED at (d): 8 of 9 steps passed"
expect_fail t1b "$A_DIR/files/1: the sealed chunks are not the ones the sealed entry names"
if "$KH" verify-bundle "$WORK/t1b" >/dev/null 2>&1; then fail "verify-bundle missed tamper 1b"; fi

step "tamper 1c: the key of another file of the entry (and MANIFEST.sha256 updated to match)"
copy_bundle t1c
cp "$WORK/t1c/$A_DIR/files/1/file.key" "$WORK/t1c/$A_DIR/files/0/file.key"
reseal "$WORK/t1c" "$A_DIR/files/0/file.key"
check t1c "$WORK/t1c" "$WORK/trusted.keys"
expect_summary t1c 1 "bundle check: FAILED at (d): 8 of 9 steps passed"
expect_fail t1c "$A_DIR/files/0: cannot be checked"
if "$KH" verify-bundle "$WORK/t1c" >/dev/null 2>&1; then fail "verify-bundle missed tamper 1c"; fi

step "tamper 2: the author's signature forged (and MANIFEST.sha256 updated to match)"
copy_bundle t2
f=$WORK/t2/$A_DIR2/entry.bin
flip "$f" $(($(stat -c %s "$f") - 1))
reseal "$WORK/t2" "$A_DIR2/entry.bin"
check t2 "$WORK/t2" "$WORK/trusted.keys"
expect_summary t2 1 "bundle check: FAILED at (c): 8 of 9 steps passed"
expect_fail t2 "$A_DIR2: entry.key opens the sealed entry to NOT entry.bin"
expect_fail t2 "$A_DIR2: the author's signature does not verify"
if "$KH" verify-bundle "$WORK/t2" >/dev/null 2>&1; then fail "verify-bundle missed tamper 2"; fi

step "tamper 3: the case's first record in A's log left out"
copy_bundle t3
rm -r "$WORK/t3/$A_DIR"
sed -i "\|  $A_DIR/|d" "$WORK/t3/MANIFEST.sha256"
check t3 "$WORK/t3" "$WORK/trusted.keys"
expect_summary t3 1 "bundle check: FAILED at (h): 8 of 9 steps passed"
expect_fail t3 "$A_DIR2: link.key does not open a link to the previous record here (one is missing)"
if "$KH" verify-bundle "$WORK/t3" >/dev/null 2>&1; then fail "verify-bundle missed tamper 3"; fi

step "tamper 3b: bundle.json claims another case"
copy_bundle t3b
sed -i 's/"case": "case-001"/"case": "case-002"/' "$WORK/t3b/bundle.json"
grep -q '"case": "case-002"' "$WORK/t3b/bundle.json" || fail "tamper 3b: bundle.json not changed"
reseal "$WORK/t3b" bundle.json
check t3b "$WORK/t3b" "$WORK/trusted.keys"
expect_summary t3b 1 "bundle check: FAILED at (h): 8 of 9 steps passed"
expect_fail t3b "$A_DIR: an entry of another case, not case-002"
if "$KH" verify-bundle "$WORK/t3b" >/dev/null 2>&1; then fail "verify-bundle missed tamper 3b"; fi

step "tamper 4: A's checkpoint given another root"
copy_bundle t4
note=logs/$A_ID/checkpoint.note
sed -i '3s/.*/47DEQpj8HBSa+\/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=/' "$WORK/t4/$note"
reseal "$WORK/t4" "$note"
check t4 "$WORK/t4" "$WORK/trusted.keys"
expect_summary t4 1 "bundle check: FAILED at (e), (f), (g): 6 of 9 steps passed"
expect_fail t4 "$A_DIR: record $A_INDEX is NOT in the checkpoint of size $S"
expect_fail t4 "$note: not a checkpoint signed by node $A_ID"
expect_fail t4 "$note: the cosignature by khronika/$B_ID/witness does not verify"
expect_fail t4 "$note: 0 of 1 cosignature lines verified"
if "$KH" verify-bundle "$WORK/t4" >/dev/null 2>&1; then fail "verify-bundle missed tamper 4"; fi

step "tamper 5: a record's folder renamed (its step stops on an error; the later steps still run)"
copy_bundle t5
mv "$WORK/t5/$A_DIR2" "$WORK/t5/records/$A_ID/2nd"
sed -i "s|  $A_DIR2/|  records/$A_ID/2nd/|" "$WORK/t5/MANIFEST.sha256"
check t5 "$WORK/t5" "$WORK/trusted.keys"
expect_summary t5 1 "bundle check: FAILED at (b): 8 of 9 steps passed"
grep -q '^(b) FAIL: .*: the step stopped on an error (below)$' "$WORK/t5.out" || { cat "$WORK/t5.out"; fail "(b) did not stop"; }
[ "$(oks t5 h)" = 2 ] || { cat "$WORK/t5.out"; fail "(h) did not run after (b) stopped"; }
if "$KH" verify-bundle "$WORK/t5" >/dev/null 2>&1; then fail "verify-bundle missed tamper 5"; fi

step "tamper 6: a named pipe instead of an evidence file, and a link out of the bundle: nothing read"
copy_bundle t6
rm "$WORK/t6/$A_DIR/files/0/content.txt"
mkfifo "$WORK/t6/$A_DIR/files/0/content.txt"
ln -s /etc/hostname "$WORK/t6/NOTES.txt"
check t6 "$WORK/t6" "$WORK/trusted.keys"
expect_summary t6 1 "bundle check: FAILED at (a): 0 of 9 steps passed; (b) to (i) not run: the folder holds a link or a special file"
expect_fail t6 "neither a file nor a folder: $A_DIR/files/0/content.txt"
expect_fail t6 "neither a file nor a folder: NOTES.txt"
RC=0; timeout 60 "$KH" verify-bundle "$WORK/t6" >/dev/null 2>&1 || RC=$?
[ "$RC" = 1 ] || fail "verify-bundle on tamper 6: exit $RC, not 1"

step "tamper 7: an entry that claims 2^63 - 1 files (the check must not count up to them)"
copy_bundle t7
f=$WORK/t7/$A_DIR2/entry.bin
L=$(od --endian=little -An -t u8 -j 3 -N 8 "$f" | tr -d ' ')
K=$(od --endian=little -An -t u8 -j $((51 + L)) -N 8 "$f" | tr -d ' ')
[ "$(od --endian=little -An -t u8 -j $((59 + L + K)) -N 8 "$f" | tr -d ' ')" = 1 ] || fail "tamper 7: not the file count"
printf '\xff\xff\xff\xff\xff\xff\xff\x7f' | dd of="$f" bs=1 seek=$((59 + L + K)) conv=notrunc status=none
reseal "$WORK/t7" "$A_DIR2/entry.bin"
check t7 "$WORK/t7" "$WORK/trusted.keys"
expect_summary t7 1 "bundle check: FAILED at (c), (d): 7 of 9 steps passed"
expect_fail t7 "$A_DIR2: entry.key opens the sealed entry to NOT entry.bin"
expect_fail t7 "$A_DIR2/files/0: cannot be checked"
if "$KH" verify-bundle "$WORK/t7" >/dev/null 2>&1; then fail "verify-bundle missed tamper 7"; fi

echo "PASS: docs/lawyer.md's by-hand procedure, docs/tools/check_bundle.sh, checks a real bundle and catches every tampering tried"
