#!/usr/bin/env bash
# Proves docs/format.md and docs/format-2.md are enough to verify a node: builds a small node with
# the real binary, checks it with tests/integration/independent_verify.py (written only from the
# documents), and checks that the same verifier notices tampering: of the checkpoint, of records,
# of the sealed entries (object_hex) and of what the archive key opens (entry_hex, descriptors,
# salts) that `log --json` prints, which it checks without reading the store. Some cases are
# forged with the node's, the author's and the archive's real keys, so that only the rule under
# test can catch them.
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
  step "verify sealed chunks too, decrypted from the store (expect success)"
  $VERIFY "$KH" "$D" --store-dump || fail "independent verifier (--store-dump) rejected the node"
  STORE_DUMP=(--store-dump)
else
  echo "(mdb_dump not found: sealed chunk checks skipped)"
fi

step "as a partner, without the archive key (expect success)"
$VERIFY "$KH" "$D" --no-archive-key | tee "$WORK/partner.out" | sed 's/^/    /'
grep -q "opened      none" "$WORK/partner.out" || fail "the verifier opened entries without a key"

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
# Record 2's entry is in case-A; the listing's signed bytes now say case-C. The entry box holds
# the bytes the author signed: the listing no longer matches them.
python3 - "$WORK/log.jsonl" "$WORK/log.bad-entry" <<'EOF'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
b = bytearray.fromhex(lines[2]["entry_hex"])
assert b[11:17] == b"case-A", b[11:17]
b[16] = ord("C")
lines[2]["entry_hex"] = b.hex()
open(sys.argv[2], "w").write("".join(json.dumps(l) + "\n" for l in lines))
EOF
expect_failure "entry_hex differs from the signed entry in the entry box" \
  --log-file "$WORK/log.bad-entry"

step "object_hex: one byte of a sealed entry changed (expect failure)"
python3 - "$WORK/log.jsonl" "$WORK/log.bad-object" <<'EOF'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
b = bytearray.fromhex(lines[1]["object_hex"])
b[100] ^= 1
lines[1]["object_hex"] = b.hex()
open(sys.argv[2], "w").write("".join(json.dumps(l) + "\n" for l in lines))
EOF
expect_failure "SHA-256 of object_hex" --log-file "$WORK/log.bad-object"

step "descriptor_hex: one byte of the file name changed (expect failure)"
python3 - "$WORK/log.jsonl" "$WORK/log.bad-descriptor" <<'EOF'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
f = lines[0]["files"][1]
b = bytearray.fromhex(f["descriptor_hex"])
assert b[11:21] == b"coords.csv", b[11:21]
b[20] = ord("w")  # coords.csw: still a valid name
f["descriptor_hex"] = b.hex()
open(sys.argv[2], "w").write("".join(json.dumps(l) + "\n" for l in lines))
EOF
expect_failure "descriptor_hex differs from the signed descriptor" \
  --log-file "$WORK/log.bad-descriptor"

step "a salt changed in the listing (expect failure)"
python3 - "$WORK/log.jsonl" "$WORK/log.bad-salt" <<'EOF'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
f = lines[0]["files"][0]
f["salt"] = ("0" if f["salt"][0] != "0" else "1") + f["salt"][1:]
open(sys.argv[2], "w").write("".join(json.dumps(l) + "\n" for l in lines))
EOF
expect_failure "salt differs from the descriptor box" --log-file "$WORK/log.bad-salt"

step "files listed in another order than the entry signs (expect failure)"
python3 - "$WORK/log.jsonl" "$WORK/log.reordered-files" <<'EOF'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
fs = lines[0]["files"]
fs[0], fs[1] = fs[1], fs[0]
open(sys.argv[2], "w").write("".join(json.dumps(l) + "\n" for l in lines))
EOF
expect_failure "commitment listed is not commitment 0 the entry signs" \
  --log-file "$WORK/log.reordered-files"

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
# The descriptor box is the signed truth: caught without the store.
expect_failure "sha256 '.*' listed differs from the signed descriptor" --log-file "$WORK/log.bad-file"

step "another node's archive key (expect failure)"
"$KH" init --data "$WORK/stranger" --no-encryption --name stranger >/dev/null 2>&1
expect_failure "index box does not open" --archive-key "$WORK/stranger/archive.key"

