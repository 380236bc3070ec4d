#!/usr/bin/env python3
"""An independent C2SP tlog-tiles client, written from the specifications alone
(c2sp.org/tlog-tiles, tlog-checkpoint, signed-note, tlog-cosignature), not from Khronika's code.

  tlog_tiles_client.py PREFIX_URL --vkey VKEY [--witness-vkey VKEY]... [--token T] [--cacert F]

Fetches PREFIX/checkpoint, verifies the log's Ed25519 signature under VKEY (and each witness's
cosignature/v1 line under its vkey), fetches every tile and entry bundle the checkpoint's tree
has (partial ones as .p/W), checks that each entry hashes (RFC 6962 leaf hash) to its level-0
tile hash, that each level-1 hash is the Merkle hash of its full level-0 tile, and rebuilds the
root twice (from the entries, and from the level-1 tiles over full level-0 tiles) to compare it
with the checkpoint's. Prints "OK size=N root=B64" and exits 0; any failure prints FAIL and exits
1; HTTP errors exit 2.
"""
import argparse
import base64
import hashlib
import json
import ssl
import sys
import urllib.error
import urllib.request

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

EM_DASH = "\u2014"


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


class Http:
    def __init__(self, prefix, token, cacert):
        self.prefix = prefix if prefix.endswith("/") else prefix + "/"
        self.token = token
        self.ctx = ssl.create_default_context(cafile=cacert) if cacert else None
        self.fetched = 0

    def get(self, path):
        req = urllib.request.Request(self.prefix + path)
        req.add_header("Accept-Encoding", "identity")
        if self.token:
            req.add_header("Authorization", "Bearer " + self.token)
        try:
            with urllib.request.urlopen(req, context=self.ctx, timeout=30) as r:
                self.fetched += 1
                return r.read(), {k.lower(): v for k, v in r.headers.items()}
        except urllib.error.HTTPError as e:
            body = e.read().decode("utf-8", "replace")
            print(f"HTTP {e.code} for {path}: {body}")
            sys.exit(2)


# ---- signed notes (c2sp.org/signed-note) ---------------------------------------------------

def parse_vkey(vkey, want_type):
    name, key_id, b64 = vkey.split("+", 2)  # the base64 may hold "+" too
    raw = base64.b64decode(b64, validate=True)
    if len(raw) != 33 or raw[0] != want_type:
        fail(f"vkey {vkey} is not of type {want_type:#04x}")
    computed = hashlib.sha256(name.encode() + b"\n" + raw).digest()[:4]
    if computed.hex() != key_id:
        fail(f"vkey {vkey}: key id {key_id} is not {computed.hex()}")
    return name, bytes.fromhex(key_id), raw[1:]


def split_note(note):
    if "\n\n" not in note:
        fail("the checkpoint has no blank line before its signatures")
    cut = note.rindex("\n\n")
    text, sigs = note[: cut + 1], note[cut + 2 :]
    lines = []
    for line in sigs.split("\n")[:-1]:
        if not line.startswith(EM_DASH + " "):
            fail(f"not a signature line: {line!r}")
        name, b64 = line[2:].split(" ")
        lines.append((name, base64.b64decode(b64, validate=True)))
    return text, lines


def verify_log_signature(text, lines, vkey):
    name, key_id, key = parse_vkey(vkey, 0x01)
    pub = Ed25519PublicKey.from_public_bytes(key)
    for n, raw in lines:
        if n == name and raw[:4] == key_id:
            try:
                pub.verify(raw[4:], text.encode())
                return
            except InvalidSignature:
                fail("the log's signature does not verify")
    fail(f"no signature by {name} on the checkpoint")


def verify_cosignature(text, lines, vkey):
    # c2sp.org/tlog-cosignature: key id || u64 timestamp || Ed25519 over
    # "cosignature/v1\ntime <T>\n" || checkpoint body.
    name, key_id, key = parse_vkey(vkey, 0x04)
    pub = Ed25519PublicKey.from_public_bytes(key)
    for n, raw in lines:
        if n == name and raw[:4] == key_id:
            if len(raw) != 4 + 8 + 64:
                fail(f"cosignature by {name} is {len(raw)} bytes")
            t = int.from_bytes(raw[4:12], "big")
            msg = f"cosignature/v1\ntime {t}\n".encode() + text.encode()
            try:
                pub.verify(raw[12:], msg)
                return t
            except InvalidSignature:
                fail(f"the cosignature by {name} does not verify")
    fail(f"no cosignature by {name} on the checkpoint")


# ---- RFC 6962 and tlog-tiles ----------------------------------------------------------------

def leaf_hash(data):
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left, right):
    return hashlib.sha256(b"\x01" + left + right).digest()


