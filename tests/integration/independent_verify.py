#!/usr/bin/env python3
"""An independent Khronika verifier for format 2, written only from docs/format.md and
docs/format-2.md.

It shares no code with Khronika: Python's standard library for parsing and SHA-256, the `openssl`
command line for Ed25519, and (to open what the origin sealed) python3's `cryptography` for
AES-256-GCM and HKDF (version 38, Debian 12's, or later). It asks a khronika binary for three
public outputs,

    khronika id --data DIR --json       the node's verifier key
    khronika log --data DIR --json      every record's and sealed entry's canonical bytes
                                        (record_hex, object_hex), and for the node's own
                                        entries the signed entry and each file's descriptor and
                                        salt (entry_hex, files[].descriptor_hex, files[].salt)
    khronika checkpoint --data DIR      the latest signed checkpoint note

and then checks, on its own, from those bytes only (the JSON fields are the node's reading of
them and are checked against them, never trusted):

  records    each decodes strictly (115 bytes); indexes run 0..n-1; the hash chain links; each
             leaf hash is SHA-256(0x00 || record); no object is logged twice;
  sealed     each object_hex hashes to the record's object id and decodes strictly; what a
             partner checks without keys: box sizes, the entry box's Padme size, each sealed
             file's size that of a padded file, its chunk count, no chunk id twice, and a
             file padded to at most 4 KiB carries its sealed bytes, which hash to its chunk id;
  opened     with the origin's archive key (--archive-key FILE, by default DIR/archive.key):
             the index box gives the case, the case key the entry box, which holds exactly the
             printed entry_hex; the author's Ed25519 signature; the link boxes chain each case's
             records; each descriptor box holds the printed salt and descriptor, whose salted
             commitment is the one the author signed; case, kind, author, name, size, sha256 in
             the JSON as signed; file names unique within an entry;
  checkpoint origin line and Ed25519 signature (key id included) match the node's verifier key;
             the size is the number of records and the root the RFC 6962 Merkle root of all
             leaves (SHA-256("") for an empty log);
  files      each file read back with `khronika cat` has the signed size and SHA-256.

With --store-dump it also reads the node's chunks table with `mdb_dump` (the node-internal layout,
"Store layout" in docs/format.md): every sealed chunk a sealed entry names (but the small files'
it carries itself) is there and hashes to its id, and with the archive key each sealed file is decrypted here (C2SP chunked encryption,
Cobblestone-256) and its plaintext checked against the signed SHA-256, without the binary.

Exit 0 and a summary when everything holds; exit 1 naming every failure otherwise; exit 2 when
the tool itself cannot run (bad usage, binary missing, `cryptography` missing for a key).
"""

import argparse
import base64
import hashlib
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile

try:  # only to open what the origin sealed (--archive-key)
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand
    HAVE_CRYPTOGRAPHY = True
except ImportError:  # pragma: no cover
    HAVE_CRYPTOGRAPHY = False

# ---- Constants from docs/format.md and docs/format-2.md --------------------------------------

ENDIAN_MARKER = 0x01
FORMAT_VERSION = 2
TYPE_DESCRIPTOR, TYPE_ENTRY, TYPE_RECORD = ord("D"), ord("E"), ord("R")
TYPE_SEALED_ENTRY, TYPE_RECOVERY_SET, TYPE_SHARE_RELEASE = ord("S"), ord("K"), ord("X")
TYPE_CUSTODY_RECORD, TYPE_CUSTODY_EVENT = ord("U"), ord("V")
CHUNK_SIZE = 1 << 20          # plaintext upload chunks, and sealed chunks
MAX_INLINE_SEALED = 4168      # sealed size of a file padded to 4 KiB: carried in its sealed entry
SEALED_CHUNK = 1 << 20
C2SP_CHUNK = 16384            # Cobblestone-256 plaintext chunk
TAG = 16
MAX_FILE_SIZE = 1 << 40
MAX_OBJECT_BYTES = 64 * 1024 * 1024
MAX_ENTRY_BOX = 128 * 1024
MAX_FILE_NAME = 255
MAX_MEDIA_TYPE = 127
MAX_CASE_ID = 128
MAX_KIND = 32
MAX_FILES = 1000
MAX_META_PAIRS = 64
MAX_META_KEY = 64
MAX_META_VALUE = 4096
MAX_META_TOTAL = 32 * 1024
ENTRY_SIG_PREFIX = b"khronika entry signature v2\x00"
ZERO = bytes(32)
SPKI_ED25519_PREFIX = bytes.fromhex("302a300506032b6570032100")
EM_DASH = "\u2014"
RECORD_LEN = 3 + 32 + 8 + 32 + 32 + 8  # 115
INDEX_BOX, LINK_BOX, DESCRIPTOR_BOX = 160 + TAG, 36 + TAG, 512 + TAG
MIN_PADDED_FILE = 512


class Invalid(Exception):
    """A check failed: the data is not what the spec requires."""


class ToolError(Exception):
    """The verifier could not run (usage, missing binary, command failed)."""


def sha256(*parts):
    h = hashlib.sha256()
    for p in parts:
        h.update(p)
    return h.digest()


def hexs(b):
    return b.hex()


def parse_hex(text, what, length=None):
    if text is None:
        raise Invalid(f"{what}: missing")
    if not isinstance(text, str) or any(c not in "0123456789abcdef" for c in text) or len(text) % 2:
        raise Invalid(f"{what}: not lowercase hex")
    raw = bytes.fromhex(text)
    if length is not None and len(raw) != length:
        raise Invalid(f"{what}: expected {length} bytes, got {len(raw)}")
    return raw


def b64decode_strict(text, what):
    try:
        raw = base64.b64decode(text, validate=True)
    except Exception as e:  # binascii.Error
        raise Invalid(f"{what}: invalid base64 ({e})")
    if base64.b64encode(raw).decode() != text:
        raise Invalid(f"{what}: non-canonical base64")
    return raw


