#!/usr/bin/env python3
"""An independent reading of Khronika evidence format 2, written from docs/format-2.md alone.

Reads the JSON that format2_vectors prints (a sealed entry, its sealed chunks, the archive key,
a record, a recovery set and two share releases) on stdin, and checks every byte and every key
derivation with Python's `cryptography` and hashlib: the sealed entry's layout, the index, link,
entry and descriptor boxes, the author's signature and file commitments, each sealed file (C2SP
chunked encryption, Cobblestone-256) down to its padding and plaintext hash, the record, and the
recovery of the archive key from two of three shares. Exits 1 naming the first check that fails.
"""
import hashlib
import json
import struct
import sys

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF, HKDFExpand
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives import serialization

ZERO_NONCE = bytes(12)


def fail(what):
    print("FAIL: " + what)
    sys.exit(1)


def check(cond, what):
    if not cond:
        fail(what)


def sha256(b):
    return hashlib.sha256(b).digest()


def derive(parent, label, suffix=b""):
    """Section 2: HKDF-Expand-SHA-256(parent, label || 0x00 || suffix), 32 bytes."""
    return HKDFExpand(hashes.SHA256(), 32, label.encode() + b"\0" + suffix).derive(parent)


def padme(n):
    if n < 2:
        return n
    e = n.bit_length() - 1
    s = e.bit_length()
    mask = (1 << (e - s)) - 1
    return (n + mask) & ~mask


def open_box(key, label, box):
    """Section 3: AES-256-GCM, zero nonce, the label as associated data; then the padding."""
    try:
        padded = AESGCM(key).decrypt(ZERO_NONCE, box, label.encode())
    except InvalidTag:
        fail(label + " does not open")
    (n,) = struct.unpack(">I", padded[:4])
    check(n <= len(padded) - 4, label + ": length too large")
    check(all(b == 0 for b in padded[4 + n:]), label + ": padding is not zero")
    return padded[4:4 + n], len(padded)


class Reader:
    def __init__(self, data, type_byte, what):
        self.data, self.at, self.what = data, 0, what
        check(self.take(3) == bytes([1, ord(type_byte), 2]), what + ": header")

    def take(self, n):
        check(self.at + n <= len(self.data), self.what + ": truncated")
        out = self.data[self.at:self.at + n]
        self.at += n
        return out

    def u8(self):
        return self.take(1)[0]

    def u64(self):
        return struct.unpack("<Q", self.take(8))[0]

    def i64(self):
        return struct.unpack("<q", self.take(8))[0]

    def string(self):
        return self.take(self.u64())

    def hashes(self):
        return [self.take(32) for _ in range(self.u64())]

    def end(self):
        check(self.at == len(self.data), self.what + ": trailing bytes")


def read_entry(data):
    r = Reader(data, "E", "entry")
    e = {"case_id": r.string().decode(), "author": r.take(32), "created": r.i64(),
         "kind": r.string().decode(), "files": r.hashes(), "metadata": {}}
    for _ in range(r.u64()):
        k = r.string().decode()
        e["metadata"][k] = r.string().decode()
    flag = r.u8()
    check(flag in (0, 1), "entry: corrects flag")
    e["corrects"] = r.take(32) if flag else None
    unsigned_end = r.at
    e["signature"] = r.take(64)
    r.end()
    message = b"khronika entry signature v2\0" + sha256(data[:unsigned_end])
    try:
        Ed25519PublicKey.from_public_bytes(e["author"]).verify(e["signature"], message)
    except InvalidSignature:
        fail("entry: the author's signature does not verify")
    return e


def read_descriptor(data):
    r = Reader(data, "D", "descriptor")
    d = {"name": r.string().decode(), "media_type": r.string().decode(), "size": r.u64(),
         "sha256": r.take(32)}
    r.end()
    return d


