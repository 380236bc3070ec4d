#!/usr/bin/env python3
"""Check one Khronika log's hash chain and print its Merkle root (docs/auditor.md, section 4).

usage: log_root.py [--node URL --pin sha256:FP] ORIGIN RECORDS_FILE [SIZE]

RECORDS_FILE holds the log's records, one `record_hex` per line (format.md section 7), as
`GET /v1/logs/ORIGIN/records` gives them. With --node, the script first fetches every record of
ORIGIN's log from that node itself, page by page, over HTTPS pinned to the certificate whose
SHA-256 is FP (`cert_sha256` of `khronika id`), with the auditor token in KHRONIKA_TOKEN (or
--token), and writes RECORDS_FILE; without --node it reads RECORDS_FILE.

It refuses a record that is not record i of ORIGIN's log or does not name the SHA-256 of the
record before it, and prints the base64 Merkle root (RFC 9162 section 2.1.1) of the first SIZE
records (all of them by default), to compare with line 3 of a checkpoint of that size.

Exit status: 0 the root is printed; 1 FAIL, the records do not check out (named on stderr);
2 an error before anything could be checked: bad usage, a file that cannot be read, a node that
answers with an HTTP error or cannot be reached, or a certificate that is not the pinned one.
On an error nothing is written. Python 3 standard library only.
"""
import argparse
import base64
import hashlib
import http.client
import json
import os
import re
import ssl
import sys
import urllib.parse

RECORD_SIZE = 115  # format.md section 7 (format 2)
PAGE = 1000        # the most records one answer holds (api.md section 7.11)


def H(b):
    return hashlib.sha256(b).digest()


def error(message):
    """An error before any check: exit 2, nothing written."""
    print("error: " + message, file=sys.stderr)
    sys.exit(2)


def fail(message):
    """The data does not check out: exit 1."""
    print("FAIL " + message, file=sys.stderr)
    sys.exit(1)


def fingerprint(text):
    """sha256:HEX, HEX or AA:BB:… (any case) to 64 lowercase hex, as khronika --pin takes it."""
    hexed = re.sub(r"^sha256:", "", text.strip(), flags=re.I).replace(":", "").lower()
    if not re.fullmatch(r"[0-9a-f]{64}", hexed):
        error("--pin must be sha256: followed by the node's 64 hex cert_sha256, got " + repr(text))
    return hexed


class PinMismatch(Exception):
    pass


class PinnedConnection(http.client.HTTPSConnection):
    """An HTTPS connection that checks the certificate's SHA-256 on every (re)connection, before
    anything is sent: the certificate is self-signed and names no host, so there is no chain or
    host name to check (api.md section 1)."""

    def __init__(self, host, port, pin):
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE  # pinned in connect() instead
        context.minimum_version = ssl.TLSVersion.TLSv1_3
        super().__init__(host, port, context=context, timeout=30)
        self.pin = pin

    def connect(self):
        super().connect()
        got = hashlib.sha256(self.sock.getpeercert(binary_form=True)).hexdigest()
        if got != self.pin:
            self.close()
            raise PinMismatch(got)


class Node:
    """A node's API over one pinned connection."""

    def __init__(self, url, pin, token):
        parts = urllib.parse.urlsplit(url)
        try:
            port = parts.port or 443
        except ValueError:
            port = None
        if (parts.scheme != "https" or not parts.hostname or port is None
            or parts.path not in ("", "/")):
            error("--node must be https://HOST:PORT, got " + repr(url))
        self.url, self.pin, self.token = url, pin, token
        self.connection = PinnedConnection(parts.hostname, port, pin)

    def get_json(self, path):
        try:
            self.connection.request("GET", path, headers={"Authorization": "Bearer " + self.token})
            answer = self.connection.getresponse()
            body = answer.read()
        except PinMismatch as e:
            error(f"the node's certificate is sha256:{e}, not the pinned sha256:{self.pin}: not "
                  "the node you were given (nothing was sent to it)")
        except (OSError, http.client.HTTPException) as e:
            error(f"cannot reach {self.url} (GET {path}): {e}")
        if answer.status != 200:
            try:
                detail = json.loads(body)
                detail = f"{detail['error']}: {detail['message']}"
            except (ValueError, KeyError, TypeError):
                detail = body[:200].decode("utf-8", "replace")
            error(f"GET {path}: HTTP {answer.status} {detail}")
        try:
            return json.loads(body)
        except ValueError:
            error(f"GET {path}: the answer is not JSON")