# ---- Canonical decoding (docs/format.md sections 3-6) ---------------------------------------

class Reader:
    def __init__(self, data, type_byte, what):
        self.data, self.pos, self.what = data, 0, what
        if len(data) > MAX_OBJECT_BYTES:
            self.fail("larger than 64 MiB")
        if len(data) < 3:
            self.fail("truncated header")
        if data[0] != ENDIAN_MARKER:
            self.fail(f"first byte is 0x{data[0]:02x}, not the little-endian marker 0x01")
        if data[1] != type_byte:
            self.fail(f"type byte is 0x{data[1]:02x}, expected '{chr(type_byte)}'")
        if data[2] != FORMAT_VERSION:
            self.fail(f"unknown format version {data[2]}")
        self.pos = 3

    def fail(self, why):
        raise Invalid(f"{self.what}: {why}")

    def take(self, n, field):
        if n > len(self.data) - self.pos:
            self.fail(f"truncated at {field}")
        b = self.data[self.pos:self.pos + n]
        self.pos += n
        return b

    def u8(self, field):
        return self.take(1, field)[0]

    def u64(self, field):
        return struct.unpack("<Q", self.take(8, field))[0]

    def i64(self, field):
        return struct.unpack("<q", self.take(8, field))[0]

    def fixed(self, n, field):
        return self.take(n, field)

    def string(self, max_len, field):
        n = self.u64(field + " length")
        if n > max_len:
            self.fail(f"{field} longer than {max_len} bytes")
        return self.take(n, field)

    def hash_list(self, max_count, field):
        n = self.u64(field + " count")
        if n > max_count:
            self.fail(f"{field}: more than {max_count}")
        return [self.take(32, field) for _ in range(n)]

    def finish(self):
        if self.pos != len(self.data):
            self.fail(f"{len(self.data) - self.pos} trailing bytes")


def utf8(b, what):
    try:
        return b.decode("utf-8", errors="strict")
    except UnicodeDecodeError:
        raise Invalid(f"{what}: not valid UTF-8")


def has_control(b, allow_tab_newline=False):
    for c in b:
        if allow_tab_newline and c in (0x09, 0x0A):
            continue
        if c < 0x20 or c == 0x7F:
            return True
    return False


def check_file_name(b):
    if not 1 <= len(b) <= MAX_FILE_NAME:
        raise Invalid("file name must be 1 to 255 bytes")
    if b"/" in b or b"\\" in b:
        raise Invalid("file name contains a path separator")
    if b".." in b or b == b".":
        raise Invalid("file name contains '..' or is '.'")
    if has_control(b):
        raise Invalid("file name contains control bytes")
    return utf8(b, "file name")


def check_media_type(b):
    if not 1 <= len(b) <= MAX_MEDIA_TYPE:
        raise Invalid("media type must be 1 to 127 bytes")
    if any(chr(c) not in "abcdefghijklmnopqrstuvwxyz0123456789/.+-_" for c in b):
        raise Invalid("media type has a character outside [a-z0-9/.+_-]")
    parts = b.split(b"/")
    if len(parts) != 2 or not parts[0] or not parts[1]:
        raise Invalid("media type must be type/subtype")
    return b.decode("ascii")


