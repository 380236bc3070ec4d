#!/usr/bin/env python3
"""An independent Khronika verifier, written only from docs/format.md.

It shares no code with Khronika: Python's standard library for parsing and SHA-256, and the
`openssl` command line for Ed25519. It asks a khronika binary for three public outputs,

    khronika id --data DIR --json       the node's verifier key
    khronika log --data DIR --json      every record's canonical bytes (record_hex)
    khronika checkpoint --data DIR      the latest signed checkpoint note

and then checks, on its own: every record decodes per the spec, indexes run 0..n-1, the hash
chain and the per-case chains link, each leaf hash is SHA-256(0x00 || record), the RFC 6962
Merkle root of all leaves equals the signed checkpoint's root and size, the checkpoint's origin
line and Ed25519 signature (key id included) match the node's verifier key, and every listed
file read back with `khronika cat` has the listed SHA-256 and size.

With --store-dump it also reads the node's objects table with `mdb_dump` (the node-internal
layout, "Store layout" in docs/format.md) and checks every entry and manifest as well: canonical
decoding, ids, author signatures, the log's JSON fields against the signed bytes, and each
file's chunk ids against the content.

Exit 0 and a summary when everything holds; exit 1 naming every failure otherwise; exit 2 when
the tool itself cannot run (bad usage, binary missing).
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

# ---- Constants from docs/format.md ----------------------------------------------------------

ENDIAN_MARKER = 0x01
FORMAT_VERSION = 1
TYPE_MANIFEST, TYPE_ENTRY, TYPE_RECORD = ord("M"), ord("E"), ord("R")
CHUNK_SIZE = 1 << 20
MAX_FILE_SIZE = 1 << 40
MAX_OBJECT_BYTES = 64 * 1024 * 1024
MAX_FILE_NAME = 255
MAX_MEDIA_TYPE = 127
MAX_CASE_ID = 128
MAX_KIND = 32
MAX_MANIFESTS = 1000
MAX_META_PAIRS = 64
MAX_META_KEY = 64
MAX_META_VALUE = 4096
MAX_META_TOTAL = 32 * 1024
ENTRY_SIG_PREFIX = b"khronika entry signature v1\x00"
ZERO = bytes(32)
SPKI_ED25519_PREFIX = bytes.fromhex("302a300506032b6570032100")
EM_DASH = "\u2014"
RECORD_LEN = 3 + 32 + 8 + 32 + 32 + 32 + 8  # 147


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
        "entry_id": r.fixed(32, "entry_id"),
        "prev_case_record": r.fixed(32, "prev_case_record"),
        "received_at_ms": r.i64("received_at_ms"),
    }
    r.finish()
    return rec


def decode_manifest(data):
    r = Reader(data, TYPE_MANIFEST, "manifest")
    name = r.string(MAX_FILE_NAME, "name")
    media = r.string(MAX_MEDIA_TYPE, "media_type")
    size = r.u64("size")
    content = r.fixed(32, "content_sha256")
    chunks = r.hash_list(MAX_FILE_SIZE // CHUNK_SIZE, "chunks")
    r.finish()
    m = {"name": check_file_name(name), "media_type": check_media_type(media), "size": size,
         "content_sha256": content, "chunks": chunks}
    if size > MAX_FILE_SIZE:
        raise Invalid("manifest: file larger than 1 TiB")
    if len(chunks) != (size + CHUNK_SIZE - 1) // CHUNK_SIZE:
        raise Invalid(f"manifest: {len(chunks)} chunks for a file of {size} bytes")
    return m


def decode_entry(data):
    r = Reader(data, TYPE_ENTRY, "entry")
    case_id = r.string(MAX_CASE_ID, "case_id")
    author = r.fixed(32, "author")
    created = r.i64("created_at_ms")
    kind = r.string(MAX_KIND, "kind")
    manifests = r.hash_list(MAX_MANIFESTS, "manifests")
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
            "kind": check_kind(kind), "manifests": manifests, "metadata": metadata,
            "corrects": corrects, "signature": signature, "unsigned_len": unsigned_len}


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

class Verifier:
    def __init__(self, binary, data, checkpoint_file, log_file, store_dump):
        self.binary, self.data = binary, data
        self.checkpoint_file, self.log_file = checkpoint_file, log_file
        self.store_dump = store_dump
        self.failures = []
        self.notes = []
        self.ed = Ed25519()

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
        ident = json.loads(self.run_cli("id", "--data", self.data, "--json"))
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
            with open(self.log_file, encoding="utf-8") as f:
                text = f.read()
        else:
            text = self.run_cli("log", "--data", self.data, "--json")
        return [json.loads(l) for l in text.splitlines() if l.strip()]

    def check_records(self, lines, entries=None):
        leaves, prev_hash, case_tips = [], ZERO, {}
        self.records = []
        for i, line in enumerate(lines):
            where = f"record {i}"
            if line.get("index") != i:
                self.fail(f"log line {i} has index {line.get('index')}, expected {i}")
            try:
                raw = parse_hex(line.get("record_hex"), f"{where} record_hex")
            except Invalid as e:
                raise Invalid(f"{e}: cannot go on without the record's bytes")
            # A record that does not decode still occupies its leaf: hash its bytes as they are,
            # so the checkpoint check reports the damage too.
            this_hash, leaf = sha256(raw), sha256(b"\x00", raw)
            leaves.append(leaf)
            try:
                if len(raw) != RECORD_LEN:
                    raise Invalid(f"{where}: {len(raw)} bytes, a record is {RECORD_LEN}")
                rec = decode_record(raw)
            except Invalid as e:
                self.fail(str(e))
                prev_hash = this_hash
                continue
            self.records.append(rec)
            if rec["index"] != i:
                self.fail(f"{where}: encodes index {rec['index']}")
            if rec["origin"] != self.node_id:
                self.fail(f"{where}: origin {hexs(rec['origin'])} is not this node")
            if rec["prev_record"] != (ZERO if i == 0 else prev_hash):
                self.fail(f"{where}: hash chain broken (prev_record "
                          f"{hexs(rec['prev_record'])}, expected {hexs(prev_hash)})")
            if line.get("leaf_hash") != hexs(leaf):
                self.fail(f"{where}: leaf_hash {line.get('leaf_hash')} is not "
                          f"SHA-256(0x00 || record) = {hexs(leaf)}")
            if line.get("entry_id") != hexs(rec["entry_id"]):
                self.fail(f"{where}: log line entry_id differs from the record's entry_id")
            if line.get("received_at_ms") not in (None, rec["received_at_ms"]):
                self.fail(f"{where}: log line received_at_ms differs from the record")
            # Case chain: the case comes from the signed entry when we have its bytes, else from
            # the log's JSON view.
            case = line.get("case")
            if entries is not None and rec["entry_id"] in entries:
                case = entries[rec["entry_id"]]["case_id"]
            tip = case_tips.get(case, ZERO)
            if rec["prev_case_record"] != tip:
                self.fail(f"{where}: case chain of {case!r} broken (prev_case_record "
                          f"{hexs(rec['prev_case_record'])}, expected {hexs(tip)})")
            case_tips[case] = this_hash
            prev_hash = this_hash
        self.cases = case_tips
        return leaves

    # -- checkpoint
    def check_checkpoint(self, leaves):
        if self.checkpoint_file:
            with open(self.checkpoint_file, encoding="utf-8") as f:
                note = f.read()
        else:
            note = self.run_cli("checkpoint", "--data", self.data)
        body, sigs = parse_note(note)
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
            self.fail(f"checkpoint: root {base64.b64encode(root).decode()} differs from the "
                      f"RFC 6962 root of the records "
                      f"{base64.b64encode(computed).decode() if computed else '(not computable)'}")
        self.checkpoint = (size, root)

    # -- files
    def check_files(self, lines, manifests=None):
        n = 0
        for line in lines:
            for f in line.get("files", []):
                n += 1
                where = f"entry {line.get('entry_id')} file {f.get('name')!r}"
                try:
                    content = self.run_cli("cat", "--data", self.data, line["entry_id"],
                                           f["name"], binary_out=True)
                except ToolError as e:
                    self.fail(f"{where}: {e}")
                    continue
                if hexs(sha256(content)) != f.get("sha256"):
                    self.fail(f"{where}: SHA-256 of `khronika cat` output differs from the listed "
                              f"sha256")
                if len(content) != f.get("size"):
                    self.fail(f"{where}: {len(content)} bytes, listed size {f.get('size')}")
                if manifests is not None:
                    m = manifests.get(parse_hex(f["manifest_id"], "manifest_id", 32))
                    if m is None:
                        continue  # reported by check_objects
                    ids = [sha256(content[o:o + CHUNK_SIZE])
                           for o in range(0, len(content), CHUNK_SIZE)]
                    if ids != m["chunks"]:
                        self.fail(f"{where}: chunk ids of the content differ from the manifest's")
                    if sha256(content) != m["content_sha256"] or len(content) != m["size"]:
                        self.fail(f"{where}: content differs from the signed manifest")
        return n

    # -- optional: entries and manifests from the store (node-internal layout)
    def read_objects(self):
        if shutil.which("mdb_dump") is None:
            raise ToolError("--store-dump needs mdb_dump (lmdb-utils) on PATH")
        store = os.path.join(self.data, "store")
        meta = self.dump_table(store, "meta")
        fmt = meta.get(b"store_format")
        if fmt != b"khronika-store-1":
            self.notes.append(f"store format {fmt!r} is not khronika-store-1 (plaintext values): "
                              "entry and manifest checks skipped")
            return None
        return self.dump_table(store, "objects")

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

    def check_objects(self, objects, lines):
        entries, manifests = {}, {}
        for oid, data in objects.items():
            what = f"object {hexs(oid)}"
            if sha256(data) != oid:
                self.fail(f"{what}: SHA-256 of its bytes is not its id")
                continue
            try:
                t = data[1] if len(data) > 1 else None
                if t == TYPE_ENTRY:
                    e = decode_entry(data)
                    msg = ENTRY_SIG_PREFIX + sha256(data[:e["unsigned_len"]])
                    if not self.ed.verify(e["author"], msg, e["signature"]):
                        self.fail(f"entry {hexs(oid)}: author signature is invalid")
                    entries[oid] = e
                elif t == TYPE_MANIFEST:
                    manifests[oid] = decode_manifest(data)
                else:
                    self.fail(f"{what}: not a manifest or entry")
            except Invalid as ex:
                self.fail(f"{what}: {ex}")
        logged = set()
        for line in lines:
            eid = bytes.fromhex(line["entry_id"])
            e = entries.get(eid)
            where = f"entry {line['entry_id']}"
            if e is None:
                self.fail(f"{where}: logged but its bytes are not in the store")
                continue
            if e["case_id"] != line.get("case") or e["kind"] != line.get("kind") or \
                    hexs(e["author"]) != line.get("author"):
                self.fail(f"{where}: case, kind or author in the log differ from the signed entry")
            listed = [f.get("manifest_id") for f in line.get("files", [])]
            if listed != [hexs(m) for m in e["manifests"]]:
                self.fail(f"{where}: files listed differ from the manifests the entry signs")
            for f in line.get("files", []):
                m = manifests.get(bytes.fromhex(f["manifest_id"]))
                if m is None:
                    self.fail(f"{where}: manifest {f['manifest_id']} is missing")
                elif (m["name"], m["size"], hexs(m["content_sha256"])) != \
                        (f.get("name"), f.get("size"), f.get("sha256")):
                    self.fail(f"{where}: file {f.get('name')!r} listed differently from its "
                              "manifest")
            if e["corrects"] is not None and e["corrects"] not in logged:
                self.fail(f"{where}: corrects {hexs(e['corrects'])}, not logged before it")
            logged.add(eid)
        self.n_entries, self.n_manifests = len(entries), len(manifests)
        return entries, manifests

    def run(self):
        try:
            self.check_identity()
            lines = self.load_log()
            entries = manifests = None
            if self.store_dump:
                objects = self.read_objects()
                if objects is not None:
                    entries, manifests = self.check_objects(objects, lines)
            leaves = self.check_records(lines, entries)
            self.check_checkpoint(leaves)
            n_files = self.check_files(lines, manifests)
        except Invalid as e:
            self.fail(str(e))
        finally:
            self.ed.close()
        if self.failures:
            for f in self.failures:
                print(f"FAIL {f}")
            print(f"independent verification FAILED: {len(self.failures)} problem(s)")
            return 1
        size, root = self.checkpoint
        print(f"origin      {self.name}")
        print(f"key id      {hexs(self.kid)}")
        print(f"records     {len(leaves)} (indexes, hash chain, {len(self.cases)} case chains, "
              f"leaf hashes)")
        print(f"checkpoint  size {size}, root {base64.b64encode(root).decode()} "
              f"= recomputed RFC 6962 root; Ed25519 signature valid")
        print(f"files       {n_files} read back with `khronika cat`, SHA-256 and size match")
        if entries is not None:
            print(f"objects     {self.n_entries} entries (signatures valid), {self.n_manifests} "
                  f"manifests, chunk ids match content")
        for n in self.notes:
            print(f"note        {n}")
        print("independent verification OK")
        return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("binary", help="path to the khronika binary")
    ap.add_argument("data", help="the node's data directory")
    ap.add_argument("--checkpoint-file", help="read the signed checkpoint note from FILE instead "
                    "of `khronika checkpoint`")
    ap.add_argument("--log-file", help="read `log --json` output from FILE instead of the binary")
    ap.add_argument("--store-dump", action="store_true",
                    help="also check entries and manifests read from the store with mdb_dump")
    args = ap.parse_args()
    if not os.access(args.binary, os.X_OK):
        print(f"error: {args.binary} is not an executable", file=sys.stderr)
        return 2
    try:
        return Verifier(args.binary, args.data, args.checkpoint_file, args.log_file,
                        args.store_dump).run()
    except ToolError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
