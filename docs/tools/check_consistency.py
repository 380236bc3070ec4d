#!/usr/bin/env python3
"""Check that one Khronika checkpoint is a prefix of another (docs/auditor.md, section 5).

usage: check_consistency.py [--node URL --pin sha256:FP] OLD NEW [PROOF_JSON]

OLD and NEW are two checkpoints of one log, each a signed checkpoint note saved in a file (as
`GET /v1/checkpoint` or `khronika checkpoint` prints it: line 2 is the size, line 3 the base64
root) or written SIZE:BASE64ROOT. PROOF_JSON is the answer of
`GET /v1/proof/consistency?from=M&to=N` (api.md section 7.10), M and N the two sizes. With
--node, the script asks that node for the proof itself, over HTTPS pinned to the certificate
whose SHA-256 is FP, with the token in KHRONIKA_TOKEN (or --token), and saves the answer to
PROOF_JSON when it is given.

It verifies the RFC 6962 consistency proof with the algorithm of RFC 9162 section 2.1.4.2,
from the two roots of the checkpoints: the roots the answer carries are not used. It does not
check the checkpoints' signatures (Python has no Ed25519): check those with the origin's vkey
and openssl (format.md section 14, lawyer.md part 2 step f).

Exit status: 0 consistent; 1 FAIL, the proof does not join the two checkpoints (or they
contradict each other); 2 an error before anything could be checked: bad usage, a file that
cannot be read or parsed, a node that answers with an HTTP error or cannot be reached, or a
certificate that is not the pinned one. Python 3 standard library only.
"""
import argparse
import base64
import binascii
import hashlib
import http.client
import json
import os
import re
import ssl
import sys
import urllib.parse

MAX_PROOF = 128  # hashes; a proof between two sizes below 2^64 has at most 2 * 64


def H(b):
    return hashlib.sha256(b).digest()


def error(message):
    """An error before any check: exit 2."""
    print("error: " + message, file=sys.stderr)
    sys.exit(2)


def fail(message):
    """The proof does not check out: exit 1."""
    print("FAIL " + message, file=sys.stderr)
    sys.exit(1)


# ---- the node's API over a pinned connection (as in log_root.py: each script stands alone) ----

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


def get(url, pin, token, path):
    """The body of GET path (HTTP 200 only)."""
    parts = urllib.parse.urlsplit(url)
    try:
        port = parts.port or 443
    except ValueError:
        port = None
    if (parts.scheme != "https" or not parts.hostname or port is None
            or parts.path not in ("", "/")):
        error("--node must be https://HOST:PORT, got " + repr(url))
    connection = PinnedConnection(parts.hostname, port, pin)
    try:
        connection.request("GET", path, headers={"Authorization": "Bearer " + token})
        answer = connection.getresponse()
        body = answer.read()
    except PinMismatch as e:
        error(f"the node's certificate is sha256:{e}, not the pinned sha256:{pin}: not the node "
              "you were given (nothing was sent to it)")
    except (OSError, http.client.HTTPException) as e:
        error(f"cannot reach {url} (GET {path}): {e}")
    finally:
        connection.close()
    if answer.status != 200:
        try:
            detail = json.loads(body)
            detail = f"{detail['error']}: {detail['message']}"
        except (ValueError, KeyError, TypeError):
            detail = body[:200].decode("utf-8", "replace")
        error(f"GET {path}: HTTP {answer.status} {detail}")
    return body


# ---- the check ----

def checkpoint(text):
    """(origin line or None, size, root) from a checkpoint note file or SIZE:BASE64ROOT."""
    m = re.fullmatch(r"([0-9]+):([A-Za-z0-9+/]+=*)", text)
    if m and not os.path.exists(text):
        origin, size, root = None, m.group(1), m.group(2)
    else:
        try:
            with open(text, encoding="utf-8") as f:
                lines = f.read().split("\n")
        except (OSError, UnicodeDecodeError) as e:
            error(f"cannot read the checkpoint {text}: {e}")
        if len(lines) < 4 or not lines[0] or lines[3] != "":
            error(f"{text} is not a checkpoint note (origin, size, root, then a blank line)")
        origin, size, root = lines[0], lines[1], lines[2]
    if not re.fullmatch(r"0|[1-9][0-9]{0,19}", size) or int(size) >= 1 << 64:
        error(f"{text}: the size {size!r} is not a number")
    try:
        digest = base64.b64decode(root, validate=True)
    except binascii.Error:
        digest = b""
    if len(digest) != 32:
        error(f"{text}: the root {root!r} is not the base64 of 32 bytes")
    return origin, int(size), digest