step "the node's own size-0 checkpoint, replayed over the full log (expect failure; the cat reads above added custody records)"
expect_failure "size 0 but the log lists [0-9][0-9]* records" --checkpoint-file "$WORK/checkpoint.size0"

# ---- Forgeries signed and sealed with the real keys: only the rule under test catches these. ---
cat >"$WORK/forge.py" <<'EOF'
import base64, hashlib, json, struct, subprocess, sys, tempfile
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand

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

def derive(parent, label, suffix=b""):
    return HKDFExpand(hashes.SHA256(), 32, label.encode() + b"\0" + suffix).derive(parent)

def padme(n):
    e = n.bit_length() - 1
    m = (1 << (e - e.bit_length())) - 1
    return (n + m) & ~m

def box(key, label, value, padded):
    plain = struct.pack(">I", len(value)) + value
    return AESGCM(key).encrypt(bytes(12), plain + bytes(padded - len(plain)), label.encode())

def descriptor(name, content):
    return b"\x01D\x02" + s(name) + s(b"text/plain") + u64(len(content)) + sha(content)

cmd = sys.argv[1]
if cmd == "empty-checkpoint":   # node_pem vkey: a size-0 checkpoint with a wrong root
    node_pem, vkey = sys.argv[2:4]
    sys.stdout.write(checkpoint(node_pem, vkey, 0, bytes(32)))
elif cmd == "dup-names":        # node_pem vkey archive_key author_pem log_out checkpoint_out
    node_pem, vkey, archive_file, author_pem, log_out, cp_out = sys.argv[2:8]
    archive = bytes.fromhex(open(archive_file).read().strip())
    origin = bytes.fromhex(vkey.split("+", 2)[0].split("/")[1])
    contents = [b"one\n", b"two\n"]
    ds = [descriptor(b"photo.txt", c) for c in contents]
    salts = [bytes([i + 1]) * 32 for i in range(2)]
    commits = [sha(b"khronika/2 file commitment\0" + salt + d) for salt, d in zip(salts, ds)]
    author = pubkey(author_pem)
    unsigned = (b"\x01E\x02" + s(b"case-D") + author + struct.pack("<q", 1700000000000) +
                s(b"evidence") + u64(2) + b"".join(commits) + u64(0) + b"\x00")
    entry = unsigned + sign(author_pem, b"khronika entry signature v2\x00" + sha(unsigned))
    nonce = bytes(range(32))
    case_key = derive(archive, "khronika/2 case key", b"case-D")
    entry_box = box(derive(case_key, "khronika/2 entry key", nonce), "khronika/2 entry box",
                    entry, max(256, padme(4 + len(entry))))
    sealed = (b"\x01S\x02" + nonce +
              box(derive(archive, "khronika/2 index key", nonce), "khronika/2 index box",
                  b"case-D", 160) +
              box(derive(case_key, "khronika/2 link key", nonce), "khronika/2 link box",
                  bytes(32), 36) +
              s(entry_box) + u64(2))
    for i, (salt, d) in enumerate(zip(salts, ds)):
        file_key = derive(case_key, "khronika/2 file key", nonce + i.to_bytes(4, "big"))
        sealed += box(derive(file_key, "khronika/2 descriptor key"), "khronika/2 descriptor box",
                      salt + d, 512)
        # A file padded to 4 KiB carries its sealed bytes (here stand-ins) after its chunk id.
        stand_in = (b"sealed file %d" % i).ljust(56 + 4096 + 16, b"\0")
        sealed += u64(len(stand_in)) + u64(1) + sha(stand_in) + stand_in
    rec = (b"\x01R\x02" + origin + u64(0) + bytes(32) + sha(sealed) +
           struct.pack("<q", 1700000000001))
    leaf = sha(b"\x00" + rec)
    line = {"index": 0, "origin": origin.hex(), "object_type": "sealed_entry",
            "entry_id": sha(sealed).hex(), "received_at_ms": 1700000000001,
            "leaf_hash": leaf.hex(), "record_hex": rec.hex(), "object_hex": sealed.hex(),
            "case": "case-D", "kind": "evidence", "author": author.hex(),
            "created_at_ms": 1700000000000, "metadata": {}, "entry_hex": entry.hex(),
            "files": [{"index": i, "name": "photo.txt", "media_type": "text/plain", "size": 4,
                       "sha256": sha(c).hex(), "descriptor_hex": d.hex(), "salt": salt.hex(),
                       "commitment": cm.hex()}
                      for i, (c, d, salt, cm) in enumerate(zip(contents, ds, salts, commits))]}
    open(log_out, "w").write(json.dumps(line) + "\n")
    open(cp_out, "w").write(checkpoint(node_pem, vkey, 1, leaf))