def fetch_records(node, origin):
    """Every record_hex of ORIGIN's log, page by page."""
    records, start = [], 0
    while start is not None:
        page = node.get_json(f"/v1/logs/{origin}/records?from={start}&limit={PAGE}")
        try:
            for r in page["records"]:
                records.append(r["record_hex"])
            following = page["next_from"]
        except (KeyError, TypeError):
            error(f"/v1/logs/{origin}/records?from={start}: not a page of records")
        if following is not None and (not isinstance(following, int) or following <= start):
            error(f"/v1/logs/{origin}/records?from={start}: next_from {following!r} does not go on")
        start = following
    return records


def mth(leaves):
    """The Merkle tree hash of RFC 9162 section 2.1.1 (leaves are leaf hashes)."""
    if len(leaves) <= 1:
        return leaves[0] if leaves else H(b"")
    k = 1 << ((len(leaves) - 1).bit_length() - 1)  # the largest power of 2 below the count
    return H(b"\x01" + mth(leaves[:k]) + mth(leaves[k:]))


def main():
    parser = argparse.ArgumentParser(
        description="Check a Khronika log's hash chain and print its Merkle root.",
        epilog="Exit 0: root printed; 1: FAIL; 2: error (usage, file, HTTP, certificate).")
    parser.add_argument("--node", help="https://HOST:PORT: fetch the records from this node first")
    parser.add_argument("--pin", help="sha256:FP, the node's cert_sha256 (with --node)")
    parser.add_argument("--token", help="an auditor token (default: $KHRONIKA_TOKEN)")
    parser.add_argument("origin", metavar="ORIGIN", help="the log's origin node id (64 hex)")
    parser.add_argument("records_file", metavar="RECORDS_FILE", help="record_hex, one per line")
    parser.add_argument("size", metavar="SIZE", nargs="?", help="how many records (default all)")
    args = parser.parse_args()  # exits 2 on a usage error

    if not re.fullmatch(r"[0-9a-f]{64}", args.origin):
        error("ORIGIN must be a node id, 64 lowercase hex, got " + repr(args.origin))
    origin = bytes.fromhex(args.origin)
    size = None
    if args.size is not None:
        if not re.fullmatch(r"[0-9]+", args.size):
            error("SIZE must be a number of records, got " + repr(args.size))
        size = int(args.size)

    if args.node:
        if not args.pin:
            error("--node needs --pin sha256:FP, the node's cert_sha256 from its operator")
        token = args.token or os.environ.get("KHRONIKA_TOKEN", "")
        if not token:
            error("--node needs an auditor token: set KHRONIKA_TOKEN (or give --token)")
        lines = fetch_records(Node(args.node, fingerprint(args.pin), token), args.origin)
        temporary = args.records_file + ".part"
        try:
            with open(temporary, "w") as out:
                out.writelines(line + "\n" for line in lines)
            os.replace(temporary, args.records_file)
        except OSError as e:
            error(f"cannot write {args.records_file}: {e}")
    elif args.pin or args.token:
        error("--pin and --token go with --node")
    else:
        try:
            with open(args.records_file) as f:
                lines = f.read().split()
        except (OSError, UnicodeDecodeError) as e:
            error(f"cannot read {args.records_file}: {e}")

    prev = bytes(32)
    leaves = []
    for i, text in enumerate(lines):
        try:
            r = bytes.fromhex(text)
        except ValueError:
            fail(f"record {i}: not hexadecimal")
        if len(r) != RECORD_SIZE or r[:3] != b"\x01\x52\x02" or r[3:35] != origin:
            fail(f"record {i}: not a record of this log")
        if int.from_bytes(r[35:43], "little") != i or r[43:75] != prev:
            fail(f"record {i}: the hash chain is broken")
        prev = H(r)
        leaves.append(H(b"\x00" + r))
    if size is None:
        size = len(leaves)
    if size > len(leaves):
        fail(f"only {len(leaves)} records, not {size}")
    print(base64.b64encode(mth(leaves[:size])).decode())


if __name__ == "__main__":
    main()
