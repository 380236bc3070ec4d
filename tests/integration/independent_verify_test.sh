#!/usr/bin/env bash
# Proves docs/format.md is enough to verify a node: builds a small node with the real binary,
# checks it with tests/integration/independent_verify.py (written only from the document), and
# checks that the same verifier notices tampering: of the checkpoint, of records, and of the
# entry and manifest bytes that `log --json` prints (entry_hex, manifest_hex), which it checks
# without reading the store. Some cases are forged with the node's and the author's real keys, so
# that only the rule under test can catch them.
#
# Usage: independent_verify_test.sh /path/to/khronika
set -euo pipefail

KH=${1:?usage: $0 /path/to/khronika}
KH=$(cd "$(dirname "$KH")" && pwd)/$(basename "$KH")
HERE=$(cd "$(dirname "$0")" && pwd)
VERIFY="python3 $HERE/independent_verify.py"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/kh-indep-test.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
D=$WORK/node

fail() { echo "FAIL: $*" >&2; exit 1; }
step() { echo "--- $*"; }

HAVE_MDB_DUMP=0
command -v mdb_dump >/dev/null && HAVE_MDB_DUMP=1

step "an empty node: size-0 checkpoint (expect success)"
"$KH" init --data "$D" --no-encryption --name indep-test >/dev/null 2>&1
$VERIFY "$KH" "$D" || fail "independent verifier rejected an empty node"
if [ "$HAVE_MDB_DUMP" = 1 ]; then
  $VERIFY "$KH" "$D" --store-dump || fail "independent verifier (--store-dump) rejected an empty node"
fi
"$KH" checkpoint --data "$D" >"$WORK/checkpoint.size0"
sed -n 2p "$WORK/checkpoint.size0" | grep -qx 0 || fail "the empty node's checkpoint is not at size 0"

step "build a node"
"$KH" keygen --out "$WORK/alice.pem" >/dev/null 2>&1
"$KH" author add --data "$D" --name alice --pubkey "$WORK/alice.pem.pub" >/dev/null
mkdir "$WORK/files"
printf 'first witness statement\n' >"$WORK/files/statement.txt"
printf 'lat,lon\n49.99,36.23\n' >"$WORK/files/coords.csv"
: >"$WORK/files/empty.bin"
head -c $((3 * 1024 * 1024)) /dev/urandom >"$WORK/files/video.mp4"
printf 'the time in the first statement was wrong\n' >"$WORK/files/erratum.txt"

E1=$("$KH" add --data "$D" --key "$WORK/alice.pem" --case case-A --meta location=Kharkiv \
      --meta source=witness "$WORK/files/statement.txt" "$WORK/files/coords.csv" \
      "$WORK/files/empty.bin" | awk '/^entry /{print $2}')
"$KH" add --data "$D" --key "$WORK/alice.pem" --case case-B "$WORK/files/video.mp4" >/dev/null
"$KH" add --data "$D" --key "$WORK/alice.pem" --case case-A --kind correction --corrects "$E1" \
      --meta reason="wrong time" "$WORK/files/erratum.txt" >/dev/null

step "verify independently (expect success)"
$VERIFY "$KH" "$D" || fail "independent verifier rejected an untouched node"

STORE_DUMP=()
if [ "$HAVE_MDB_DUMP" = 1 ]; then
  step "verify entries and manifests too, from the store (expect success)"
  $VERIFY "$KH" "$D" --store-dump || fail "independent verifier (--store-dump) rejected the node"
  STORE_DUMP=(--store-dump)
else
  echo "(mdb_dump not found: entry and manifest checks skipped)"
fi

# Expects the verifier to exit 1 and to name `what` in its output.
# The node is $D unless DATA is set.
expect_failure() {
  local what=$1
  shift
  local out rc=0
  out=$($VERIFY "$KH" "${DATA:-$D}" "$@" 2>&1) || rc=$?
  echo "$out" | sed 's/^/    /'
  [ "$rc" -eq 1 ] || fail "verifier exited $rc, expected 1, for: $what"
  echo "$out" | grep -qi -- "$what" || fail "verifier output does not name '$what'"
}

