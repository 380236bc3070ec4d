#!/usr/bin/env bash
# Check a Khronika court bundle without Khronika: docs/lawyer.md part 2, "Checking a bundle by
# hand", as one script.
#
# usage: check_bundle.sh BUNDLE_DIR [TRUSTED_KEYS_FILE]
#
# BUNDLE_DIR is a court bundle's folder (khronika-bundle/2, docs/format-2.md section 8; unpack a
# .tar first:
# `mkdir B && tar -xf case.tar -C B`). TRUSTED_KEYS_FILE holds the node and witness keys the
# organisations gave you, one a line (`#` starts a comment), as for `khronika verify-bundle
# --trust`; step (i) runs only when it is given.
#
# It redoes the checks of `khronika verify-bundle` with stock tools only: bash, GNU coreutils,
# xxd, base64, OpenSSL 3 and python3 with the `cryptography` package (AES-GCM; Debian's
# python3-cryptography 38 or any later release). It runs steps (a) to (i) in order and
# prints one line per step, `(b) ok: …` or `(b) FAIL: …`, with what the step found indented
# below it (one `OK` or `FAIL` line per thing checked); a failed step does not stop the later
# ones, except that a folder holding a link or a special file is not read at all. The last line
# is the summary: `bundle check: 9 of 9 steps passed`, or for example
# `bundle check: FAILED at (b), (h): 7 of 9 steps passed`. It never writes into the bundle
# (scratch files go to a temporary folder, removed at the end).
#
# Exit status: 0 every step passed; 1 a step failed; 2 bad usage, a folder or trusted keys file
# that cannot be read, or a missing tool.
#
# docs/lawyer.md part 2 prints every function of this file, verbatim, beside the explanation of
# its step (tests/integration/bundle_by_hand.sh fails if one differs). One function per step:
# to change a step, change its function and the document's copy of it.

# ---- Helpers -------------------------------------------------------------------------------------

u64() { od --endian=little -An -t u8 -j "$2" -N 8 "$1" | tr -d ' '; }  # u64 at offset $2 of file $1
h32() { xxd -p -c 32 -s "$2" -l 32 "$1"; }                             # 32 bytes at offset $2, in hex
sha() { sha256sum "$1" | cut -c1-64; }                                 # SHA-256 of file $1, in hex

# ---- The steps -----------------------------------------------------------------------------------

step_a() {
  find . ! -type f ! -type d | cut -c3- > "$T/special"  # a link may lead out, a pipe never ends
  if [ -s "$T/special" ]; then
    sed 's/^/FAIL neither a file nor a folder: /' "$T/special"; return
  fi
  if sha256sum --strict --quiet -c MANIFEST.sha256 > "$T/sums" 2>&1; then
    echo "OK   every file has the SHA-256 that MANIFEST.sha256 gives"
  else
    sed 's/^/FAIL /' "$T/sums"
  fi
  find . -type f ! -path ./MANIFEST.sha256 | cut -c3- | LC_ALL=C sort > "$T/found"
  cut -c67- MANIFEST.sha256 | LC_ALL=C sort > "$T/listed"
  comm -13 "$T/listed" "$T/found" | sed 's/^/FAIL not listed in MANIFEST.sha256: /'
  comm -23 "$T/listed" "$T/found" | sed 's/^/FAIL listed in MANIFEST.sha256 but missing: /'
  cmp -s "$T/listed" "$T/found" && echo "OK   the folder holds exactly the files listed"
}

kb() { python3 "$T/kb.py" "$@"; }  # the byte-level checks of steps (c), (d) and (h), below

