#!/usr/bin/env python3
"""The golden vectors of format 2 (tests/golden/*.hex), rebuilt independently.

schemas/src/objects_test.cc pins four objects made from fixed inputs (no randomness: sealing
takes its nonce and salts as inputs, and boxes use a zero nonce under single-use keys). This
script rebuilds what it can from those same inputs with Python's `cryptography`, following
docs/format-2.md and the readers of format2_independent.py: the descriptor and the record byte
for byte, the entry's commitments and signature, every box of the sealed entry opened, and each
sealed file sealed again here, its chunk id compared with the one the sealed entry lists.
Usage: format2_golden.py GOLDEN_DIR. Exits 1 naming the first check that fails.
"""
import os
import struct
import sys

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand
from cryptography.hazmat.primitives import serialization

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from format2_independent import (Reader, check, derive, open_box, padme, read_descriptor,  # noqa: E402
                                 read_entry, sha256)

# The fixed inputs of objects_test.cc (GoldenKey, GoldenArchiveKey, ...).
AUTHOR_SEED = bytes(range(0x00, 0x20))
ARCHIVE_KEY = bytes(range(0x40, 0x60))
NONCE = bytes(range(0x60, 0x80))
PREV_CASE_RECORD = bytes(range(0x02, 0x22))
CASE_ID = b"case-2024.017"
COMMITMENT_SALTS = [bytes(range(0x80, 0xa0)), bytes(range(0xa0, 0xc0))]
FILE_SALTS = [bytes((0xd0 + i) & 0xff for i in range(24)), bytes((0xd1 + i) & 0xff for i in range(24))]
CONTENTS = [bytes((k * 7 + (k >> 8)) & 0xff for k in range(5000)), b""]
NAMES = [(b"witness statement.pdf", b"application/pdf"), (b"empty.txt", b"text/plain")]


def u64(n):
    return struct.pack("<Q", n)


def string(b):
    return u64(len(b)) + b


def descriptor_bytes(i):
    name, media = NAMES[i]
    return b"\x01D\x02" + string(name) + string(media) + u64(len(CONTENTS[i])) + sha256(CONTENTS[i])


def seal_file(file_key, salt, content):
    """C2SP chunked encryption (Cobblestone-256) of the padded content, written from the spec."""
    padded = content + bytes(max(512, padme(len(content))) - len(content))
    info = b"c2sp.org/chunked-encryption@v1+AEAD_AES_256_GCM\0" + salt + b"khronika/2 file content"
    okm = HKDFExpand(hashes.SHA512(), 76, info).derive(file_key)
    key, base_nonce, commitment = okm[:32], okm[32:44], okm[44:]
    out, k = salt + commitment, 0
    while True:
        piece = padded[k * 16384:(k + 1) * 16384]
        nonce = (int.from_bytes(base_nonce, "big") ^ k).to_bytes(12, "big")
        out += AESGCM(key).encrypt(nonce, piece, None)
        if len(piece) < 16384:
            return out
        k += 1


def main():
    golden = sys.argv[1]

    def load(name):
        with open(os.path.join(golden, name)) as f:
            return bytes.fromhex(f.read().strip())

    author = Ed25519PrivateKey.from_private_bytes(AUTHOR_SEED).public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw)

    check(load("descriptor.hex") == descriptor_bytes(0), "descriptor.hex: not the documented bytes")

    entry_bytes = load("entry.hex")
    entry = read_entry(entry_bytes)  # checks the author's signature
    check(entry["author"] == author, "entry.hex: not signed by the golden author key")
    check(entry["case_id"] == CASE_ID.decode() and entry["kind"] == "evidence", "entry.hex: fields")
    for i in range(2):
        commitment = sha256(b"khronika/2 file commitment\0" + COMMITMENT_SALTS[i] + descriptor_bytes(i))
        check(entry["files"][i] == commitment, "entry.hex: commitment of file %d" % i)

    sealed_bytes = load("sealed_entry.hex")
    r = Reader(sealed_bytes, "S", "sealed entry")
    check(r.take(32) == NONCE, "sealed_entry.hex: nonce")
    index_box, link_box = r.take(176), r.take(52)
    entry_box = r.take(r.u64())
    files = []
    for _ in range(r.u64()):
        box, sealed_size, chunks = r.take(528), r.u64(), r.hashes()
        # A file padded to at most 4 KiB (sealed size at most 4168) carries its sealed bytes here.
        files.append((box, sealed_size, chunks, r.take(sealed_size) if sealed_size <= 4168 else b""))
    r.end()
    case_id, _ = open_box(derive(ARCHIVE_KEY, "khronika/2 index key", NONCE), "khronika/2 index box",
                          index_box)
    check(case_id == CASE_ID, "sealed_entry.hex: index box")
    case_key = derive(ARCHIVE_KEY, "khronika/2 case key", CASE_ID)
    link, _ = open_box(derive(case_key, "khronika/2 link key", NONCE), "khronika/2 link box", link_box)
    check(link == PREV_CASE_RECORD, "sealed_entry.hex: link box")
    inner, _ = open_box(derive(case_key, "khronika/2 entry key", NONCE), "khronika/2 entry box", entry_box)
    check(inner == entry_bytes, "sealed_entry.hex: the entry box does not hold entry.hex")
    check(len(files) == 2, "sealed_entry.hex: file count")
    for i, (box, sealed_size, chunks, inline) in enumerate(files):
        file_key = derive(case_key, "khronika/2 file key", NONCE + struct.pack(">I", i))
        value, _ = open_box(derive(file_key, "khronika/2 descriptor key"), "khronika/2 descriptor box", box)
        check(value == COMMITMENT_SALTS[i] + descriptor_bytes(i), "sealed_entry.hex: descriptor box %d" % i)
        read_descriptor(value[32:])
        sealed = seal_file(file_key, FILE_SALTS[i], CONTENTS[i])
        check(len(sealed) == sealed_size, "sealed_entry.hex: sealed size of file %d" % i)
        pieces = [sealed[k:k + (1 << 20)] for k in range(0, len(sealed), 1 << 20)]
        check([sha256(p) for p in pieces] == chunks, "sealed_entry.hex: sealed chunk ids of file %d" % i)
        check(inline == (sealed if sealed_size <= 4168 else b""),
              "sealed_entry.hex: the sealed bytes carried for file %d" % i)
    check(files[1][3] != b"" and files[0][3] == b"", "sealed_entry.hex: which files are carried inline")

    record = load("record.hex")
    expected = (b"\x01R\x02" + sha256(author) + u64(41) + bytes(range(0x01, 0x21)) + sha256(sealed_bytes)
                + struct.pack("<q", 1718000000456))
    check(record == expected, "record.hex: not the documented bytes")
    print("format 2 golden vectors: descriptor, entry, sealed entry (re-sealed here) and record check")


if __name__ == "__main__":
    main()
