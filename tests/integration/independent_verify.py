#!/usr/bin/env python3
"""An independent Khronika verifier, written only from docs/format.md.

It shares no code with Khronika: Python's standard library for parsing and SHA-256, and the
`openssl` command line for Ed25519. It asks a khronika binary for three public outputs,

    khronika id --data DIR --json       the node's verifier key
    khronika log --data DIR --json      every record's, entry's and manifest's canonical bytes
                                        (record_hex, entry_hex, files[].manifest_hex)
    khronika checkpoint --data DIR      the latest signed checkpoint note

and then checks, on its own, from those bytes only (the JSON fields are the node's reading of
them and are checked against them, never trusted):

  records    each decodes strictly; indexes run 0..n-1; the hash chain links; each leaf hash is
             SHA-256(0x00 || record); no entry id is logged twice;
  entries    each entry_hex decodes strictly; SHA-256(entry) = the record's entry_id; the
             Ed25519 author signature is valid; case, kind and author in the JSON match the
             signed bytes; the per-case chains link, with each record's case taken from its
             signed entry; a `corrects` target logged in this log comes before the correction;
  manifests  each manifest_hex decodes strictly; SHA-256(manifest) = manifest_id; the manifest
             ids are exactly the entry's signed list, in order; name, size and sha256 in the
             JSON match the signed manifest; file names are unique within an entry;
  checkpoint origin line and Ed25519 signature (key id included) match the node's verifier key;
             the size is the number of records and the root the RFC 6962 Merkle root of all
             leaves (SHA-256("") for an empty log);
  files      each file read back with `khronika cat` has the signed size, SHA-256 and chunk ids.

With --store-dump it also reads the node's objects table with `mdb_dump` (the node-internal
layout, "Store layout" in docs/format.md): every stored object must hash to its key, decode and
(entries) carry a valid signature, and the store must hold exactly the entry and manifest bytes
that `log --json` printed.

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
    def __init__(self, binary, data, checkpoint_file, log_file, store_dump):
        self.binary, self.data = binary, data
        self.checkpoint_file, self.log_file = checkpoint_file, log_file
        self.store_dump = store_dump
        self.failures = []
        self.notes = []
        self.ed = Ed25519()
        self.records = []
        self.cases = {}
        self.entries = {}      # log index -> decoded, verified entry
        self.manifests = {}    # log index -> list of decoded manifests (None where undecodable)
        self.n_manifests = 0

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
                if line.get("entry_id") != hexs(rec["entry_id"]):
                    self.fail(f"{where}: log line entry_id differs from the record's entry_id")
                if line.get("received_at_ms") != rec["received_at_ms"]:
                    self.fail(f"{where}: log line received_at_ms differs from the record")
                if rec["entry_id"] in seen:
                    self.fail(f"{where}: entry {hexs(rec['entry_id'])} is already logged by "
                              f"record {seen[rec['entry_id']]}")
                seen.setdefault(rec["entry_id"], i)
            if line.get("leaf_hash") != hexs(leaf):
                self.fail(f"{where}: leaf_hash {line.get('leaf_hash')} is not "
                          f"SHA-256(0x00 || record) = {hexs(leaf)}")

            # The entry: its id is the record's entry_id (the bytes the leaf hash covers); the
            # JSON line's entry_id is only a fallback when the record itself is unreadable.
            expected_id = rec["entry_id"] if rec is not None else None
            if expected_id is None:
                try:
                    expected_id = parse_hex(line.get("entry_id"), f"{where} entry_id", 32)
                except Invalid as e:
                    self.fail(str(e))
            entry = self.check_entry(i, line, expected_id)
            self.check_manifests(i, line, entry)

            if rec is not None:
                # Case chain: the case is the signed entry's case_id. Only when the entry
                # cannot be read (already reported) fall back to the JSON's reading.
                case = entry["case_id"] if entry is not None else line.get("case")
                tip = case_tips.get(case, ZERO)
                if rec["prev_case_record"] != tip:
                    self.fail(f"{where}: case chain of {case!r} broken (prev_case_record "
                              f"{hexs(rec['prev_case_record'])}, expected {hexs(tip)})")
                case_tips[case] = this_hash
            prev_hash = this_hash

        # A correction's target must be recorded before it. A target absent from this log may
        # be in another log the node keeps (docs/format.md section 5): noted, not failed.
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

    def check_entry(self, i, line, expected_id):
        """Decode and verify entry_hex; returns the entry, or None (failure recorded)."""
        where = f"record {i} entry"
        try:
            raw = parse_hex(line.get("entry_hex"), "entry_hex")
            e = decode_entry(raw)
        except Invalid as ex:
            self.fail(f"{where}: {ex}")
            return None
        ok = True
        if expected_id is not None and sha256(raw) != expected_id:
            self.fail(f"{where}: SHA-256 of entry_hex is {hexs(sha256(raw))}, not the logged "
                      f"entry_id {hexs(expected_id)}")
            ok = False
        msg = ENTRY_SIG_PREFIX + sha256(raw[:e["unsigned_len"]])
        if not self.ed.verify(e["author"], msg, e["signature"]):
            self.fail(f"{where}: author signature is invalid (Ed25519 by "
                      f"{hexs(e['author'])} over the entry bytes)")
            ok = False
        for field, signed in (("case", e["case_id"]), ("kind", e["kind"]),
                              ("author", hexs(e["author"]))):
            if line.get(field) != signed:
                self.fail(f"{where}: {field} {line.get(field)!r} in the log differs from the "
                          f"signed entry's {signed!r}")
        if ok:
            self.entries[i] = e
        # Even an entry that fails its id or signature is returned: its case still names the
        # chain the record claims to extend, and its manifest list is still compared.
        return e

    def check_manifests(self, i, line, entry):
        where = f"record {i}"
        files = line.get("files")
        if not isinstance(files, list):
            self.fail(f"{where}: log line has no files list")
            self.manifests[i] = []
            return
        decoded, names = [], {}
        for j, f in enumerate(files):
            fw = f"{where} file {j}"
            if not isinstance(f, dict):
                self.fail(f"{fw}: not a JSON object")
                decoded.append(None)
                continue
            fw = f"{where} file {j} {f.get('name')!r}"
            try:
                raw = parse_hex(f.get("manifest_hex"), "manifest_hex")
                m = decode_manifest(raw)
            except Invalid as ex:
                self.fail(f"{fw}: {ex}")
                decoded.append(None)
                continue
            self.n_manifests += 1
            mid = sha256(raw)
            if f.get("manifest_id") != hexs(mid):
                self.fail(f"{fw}: SHA-256 of manifest_hex is {hexs(mid)}, not the listed "
                          f"manifest_id {f.get('manifest_id')}")
            if entry is not None:
                if j >= len(entry["manifests"]):
                    pass  # reported below as a count mismatch
                elif entry["manifests"][j] != mid:
                    signed = entry["manifests"]
                    pos = (f"it is at position {signed.index(mid)} of the signed list"
                           if mid in signed else "it is not in the signed list")
                    self.fail(f"{fw}: manifest {hexs(mid)} is not manifest {j} the entry signs "
                              f"({pos})")
            for field, signed in (("name", m["name"]), ("size", m["size"]),
                                  ("sha256", hexs(m["content_sha256"]))):
                if f.get(field) != signed or (field == "size" and not is_uint(f.get(field))):
                    self.fail(f"{fw}: {field} {f.get(field)!r} listed differs from the signed "
                              f"manifest's {signed!r}")
            if m["name"] in names:
                self.fail(f"{where}: file name {m['name']!r} appears twice in one entry "
                          f"(files {names[m['name']]} and {j}); names must be unique")
            names.setdefault(m["name"], j)
            decoded.append(m)
        if entry is not None and len(files) != len(entry["manifests"]):
            self.fail(f"{where}: {len(files)} files listed, but the entry signs "
                      f"{len(entry['manifests'])} manifests")
        self.manifests[i] = decoded

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
        for i, line in enumerate(lines):
            files = line.get("files") if isinstance(line.get("files"), list) else []
            for j, f in enumerate(files):
                if not isinstance(f, dict):
                    continue
                n += 1
                where = f"record {i} file {f.get('name')!r}"
                try:
                    content = self.run_cli("cat", "--data", self.data, str(line.get("entry_id")),
                                           str(f.get("name")), binary_out=True)
                except ToolError as e:
                    self.fail(f"{where}: {e}")
                    continue
                if hexs(sha256(content)) != f.get("sha256"):
                    self.fail(f"{where}: SHA-256 of `khronika cat` output differs from the listed "
                              f"sha256")
                if len(content) != f.get("size"):
                    self.fail(f"{where}: {len(content)} bytes, listed size {f.get('size')}")
                ms = self.manifests.get(i, [])
                m = ms[j] if j < len(ms) else None
                if m is None:
                    continue  # the manifest itself was reported by check_manifests
                if sha256(content) != m["content_sha256"] or len(content) != m["size"]:
                    self.fail(f"{where}: content differs from the signed manifest")
                ids = [sha256(content[o:o + CHUNK_SIZE])
                       for o in range(0, len(content), CHUNK_SIZE)]
                if ids != m["chunks"]:
                    self.fail(f"{where}: chunk ids of the content differ from the signed "
                              "manifest's")
        return n

    # -- optional: the store's objects table (node-internal layout)
    def read_objects(self):
        if shutil.which("mdb_dump") is None:
            raise ToolError("--store-dump needs mdb_dump (lmdb-utils) on PATH")
        store = os.path.join(self.data, "store")
        meta = self.dump_table(store, "meta")
        fmt = meta.get(b"store_format")
        if fmt != b"khronika-store-2":
            self.notes.append(f"store format {fmt!r} is not khronika-store-2 (plaintext values): "
                              "store objects not checked")
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

    def check_store_objects(self, objects, lines):
        n_entries = 0
        for oid, data in objects.items():
            what = f"stored object {hexs(oid)}"
            if sha256(data) != oid:
                self.fail(f"{what}: SHA-256 of its bytes is not its id")
                continue
            try:
                t = data[1] if len(data) > 1 else None
                if t == TYPE_ENTRY:
                    e = decode_entry(data)
                    msg = ENTRY_SIG_PREFIX + sha256(data[:e["unsigned_len"]])
                    if not self.ed.verify(e["author"], msg, e["signature"]):
                        self.fail(f"stored entry {hexs(oid)}: author signature is invalid")
                    n_entries += 1
                elif t == TYPE_MANIFEST:
                    decode_manifest(data)
                else:
                    self.fail(f"{what}: not a manifest or entry")
            except Invalid as ex:
                self.fail(f"{what}: {ex}")
        referenced = set()
        for i, line in enumerate(lines):
            pairs = [(line.get("entry_id"), line.get("entry_hex"), "entry")]
            for f in line.get("files") or []:
                if isinstance(f, dict):
                    pairs.append((f.get("manifest_id"), f.get("manifest_hex"), "manifest"))
            for oid_hex, printed, kind in pairs:
                try:
                    oid = parse_hex(oid_hex, f"record {i} {kind} id", 32)
                except Invalid:
                    continue  # reported by check_records
                referenced.add(oid)
                stored = objects.get(oid)
                if stored is None:
                    self.fail(f"record {i}: {kind} {oid_hex} is not in the store")
                elif stored.hex() != printed:
                    self.fail(f"record {i}: the store's bytes of {kind} {oid_hex} differ from "
                              "what `log --json` printed")
        extra = len(set(objects) - referenced)
        if extra:
            self.notes.append(f"{extra} stored object(s) not named by this log (other logs?)")
        self.n_store_objects, self.n_store_entries = len(objects), n_entries

    def run(self):
        objects = None
        leaves = []
        try:
            self.check_identity()
            lines = self.load_log()
            leaves = self.check_records(lines)
            self.check_checkpoint(leaves)
            n_files = self.check_files(lines)
            if self.store_dump:
                objects = self.read_objects()
                if objects is not None:
                    self.check_store_objects(objects, lines)
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
        print(f"records     {len(leaves)} (indexes, hash chain, {len(self.cases)} case chains, "
              f"leaf hashes)")
        print(f"entries     {len(self.entries)} decoded from entry_hex: ids, author signatures, "
              f"case/kind/author as signed")
        print(f"manifests   {self.n_manifests} decoded from manifest_hex: ids, order as signed, "
              f"name/size/sha256 as signed, names unique per entry")
        print(f"checkpoint  size {size}, root {base64.b64encode(root).decode()} "
              f"= recomputed RFC 6962 root; Ed25519 signature valid")
        print(f"files       {n_files} read back with `khronika cat`: size, SHA-256 and chunk ids "
              f"match the signed manifests")
        if objects is not None:
            print(f"store       {self.n_store_objects} objects ({self.n_store_entries} entries) "
                  f"hash to their keys and decode; the log's entry and manifest bytes are stored "
                  f"as printed")
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
                    help="also check the store's objects table (node-internal) with mdb_dump")
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