write_kb() {
  cat > "$T/kb.py" <<'END'
import hashlib, hmac, os, sys
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
H = lambda b: hashlib.sha256(b).digest()
u64 = lambda b, at: int.from_bytes(b[at:at + 8], "little")
read = lambda p: open(p, "rb").read()
key = lambda p: bytes.fromhex(open(p).read().strip())
def hkdf_expand(prk, label, suffix=b"", n=32, h=hashlib.sha256):  # RFC 5869 section 2.3
    out, t, i = b"", b"", 1
    while len(out) < n:
        t = hmac.new(prk, t + label + suffix + bytes([i]), h).digest(); out += t; i += 1
    return out[:n]
def box_open(k, label, box):              # AES-256-GCM, zero nonce, the label as associated data
    padded = AESGCM(k).decrypt(bytes(12), box, label.encode())
    n = int.from_bytes(padded[:4], "big")
    assert padded[4 + n:] == bytes(len(padded) - 4 - n), "non-zero padding"
    return padded[4:4 + n]
def sealed_entry(d):                      # docs/format-2.md section 5: SealedEntry
    b = read(d + "/sealed_entry.bin"); L = u64(b, 263)
    e = {"nonce": b[3:35], "link_box": b[211:263], "entry_box": b[271:271 + L], "files": []}
    at = 271 + L; count = u64(b, at); at += 8
    for _ in range(count):
        box, size, n = b[at:at + 528], u64(b, at + 528), u64(b, at + 536)
        e["files"].append((box, size, [b[at + 544 + 32 * k:at + 576 + 32 * k] for k in range(n)]))
        at += 544 + 32 * n + (size if size <= 4168 else 0)   # a small file's sealed bytes follow
    return e
def commitments(entry):                   # the files hash list of a signed entry
    L = u64(entry, 3); K = u64(entry, 51 + L); n = u64(entry, 59 + L + K)
    assert 67 + L + K + 32 * n <= len(entry), "a file count larger than the entry"
    return [entry[67 + L + K + 32 * i:99 + L + K + 32 * i] for i in range(n)]
def padme(n):
    if n < 2: return n
    e = n.bit_length() - 1; s = e.bit_length(); mask = (1 << (e - s)) - 1
    return (n + mask) & ~mask
def entry_box(d):                         # (c): entry.key opens the entry box to entry.bin
    ok = box_open(key(d + "/entry.key"), "khronika/2 entry box", sealed_entry(d)["entry_box"]) == read(d + "/entry.bin")
    print(("OK   " if ok else "FAIL ") + d + ": entry.key opens the sealed entry to " + ("exactly" if ok else "NOT") + " entry.bin")
def file_check(d, n):                     # (d): one disclosed file
    f = "%s/files/%d" % (d, n); fk = key(f + "/file.key"); box, sealed_size, chunks = sealed_entry(d)["files"][n]
    opened = box_open(hkdf_expand(fk, b"khronika/2 descriptor key\0"), "khronika/2 descriptor box", box)
    salt, desc = opened[:32], opened[32:]
    if salt.hex() + "\n" != open(f + "/salt.hex").read() or desc != read(f + "/descriptor.bin"):
        return print("FAIL " + f + ": file.key does not open the descriptor box to salt.hex and descriptor.bin")
    if H(b"khronika/2 file commitment\0" + salt + desc) != commitments(read(d + "/entry.bin"))[n]:
        return print("FAIL " + f + ": the descriptor is not the one the author committed to")
    N = u64(desc, 3); M = u64(desc, 11 + N); name = desc[11:11 + N].decode()
    size, sha = u64(desc, 19 + N + M), desc[27 + N + M:59 + N + M]
    content = [c for c in os.listdir(f) if c.startswith("content")]
    plain = read(f + "/" + content[0]) if len(content) == 1 else b""
    if len(content) != 1 or len(plain) != size or H(plain) != sha:
        return print("FAIL " + f + ": the content file is not the one the descriptor describes")
    sealed = b"".join(read("%s/sealed/%d.bin" % (f, k)) for k in range(len(chunks)))
    if [H(sealed[k << 20:(k + 1) << 20]) for k in range(len(chunks))] != chunks or len(sealed) != sealed_size:
        return print("FAIL " + f + ": the sealed chunks are not the ones the sealed entry names")
    # C2SP chunked encryption, Cobblestone-256: HKDF-Expand-SHA-512, AES-256-GCM, 16 KiB chunks
    ks = hkdf_expand(fk, b"c2sp.org/chunked-encryption@v1+AEAD_AES_256_GCM\0", sealed[:24] + b"khronika/2 file content", 76, hashlib.sha512)
    if not hmac.compare_digest(ks[44:76], sealed[24:56]):
        return print("FAIL " + f + ": file.key is not the key of the sealed chunks (key commitment)")
    padded = max(512, padme(size)); out = b""; at = 56
    for k in range(padded // 16384 + 1):
        n = min(16384, padded - 16384 * k) + 16
        nonce = (int.from_bytes(ks[32:44], "big") ^ k).to_bytes(12, "big")
        out += AESGCM(ks[:32]).decrypt(nonce, sealed[at:at + n], None); at += n
    if at != len(sealed) or out != plain + bytes(padded - size):
        return print("FAIL " + f + ": the sealed chunks do not decrypt to the content file")
    print("OK   %s is \"%s\", %d bytes, as signed, and decrypts from the sealed chunks the log names" % (f + "/" + content[0], name, size))
def link(d):                              # (h): the previous record of the case, from the link box
    print(box_open(key(d + "/link.key"), "khronika/2 link box", sealed_entry(d)["link_box"]).hex())
getattr(sys.modules[__name__], sys.argv[1])(*[int(a) if a.isdigit() else a for a in sys.argv[2:]])
END
}

step_b() {
  for d in records/*/*; do
    o=$(basename "$(dirname "$d")"); i=$((10#$(basename "$d")))
    if [ "$(stat -c %s "$d/record.bin")" = 115 ] && [ "$(xxd -p -l 3 "$d/record.bin")" = 015202 ] &&
       [ "$(h32 "$d/record.bin" 3)" = "$o" ] && [ "$(u64 "$d/record.bin" 35)" = "$i" ] &&
       [ "$(h32 "$d/record.bin" 75)" = "$(sha "$d/sealed_entry.bin")" ]; then
      at=$(date -u -d "@$(($(u64 "$d/record.bin" 107) / 1000))" '+%F %T UTC')
      echo "OK   $d: record $i of log ${o:0:16}…, received $at, is entry $(sha "$d/sealed_entry.bin")"
    else
      echo "FAIL $d: record.bin is not this record, or sealed_entry.bin is not the entry it names"
    fi
  done
}

step_c() {
  for d in records/*/*; do
    [ -e "$d/entry.key" ] || continue                 # an entry this bundle does not disclose
    kb entry_box "$d" || echo "FAIL $d: entry.key does not open the sealed entry"
    n=$(stat -c %s "$d/entry.bin"); L=$(u64 "$d/entry.bin" 3)
    author=$(h32 "$d/entry.bin" $((11 + L)))
    head -c $((n - 64)) "$d/entry.bin" > "$T/unsigned"
    tail -c 64 "$d/entry.bin" > "$T/signature"
    { printf 'khronika entry signature v2\0'; sha "$T/unsigned" | xxd -r -p; } > "$T/message"
    [ "$(openssl pkey -pubin -in "keys/authors/$author.pem" -outform DER | tail -c 32 | xxd -p -c 32)" \
      = "$author" ] || echo "FAIL keys/authors/$author.pem is not the key its name says"
    if openssl pkeyutl -verify -pubin -inkey "keys/authors/$author.pem" -rawin \
         -in "$T/message" -sigfile "$T/signature" > /dev/null; then
      dated=$(date -u -d "@$(($(u64 "$d/entry.bin" $((43 + L))) / 1000))" '+%F %T UTC')
      echo "OK   $d: signed by the author key $author (the author dated it $dated)"
    else
      echo "FAIL $d: the author's signature does not verify"
    fi
  done
}

step_d() {
  for f in records/*/*/files/*; do
    [ -e "$f" ] || continue
    d=${f%/files/*}
    [ -e "$d/entry.key" ] || { echo "FAIL $f: a file disclosed without its entry"; continue; }
    kb file_check "$d" "$(basename "$f")" || echo "FAIL $f: cannot be checked"
  done
}

step_e() {
  cat > "$T/inclusion.py" <<'END'
import base64, hashlib, json, sys
H = lambda b: hashlib.sha256(b).digest()
d, note = sys.argv[1], open(sys.argv[2], encoding="utf-8").read().split("\n")
size, root = int(note[1]), base64.b64decode(note[2])  # the checkpoint's lines 2 and 3
record = open(d + "/record.bin", "rb").read()
index = int.from_bytes(record[35:43], "little")       # from the record, not from proof.json
r, fn, sn = H(b"\x00" + record), index, size - 1      # r starts as the leaf hash
for p in map(bytes.fromhex, json.load(open(d + "/proof.json"))["proof"]):
    if sn == 0: sn = -1; break                        # RFC 9162, section 2.1.3.2
    if fn & 1 or fn == sn:
        r = H(b"\x01" + p + r)
        while fn and not fn & 1: fn, sn = fn >> 1, sn >> 1
    else:
        r = H(b"\x01" + r + p)
    fn, sn = fn >> 1, sn >> 1
ok = index < size and sn == 0 and r == root
print("OK  " if ok else "FAIL", d + ": record", index, "is" if ok else "is NOT",
      "in the checkpoint of size", size)
END
  for d in records/*/*; do
    python3 "$T/inclusion.py" "$d" "logs/$(basename "$(dirname "$d")")/checkpoint.note" ||
      echo "FAIL $d: its record, proof.json or checkpoint cannot be read"
  done
}

step_f() {
  for e in records/*; do
    o=${e#records/}; k=keys/origins/$o.vkey; c=logs/$o/checkpoint.note
    name=$(cut -d+ -f1 "$k"); keyid=$(cut -d+ -f2 "$k")
    cut -d+ -f3- "$k" | base64 -d | tail -c 32 > "$T/key"
    [ "$name" = "khronika/$o" ] && [ "$(sha "$T/key")" = "$o" ] &&
      [ "$({ printf '%s\n\x01' "$name"; cat "$T/key"; } | sha256sum | cut -c1-8)" = "$keyid" ] ||
      echo "FAIL $k: not the verifier key of node $o"
    { echo 302a300506032b6570032100 | xxd -r -p; cat "$T/key"; } > "$T/key.der"
    openssl pkey -pubin -inform DER -in "$T/key.der" -out "$T/origin.pem"
    head -n 3 "$c" > "$T/body"
    grep -F -- "— $name " "$c" | cut -d' ' -f3 | base64 -d > "$T/line"
    tail -c +5 "$T/line" > "$T/signature"
    if [ "$(head -n 1 "$c")" = "$name" ] && [ -z "$(sed -n 4p "$c")" ] &&
       [ "$(head -c 4 "$T/line" | xxd -p)" = "$keyid" ] &&
       openssl pkeyutl -verify -pubin -inkey "$T/origin.pem" -rawin \
         -in "$T/body" -sigfile "$T/signature" > /dev/null; then
      echo "OK   $c: size $(sed -n 2p "$c"), signed by node $o"
    else
      echo "FAIL $c: not a checkpoint signed by node $o"
    fi
  done
}

step_g() {
  for c in logs/*/checkpoint.note; do
    verified=0
    for k in keys/cosigners/*.vkey; do
      [ -e "$k" ] || continue
      name=$(cut -d+ -f1 "$k"); keyid=$(cut -d+ -f2 "$k")
      grep -F -- "— $name " "$c" | cut -d' ' -f3 | base64 -d > "$T/line"
      [ -s "$T/line" ] || continue                 # this member did not cosign this checkpoint
      [ "$(stat -c %s "$T/line")" = 76 ] || { echo "FAIL $c: malformed line by $name"; continue; }
      cut -d+ -f3- "$k" | base64 -d > "$T/wkey"
      [ "$(head -c 1 "$T/wkey" | xxd -p)" = 04 ] &&
        [ "$({ printf '%s\n\x04' "$name"; tail -c 32 "$T/wkey"; } | sha256sum | cut -c1-8)" = "$keyid" ] ||
        echo "FAIL $k: not a witness verifier key"
      { echo 302a300506032b6570032100 | xxd -r -p; tail -c 32 "$T/wkey"; } > "$T/wkey.der"
      openssl pkey -pubin -inform DER -in "$T/wkey.der" -out "$T/witness.pem"
      t=$((16#$(tail -c +5 "$T/line" | head -c 8 | xxd -p)))
      tail -c 64 "$T/line" > "$T/signature"
      { printf 'cosignature/v1\ntime %s\n' "$t"; head -n 3 "$c"; } > "$T/message"
      if [ "$(head -c 4 "$T/line" | xxd -p)" = "$keyid" ] &&
         openssl pkeyutl -verify -pubin -inkey "$T/witness.pem" -rawin \
           -in "$T/message" -sigfile "$T/signature" > /dev/null; then
        echo "OK   $c: cosigned by $name on $(date -u -d "@$t" '+%F %T UTC')"
        verified=$((verified + 1))
      else
        echo "FAIL $c: the cosignature by $name does not verify"
      fi
    done
    lines=$(($(grep -c '^— ' "$c") - 1))            # every signature line but the node's own
    if [ "$verified" = "$lines" ]; then
      echo "OK   $c: $verified of $lines cosignature lines verified"
    else
      echo "FAIL $c: $verified of $lines cosignature lines verified with keys/cosigners/"
    fi
  done
}

step_h() {
  CASE=$(python3 -c 'import json; print(json.load(open("bundle.json"))["case"])')
  [ "$(ls records | wc -l)" = 1 ] || echo "FAIL records/: records of more than one log"
  for e in records/*; do
    prev=0000000000000000000000000000000000000000000000000000000000000000
    for d in "$e"/*; do
      L=$(u64 "$d/entry.bin" 3 2> /dev/null)
      if [ -e "$d/entry.bin" ] && [ "$(tail -c +12 "$d/entry.bin" | head -c "$L")" != "$CASE" ]; then
        echo "FAIL $d: an entry of another case, not $CASE"
      elif [ "$(kb link "$d" 2> /dev/null)" != "$prev" ]; then
        echo "FAIL $d: link.key does not open a link to the previous record here (one is missing)"
      else
        echo "OK   $d: the case's previous record is ${prev:0:16}…"
      fi
      prev=$(sha "$d/record.bin")
    done
  done
}

step_i() {
  sed -e 's/^[[:space:]]*//; s/[[:space:]]*$//' -e '/^#/d; /^$/d' "$KEYS" > "$T/trusted"
  for k in keys/origins/*.vkey keys/cosigners/*.vkey; do
    [ -e "$k" ] || continue
    if grep -Fxq -- "$(cat "$k")" "$T/trusted"; then
      echo "OK   $k: in $KEYS"
    elif [ "${k%/*}" = keys/origins ]; then
      echo "FAIL $k: this node key is not in $KEYS"
    else
      echo "     $k: not in $KEYS, so its cosignature is no independent confirmation"
    fi
  done
  for a in keys/authors/*.pem; do
    echo "     author key $(basename "$a" .pem): compare it with the organisation's register"
  done
}

# ---- Running the steps ---------------------------------------------------------------------------

run_step() {
  # run_step LETTER TITLE FUNCTION...: runs the step's functions, prints the step's line and then,
  # indented, what they printed; the step passes if they printed an OK line, no FAIL line, and
  # did not stop on an error
  local letter=$1 title=$2 out problem="" n
  shift 2
  out=$(for fn in "$@"; do "$fn"; done 2>&1; echo "(end of step)")
  n=$(grep -c '^FAIL' <<< "$out")
  if [ "$(tail -n 1 <<< "$out")" != "(end of step)" ]; then
    problem="the step stopped on an error (below)"
  elif [ "$n" != 0 ]; then
    problem=$(grep -m 1 '^FAIL' <<< "$out" | cut -c6-)
    [ "$n" = 1 ] || problem="$problem (and $((n - 1)) more below)"
  elif ! grep -q '^OK' <<< "$out"; then
    problem="nothing was checked"
  fi
  if [ -z "$problem" ]; then
    echo "($letter) ok: $title"; PASSED=$((PASSED + 1))
  else
    echo "($letter) FAIL: $title: $problem"; FAILED="$FAILED, ($letter)"
  fi
  sed -e '/^(end of step)$/d' -e 's/^/    /' <<< "$out"
}

summary() {
  # the last line: which steps failed, how many passed of how many, and which did not run
  local total=8 line
  [ -z "$KEYS" ] || total=9
  if [ -z "$FAILED" ]; then
    line="bundle check: $PASSED of $total steps passed"
  else
    line="bundle check: FAILED at ${FAILED#, }: $PASSED of $total steps passed"
  fi
  [ -z "$NOT_RUN" ] || line="$line; $NOT_RUN not run: the folder holds a link or a special file"
  [ -n "$KEYS" ] || line="$line; (i) not run: no TRUSTED_KEYS_FILE, so the keys were not compared"
  echo "$line"
  [ -z "$FAILED" ]
}

steps() {
  # steps (a) to (i) in order: each line is the step's letter, title and function(s)
  PASSED=0; FAILED=""; NOT_RUN=""
  run_step a "the files are those MANIFEST.sha256 lists, unchanged" step_a
  if [ -n "$(find . ! -type f ! -type d)" ]; then      # (a) names them; no later step reads them
    NOT_RUN="(b) to (h)"; [ -z "$KEYS" ] || NOT_RUN="(b) to (i)"
    echo "$NOT_RUN: not run: the folder holds a link or a special file, see (a)"; return
  fi
  write_kb
  run_step b "each record names its sealed entry" step_b
  run_step c "the disclosed entries and their authors' signatures" step_c
  run_step d "the disclosed files are the ones the author signed and the log holds" step_d
  run_step e "each record is in the log's signed checkpoint" step_e
  run_step f "the checkpoint is signed by the node that keeps the log" step_f
  run_step g "the cosignatures" step_g
  run_step h "no record of the case is missing" step_h
  [ -z "$KEYS" ] || run_step i "the keys are the organisations' keys" step_i
}

usage() {
  echo "usage: check_bundle.sh BUNDLE_DIR [TRUSTED_KEYS_FILE]"
}

main() {
  # checks the arguments and the tools, then runs the steps in the bundle's folder, with the
  # scratch folder $T and the trusted keys file $KEYS (empty when none is given)
  case ${1:-} in -h | --help) usage; exit 0 ;; esac
  if [ $# -lt 1 ] || [ $# -gt 2 ]; then usage >&2; exit 2; fi
  [ -d "$1" ] || { echo "check_bundle.sh: $1 is not a folder (unpack a .tar first)" >&2; exit 2; }
  KEYS=""
  if [ $# = 2 ]; then
    [ -f "$2" ] && [ -r "$2" ] || { echo "check_bundle.sh: cannot read $2" >&2; exit 2; }
    KEYS=$(cd "$(dirname "$2")" && pwd)/$(basename "$2")
  fi
  for tool in sha256sum od stat date find sort comm cmp xxd base64 openssl python3; do
    command -v "$tool" > /dev/null || { echo "check_bundle.sh: needs $tool" >&2; exit 2; }
  done
  python3 -c 'import cryptography.hazmat.primitives.ciphers.aead' 2> /dev/null ||
    { echo "check_bundle.sh: needs python3's cryptography (apt install python3-cryptography)" >&2; exit 2; }
  case $(openssl version) in
    "OpenSSL "[3-9].*) ;;
    *) echo "check_bundle.sh: needs OpenSSL 3 or later (pkeyutl -rawin)" >&2; exit 2 ;;
  esac
  cd "$1" || exit 2
  T=$(mktemp -d) || exit 2
  trap 'rm -rf "$T"' EXIT
  export LC_ALL=C
  steps < /dev/null                                    # no step ever waits for the terminal
  summary
}

main "$@"