def consistent(m, n, old_root, new_root, proof):
    """RFC 9162 section 2.1.4.2: whether `proof` shows the tree of size m with root old_root to
    be a prefix of the tree of size n with root new_root."""
    if m > n:
        return False
    if m == n:
        return not proof and old_root == new_root
    if m == 0:  # the empty tree is a prefix of every tree
        return not proof and old_root == H(b"")
    if not proof:
        return False
    path = ([old_root] if m & (m - 1) == 0 else []) + proof
    fn, sn = m - 1, n - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = H(b"\x01" + c + fr)
            sr = H(b"\x01" + c + sr)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = H(b"\x01" + sr + c)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and fr == old_root and sr == new_root


def main():
    parser = argparse.ArgumentParser(
        description="Check an RFC 6962 consistency proof between two Khronika checkpoints.",
        epilog="Exit 0: consistent; 1: FAIL; 2: error (usage, file, HTTP, certificate).")
    parser.add_argument("--node", help="https://HOST:PORT: ask this node for the proof")
    parser.add_argument("--pin", help="sha256:FP, the node's cert_sha256 (with --node)")
    parser.add_argument("--token", help="a token of any role (default: $KHRONIKA_TOKEN)")
    parser.add_argument("old", metavar="OLD", help="the smaller checkpoint: note file, SIZE:ROOT")
    parser.add_argument("new", metavar="NEW", help="the larger checkpoint: note file, SIZE:ROOT")
    parser.add_argument("proof_file", metavar="PROOF_JSON", nargs="?",
                        help="the answer of /v1/proof/consistency (saved there with --node)")
    args = parser.parse_args()  # exits 2 on a usage error

    old_origin, m, old_root = checkpoint(args.old)
    new_origin, n, new_root = checkpoint(args.new)
    if old_origin and new_origin and old_origin != new_origin:
        error(f"the two checkpoints are of different logs ({old_origin}, {new_origin})")
    if m > n:
        error(f"OLD is the larger checkpoint ({m} > {n}): give the smaller one first")

    if args.node:
        if not args.pin:
            error("--node needs --pin sha256:FP, the node's cert_sha256 from its operator")
        token = args.token or os.environ.get("KHRONIKA_TOKEN", "")
        if not token:
            error("--node needs a token: set KHRONIKA_TOKEN (or give --token)")
        path = f"/v1/proof/consistency?from={m}&to={n}"
        body = get(args.node, fingerprint(args.pin), token, path)
        if args.proof_file:
            try:
                with open(args.proof_file, "wb") as f:
                    f.write(body)
            except OSError as e:
                error(f"cannot write {args.proof_file}: {e}")
    elif args.pin or args.token:
        error("--pin and --token go with --node")
    elif not args.proof_file:
        error("give PROOF_JSON, the answer of GET /v1/proof/consistency, or --node to fetch it")
    else:
        try:
            with open(args.proof_file, "rb") as f:
                body = f.read(1 << 20)
        except OSError as e:
            error(f"cannot read {args.proof_file}: {e}")

    try:
        answer = json.loads(body)
    except ValueError:
        error(f"{args.proof_file or 'the answer'} is not JSON")
    if isinstance(answer, dict) and "error" in answer and "proof" not in answer:
        error(f"{args.proof_file} is an error answer, not a proof: {answer.get('error')}: "
              f"{answer.get('message')}")
    if (not isinstance(answer, dict) or not isinstance(answer.get("proof"), list)
            or not all(isinstance(h, str) and re.fullmatch(r"[0-9a-f]{64}", h)
                       for h in answer["proof"]) or len(answer["proof"]) > MAX_PROOF):
        error("not a consistency proof: {\"from\", \"to\", \"proof\": [at most 128 hex hashes]}")
    if answer.get("from") != m or answer.get("to") != n:
        fail(f"the proof is from {answer.get('from')} to {answer.get('to')}, not from {m} to {n}")
    origin = answer.get("origin")
    if old_origin and isinstance(origin, str) and old_origin != "khronika/" + origin:
        fail(f"the proof is of the log of {origin}, the checkpoints of {old_origin}")

    if not consistent(m, n, old_root, new_root, [bytes.fromhex(h) for h in answer["proof"]]):
        fail(f"the proof does not show the checkpoint of size {m} (root "
             f"{base64.b64encode(old_root).decode()}) to be a prefix of the one of size {n} "
             f"(root {base64.b64encode(new_root).decode()}): a wrong proof, or, if both "
             "checkpoints verify under the origin's key, a fork; check with the records "
             "(auditor.md sections 5 and 6)")
    print(f"OK   consistent: the log at size {m} is a prefix of the log at size {n}")


if __name__ == "__main__":
    main()