step "tampered checkpoint root (expect failure)"
"$KH" checkpoint --data "$D" >"$WORK/checkpoint.txt"
# Line 3 is the base64 root: change its first character.
awk 'NR == 3 { c = substr($0, 1, 1); $0 = (c == "A" ? "B" : "A") substr($0, 2) } { print }' \
    "$WORK/checkpoint.txt" >"$WORK/checkpoint.bad-root"
cmp -s "$WORK/checkpoint.txt" "$WORK/checkpoint.bad-root" && fail "tampering did not change the note"
expect_failure "root" --checkpoint-file "$WORK/checkpoint.bad-root"
expect_failure "signature" --checkpoint-file "$WORK/checkpoint.bad-root"

step "checkpoint with a larger size (expect failure)"
awk 'NR == 2 { $0 = $0 + 1 } { print }' "$WORK/checkpoint.txt" >"$WORK/checkpoint.bad-size"
expect_failure "size" --checkpoint-file "$WORK/checkpoint.bad-size"

step "tampered record received_at_ms (expect failure)"
"$KH" log --data "$D" --json >"$WORK/log.jsonl"
# Flip the last hex digit of record 1's bytes (the top byte of received_at_ms).
python3 - "$WORK/log.jsonl" "$WORK/log.bad-record" <<'EOF'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
h = lines[1]["record_hex"]
lines[1]["record_hex"] = h[:-1] + ("1" if h[-1] != "1" else "2")
open(sys.argv[2], "w").write("".join(json.dumps(l) + "\n" for l in lines))
EOF
expect_failure "hash chain" --log-file "$WORK/log.bad-record"

step "records reordered (expect failure)"
python3 - "$WORK/log.jsonl" "$WORK/log.reordered" <<'EOF'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
lines[0], lines[1] = lines[1], lines[0]
lines[0]["index"], lines[1]["index"] = 0, 1
open(sys.argv[2], "w").write("".join(json.dumps(l) + "\n" for l in lines))
EOF
expect_failure "index" --log-file "$WORK/log.reordered"

step "record moved to another case in the listing only (expect failure)"
python3 - "$WORK/log.jsonl" "$WORK/log.bad-case" <<'EOF'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
lines[2]["case"] = "case-B"  # record 2's signed entry says case-A
open(sys.argv[2], "w").write("".join(json.dumps(l) + "\n" for l in lines))
EOF
expect_failure "case 'case-B' in the log differs from the signed entry" --log-file "$WORK/log.bad-case"

step "a JSON key given twice (expect failure)"
# A second "case" key would override the first in a lenient JSON reader.
sed '3s/^{/{"case":"case-B",/' "$WORK/log.jsonl" >"$WORK/log.dup-key"
expect_failure "duplicate JSON key" --log-file "$WORK/log.dup-key"

step "entry_hex: one byte of the case id changed (expect failure)"
# Record 2's entry is in case-A; make its signed bytes say case-C. The byte is at offset 16
# (header 3 + length 8 + "case-" 5): still a valid case id, so the entry decodes, but its id and
# the author's signature no longer hold.
python3 - "$WORK/log.jsonl" "$WORK/log.bad-entry" <<'EOF'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
b = bytearray.fromhex(lines[2]["entry_hex"])
assert b[11:17] == b"case-A", b[11:17]
b[16] = ord("C")
lines[2]["entry_hex"] = b.hex()
open(sys.argv[2], "w").write("".join(json.dumps(l) + "\n" for l in lines))
EOF
expect_failure "author signature is invalid" --log-file "$WORK/log.bad-entry"
expect_failure "SHA-256 of entry_hex" --log-file "$WORK/log.bad-entry"