def mth(hashes, begin, end, shortcut=None):
    if end - begin == 0:
        return hashlib.sha256(b"").digest()
    if shortcut is not None:
        h = shortcut(begin, end)
        if h is not None:
            return h
    if end - begin == 1:
        return hashes[begin]
    k = 1
    while k * 2 < end - begin:
        k *= 2
    return node_hash(mth(hashes, begin, begin + k, shortcut), mth(hashes, begin + k, end, shortcut))


def encode_index(n):
    groups = []
    while True:
        groups.append(n % 1000)
        n //= 1000
        if n == 0:
            break
    groups.reverse()
    return "/".join(("x%03d" if i < len(groups) - 1 else "%03d") % g for i, g in enumerate(groups))


def tile_path(level, n, width):
    p = f"tile/{level}/{encode_index(n)}"
    return p + (f".p/{width}" if width < 256 else "")


def split_hashes(data, width, what):
    if len(data) != 32 * width:
        fail(f"{what}: {len(data)} bytes, not {32 * width}")
    return [data[i * 32 : (i + 1) * 32] for i in range(width)]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("prefix")
    ap.add_argument("--vkey", required=True)
    ap.add_argument("--witness-vkey", action="append", default=[])
    ap.add_argument("--token")
    ap.add_argument("--cacert")
    ap.add_argument("--json", action="store_true", help="print a summary as JSON")
    args = ap.parse_args()

    # The spec's own example of the index encoding.
    assert encode_index(1234067) == "x001/x234/067", encode_index(1234067)
    assert tile_path(0, 0, 5) == "tile/0/000.p/5"

    http = Http(args.prefix, args.token, args.cacert)
    raw, headers = http.get("checkpoint")
    if not headers.get("content-type", "").startswith("text/plain"):
        fail(f"checkpoint content type {headers.get('content-type')}")
    note = raw.decode("utf-8")
    text, lines = split_note(note)
    verify_log_signature(text, lines, args.vkey)
    times = [verify_cosignature(text, lines, v) for v in args.witness_vkey]
    body = text.split("\n")
    origin, size, root = body[0], int(body[1]), base64.b64decode(body[2], validate=True)
    if origin != parse_vkey(args.vkey, 0x01)[0]:
        fail(f"origin line {origin} is not the key's name")

    leaves, entries = [], []
    for n in range((size + 255) // 256):
        width = min(256, size - n * 256)
        data, h = http.get(tile_path(0, n, width))
        if h.get("content-type") != "application/octet-stream":
            fail(f"tile content type {h.get('content-type')}")
        cache = h.get("cache-control", "")
        if (width == 256) != ("immutable" in cache):
            fail(f"tile 0/{n} of width {width}: Cache-Control {cache}")
        hashes = split_hashes(data, width, f"tile 0/{n}")
        partial = f".p/{width}" if width < 256 else ""
        bundle, _ = http.get(f"tile/entries/{encode_index(n)}{partial}")
        pos, i = 0, 0
        while pos < len(bundle):
            if pos + 2 > len(bundle):
                fail(f"entry bundle {n}: truncated length")
            length = int.from_bytes(bundle[pos : pos + 2], "big")
            entry = bundle[pos + 2 : pos + 2 + length]
            if len(entry) != length:
                fail(f"entry bundle {n}: truncated entry {i}")
            if i >= width or leaf_hash(entry) != hashes[i]:
                fail(f"entry {n * 256 + i} does not hash to its level-0 tile hash")
            entries.append(entry)
            pos += 2 + length
            i += 1
        if i != width:
            fail(f"entry bundle {n}: {i} entries, not {width}")
        leaves.extend(hashes)

    # Level 1: the Merkle hash of each full level-0 tile.
    full = size // 256
    level1 = []
    for n in range((full + 255) // 256):
        width = min(256, full - n * 256)
        data, _ = http.get(tile_path(1, n, width))
        level1.extend(split_hashes(data, width, f"tile 1/{n}"))
    for j, h in enumerate(level1):
        if mth(leaves, j * 256, (j + 1) * 256) != h:
            fail(f"level-1 hash {j} is not the Merkle hash of level-0 tile {j}")

    def from_level1(begin, end):
        if end - begin == 256 and begin % 256 == 0:
            return level1[begin // 256]
        return None

    from_entries = mth([leaf_hash(e) for e in entries], 0, size)
    from_tiles = mth(leaves, 0, size, from_level1)
    if from_entries != root:
        fail("the root rebuilt from the entry bundles is not the checkpoint's")
    if from_tiles != root:
        fail("the root rebuilt from the tiles is not the checkpoint's")
    summary = {"origin": origin, "size": size, "root": body[2], "fetched": http.fetched,
               "cosigned_at": times, "level1_hashes": len(level1)}
    if args.json:
        print(json.dumps(summary))
    print(f"OK size={size} root={body[2]} resources={http.fetched} cosignatures={len(times)}")


if __name__ == "__main__":
    main()