EOF

step "an empty node whose signed size-0 checkpoint has a wrong root (expect failure)"
E=$WORK/empty-node
"$KH" init --data "$E" --no-encryption --name indep-empty >/dev/null 2>&1
E_VKEY=$("$KH" id --data "$E" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["vkey"])')
python3 "$WORK/forge.py" empty-checkpoint "$E/node.key" "$E_VKEY" >"$WORK/checkpoint.empty-bad"
DATA=$E expect_failure "SHA-256 of the empty string" --checkpoint-file "$WORK/checkpoint.empty-bad"

step "an entry with two files of the same name, signed, sealed and logged by hand (expect failure)"
# Log::Append refuses such an entry; here the node's key signs a checkpoint over it and its
# archive key seals it, so the chain, the ids, both signatures, the boxes, the commitments and the
# root all hold and only the name rule can object. (`khronika cat` also fails, as the node never
# held the entry: the verifier reports that too.)
python3 "$WORK/forge.py" dup-names "$E/node.key" "$E_VKEY" "$E/archive.key" "$WORK/alice.pem" \
    "$WORK/log.dup-names" "$WORK/checkpoint.dup-names"
DATA=$E expect_failure "file name 'photo.txt' appears twice in one entry" \
    --log-file "$WORK/log.dup-names" --checkpoint-file "$WORK/checkpoint.dup-names"

if [ ${#STORE_DUMP[@]} -gt 0 ]; then
  step "one bit of a sealed chunk flipped in a copy of the store (expect failure)"
  # Sealed chunks are stored as they are, ciphertext already: found by their bytes in data.mdb.
  cp -r "$D" "$WORK/flipped"
  python3 - "$WORK/flipped/store" <<'EOF'
import subprocess, sys
out = subprocess.run(["mdb_dump", "-s", "chunks", sys.argv[1]], capture_output=True,
                     check=True).stdout.decode().splitlines()
values = [l[1:] for l in out[out.index("HEADER=END") + 1:] if l.startswith(" ")]
chunk = bytes.fromhex(max(values[1::2], key=len))  # the largest: the 3 MiB file's
path = sys.argv[1] + "/data.mdb"
db = bytearray(open(path, "rb").read())
at = db.find(chunk[:4096])
assert at >= 0, "the sealed chunk is not stored as it is"
db[at + 100] ^= 1
open(path, "wb").write(db)
EOF
  DATA=$WORK/flipped expect_failure "does not hash to its id" "${STORE_DUMP[@]}"
fi

step "a custody record (an export, format.md section 7.3), opened by the spec (expect success)"
cp -r "$D" "$WORK/custody"
"$KH" export --data "$WORK/custody" --case case-A --out "$WORK/custody-bundle" >/dev/null
$VERIFY "$KH" "$WORK/custody" | tee "$WORK/custody.out" | sed 's/^/    /'
grep -q "a custody record of 1 events, opened" "$WORK/custody.out" ||
  fail "the verifier did not open the export's custody record"
$VERIFY "$KH" "$WORK/custody" --no-archive-key >/dev/null ||
  fail "a partner's view of a log with a custody record was rejected"
"$KH" log --data "$WORK/custody" --json >"$WORK/log.custody"
python3 - "$WORK/log.custody" "$WORK/log.bad-custody" <<'EOF'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
c = [l for l in lines if l["object_type"] == "custody_record"][0]
h = c["object_hex"]
c["object_hex"] = h[:200] + ("0" if h[200] != "0" else "1") + h[201:]  # inside event box 0
open(sys.argv[2], "w").write("".join(json.dumps(l) + "\n" for l in lines))
EOF
DATA=$WORK/custody expect_failure "not the logged object id" --log-file "$WORK/log.bad-custody"

echo "PASS: independent verifier accepts the node and rejects each tampering"