step "entry_hex with a trailing byte (expect failure)"
python3 - "$WORK/log.jsonl" "$WORK/log.long-entry" <<'EOF'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
lines[1]["entry_hex"] += "00"
open(sys.argv[2], "w").write("".join(json.dumps(l) + "\n" for l in lines))
EOF
expect_failure "trailing bytes" --log-file "$WORK/log.long-entry"

step "manifest_hex: one byte of the file name changed (expect failure)"
python3 - "$WORK/log.jsonl" "$WORK/log.bad-manifest" <<'EOF'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
f = lines[0]["files"][1]
b = bytearray.fromhex(f["manifest_hex"])
assert b[11:21] == b"coords.csv", b[11:21]
b[20] = ord("w")  # coords.csw: still a valid name
f["manifest_hex"] = b.hex()
open(sys.argv[2], "w").write("".join(json.dumps(l) + "\n" for l in lines))
EOF
expect_failure "SHA-256 of manifest_hex" --log-file "$WORK/log.bad-manifest"
expect_failure "differs from the signed manifest" --log-file "$WORK/log.bad-manifest"

step "files listed in another order than the entry signs (expect failure)"
python3 - "$WORK/log.jsonl" "$WORK/log.reordered-files" <<'EOF'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
fs = lines[0]["files"]
fs[0], fs[1] = fs[1], fs[0]
open(sys.argv[2], "w").write("".join(json.dumps(l) + "\n" for l in lines))
EOF
expect_failure "is not manifest 0 the entry signs" --log-file "$WORK/log.reordered-files"

step "a file left out of the listing (expect failure)"
python3 - "$WORK/log.jsonl" "$WORK/log.dropped-file" <<'EOF'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
del lines[0]["files"][2]
open(sys.argv[2], "w").write("".join(json.dumps(l) + "\n" for l in lines))
EOF
expect_failure "2 files listed, but the entry signs 3" --log-file "$WORK/log.dropped-file"

