#!/usr/bin/env python3
"""Writes the format-2 seeds of tests/fuzz/corpus: http_fuzz's entry submissions (signed by the
harness's fixed author, Ed25519 seed 0x42 * 32, as http_fuzz.cc's AddEntry does) and paths with
its node-entry placeholder; sync_frames_fuzz's packs from the golden record and sealed entry.
Usage: tests/fuzz/make_format2_seeds.py   (from anywhere; needs python3-cryptography)"""
import hashlib
import json
import os
import re
import struct

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "corpus")
GOLDEN = os.path.join(HERE, "..", "golden")
KEY = Ed25519PrivateKey.from_private_bytes(b"\x42" * 32)
AUTHOR = KEY.public_key().public_bytes_raw().hex()


def sha(b):
    return hashlib.sha256(b).digest()


def u64(n):
    return struct.pack("<Q", n)


def string(b):
    return u64(len(b)) + b


def descriptor(name, media, content):
    return {"name": name, "media_type": media, "size": len(content), "sha256": sha(content).hex()}


def descriptor_bytes(d):
    return (b"\x01D\x02" + string(d["name"].encode()) + string(d["media_type"].encode()) +
            u64(d["size"]) + bytes.fromhex(d["sha256"]))


def submission(created, metadata, files):
    """files: [(descriptor, salt, [chunk bytes])]; docs/format-2.md section 5."""
    commitments = [sha(b"khronika/2 file commitment\0" + salt + descriptor_bytes(d)).hex()
                   for d, salt, _ in files]
    meta = sorted((k.encode(), v.encode()) for k, v in metadata.items())
    unsigned = (b"\x01E\x02" + string(b"case-1") + bytes.fromhex(AUTHOR) +
                struct.pack("<q", created) + string(b"evidence") + u64(len(commitments)) +
                b"".join(bytes.fromhex(c) for c in commitments) + u64(len(meta)) +
                b"".join(string(k) + string(v) for k, v in meta) + b"\0")
    entry = {"case": "case-1", "author": AUTHOR, "created_at_ms": created, "kind": "evidence",
             "files": commitments, "metadata": metadata,
             "signature": KEY.sign(b"khronika entry signature v2\0" + sha(unsigned)).hex()}
    return json.dumps({"entry": entry, "files": [
        {"descriptor": d, "salt": salt.hex(), "chunks": [sha(c).hex() for c in chunks]}
        for d, salt, chunks in files]}, separators=(",", ":"))


def post(body):
    return ("POST /v1/entries HTTP/1.1\r\nHost: node.example:8443\r\n"
            "Authorization: Bearer submitter\r\n"
            f"Content-Length: {len(body)}\r\nContent-Type: application/json\r\n"
            "Connection: close\r\n\r\n" + body)


def http_seeds():
    d = os.path.join(CORPUS, "http_fuzz")
    saw, page = b"what I saw\n", b"second page\n"
    zeros = bytes(3 << 20)
    seeds = {
        # The harness's own entry again: 200 and the existing receipt.
        "entry-post-retry": post(submission(1767225600000, {"place": "Kharkiv"}, [
            (descriptor("statement.txt", "text/plain", saw), b"\x24" * 32, [saw])])),
        "entry-post-new-pipelined":
            ("PUT /v1/chunks/" + sha(page).hex() + " HTTP/1.1\r\nHost: node.example:8443\r\n"
             "Authorization: Bearer submitter\r\nContent-Length: 12\r\n\r\n") + page.decode() +
            post(submission(1767225700000, {}, [
                (descriptor("page2.txt", "text/plain", page), b"\x25" * 32, [page])])),
        # A file of zeros names its one upload chunk three times (not sent: missing_chunks).
        "entry-post-repeated-chunk": post(submission(1767225800000, {}, [
            (descriptor("disk.img", "application/octet-stream", zeros), b"\x26" * 32,
             [zeros[:1 << 20]] * 3)])),
    }
    for name, text in seeds.items():
        with open(os.path.join(d, name), "wb") as f:
            f.write(text.encode())
    # Format 1 paths named a manifest id and a fixed entry id: file 0 of the harness's entry.
    for name in sorted(os.listdir(d)):
        p = os.path.join(d, name)
        with open(p, "rb") as f:
            data = f.read()
        fixed = re.sub(rb"/files/[0-9a-f]{64}/content", b"/files/0/content", data)
        fixed = fixed.replace(b"da0289ec7c5558cf0de6e94fe2b5001d53e7fcece9e42378f84dbc17bf81b0f0",
                              b"node-entry")
        if fixed != data:
            with open(p, "wb") as f:
                f.write(fixed)


def sync_seeds():
    d = os.path.join(CORPUS, "sync_frames_fuzz")
    with open(os.path.join(GOLDEN, "record.hex")) as f:
        record = bytes.fromhex(f.read().strip())
    with open(os.path.join(GOLDEN, "sealed_entry.hex")) as f:
        sealed = bytes.fromhex(f.read().strip())

    def frame(t, payload):
        return t.encode() + struct.pack(">I", len(payload)) + payload

    def at(index):
        return record[:35] + u64(index) + record[43:]

    seeds = {
        "pack-1-record": frame("R", record) + frame("O", sealed) + frame("Z", b""),
        "pack-3-records": b"".join(frame("R", at(i)) + frame("O", sealed) for i in range(3)) +
                          frame("Z", b""),
        "pack-truncated-object": frame("R", record) + frame("O", sealed[:200]) + frame("Z", b""),
    }
    for name, data in seeds.items():
        with open(os.path.join(d, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    http_seeds()
    sync_seeds()