def open_sealed_file(file_key, sealed):
    """Section 4: C2SP chunked encryption, Cobblestone-256, context 'khronika/2 file content'."""
    salt, commitment, body = sealed[:24], sealed[24:56], sealed[56:]
    info = b"c2sp.org/chunked-encryption@v1+AEAD_AES_256_GCM\0" + salt + b"khronika/2 file content"
    okm = HKDFExpand(hashes.SHA512(), 76, info).derive(file_key)
    key, base_nonce, expected = okm[:32], okm[32:44], okm[44:]
    check(commitment == expected, "sealed file: the key commitment does not match")
    out, k = b"", 0
    while True:
        piece = body[k * 16400:(k + 1) * 16400]
        last = len(body) <= (k + 1) * 16400
        check(len(piece) >= 16, "sealed file: a chunk shorter than its tag")
        if last:
            check(len(piece) < 16400, "sealed file: the last chunk is full (truncated message)")
        nonce = (int.from_bytes(base_nonce, "big") ^ k).to_bytes(12, "big")
        try:
            out += AESGCM(key).decrypt(nonce, piece, None)
        except InvalidTag:
            fail("sealed file: chunk %d does not authenticate" % k)
        if last:
            return out
        k += 1


def main():
    v = json.load(sys.stdin)
    archive_key = bytes.fromhex(v["archive_key"])
    sealed_bytes = bytes.fromhex(v["sealed_entry"])
    chunks = {bytes.fromhex(k): bytes.fromhex(c) for k, c in v["chunks"].items()}

    # Section 5: the SealedEntry's layout.
    r = Reader(sealed_bytes, "S", "sealed entry")
    nonce, index_box, link_box = r.take(32), r.take(176), r.take(52)
    entry_box = r.take(r.u64())
    files = []
    for _ in range(r.u64()):
        f = {"box": r.take(528), "sealed_size": r.u64(), "chunks": r.hashes()}
        # A file padded to at most 4 KiB: its sealed bytes follow, in the entry itself.
        f["inline"] = r.take(f["sealed_size"]) if f["sealed_size"] <= 4168 else None
        files.append(f)
    r.end()

    case_id, size = open_box(derive(archive_key, "khronika/2 index key", nonce),
                             "khronika/2 index box", index_box)
    check(size == 160 and case_id.decode() == v["case_id"], "index box: case id")
    case_key = derive(archive_key, "khronika/2 case key", case_id)
    link, size = open_box(derive(case_key, "khronika/2 link key", nonce),
                          "khronika/2 link box", link_box)
    check(size == 36 and link.hex() == v["prev_case_record"], "link box: previous case record")
    entry_bytes, size = open_box(derive(case_key, "khronika/2 entry key", nonce),
                                 "khronika/2 entry box", entry_box)
    check(size == max(256, padme(4 + len(entry_bytes))), "entry box: padded size")
    entry = read_entry(entry_bytes)
    check(entry["case_id"] == v["case_id"] and entry["author"].hex() == v["author"],
          "entry: case and author")
    check(len(entry["files"]) == len(files), "entry: one commitment per sealed file")

    for i, f in enumerate(files):
        file_key = derive(case_key, "khronika/2 file key", nonce + struct.pack(">I", i))
        value, size = open_box(derive(file_key, "khronika/2 descriptor key"),
                               "khronika/2 descriptor box", f["box"])
        check(size == 512, "descriptor box: padded size")
        salt, descriptor_bytes = value[:32], value[32:]
        commitment = sha256(b"khronika/2 file commitment\0" + salt + descriptor_bytes)
        check(commitment == entry["files"][i], "file %d: commitment" % i)
        d = read_descriptor(descriptor_bytes)
        check(d["name"] == v["names"][i], "file %d: name" % i)
        sealed = b""
        check(len(f["chunks"]) == -(-f["sealed_size"] // (1 << 20)), "file %d: chunk count" % i)
        check(f["inline"] is None or len(f["chunks"]) == 1, "file %d: one chunk inline" % i)
        for j, cid in enumerate(f["chunks"]):
            c = f["inline"] if f["inline"] is not None else chunks[cid]
            check(sha256(c) == cid, "file %d: sealed chunk %d hash" % (i, j))
            sealed += c
        check(len(sealed) == f["sealed_size"], "file %d: sealed size" % i)
        padded = open_sealed_file(file_key, sealed)
        check(len(padded) == max(512, padme(d["size"])), "file %d: padded length" % i)
        content, padding = padded[:d["size"]], padded[d["size"]:]
        check(all(b == 0 for b in padding), "file %d: padding is not zero" % i)
        check(sha256(content) == d["sha256"], "file %d: content hash" % i)
        check(content.hex() == v["contents"][i], "file %d: content" % i)
        # A key commitment ties the file to its key: file i+1's key does not open file i.
        other = derive(case_key, "khronika/2 file key", nonce + struct.pack(">I", i + 1))
        okm = HKDFExpand(hashes.SHA512(), 76, b"c2sp.org/chunked-encryption@v1+AEAD_AES_256_GCM\0"
                         + sealed[:24] + b"khronika/2 file content").derive(other)
        check(okm[44:] != sealed[24:56], "file %d: another file's key matches its commitment" % i)

    # The record: 115 bytes naming the sealed entry.
    record = bytes.fromhex(v["record"])
    check(len(record) == 115, "record: 115 bytes")
    rr = Reader(record, "R", "record")
    rr.take(32), rr.u64(), rr.take(32)
    check(rr.take(32) == sha256(sealed_bytes), "record: object id is the sealed entry's id")
    rr.i64()
    rr.end()

    # Section 6: recovery of the archive key by 2 of 3 partners.
    origin = record[3:35]
    set_bytes = bytes.fromhex(v["recovery_set"])
    rs = Reader(set_bytes, "K", "recovery set")
    threshold, key_check = rs.u8(), rs.take(32)
    holders = [(rs.take(32), rs.take(32), rs.u8(), rs.take(113)) for _ in range(rs.u64())]
    rs.end()

    def open_share(private_hex, recipient_pub, sealed):
        priv = X25519PrivateKey.from_private_bytes(bytes.fromhex(private_hex))
        eph = sealed[:32]
        shared = priv.exchange(X25519PublicKey.from_public_bytes(eph))
        key = HKDF(hashes.SHA256(), 32, eph + recipient_pub,
                   b"khronika/2 recovery share").derive(shared)
        try:
            plain = AESGCM(key).decrypt(ZERO_NONCE, sealed[32:], b"khronika/2 recovery share")
        except InvalidTag:
            fail("a share does not open with its recipient's key")
        check(plain[:32] == origin, "a share is of another origin")
        return plain[32], plain[33:]

    for i, (node, pub, x, sealed) in enumerate(holders):
        got_x, _ = open_share(v["partner_private_keys"][i], pub, sealed)
        check(got_x == x, "holder %d: point" % i)

    shares = []
    for hex_release in v["releases"]:
        rel = Reader(bytes.fromhex(hex_release), "X", "share release")
        check(rel.take(32) == origin, "release: origin")
        check(rel.take(32) == sha256(set_bytes), "release: names its recovery set")
        rel.take(32)
        recipient_pub = rel.take(32)
        x, sealed = rel.u8(), rel.take(113)
        rel.end()
        got_x, y = open_share(v["rebuilt_private_key"], recipient_pub, sealed)
        check(got_x == x, "release: point")
        shares.append((x, y))
    check(len(shares) >= threshold, "enough shares")

    def gf_mul(a, b):
        p = 0
        for _ in range(8):
            if b & 1:
                p ^= a
            hi = a & 0x80
            a = (a << 1) & 0xFF
            if hi:
                a ^= 0x1B
            b >>= 1
        return p

    def gf_inv(a):
        result = 1
        for _ in range(254):
            result = gf_mul(result, a)
        return result

    secret = bytearray(32)
    for i, (xi, yi) in enumerate(shares):
        basis = 1
        for j, (xj, _) in enumerate(shares):
            if i != j:
                basis = gf_mul(basis, gf_mul(xj, gf_inv(xj ^ xi)))
        for b in range(32):
            secret[b] ^= gf_mul(yi[b], basis)
    recovered = bytes(secret)
    check(HKDFExpand(hashes.SHA256(), 32, b"khronika/2 archive key check\0").derive(recovered)
          == key_check, "recovery: the check value")
    check(recovered == archive_key, "recovery: the archive key")
    print("format 2: sealed entry, %d files, record and a 2-of-3 recovery all check" % len(files))


if __name__ == "__main__":
    main()