ALNUM = set(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")


def check_case_id(b):
    if not 1 <= len(b) <= MAX_CASE_ID:
        raise Invalid("case id must be 1 to 128 bytes")
    for i, c in enumerate(b):
        if c not in ALNUM and (i == 0 or c not in b"._-"):
            raise Invalid(f"case id {b!r} has a bad character")
    return b.decode("ascii")


def check_kind(b):
    if not 1 <= len(b) <= MAX_KIND:
        raise Invalid("kind must be 1 to 32 bytes")
    for i, c in enumerate(b):
        lower = 0x61 <= c <= 0x7A
        if not (lower or (i > 0 and (0x30 <= c <= 0x39 or c in b"-_"))):
            raise Invalid(f"kind {b!r} has a bad character")
    return b.decode("ascii")


def decode_record(data):
    r = Reader(data, TYPE_RECORD, "record")
    rec = {
        "origin": r.fixed(32, "origin"),
        "index": r.u64("index"),
        "prev_record": r.fixed(32, "prev_record"),
        "object_id": r.fixed(32, "object_id"),
        "received_at_ms": r.i64("received_at_ms"),
    }
    r.finish()
    return rec


def decode_descriptor(data):
    r = Reader(data, TYPE_DESCRIPTOR, "descriptor")
    name = r.string(MAX_FILE_NAME, "name")
    media = r.string(MAX_MEDIA_TYPE, "media_type")
    size = r.u64("size")
    content = r.fixed(32, "content_sha256")
    r.finish()
    if size > MAX_FILE_SIZE:
        raise Invalid("descriptor: file larger than 1 TiB")
    return {"name": check_file_name(name), "media_type": check_media_type(media), "size": size,
            "content_sha256": content}


def decode_entry(data):
    r = Reader(data, TYPE_ENTRY, "entry")
    case_id = r.string(MAX_CASE_ID, "case_id")
    author = r.fixed(32, "author")
    created = r.i64("created_at_ms")
    kind = r.string(MAX_KIND, "kind")
    files = r.hash_list(MAX_FILES, "files")
    pairs = r.u64("metadata count")
    if pairs > MAX_META_PAIRS:
        r.fail("more than 64 metadata pairs")
    metadata, last_key, total = [], None, 0
    for _ in range(pairs):
        k = r.string(MAX_META_KEY, "metadata key")
        v = r.string(MAX_META_VALUE, "metadata value")
        if last_key is not None and k <= last_key:
            r.fail("metadata keys not sorted and unique")
        last_key = k
        if not k or any(c not in ALNUM and c not in b"._-" for c in k):
            r.fail(f"metadata key {k!r} is empty or uses characters outside [A-Za-z0-9._-]")
        if has_control(v, allow_tab_newline=True):
            r.fail(f"metadata value for {k!r} has control bytes")
        metadata.append((k.decode("ascii"), utf8(v, f"metadata value for {k!r}")))
        total += len(k) + len(v)
    if total > MAX_META_TOTAL:
        r.fail("metadata larger than 32 KiB")
    flag = r.u8("corrects flag")
    if flag > 1:
        r.fail("corrects flag must be 0 or 1")
    corrects = r.fixed(32, "corrects") if flag else None
    unsigned_len = r.pos
    signature = r.fixed(64, "signature")
    r.finish()
    return {"case_id": check_case_id(case_id), "author": author, "created_at_ms": created,
            "kind": check_kind(kind), "files": files, "metadata": metadata,
            "corrects": corrects, "signature": signature, "unsigned_len": unsigned_len}


def padme(n):
    """Padme (format-2.md section 3): keep about log2(log2(n)) significant bits."""
    if n < 2:
        return n
    e = n.bit_length() - 1
    s = e.bit_length()
    mask = (1 << (e - s)) - 1
    return (n + mask) & ~mask


def c2sp_sealed_size(p):
    """Section 4: salt (24) || commitment (32) || 16 KiB chunks, each with its tag; a message whose
    length is a multiple of 16 KiB ends with an empty chunk."""
    return 24 + 32 + p + TAG * (p // C2SP_CHUNK + 1)


def padded_of_sealed(sealed_size):
    """The padded plaintext length P whose sealed size is `sealed_size`, or None."""
    if sealed_size < 56 + TAG:
        return None
    n = (sealed_size - 56) // (C2SP_CHUNK + TAG) + 1
    for chunks in (n - 1, n, n + 1):
        p = sealed_size - 56 - TAG * chunks
        if p >= 0 and c2sp_sealed_size(p) == sealed_size:
            return p
    return None


def decode_sealed_entry(data):
    """Section 5, with every rule a partner checks without a key."""
    r = Reader(data, TYPE_SEALED_ENTRY, "sealed entry")
    e = {"nonce": r.fixed(32, "nonce"), "index_box": r.fixed(INDEX_BOX, "index_box"),
         "link_box": r.fixed(LINK_BOX, "link_box")}
    n = r.u64("entry_box length")
    if n > MAX_ENTRY_BOX:
        r.fail("entry box larger than 128 KiB")
    e["entry_box"] = r.take(n, "entry_box")
    padded = n - TAG
    if padded < 256 or padme(padded) != padded:
        r.fail(f"entry box of {n} bytes: its padded length {padded} is not a Padme value >= 256")
    count = r.u64("file count")
    if count > MAX_FILES:
        r.fail("more than 1000 files")
    files, seen = [], set()
    for i in range(count):
        f = {"descriptor_box": r.fixed(DESCRIPTOR_BOX, f"file {i} descriptor_box"),
             "sealed_size": r.u64(f"file {i} sealed_size")}
        p = padded_of_sealed(f["sealed_size"])
        if p is None or p < MIN_PADDED_FILE or padme(p) != p or p > padme(MAX_FILE_SIZE):
            r.fail(f"file {i}: sealed size {f['sealed_size']} is not that of a padded file")
        f["chunks"] = r.hash_list(MAX_OBJECT_BYTES // 32, f"file {i} chunks")
        want = (f["sealed_size"] + SEALED_CHUNK - 1) // SEALED_CHUNK
        if len(f["chunks"]) != want:
            r.fail(f"file {i}: {len(f['chunks'])} sealed chunks for a sealed size of "
                   f"{f['sealed_size']} (expected {want})")
        for c in f["chunks"]:
            if c in seen:
                r.fail(f"sealed chunk {hexs(c)} appears twice")
            seen.add(c)
        # A file padded to at most 4 KiB carries its one sealed chunk here, after its id.
        f["inline"] = None
        if f["sealed_size"] <= MAX_INLINE_SEALED:
            f["inline"] = r.take(f["sealed_size"], f"file {i} sealed bytes")
            if sha256(f["inline"]) != f["chunks"][0]:
                r.fail(f"file {i}: the sealed bytes in the entry do not hash to its chunk id")
        files.append(f)
    r.finish()
    e["files"] = files
    return e


# ---- Keys and boxes (format-2.md sections 2-4), with python3's `cryptography` ----------------

def derive(parent, label, suffix=b""):
    """HKDF-Expand-SHA-256(parent, label || 0x00 || suffix), 32 bytes."""
    return HKDFExpand(hashes.SHA256(), 32, label.encode() + b"\x00" + suffix).derive(parent)


def open_box(key, label, box, what):
    """AES-256-GCM under a one-box key: zero nonce, the label as associated data; then the
    padding: u32 big-endian length || value || zero bytes."""
    try:
        padded = AESGCM(key).decrypt(bytes(12), box, label.encode())
    except InvalidTag:
        raise Invalid(f"{what} does not open (wrong key, or altered)")
    (n,) = struct.unpack(">I", padded[:4])
    if n > len(padded) - 4:
        raise Invalid(f"{what}: length larger than the box")
    if any(padded[4 + n:]):
        raise Invalid(f"{what}: padding is not zero")
    return padded[4:4 + n]


def file_commitment(salt, descriptor):
    return sha256(b"khronika/2 file commitment\x00", salt, descriptor)


def open_sealed_file(file_key, sealed, size):
    """C2SP chunked encryption, Cobblestone-256, context "khronika/2 file content": the file's
    first `size` bytes (the rest is zero padding, checked)."""
    salt, commitment, body = sealed[:24], sealed[24:56], sealed[56:]
    info = (b"c2sp.org/chunked-encryption@v1+AEAD_AES_256_GCM\x00" + salt +
            b"khronika/2 file content")
    okm = HKDFExpand(hashes.SHA512(), 76, info).derive(file_key)
    key, base_nonce, expected = okm[:32], okm[32:44], okm[44:]
    if commitment != expected:
        raise Invalid("the sealed file's key commitment does not match its file key")
    aead, out, k, step = AESGCM(key), hashlib.sha256(), 0, C2SP_CHUNK + TAG
    read, zeros = 0, True
    while True:
        piece = body[k * step:(k + 1) * step]
        last = len(body) <= (k + 1) * step
        if last and len(piece) >= step:
            raise Invalid("the sealed file's last chunk is full (truncated message)")
        nonce = (int.from_bytes(base_nonce, "big") ^ k).to_bytes(12, "big")
        try:
            plain = aead.decrypt(nonce, piece, None)
        except InvalidTag:
            raise Invalid(f"C2SP chunk {k} of the sealed file does not authenticate")
        take = max(0, min(len(plain), size - read))
        out.update(plain[:take])
        zeros = zeros and not any(plain[take:])
        read += len(plain)
        if last:
            break
        k += 1
    if read < size:
        raise Invalid("the sealed file is shorter than the signed size")
    if not zeros:
        raise Invalid("the sealed file's padding is not zero")
    return out.digest()


# ---- Ed25519 through the openssl command line -----------------------------------------------

class Ed25519:
    def __init__(self):
        if shutil.which("openssl") is None:
            raise ToolError("openssl is not on PATH")
        self.dir = tempfile.mkdtemp(prefix="kh-indep-")
        self.n = 0

    def close(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def verify(self, pubkey, message, signature):
        if len(pubkey) != 32 or len(signature) != 64:
            return False
        self.n += 1
        pem = os.path.join(self.dir, f"k{self.n}.pem")
        msg = os.path.join(self.dir, f"m{self.n}")
        sig = os.path.join(self.dir, f"s{self.n}")
        der = base64.b64encode(SPKI_ED25519_PREFIX + pubkey).decode()
        with open(pem, "w") as f:
            f.write(f"-----BEGIN PUBLIC KEY-----\n{der}\n-----END PUBLIC KEY-----\n")
        with open(msg, "wb") as f:
            f.write(message)
        with open(sig, "wb") as f:
            f.write(signature)
        p = subprocess.run(["openssl", "pkeyutl", "-verify", "-pubin", "-inkey", pem, "-rawin",
                            "-in", msg, "-sigfile", sig], capture_output=True)
        return p.returncode == 0


# ---- Merkle tree (RFC 6962 section 2.1) ------------------------------------------------------

def merkle_root(leaves):
    """MTH over leaf hashes (each already SHA-256(0x00 || record))."""
    n = len(leaves)
    if n == 0:
        return sha256(b"")
    if n == 1:
        return leaves[0]
    k = 1
    while k * 2 < n:
        k *= 2
    return sha256(b"\x01", merkle_root(leaves[:k]), merkle_root(leaves[k:]))


# ---- Signed notes and verifier keys (docs/format.md sections 9-10) --------------------------

def key_id(name, pubkey):
    return sha256(name.encode(), b"\x0a\x01", pubkey)[:4]


def parse_vkey(vkey):
    parts = vkey.split("+", 2)
    if len(parts) != 3:
        raise Invalid("verifier key is not name+keyid+key")
    name, kid_hex, key_b64 = parts
    if not name or any(ord(c) <= 0x20 or ord(c) == 0x7F for c in name):
        raise Invalid("verifier key name is empty or has spaces/control characters")
    kid = parse_hex(kid_hex, "verifier key id", 4)
    raw = b64decode_strict(key_b64, "verifier key")
    if len(raw) != 33 or raw[0] != 0x01:
        raise Invalid("verifier key is not 0x01 || 32-byte Ed25519 key")
    pub = raw[1:]
    if key_id(name, pub) != kid:
        raise Invalid("verifier key id does not match SHA-256(name || 0x0A || 0x01 || key)[:4]")
    return name, kid, pub


def parse_note(text):
    split = text.rfind("\n\n")
    if split < 0:
        raise Invalid("checkpoint note has no blank line before its signatures")
    body, sig_block = text[:split + 1], text[split + 2:]
    if not sig_block.endswith("\n"):
        raise Invalid("checkpoint note signatures must end with a newline")
    sigs = []
    for line in sig_block[:-1].split("\n"):
        if not line.startswith(EM_DASH + " "):
            raise Invalid(f"signature line does not start with an em dash: {line!r}")
        rest = line[2:]
        name, sep, b64 = rest.partition(" ")
        if not sep:
            raise Invalid("signature line has no signature")
        raw = b64decode_strict(b64, "note signature")
        if len(raw) < 5:
            raise Invalid("note signature too short")
        sigs.append((name, raw[:4], raw[4:]))
    return body, sigs


def parse_checkpoint_body(body):
    lines = body[:-1].split("\n")
    if len(lines) < 3:
        raise Invalid("checkpoint body has fewer than three lines")
    origin, size_s, root_b64 = lines[:3]
    if not size_s.isdigit() or not size_s.isascii() or (len(size_s) > 1 and size_s[0] == "0"):
        raise Invalid(f"checkpoint size {size_s!r} is not a canonical decimal number")
    size = int(size_s)
    if size >= 1 << 64:
        raise Invalid("checkpoint size does not fit in 64 bits")
    root = b64decode_strict(root_b64, "checkpoint root")
    if len(root) != 32:
        raise Invalid("checkpoint root is not 32 bytes")
    if any(not l for l in lines[3:]):
        raise Invalid("checkpoint has an empty extension line")
    return origin, size, root, lines[3:]


# ---- The verifier ----------------------------------------------------------------------------

def strict_json(text, what):
    """json.loads that refuses duplicate keys (a second "case" must not hide the first)."""
    def pairs(items):
        d = {}
        for k, v in items:
            if k in d:
                raise Invalid(f"{what}: duplicate JSON key {k!r}")
            d[k] = v
        return d
    try:
        return json.loads(text, object_pairs_hook=pairs)
    except json.JSONDecodeError as e:
        raise Invalid(f"{what}: not JSON ({e})")


def is_uint(v):
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


class Verifier:
    def __init__(self, binary, data, checkpoint_file, log_file, store_dump, archive_key):
        self.binary, self.data = binary, data
        self.checkpoint_file, self.log_file = checkpoint_file, log_file
        self.store_dump = store_dump
        self.archive_key = archive_key
        self.failures = []
        self.notes = []
        self.ed = Ed25519()
        self.records = []
        self.cases = {}
        self.sealed = {}       # log index -> decoded sealed entry
        self.entries = {}      # log index -> decoded, verified signed entry (opened)
        self.opened = {}       # log index -> (case key, [decoded descriptor or None])
        self.n_descriptors = 0

    def fail(self, msg):
        self.failures.append(msg)

    def run_cli(self, *args, binary_out=False):
        cmd = [self.binary, *args]
        p = subprocess.run(cmd, capture_output=True)
        if p.returncode != 0:
            raise ToolError(f"`{' '.join(cmd)}` exited {p.returncode}: "
                            f"{p.stderr.decode(errors='replace').strip()}")
        return p.stdout if binary_out else p.stdout.decode("utf-8")

    # -- identity
    def check_identity(self):
        ident = strict_json(self.run_cli("id", "--data", self.data, "--json"), "`id --json`")
        name, kid, pub = parse_vkey(ident["vkey"])
        node_id = sha256(pub)
        if ident.get("node_id") != hexs(node_id):
            raise Invalid("node_id is not SHA-256 of the public key in the verifier key")
        if name != "khronika/" + hexs(node_id):
            raise Invalid(f"verifier key name {name!r} is not khronika/<node id>")
        if ident.get("origin") not in (None, name):
            raise Invalid("`id --json` origin differs from the verifier key name")
        if ident.get("public_key") not in (None, hexs(pub)):
            raise Invalid("`id --json` public_key differs from the verifier key")
        self.name, self.kid, self.pub, self.node_id = name, kid, pub, node_id

    # -- log
    def load_log(self):
        if self.log_file:
            with open(self.log_file, "rb") as f:
                text = f.read().decode("utf-8")
        else:
            text = self.run_cli("log", "--data", self.data, "--json")
        lines = []
        for n, l in enumerate(text.split("\n")):
            if l.strip():
                line = strict_json(l, f"log line {n}")
                if not isinstance(line, dict):
                    raise Invalid(f"log line {n}: not a JSON object")
                lines.append(line)
        return lines

    def check_records(self, lines):
        leaves, prev_hash, case_tips, seen = [], ZERO, {}, {}
        for i, line in enumerate(lines):
            where = f"record {i}"
            if not is_uint(line.get("index")) or line.get("index") != i:
                self.fail(f"log line {i} has index {line.get('index')}, expected {i}")
            try:
                raw = parse_hex(line.get("record_hex"), f"{where} record_hex")
            except Invalid as e:
                raise Invalid(f"{e}: cannot go on without the record's bytes")
            # A record that does not decode still occupies its leaf: hash its bytes as they are,
            # so the checkpoint check reports the damage too.
            this_hash, leaf = sha256(raw), sha256(b"\x00", raw)
            leaves.append(leaf)
            rec = None
            try:
                if len(raw) != RECORD_LEN:
                    raise Invalid(f"{where}: {len(raw)} bytes, a record is {RECORD_LEN}")
                rec = decode_record(raw)
            except Invalid as e:
                self.fail(str(e))
            if rec is not None:
                self.records.append(rec)
                if rec["index"] != i:
                    self.fail(f"{where}: encodes index {rec['index']}")
                if rec["origin"] != self.node_id:
                    self.fail(f"{where}: origin {hexs(rec['origin'])} is not this node")
                if rec["prev_record"] != (ZERO if i == 0 else prev_hash):
                    self.fail(f"{where}: hash chain broken (prev_record "
                              f"{hexs(rec['prev_record'])}, expected "
                              f"{hexs(ZERO if i == 0 else prev_hash)})")
                if line.get("entry_id") != hexs(rec["object_id"]):
                    self.fail(f"{where}: log line entry_id differs from the record's object id")
                if line.get("received_at_ms") != rec["received_at_ms"]:
                    self.fail(f"{where}: log line received_at_ms differs from the record")
                if rec["object_id"] in seen:
                    self.fail(f"{where}: object {hexs(rec['object_id'])} is already logged by "
                              f"record {seen[rec['object_id']]}")
                seen.setdefault(rec["object_id"], i)
            if line.get("leaf_hash") != hexs(leaf):
                self.fail(f"{where}: leaf_hash {line.get('leaf_hash')} is not "
                          f"SHA-256(0x00 || record) = {hexs(leaf)}")

            sealed = self.check_object(i, line, rec["object_id"] if rec is not None else None)
            if sealed is not None and self.archive_key is not None:
                case, prev_case = self.open_entry(i, line, sealed)
                if case is not None and rec is not None:
                    # The case chain is in the link boxes: each names the hash of the case's
                    # previous record in this log (zero for the case's first).
                    tip = case_tips.get(case, ZERO)
                    if prev_case != tip:
                        self.fail(f"{where}: case chain of {case!r} broken (the link box names "
                                  f"{hexs(prev_case)}, expected {hexs(tip)})")
                    case_tips[case] = this_hash
            elif sealed is not None and any(k in line for k in ("entry_hex", "files", "case")):
                self.notes.append(f"{where}: opened fields listed but no archive key given: "
                                  "not checked")
            prev_hash = this_hash

        # A correction names the sealed entry it corrects; one logged here comes before it.
        for i, e in self.entries.items():
            if e["corrects"] is None:
                continue
            j = seen.get(e["corrects"])
            if j is None:
                self.notes.append(f"record {i} corrects {hexs(e['corrects'])}, which is not in "
                                  "this log (it may be in another log of the node)")
            elif j >= i:
                self.fail(f"record {i}: corrects entry {hexs(e['corrects'])}, logged at record "
                          f"{j}, not before it")
        self.cases = case_tips
        return leaves

    def check_object(self, i, line, object_id):
        """The logged object's bytes: id, strict decoding, the partner's rules."""
        where = f"record {i} object"
        try:
            raw = parse_hex(line.get("object_hex"), "object_hex")
        except Invalid as ex:
            self.fail(f"{where}: {ex}")
            return None
        if object_id is not None and sha256(raw) != object_id:
            self.fail(f"{where}: SHA-256 of object_hex is {hexs(sha256(raw))}, not the logged "
                      f"object id {hexs(object_id)}")
            return None
        if len(raw) >= 2 and raw[1] in (TYPE_RECOVERY_SET, TYPE_SHARE_RELEASE):
            self.notes.append(f"{where}: a recovery object (not checked here)")
            return None
        if len(raw) >= 2 and raw[1] == TYPE_CUSTODY_RECORD:
            try:
                self.check_custody(raw, where)
            except Invalid as ex:
                self.fail(f"{where}: {ex}")
            return None
        try:
            sealed = decode_sealed_entry(raw)
        except Invalid as ex:
            self.fail(f"{where}: {ex}")
            return None
        self.sealed[i] = sealed
        return sealed

    def check_custody(self, raw, where):
        """A custody record (format.md section 7.3): strict decoding and the slot count; with
        the archive key, every slot opens, events first, then empty slots, as many as needed."""
        r = Reader(raw, TYPE_CUSTODY_RECORD, "custody record")
        nonce = r.fixed(32, "nonce")
        n = r.u64("slot count")
        if n < 4 or n > 256 or n & (n - 1):
            r.fail(f"slot count {n} is not a power of two from 4 to 256")
        boxes = [r.fixed(528, "event box") for _ in range(n)]
        r.finish()
        if self.archive_key is None:
            return
        custody_key = derive(self.archive_key, "khronika/2 custody key")
        events, ended = 0, False
        for i, box in enumerate(boxes):
            key = derive(custody_key, "khronika/2 custody event key", nonce + struct.pack(">I", i))
            value = open_box(key, "khronika/2 custody event box", box, f"custody event box {i}")
            if not value:
                ended = True
                continue
            if ended:
                raise Invalid(f"custody event box {i}: an event after an empty slot")
            e = Reader(value, TYPE_CUSTODY_EVENT, f"custody event {i}")
            e.i64("time")
            action = e.string(32, "action")
            for field, most in (("token id", 64), ("role", 16)):
                if any(c < 0x20 or c > 0x7E for c in e.string(most, field)):
                    e.fail(f"{field} is not printable ASCII")
            case = e.string(128, "case")
            if any(c < 0x20 or c > 0x7E for c in e.string(200, "object")):
                e.fail("object is not printable ASCII")
            e.finish()
            if not action or any(not (0x61 <= c <= 0x7A or 0x30 <= c <= 0x39 or c == 0x2D)
                                 for c in action):
                e.fail("action is not 1-32 of a-z 0-9 -")
            if case:
                check_case_id(case)
            events += 1
        if events == 0 or n != max(4, 1 << (events - 1).bit_length()):
            raise Invalid(f"custody record: {events} events in {n} slots")
        self.notes.append(f"{where}: a custody record of {events} events, opened")

    def open_entry(self, i, line, sealed):
        """With the archive key: the case, the signed entry and each file's descriptor, all
        checked against what the log line lists. Returns (case id, previous case record)."""
        where = f"record {i}"
        nonce = sealed["nonce"]
        try:
            case_b = open_box(derive(self.archive_key, "khronika/2 index key", nonce),
                              "khronika/2 index box", sealed["index_box"], f"{where}: index box")
            case_id = check_case_id(case_b)
            case_key = derive(self.archive_key, "khronika/2 case key", case_b)
            link = open_box(derive(case_key, "khronika/2 link key", nonce), "khronika/2 link box",
                            sealed["link_box"], f"{where}: link box")
            if len(link) != 32:
                raise Invalid(f"{where}: link box holds {len(link)} bytes, not a record hash")
            signed = open_box(derive(case_key, "khronika/2 entry key", nonce),
                              "khronika/2 entry box", sealed["entry_box"], f"{where}: entry box")
        except Invalid as ex:
            self.fail(str(ex))
            return None, None
        try:
            e = decode_entry(signed)
        except Invalid as ex:
            self.fail(f"{where} entry: {ex}")
            return None, None
        ok = True
        if line.get("entry_hex") != hexs(signed):
            self.fail(f"{where} entry: entry_hex differs from the signed entry in the entry box")
            ok = False
        msg = ENTRY_SIG_PREFIX + sha256(signed[:e["unsigned_len"]])
        if not self.ed.verify(e["author"], msg, e["signature"]):
            self.fail(f"{where} entry: author signature is invalid (Ed25519 by "
                      f"{hexs(e['author'])} over the entry bytes)")
            ok = False
        if e["case_id"] != case_id:
            self.fail(f"{where} entry: filed under case {case_id!r} (index box) but the author "
                      f"signed case {e['case_id']!r}")
            ok = False
        for field, value in (("case", e["case_id"]), ("kind", e["kind"]),
                             ("author", hexs(e["author"]))):
            if line.get(field) != value:
                self.fail(f"{where} entry: {field} {line.get(field)!r} in the log differs from "
                          f"the signed entry's {value!r}")
        if len(e["files"]) != len(sealed["files"]):
            self.fail(f"{where}: the author signed {len(e['files'])} files, the sealed entry "
                      f"holds {len(sealed['files'])}")
            ok = False
        if ok:
            self.entries[i] = e
        self.opened[i] = (case_key, self.check_descriptors(i, line, e, sealed, case_key))
        return e["case_id"], link

    def check_descriptors(self, i, line, entry, sealed, case_key):
        where = f"record {i}"
        files = line.get("files")
        if not isinstance(files, list):
            self.fail(f"{where}: log line has no files list")
            files = []
        if len(files) != len(entry["files"]):
            self.fail(f"{where}: {len(files)} files listed, but the entry signs "
                      f"{len(entry['files'])}")
        decoded, names = [], {}
        for j in range(min(len(entry["files"]), len(sealed["files"]))):
            fw = f"{where} file {j}"
            try:
                file_key = derive(case_key, "khronika/2 file key",
                                  sealed["nonce"] + j.to_bytes(4, "big"))
                inner = open_box(derive(file_key, "khronika/2 descriptor key"),
                                 "khronika/2 descriptor box", sealed["files"][j]["descriptor_box"],
                                 f"{fw}: descriptor box")
                if len(inner) < 33:
                    raise Invalid(f"{fw}: descriptor box too short")
                salt, raw = inner[:32], inner[32:]
                d = decode_descriptor(raw)
            except Invalid as ex:
                self.fail(str(ex))
                decoded.append(None)
                continue
            self.n_descriptors += 1
            if file_commitment(salt, raw) != entry["files"][j]:
                self.fail(f"{fw}: the descriptor's salted commitment is not commitment {j} the "
                          "author signed")
            f = files[j] if j < len(files) and isinstance(files[j], dict) else {}
            fw = f"{fw} {f.get('name')!r}"
            if f.get("descriptor_hex") != hexs(raw):
                self.fail(f"{fw}: descriptor_hex differs from the signed descriptor (the "
                          "descriptor box's)")
            if f.get("salt") != hexs(salt):
                self.fail(f"{fw}: salt differs from the descriptor box's")
            if f.get("commitment") != hexs(entry["files"][j]):
                self.fail(f"{fw}: commitment listed is not commitment {j} the entry signs")
            for field, value in (("name", d["name"]), ("size", d["size"]),
                                 ("media_type", d["media_type"]),
                                 ("sha256", hexs(d["content_sha256"]))):
                if f.get(field) != value or (field == "size" and not is_uint(f.get(field))):
                    self.fail(f"{fw}: {field} {f.get(field)!r} listed differs from the signed "
                              f"descriptor's {value!r}")
            if d["name"] in names:
                self.fail(f"{where}: file name {d['name']!r} appears twice in one entry "
                          f"(files {names[d['name']]} and {j}); names must be unique")
            names.setdefault(d["name"], j)
            if padded_of_sealed(sealed["files"][j]["sealed_size"]) != \
                    max(MIN_PADDED_FILE, padme(d["size"])):
                self.fail(f"{fw}: sealed size {sealed['files'][j]['sealed_size']} is not that of "
                          f"a file of {d['size']} bytes")
            decoded.append((d, file_key))
        return decoded

    # -- checkpoint
    def check_checkpoint(self, leaves):
        if self.checkpoint_file:
            with open(self.checkpoint_file, "rb") as f:
                raw = f.read()
        else:
            raw = self.run_cli("checkpoint", "--data", self.data, binary_out=True)
        if len(raw) > 64 * 1024:
            raise Invalid("checkpoint note larger than 64 KiB")
        try:
            note = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise Invalid("checkpoint note is not UTF-8")
        if any(ord(c) < 0x20 and c != "\n" or c == "\x7f" for c in note):
            raise Invalid("checkpoint note contains control bytes other than LF")
        body, sigs = parse_note(note)
        if len(sigs) > 100:
            raise Invalid("checkpoint note has more than 100 signatures")
        signed = False
        for name, kid, sig in sigs:
            if name == self.name and kid == self.kid:
                if len(sig) != 64:
                    self.fail("checkpoint: the node's signature is not 64 bytes")
                elif self.ed.verify(self.pub, body.encode("utf-8"), sig):
                    signed = True
        if not signed:
            self.fail(f"checkpoint: no valid Ed25519 signature by {self.name} "
                      f"(key id {hexs(self.kid)}) over the checkpoint text")
        origin, size, root, _ = parse_checkpoint_body(body)
        if origin != self.name:
            self.fail(f"checkpoint: origin line {origin!r} is not {self.name!r}")
        if size != len(leaves):
            self.fail(f"checkpoint: size {size} but the log lists {len(leaves)} records")
        computed = merkle_root(leaves[:size]) if size <= len(leaves) else None
        if computed != root:
            expected = ("SHA-256 of the empty string, the root of an empty log" if size == 0
                        else "the RFC 6962 root of the records")
            self.fail(f"checkpoint: root {base64.b64encode(root).decode()} differs from "
                      f"{expected}: "
                      f"{base64.b64encode(computed).decode() if computed else '(not computable)'}")
        self.checkpoint = (size, root)

    # -- files
    def check_files(self, lines):
        n = 0
        for i, (case_key, descriptors) in self.opened.items():
            line = lines[i]
            for j, opened in enumerate(descriptors):
                if opened is None:
                    continue  # reported by check_descriptors
                d, _ = opened
                n += 1
                where = f"record {i} file {d['name']!r}"
                try:
                    content = self.run_cli("cat", "--data", self.data, str(line.get("entry_id")),
                                           d["name"], binary_out=True)
                except ToolError as e:
                    self.fail(f"{where}: {e}")
                    continue
                if sha256(content) != d["content_sha256"] or len(content) != d["size"]:
                    self.fail(f"{where}: `khronika cat` output differs from the signed "
                              "descriptor's size and SHA-256")
        return n

    # -- optional: the store's chunks table (node-internal layout)
    def check_store_chunks(self):
        if shutil.which("mdb_dump") is None:
            raise ToolError("--store-dump needs mdb_dump (lmdb-utils) on PATH")
        store = os.path.join(self.data, "store")
        # Sealed chunks are stored as they are (ciphertext already), in clear and encrypted
        # stores alike, under their ids.
        chunks = self.dump_table(store, "chunks")
        n_chunks = n_files = 0
        for i, sealed in self.sealed.items():
            for j, f in enumerate(sealed["files"]):
                parts, whole = [], True
                for k, cid in enumerate(f["chunks"]):
                    # A small file's sealed bytes are in its sealed entry (checked against the id
                    # when it was decoded), not in the chunks table.
                    data = f["inline"] if f["inline"] is not None else chunks.get(cid)
                    if data is None:
                        self.fail(f"record {i} file {j}: sealed chunk {hexs(cid)} is not in the "
                                  "store")
                        whole = False
                        continue
                    n_chunks += 1
                    if sha256(data) != cid:
                        self.fail(f"record {i} file {j}: stored sealed chunk {hexs(cid)} does not "
                                  "hash to its id")
                        whole = False
                    want = min(SEALED_CHUNK, f["sealed_size"] - k * SEALED_CHUNK)
                    if len(data) != want:
                        self.fail(f"record {i} file {j}: sealed chunk {k} is {len(data)} bytes, "
                                  f"not {want}")
                        whole = False
                    parts.append(data)
                opened = self.opened.get(i)
                if not whole or opened is None or j >= len(opened[1]) or opened[1][j] is None:
                    continue
                d, file_key = opened[1][j]
                try:
                    digest = open_sealed_file(file_key, b"".join(parts), d["size"])
                except Invalid as ex:
                    self.fail(f"record {i} file {d['name']!r}: {ex}")
                    continue
                n_files += 1
                if digest != d["content_sha256"]:
                    self.fail(f"record {i} file {d['name']!r}: the sealed file's plaintext differs "
                              "from the signed SHA-256")
        self.n_store_chunks, self.n_store_files = n_chunks, n_files

    @staticmethod
    def dump_table(store, table):
        p = subprocess.run(["mdb_dump", "-s", table, store], capture_output=True)
        if p.returncode != 0:
            raise ToolError(f"mdb_dump -s {table}: {p.stderr.decode(errors='replace').strip()}")
        out, in_data, pending = {}, False, None
        for line in p.stdout.decode("ascii").splitlines():
            if line == "HEADER=END":
                in_data = True
            elif line == "DATA=END":
                in_data = False
            elif in_data and line.startswith(" "):
                b = bytes.fromhex(line[1:])
                if pending is None:
                    pending = b
                else:
                    out[pending], pending = b, None
        return out

    def run(self):
        leaves, n_files, stored = [], 0, False
        try:
            self.check_identity()
            lines = self.load_log()
            leaves = self.check_records(lines)
            self.check_checkpoint(leaves)
            n_files = self.check_files(lines)
            if self.store_dump:
                self.check_store_chunks()
                stored = True
        except Invalid as e:
            self.fail(str(e))
        finally:
            self.ed.close()
        if self.failures:
            for f in self.failures:
                print(f"FAIL {f}")
            for n in self.notes:
                print(f"note {n}")
            print(f"independent verification FAILED: {len(self.failures)} problem(s)")
            return 1
        size, root = self.checkpoint
        print(f"origin      {self.name}")
        print(f"key id      {hexs(self.kid)}")
        print(f"records     {len(leaves)} (indexes, hash chain, leaf hashes)")
        print(f"sealed      {len(self.sealed)} sealed entries decoded from object_hex: ids, box "
              f"sizes, padded sizes, chunk counts")
        if self.archive_key is not None:
            print(f"opened      {len(self.entries)} entries with the archive key: case, signed "
                  f"entry as printed, author signatures, {len(self.cases)} case chains through "
                  f"the link boxes")
            print(f"descriptors {self.n_descriptors} opened: salted commitments as signed, "
                  f"name/size/sha256 as listed, names unique per entry")
        else:
            print("opened      none: no archive key (sealed entries checked as a partner can)")
        print(f"checkpoint  size {size}, root {base64.b64encode(root).decode()} "
              f"= recomputed RFC 6962 root; Ed25519 signature valid")
        print(f"files       {n_files} read back with `khronika cat`: size and SHA-256 as signed")
        if stored:
            print(f"store       {self.n_store_chunks} sealed chunks hash to their ids; "
                  f"{self.n_store_files} sealed files decrypted here match the signed SHA-256")
        for n in self.notes:
            print(f"note        {n}")
        print("independent verification OK")
        return 0


def read_archive_key(path):
    with open(path, "rb") as f:
        text = f.read().decode("ascii", errors="replace").strip()
    if len(text) != 64 or any(c not in "0123456789abcdef" for c in text):
        raise ToolError(f"{path} is not 64 lowercase hex characters")
    return bytes.fromhex(text)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("binary", help="path to the khronika binary")
    ap.add_argument("data", help="the node's data directory")
    ap.add_argument("--checkpoint-file", help="read the signed checkpoint note from FILE instead "
                    "of `khronika checkpoint`")
    ap.add_argument("--log-file", help="read `log --json` output from FILE instead of the binary")
    ap.add_argument("--store-dump", action="store_true",
                    help="also check the store's sealed chunks (node-internal) with mdb_dump")
    ap.add_argument("--archive-key", help="the origin's archive key (64 hex), to open its "
                    "entries; default DATA/archive.key when it exists (a node in clear)")
    ap.add_argument("--no-archive-key", action="store_true",
                    help="check as a partner would, without opening anything")
    args = ap.parse_args()
    if not os.access(args.binary, os.X_OK):
        print(f"error: {args.binary} is not an executable", file=sys.stderr)
        return 2
    try:
        key = None
        path = args.archive_key or os.path.join(args.data, "archive.key")
        if not args.no_archive_key and (args.archive_key or os.path.exists(path)):
            if not HAVE_CRYPTOGRAPHY:
                raise ToolError("opening sealed entries needs python3's `cryptography` (38 or "
                                "later); or give --no-archive-key")
            key = read_archive_key(path)
        return Verifier(args.binary, args.data, args.checkpoint_file, args.log_file,
                        args.store_dump, key).run()
    except ToolError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
