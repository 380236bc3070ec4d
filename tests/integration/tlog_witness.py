#!/usr/bin/env python3
"""An independent C2SP tlog-witness, client and server, written only from the specs
(c2sp.org/tlog-witness, tlog-cosignature, tlog-checkpoint, signed-note) with python3's
standard library and python3-cryptography: it shares no code with Khronika.

  keygen NAME SEED_OUT                 make a cosigner key; print its vkey (type 0x04)
  serve PORT CERT KEY SEED NAME ORIGIN_VKEY STATE LOG
                                       a witness of the one log ORIGIN_VKEY names, on
                                       https://127.0.0.1:PORT; cosigns with SEED
  stall PORT CERT KEY                  accepts TLS connections and never answers
  submit URL BODY_FILE                 POST BODY_FILE to URL/add-checkpoint; print JSON
                                       {"status", "content_type", "body"}
  body OLD NOTE_FILE [PROOF_HEX...]    print an add-checkpoint body
  verify NOTE_FILE LINE VKEY           exit 0 if LINE is a valid cosignature/v1 by VKEY on the
                                       checkpoint in NOTE_FILE
"""
import base64
import hashlib
import http.server
import json
import os
import socket
import ssl
import sys
import threading
import time
import urllib.parse

from cryptography.hazmat.primitives.asymmetric.ed25519 import (Ed25519PrivateKey,
                                                               Ed25519PublicKey)
from cryptography.hazmat.primitives import serialization
from cryptography.exceptions import InvalidSignature

EM_DASH = "\u2014"


def key_id(name, alg, pub):
    return hashlib.sha256(name.encode() + b"\n" + bytes([alg]) + pub).digest()[:4]


def parse_vkey(vkey):
    name, kid, rest = vkey.split("+", 2)
    raw = base64.b64decode(rest, validate=True)
    alg, pub = raw[0], raw[1:]
    assert len(pub) == 32, "not an Ed25519 key"
    assert key_id(name, alg, pub).hex() == kid, "vkey: wrong key id"
    return name, alg, pub


def split_note(note):
    """(text, [(name, raw signature bytes)]) of a signed note."""
    cut = note.rindex("\n\n")
    text, sigs = note[:cut + 1], note[cut + 2:]
    out = []
    for line in sigs.split("\n")[:-1]:
        assert line.startswith(EM_DASH + " "), "signature line without em dash"
        name, b64 = line[2:].split(" ")
        out.append((name, base64.b64decode(b64, validate=True)))
    return text, out


def h(b):
    return hashlib.sha256(b).digest()