step "listed file hash differs from the content (expect failure)"
python3 - "$WORK/log.jsonl" "$WORK/log.bad-file" <<'EOF'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
f = lines[1]["files"][0]
f["sha256"] = ("0" if f["sha256"][0] != "0" else "1") + f["sha256"][1:]
open(sys.argv[2], "w").write("".join(json.dumps(l) + "\n" for l in lines))
EOF
expect_failure "sha-256" --log-file "$WORK/log.bad-file"
# The manifest_hex on the same line is the signed truth: caught without the store.
expect_failure "sha256 '.*' listed differs from the signed manifest" --log-file "$WORK/log.bad-file"
if [ ${#STORE_DUMP[@]} -gt 0 ]; then
  # The store holds the bytes that were printed: a doctored manifest_hex is caught there too.
  expect_failure "differ from what \`log --json\` printed" \
    --log-file "$WORK/log.bad-manifest" "${STORE_DUMP[@]}"
fi

step "the node's own size-0 checkpoint, replayed over the full log (expect failure)"
expect_failure "size 0 but the log lists 3 records" --checkpoint-file "$WORK/checkpoint.size0"

# ---- Forgeries signed with the real keys: only the rule under test can catch these. ----------
cat >"$WORK/forge.py" <<'EOF'
import base64, hashlib, json, struct, subprocess, sys, tempfile, os

def sha(b): return hashlib.sha256(b).digest()
def u64(n): return struct.pack("<Q", n)
def s(b): return u64(len(b)) + b

def sign(pem, msg):
    with tempfile.TemporaryDirectory() as d:
        open(f"{d}/m", "wb").write(msg)
        subprocess.run(["openssl", "pkeyutl", "-sign", "-inkey", pem, "-rawin", "-in", f"{d}/m",
                        "-out", f"{d}/s"], check=True)
        return open(f"{d}/s", "rb").read()

def pubkey(pem):
    der = subprocess.run(["openssl", "pkey", "-in", pem, "-pubout", "-outform", "DER"],
                         check=True, capture_output=True).stdout
    return der[-32:]

def checkpoint(node_pem, vkey, size, root):
    name, kid, _ = vkey.split("+", 2)
    body = f"{name}\n{size}\n{base64.b64encode(root).decode()}\n"
    sig = bytes.fromhex(kid) + sign(node_pem, body.encode())
    return f"{body}\n\u2014 {name} {base64.b64encode(sig).decode()}\n"

def manifest(name, content):
    n = (len(content) + (1 << 20) - 1) >> 20
    chunks = [sha(content[i << 20:(i + 1) << 20]) for i in range(n)]
    return (b"\x01M\x01" + s(name) + s(b"text/plain") + u64(len(content)) + sha(content) +
            u64(n) + b"".join(chunks))

cmd = sys.argv[1]
if cmd == "empty-checkpoint":   # node_pem vkey: a size-0 checkpoint with a wrong root
    node_pem, vkey = sys.argv[2:4]
    sys.stdout.write(checkpoint(node_pem, vkey, 0, bytes(32)))
elif cmd == "dup-names":        # node_pem vkey author_pem log_out checkpoint_out
    node_pem, vkey, author_pem, log_out, cp_out = sys.argv[2:7]
    origin = bytes.fromhex(vkey.split("+", 2)[0].split("/")[1])
    ms = [manifest(b"photo.txt", b"one\n"), manifest(b"photo.txt", b"two\n")]
    author = pubkey(author_pem)
    unsigned = (b"\x01E\x01" + s(b"case-D") + author + struct.pack("<q", 1700000000000) +
                s(b"evidence") + u64(len(ms)) + b"".join(sha(m) for m in ms) + u64(0) + b"\x00")
    entry = unsigned + sign(author_pem, b"khronika entry signature v1\x00" + sha(unsigned))
    rec = (b"\x01R\x01" + origin + u64(0) + bytes(32) + sha(entry) + bytes(32) +
           struct.pack("<q", 1700000000001))
    leaf = sha(b"\x00" + rec)
    line = {"index": 0, "entry_id": sha(entry).hex(), "case": "case-D", "kind": "evidence",
            "author": author.hex(), "received_at_ms": 1700000000001, "leaf_hash": leaf.hex(),
            "record_hex": rec.hex(), "entry_hex": entry.hex(),
            "files": [{"name": "photo.txt", "size": 4, "sha256": sha(c).hex(),
                       "manifest_id": sha(m).hex(), "manifest_hex": m.hex()}
                      for m, c in zip(ms, [b"one\n", b"two\n"])]}
    open(log_out, "w").write(json.dumps(line) + "\n")
    open(cp_out, "w").write(checkpoint(node_pem, vkey, 1, leaf))
EOF

step "an empty node whose signed size-0 checkpoint has a wrong root (expect failure)"
E=$WORK/empty-node
"$KH" init --data "$E" --no-encryption --name indep-empty >/dev/null 2>&1
E_VKEY=$("$KH" id --data "$E" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["vkey"])')
python3 "$WORK/forge.py" empty-checkpoint "$E/node.key" "$E_VKEY" >"$WORK/checkpoint.empty-bad"
DATA=$E expect_failure "SHA-256 of the empty string" --checkpoint-file "$WORK/checkpoint.empty-bad"

step "an entry with two files of the same name, signed by author and node (expect failure)"
# Log::Append refuses such an entry; here the node's key itself signs a checkpoint over it, so
# the chain, the ids, both signatures and the root all hold and only the name rule can object.
# (`khronika cat` also fails, as the node never held the entry: the verifier reports that too.)
python3 "$WORK/forge.py" dup-names "$E/node.key" "$E_VKEY" "$WORK/alice.pem" \
    "$WORK/log.dup-names" "$WORK/checkpoint.dup-names"
DATA=$E expect_failure "file name 'photo.txt' appears twice in one entry" \
    --log-file "$WORK/log.dup-names" --checkpoint-file "$WORK/checkpoint.dup-names"

echo "PASS: independent verifier accepts the node and rejects each tampering"