def verify_consistency(first, second, first_hash, second_hash, proof):
    """RFC 9162 section 2.1.4.2, for 0 < first < second."""
    if first & (first - 1) == 0:
        proof = [first_hash] + proof
    if not proof:
        return False
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = proof[0]
    for c in proof[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = h(b"\x01" + c + fr)
            sr = h(b"\x01" + c + sr)
            if not fn & 1:
                while fn != 0 and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = h(b"\x01" + sr + c)
        fn >>= 1
        sn >>= 1
    return fr == first_hash and sr == second_hash and sn == 0


def cosigned_message(text, timestamp):
    return ("cosignature/v1\ntime %d\n" % timestamp).encode() + text.encode()


def keygen(name, seed_out):
    seed = os.urandom(32)
    with open(seed_out, "wb") as f:
        f.write(seed)
    pub = Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    print("%s+%s+%s" % (name, key_id(name, 4, pub).hex(),
                        base64.b64encode(b"\x04" + pub).decode()))


class Witness:
    def __init__(self, seed, name, origin_vkey, state, log):
        self.key = Ed25519PrivateKey.from_private_bytes(seed)
        pub = self.key.public_key().public_bytes(serialization.Encoding.Raw,
                                                 serialization.PublicFormat.Raw)
        self.name, self.kid = name, key_id(name, 4, pub)
        self.origin, alg, opub = parse_vkey(origin_vkey)
        assert alg == 1
        self.origin_kid, self.origin_key = key_id(self.origin, 1, opub), \
            Ed25519PublicKey.from_public_bytes(opub)
        self.state_file, self.log = state, log
        self.lock = threading.Lock()
        self.state = json.load(open(state)) if os.path.exists(state) else {}

    def note(self, what):
        with open(self.log, "a") as f:
            f.write(what + "\n")

    def add_checkpoint(self, body):
        """(status, content type, body)."""
        try:
            text = body.decode()
            first, rest = text.split("\n", 1)
            assert first.startswith("old ")
            old = first[4:]
            assert old == "0" or (old.isdigit() and not old.startswith("0"))
            old = int(old)
            proof = []
            while True:
                line, rest = rest.split("\n", 1)
                if line == "":
                    break
                p = base64.b64decode(line, validate=True)
                assert len(p) == 32
                proof.append(p)
            assert len(proof) <= 63
            note_text, sigs = split_note(rest)
            lines = note_text.split("\n")
            origin, size, root = lines[0], int(lines[1]), base64.b64decode(lines[2])
        except Exception as e:  # noqa: BLE001 - any malformed body is a 400
            return 400, "text/plain", "malformed: %s\n" % e
        if origin != self.origin:
            return 404, "text/plain", "unknown log\n"
        ok = False
        for name, raw in sigs:
            if name == self.origin and raw[:4] == self.origin_kid:
                try:
                    self.origin_key.verify(raw[4:], note_text.encode())
                    ok = True
                except InvalidSignature:
                    return 403, "text/plain", "bad signature\n"
        if not ok:
            return 403, "text/plain", "no signature by the log's key\n"
        if old > size:
            return 400, "text/plain", "old size beyond the checkpoint\n"
        with self.lock:  # the check of the old size and the update are one step
            cur = self.state.get(origin, {"size": 0, "root": ""})
            if old != cur["size"]:
                return 409, "text/x.tlog.size", "%d\n" % cur["size"]
            if size == 0 and root != h(b""):
                return 422, "text/plain", "bad empty root\n"
            if old == 0:
                if proof:
                    return 422, "text/plain", "proof from 0 must be empty\n"
            elif old == size:
                if root.hex() != cur["root"]:
                    return 422, "text/plain", "root differs\n"
            elif not verify_consistency(old, size, bytes.fromhex(cur["root"]), root, proof):
                self.note("refused old=%d size=%d proof=%d" % (old, size, len(proof)))
                return 422, "text/plain", "consistency proof does not verify\n"
            ts = int(time.time())
            sig = self.key.sign(cosigned_message(note_text, ts))
            line = "%s %s %s\n" % (EM_DASH, self.name, base64.b64encode(
                self.kid + ts.to_bytes(8, "big") + sig).decode())
            self.state[origin] = {"size": size, "root": root.hex()}
            with open(self.state_file + ".tmp", "w") as f:
                json.dump(self.state, f)
            os.replace(self.state_file + ".tmp", self.state_file)
            self.note("cosigned old=%d size=%d proof=%d" % (old, size, len(proof)))
            return 200, "text/plain", line


def serve(port, cert, key, seed_file, name, origin_vkey, state, log):
    witness = Witness(open(seed_file, "rb").read(), name, origin_vkey, state, log)

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self):
            if urllib.parse.urlsplit(self.path).path != "/w/add-checkpoint":
                return self.answer(404, "text/plain", "no such endpoint\n")
            n = int(self.headers.get("Content-Length", "0"))
            if n > 1 << 20:
                return self.answer(413, "text/plain", "too large\n")
            status, ctype, body = witness.add_checkpoint(self.rfile.read(n))
            self.answer(status, ctype, body)

        def answer(self, status, ctype, body):
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    server.serve_forever()


def stall(port, cert, key):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", port))
    s.listen(16)
    held = []
    while True:
        c, _ = s.accept()
        held.append(c)  # never read, never answered, never closed


def submit(url, body_file):
    u = urllib.parse.urlsplit(url)
    body = open(body_file, "rb").read()
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE  # what counts is the cosignature, checked by `verify`
    import http.client
    conn = http.client.HTTPSConnection(u.hostname, u.port, context=ctx, timeout=30)
    try:
        conn.request("POST", u.path.rstrip("/") + "/add-checkpoint", body=body,
                     headers={"Content-Type": "text/plain"})
        r = conn.getresponse()
        out = {"status": r.status, "content_type": r.getheader("Content-Type", ""),
               "body": r.read().decode()}
    except (ConnectionError, http.client.HTTPException) as e:
        out = {"status": 0, "content_type": "", "body": "connection: %s" % e}
    print(json.dumps(out))


def make_body(old, note_file, proof_hex):
    sys.stdout.write("old %d\n" % int(old))
    for p in proof_hex:
        sys.stdout.write(base64.b64encode(bytes.fromhex(p)).decode() + "\n")
    sys.stdout.write("\n" + open(note_file).read())


def verify(note_file, line, vkey):
    name, alg, pub = parse_vkey(vkey)
    assert alg == 4, "not a cosignature/v1 key"
    text, _ = split_note(open(note_file).read())
    assert line.startswith(EM_DASH + " ")
    lname, b64 = line[2:].strip().split(" ")
    raw = base64.b64decode(b64, validate=True)
    if lname != name or raw[:4] != key_id(name, 4, pub) or len(raw) != 76:
        sys.exit("not a cosignature by that key")
    ts = int.from_bytes(raw[4:12], "big")
    try:
        Ed25519PublicKey.from_public_bytes(pub).verify(raw[12:], cosigned_message(text, ts))
    except InvalidSignature:
        sys.exit("cosignature does not verify")
    print("ok %s time %d" % (name, ts))


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "keygen":
        keygen(*args)
    elif cmd == "serve":
        serve(int(args[0]), *args[1:])
    elif cmd == "stall":
        stall(int(args[0]), *args[1:])
    elif cmd == "submit":
        submit(*args)
    elif cmd == "body":
        make_body(args[0], args[1], args[2:])
    elif cmd == "verify":
        verify(*args)
    else:
        sys.exit(__doc__)
