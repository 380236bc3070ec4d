#!/usr/bin/env python3
"""RFC 3161 timestamps from time-stamping authorities other than the node (issue #16, item 1),
end to end with the real binary and a real TSA:

- a TSA made here with stock openssl (tsa/make_tsa.sh: `openssl req`, `x509`, `ca`), answering
  through `openssl ts -reply` behind a small HTTP responder on 127.0.0.1 written below;
- the responder also plays broken and hostile TSAs, each at its own path: a token over another
  imprint, a token answering another nonce, a TSA certificate that has expired, one from a CA
  the node does not trust, one that hangs forever, and a port where nothing listens;
- a node configured with `tsa = URL CA_FILE` lines; `khronika submit --timestamp` gets the good
  TSA's token and names each refusal; only the good token is stored and listed; the stored
  token is checked with `openssl ts -verify` exactly as docs/lawyer.md shows;
- a node whose only TSA hangs still acknowledges every submission and answers reads while the
  TSA holds its request, and stops promptly.

Nothing here measures time: waits are bounded only so that a failure ends the test.

Usage: timestamp_test.py /path/to/khronika
"""

import base64
import http.client
import http.server
import json
import os
import re
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
failures = []


def check(cond, what):
    if cond:
        print("ok   " + what, flush=True)
    else:
        print("FAIL " + what, flush=True)
        failures.append(what)


# ---- the TSA -------------------------------------------------------------------------------


def der_tlv(buf, off):
    """(tag, start of value, end of value) of the DER element at off."""
    tag = buf[off]
    n = buf[off + 1]
    off += 2
    if n & 0x80:
        k = n & 0x7F
        n = int.from_bytes(buf[off:off + k], "big")
        off += k
    return tag, off, off + n


def request_parts(query):
    """Offsets of the last byte of the imprint and of the nonce in a TimeStampReq."""
    _, body, _ = der_tlv(query, 0)
    _, _, off = der_tlv(query, body)  # version
    tag, mi, mi_end = der_tlv(query, off)  # messageImprint
    assert tag == 0x30
    _, _, alg_end = der_tlv(query, mi)
    tag, _, digest_end = der_tlv(query, alg_end)
    assert tag == 0x04
    off = mi_end
    nonce_last = None
    while off < len(query):
        tag, start, end = der_tlv(query, off)
        if tag == 0x02:
            nonce_last = end - 1
        off = end
    return digest_end - 1, nonce_last


class Tsa:
    """`openssl ts -reply` behind HTTP. The path chooses the behaviour."""

    SECTIONS = {"good": "tsa_good", "wrong-imprint": "tsa_good", "wrong-nonce": "tsa_good",
                "expired": "tsa_expired", "untrusted": "tsa_untrusted"}

    def __init__(self, work):
        self.dir = os.path.join(work, "tsa")
        subprocess.run(["bash", os.path.join(HERE, "tsa", "make_tsa.sh"), self.dir], check=True)
        self.hits = {}
        self.release = threading.Event()
        self.lock = threading.Lock()
        tsa = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                mode = self.path.strip("/")
                n = int(self.headers.get("Content-Length", "0"))
                query = bytearray(self.rfile.read(min(n, 65536)))
                with tsa.lock:
                    tsa.hits[mode] = tsa.hits.get(mode, 0) + 1
                if mode == "hang":
                    tsa.release.wait()
                    return
                if mode not in Tsa.SECTIONS:
                    self.send_error(404)
                    return
                imprint_last, nonce_last = request_parts(query)
                if mode == "wrong-imprint":
                    query[imprint_last] ^= 1
                if mode == "wrong-nonce":
                    query[nonce_last] ^= 1
                with tsa.lock:  # openssl ts -reply keeps a serial number file
                    q = os.path.join(tsa.dir, "q.tsq")
                    r = os.path.join(tsa.dir, "r.tsr")
                    with open(q, "wb") as f:
                        f.write(query)
                    subprocess.run(["openssl", "ts", "-reply", "-config", "ts.cnf", "-section",
                                    Tsa.SECTIONS[mode], "-queryfile", "q.tsq", "-out", "r.tsr"],
                                   cwd=tsa.dir, check=True, capture_output=True)
                    with open(r, "rb") as f:
                        answer = f.read()
                self.send_response(200)
                self.send_header("Content-Type", "application/timestamp-reply")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

        # The same TSA over HTTPS, as a real one is reached: a certificate for "localhost" from
        # a TLS CA of the test's own, which a node trusts only when told (SSL_CERT_FILE).
        def ossl(*args):
            subprocess.run(["openssl", *args], cwd=self.dir, check=True, capture_output=True)
        ossl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
             "-keyout", "tlsca.key", "-out", "tlsca.pem", "-subj", "/CN=Test TLS CA", "-days", "30",
             "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign")
        ossl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout",
             "tls.key", "-out", "tls.csr", "-subj", "/CN=localhost")
        with open(os.path.join(self.dir, "tls.ext"), "w") as f:
            f.write("subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\n"
                    "extendedKeyUsage=serverAuth\n")
        ossl("x509", "-req", "-in", "tls.csr", "-CA", "tlsca.pem", "-CAkey", "tlsca.key",
             "-CAcreateserial", "-out", "tls.pem", "-days", "30", "-extfile", "tls.ext")
        self.tls_ca = os.path.join(self.dir, "tlsca.pem")
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(os.path.join(self.dir, "tls.pem"), os.path.join(self.dir, "tls.key"))
        self.tls_server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.tls_server.daemon_threads = True
        self.tls_server.socket = ctx.wrap_socket(self.tls_server.socket, server_side=True,
                                                 do_handshake_on_connect=False)
        self.tls_port = self.tls_server.server_address[1]
        threading.Thread(target=self.tls_server.serve_forever, daemon=True).start()

    def url(self, mode):
        return f"http://127.0.0.1:{self.port}/{mode}"

    def https_url(self, mode):
        return f"https://localhost:{self.tls_port}/{mode}"

    def stop(self):
        self.release.set()
        self.server.shutdown()
        self.tls_server.shutdown()


# ---- the node ------------------------------------------------------------------------------


class Node:
    def __init__(self, kh, work, name, tsa_lines, extra="", env=None):
        self.kh = kh
        self.dir = os.path.join(work, name)
        self.run("init", "--data", self.dir, "--name", name, "--key-file", self.dir + ".key-file")
        with open(os.path.join(self.dir, "khronika.conf"), "w") as f:
            f.write("".join(f"tsa = {line}\n" for line in tsa_lines) + extra)
        self.key = os.path.join(work, name + "-author.key")
        self.run("keygen", "--out", self.key)
        self.run("author", "add", "--data", self.dir, "--name", "Author", "--pubkey", self.key + ".pub")
        self.tokens = {role: self.run("token", "create", "--data", self.dir, "--role", role).strip()
                       for role in ("admin", "submitter", "auditor", "reader")}
        self.fp = json.loads(self.run("id", "--data", self.dir, "--json"))["cert_sha256"]
        # The tokens' grants are custody records of the node's log (docs/format.md 7.3): the
        # first entry is record G.
        self.granted = int(self.run("checkpoint", "--data", self.dir).split("\n")[1])
        self.log = open(os.path.join(work, name + ".serve.log"), "w+")
        self.proc = subprocess.Popen([kh, "serve", "--data", self.dir, "--listen", "127.0.0.1:0"],
                                     stdout=subprocess.PIPE, stderr=self.log, text=True,
                                     env=dict(os.environ, **(env or {})))
        self.url = None
        for line in self.proc.stdout:
            m = re.match(r"listening on (https://\S+)", line)
            if m:
                self.url = m.group(1)
                break
        assert self.url, "serve printed no URL"
        threading.Thread(target=lambda: [None for _ in self.proc.stdout], daemon=True).start()
        self.port = int(self.url.rsplit(":", 1)[1])

    def run(self, *args, check=True):
        r = subprocess.run([self.kh, *args], capture_output=True, text=True, timeout=300)
        if check and r.returncode != 0:
            raise RuntimeError(f"khronika {' '.join(args)}: {r.stderr}")
        return r.stdout if check else r

    def submit(self, path, *extra):
        return subprocess.run(
            [self.kh, "submit", "--node", self.url, "--pin", "sha256:" + self.fp, "--token",
             self.tokens["submitter"], "--key", self.key, "--case", "case-ts", *extra, path],
            capture_output=True, text=True, timeout=300)

    def api(self, method, path, role, body=None):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE  # the pinned fingerprint is compared below
        c = http.client.HTTPSConnection("127.0.0.1", self.port, context=ctx, timeout=300)
        c.connect()
        der = c.sock.getpeercert(binary_form=True)
        import hashlib
        assert hashlib.sha256(der).hexdigest() == self.fp, "not the node's certificate"
        headers = {"Authorization": "Bearer " + self.tokens[role]}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        c.request(method, path, body=data, headers=headers)
        r = c.getresponse()
        out = r.status, r.read()
        c.close()
        return out

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return None


def main():
    kh = os.path.abspath(sys.argv[1])
    work = tempfile.mkdtemp(prefix="khronika-timestamp-")
    tsa = Tsa(work)
    nodes = []
    try:
        ca = os.path.join(tsa.dir, "ca.pem")
        evidence = os.path.join(work, "statement.txt")
        with open(evidence, "w") as f:
            f.write("On 3 March at 06:10 three men in uniform entered the office.\n")

        print("== a good TSA and five bad ones", flush=True)
        bad = ["wrong-imprint", "wrong-nonce", "expired", "untrusted"]
        lines = [f"{tsa.url('good')} {ca}"] + [f"{tsa.url(m)} {ca}" for m in bad]
        lines.append(f"http://127.0.0.1:1/down {ca}")  # nothing listens there
        a = Node(kh, work, "a", lines, "tsa_timeout_ms = 20000\n")
        nodes.append(a)
        r = a.submit(evidence, "--timestamp")
        print(r.stdout + r.stderr)
        check(r.returncode == 0, "submit --timestamp succeeds when one TSA answers")
        check(re.search(r"timestamped: existed no later than \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ, by "
                        r"CN=Test Time Stamping Authority,O=Test TSA \(" + re.escape(tsa.url("good")),
                        r.stdout) is not None, "submit names the time and the TSA")
        for mode, named in (("wrong-imprint", "wrong message imprint"), ("wrong-nonce", "wrong nonce"),
                            ("expired", "certificate has expired"),
                            ("untrusted", "untrusted TSA certificate"), ("down", "connecting")):
            url = tsa.url(mode) if mode != "down" else "http://127.0.0.1:1/down"
            check(re.search(re.escape("no timestamp from " + url) + ": .*" + re.escape(named),
                            r.stderr) is not None, f"the {mode} TSA's token is refused: '{named}'")

        status, body = a.api("GET", "/v1/checkpoint/timestamps", "auditor")
        listed = json.loads(body)
        check(status == 200, "an auditor lists the timestamps")
        check([t["tsa"] for t in listed["timestamps"]] == [tsa.url("good")],
              "only the good TSA's token is stored")
        stamped = a.granted + 1  # the checkpoint of the first entry
        check(listed["size"] == stamped and listed["checkpoint"].startswith("khronika/"),
              "the list names the checkpoint it is over")
        # Every stored token over every size: only good ones, whatever a background round did.
        for size in range(0, stamped + 2):
            s, b = a.api("GET", f"/v1/checkpoint/timestamps?size={size}", "auditor")
            check(s == 200 and all(t["tsa"] == tsa.url("good") for t in json.loads(b)["timestamps"]),
                  f"nothing but good tokens at size {size}")
        s, b = a.api("GET", "/v1/checkpoint/timestamped", "reader")
        summary = json.loads(b) if s == 200 else {}
        check(s == 200 and summary.get("size") == stamped and
              [x["tsa_name"] for x in summary["timestamps"]] ==
              ["CN=Test Time Stamping Authority,O=Test TSA"] and
              summary["timestamps"][0]["gen_time"] == listed["timestamps"][0]["gen_time"] and
              "token" not in summary["timestamps"][0],
              "a reader (the console) sees the time and the TSA, not the token")
        for role in ("submitter", "reader"):
            s, _ = a.api("GET", "/v1/checkpoint/timestamps", role)
            check(s == 403, f"a {role} may not list timestamps")
        for role in ("auditor", "reader"):
            s, _ = a.api("POST", "/v1/checkpoint/timestamp", role, {})
            check(s == 403, f"a token of role {role} may not ask for timestamps")
        s, b = a.api("POST", "/v1/checkpoint/timestamp", "submitter", {"min_size": "x"})
        check(s == 400, "a bad ask is refused")
        s, b = a.api("POST", "/v1/checkpoint/timestamp", "submitter", {"min_size": 99})
        check(s == 409, "an ask for a checkpoint not yet signed is refused")

        print("== the lawyer's check: openssl ts -verify", flush=True)
        t = listed["timestamps"][0]
        with open(os.path.join(work, "token.tst"), "wb") as f:
            f.write(base64.b64decode(t["token"]))
        with open(os.path.join(work, "checkpoint.note"), "w") as f:
            f.write(listed["checkpoint"])
        # docs/lawyer.md: the body is the note up to its empty line.
        cmd = ("sed '/^$/,$d' checkpoint.note > checkpoint.body && "
               "openssl ts -verify -data checkpoint.body -in token.tst -token_in -CAfile " + ca)
        v = subprocess.run(["bash", "-c", cmd], cwd=work, capture_output=True, text=True)
        check(v.returncode == 0 and "Verification: OK" in v.stdout, "openssl ts -verify accepts it")
        with open(os.path.join(work, "checkpoint.body"), "a") as f:
            f.write("x\n")
        v = subprocess.run(["openssl", "ts", "-verify", "-data", "checkpoint.body", "-in", "token.tst",
                            "-token_in", "-CAfile", ca], cwd=work, capture_output=True, text=True)
        check(v.returncode != 0, "openssl ts -verify refuses it over another body")

        print("== court bundles carry the token; verify-bundle and docs/lawyer.md check it", flush=True)
        other = os.path.join(work, "other.txt")
        with open(other, "w") as f:
            f.write("another case, so that the bundle's checkpoint is newer than the stamped one\n")
        r = subprocess.run([kh, "submit", "--node", a.url, "--pin", "sha256:" + a.fp, "--token",
                            a.tokens["submitter"], "--key", a.key, "--case", "case-other", other],
                           capture_output=True, text=True, timeout=300)
        check(r.returncode == 0, "a second entry, of another case, is acknowledged")
        bundle = os.path.join(work, "bundle")
        r = subprocess.run([kh, "export", "--node", a.url, "--pin", "sha256:" + a.fp, "--token",
                            a.tokens["admin"], "--case", "case-ts", "--out", bundle],
                           capture_output=True, text=True, timeout=300)
        print(r.stdout + r.stderr)
        check(r.returncode == 0, "the case is exported and its bundle verifies")
        origin = json.loads(a.run("id", "--data", a.dir, "--json"))["node_id"]
        logs = os.path.join(bundle, "logs", origin)
        tokens = sorted(os.listdir(os.path.join(logs, "timestamps"))) if os.path.isdir(
            os.path.join(logs, "timestamps")) else []
        check(len(tokens) == 1 and os.path.exists(os.path.join(logs, "timestamped.consistency.json")),
              "the bundle holds one token, over the first entry's checkpoint, tied to the later one by a proof")
        v = subprocess.run([kh, "verify-bundle", bundle], capture_output=True, text=True)
        print(v.stdout + v.stderr)
        said = re.compile(r"existed no later than \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ, by CN=Test Time "
                          r"Stamping Authority,O=Test TSA \(RFC 3161 timestamp of checkpoint " +
                          str(stamped) + r"; CA from the bundle, keys/tsa/\): every record of the "
                          r"case here, 1 of 1")
        check(v.returncode == 0 and said.search(v.stdout), "verify-bundle says when and by whom")
        report = open(os.path.join(bundle, "REPORT.md")).read()
        check(re.search(r"^- Existed no later than \S+, by CN=Test Time Stamping Authority,O=Test TSA "
                        r"\(RFC 3161 timestamp of checkpoint " + str(stamped) + r"\)\.$", report,
                        re.M) is not None,
              "REPORT.md says it under the record")
        v = subprocess.run([kh, "verify-bundle", bundle, "--tsa-ca", ca], capture_output=True, text=True)
        check(v.returncode == 0 and "CA from --tsa-ca" in v.stdout, "verify-bundle --tsa-ca accepts it")
        v = subprocess.run([kh, "verify-bundle", bundle, "--tsa-ca",
                            os.path.join(tsa.dir, "other-ca.pem")], capture_output=True, text=True)
        check(v.returncode == 1 and "untrusted TSA certificate" in v.stderr,
              "verify-bundle --tsa-ca with another CA refuses it and names why")
        # The by-hand check of docs/lawyer.md section 5a, as printed there.
        lawyer = open(os.path.join(HERE, "..", "..", "docs", "lawyer.md")).read()
        block = re.search(r"Without Khronika, with OpenSSL only.*?\n```\n(.*?)```", lawyer, re.S)
        check(block is not None, "docs/lawyer.md shows the openssl check")
        if block:
            script = block.group(1).replace("case-001-bundle", bundle).replace(
                "<hex>", tokens[0][:-4] if tokens else "x").replace("the-authority-ca.pem", ca)
            v = subprocess.run(["bash", "-euo", "pipefail", "-c", script], capture_output=True,
                               text=True, cwd=work)
            check(v.returncode == 0 and "Verification: OK" in v.stdout,
                  "docs/lawyer.md's openssl ts -verify passes on the bundle")
            script2 = script.replace(ca, os.path.join(tsa.dir, "other-ca.pem"))
            v = subprocess.run(["bash", "-euo", "pipefail", "-c", script2], capture_output=True,
                               text=True, cwd=work)
            check(v.returncode != 0, "and fails with another authority's CA")
        # A genuine token of the same TSA over something else, put in its place, is refused by name.
        if tokens:
            subprocess.run(["openssl", "ts", "-query", "-data", other, "-sha256", "-cert", "-out",
                            "x.tsq"], cwd=tsa.dir, check=True, capture_output=True)
            with tsa.lock:
                subprocess.run(["openssl", "ts", "-reply", "-config", "ts.cnf", "-section", "tsa_good",
                                "-queryfile", "x.tsq", "-token_out", "-out", "x.tst"], cwd=tsa.dir,
                               check=True, capture_output=True)
            shutil.copyfile(os.path.join(tsa.dir, "x.tst"), os.path.join(logs, "timestamps", tokens[0]))
            v = subprocess.run([kh, "verify-bundle", bundle], capture_output=True, text=True)
            check(v.returncode == 1 and "wrong message imprint" in v.stderr,
                  "a bundle whose token is over something else is refused: 'wrong message imprint'")

        print("== a partner takes the tokens with the log, checks them, and serves them", flush=True)
        p = Node(kh, work, "p", [])
        nodes.append(p)
        ida = json.loads(a.run("id", "--data", a.dir, "--json"))
        idp = json.loads(p.run("id", "--data", p.dir, "--json"))
        p.run("member", "add", "--data", p.dir, "--vkey", ida["vkey"], "--cosigner-vkey",
              ida["cosigner_vkey"])
        p.run("peer", "add", "--data", p.dir, "--url", a.url, "--id", ida["node_id"],
              "--cert-sha256", ida["cert_sha256"])
        a.run("member", "add", "--data", a.dir, "--vkey", idp["vkey"], "--cosigner-vkey",
              idp["cosigner_vkey"])
        a.run("peer", "add", "--data", a.dir, "--serve-only", "--id", idp["node_id"],
              "--cert-sha256", idp["cert_sha256"])
        r = p.run("sync", "--data", p.dir, "--peer", ida["node_id"], check=False)
        print(r.stdout + r.stderr)
        check(r.returncode == 0 and "1 RFC 3161 timestamp(s)" in r.stdout,
              "the partner's sync takes the origin's token")
        s, b = a.api("GET", "/v1/checkpoint/timestamps", "auditor")
        latest = json.loads(b)  # the origin's latest timestamped checkpoint, which heads announce
        s, b = p.api("GET", "/v1/checkpoint/timestamps?origin=" + ida["node_id"], "auditor")
        held = json.loads(b) if s == 200 else {}
        check(s == 200 and held.get("size") == latest["size"] and held["size"] >= stamped and
              [t["token"] for t in held.get("timestamps", [])] ==
              [t["token"] for t in latest["timestamps"]] and
              held.get("checkpoint", "").split("\n")[:3] == latest["checkpoint"].split("\n")[:3],
              "the partner serves the same token over the same checkpoint")
        r = p.run("verify", "--data", p.dir, check=False)
        check(r.returncode == 0, "the partner's store verifies with the token's checkpoint in it")
        r = p.run("sync", "--data", p.dir, "--peer", ida["node_id"], check=False)
        check(r.returncode == 0 and "timestamp" not in r.stdout, "a second sync asks for nothing")
        s, _ = p.api("GET", "/v1/checkpoint/timestamps?origin=xyz", "auditor")
        check(s == 400, "a malformed origin is refused")
        check(p.stop() == 0, "the partner stops")

        s, b = a.api("GET", "/metrics", "admin")
        m = re.search(r"^khronika_timestamp_failures_total (\d+)$", b.decode(), re.M)
        check(m is not None and int(m.group(1)) >= 5, "failures are counted in /metrics")
        log = open(os.path.join(work, "a.serve.log")).read()
        check("wrong nonce" in log and "certificate has expired" in log, "refusals are logged")
        check(a.stop() == 0, "node a stops")

        print("== the TSA over HTTPS: its server certificate is checked", flush=True)
        h = Node(kh, work, "h", [f"{tsa.https_url('good')} {ca}"], "tsa_timeout_ms = 20000\n",
                 env={"SSL_CERT_FILE": tsa.tls_ca})
        nodes.append(h)
        r = h.submit(evidence, "--timestamp")
        print(r.stdout + r.stderr)
        check(r.returncode == 0 and re.search(r"timestamped: existed no later than \S+, by CN=Test "
                                              r"Time Stamping Authority,O=Test TSA \(" +
                                              re.escape(tsa.https_url("good")), r.stdout),
              "a token over HTTPS from a TSA whose TLS certificate the node trusts")
        check(h.stop() == 0, "node h stops")
        # The same TSA, its TLS certificate not trusted by the node: no token, and the reason.
        u = Node(kh, work, "u", [f"{tsa.https_url('good')} {ca}"], "tsa_timeout_ms = 20000\n",
                 env={"SSL_CERT_FILE": os.path.join(tsa.dir, "ca.pem")})
        nodes.append(u)
        hits = tsa.hits.get("good", 0)
        r = u.submit(evidence, "--timestamp")
        print(r.stdout + r.stderr)
        check(r.returncode != 0 and "is acknowledged, but no time-stamping authority gave a token"
              in r.stderr and re.search(re.escape("no timestamp from " + tsa.https_url("good")) +
                                        r": .*certificate verify failed", r.stderr) is not None,
              "a TSA whose TLS certificate is not trusted gives nothing, and the reason is named")
        check(tsa.hits.get("good", 0) == hits, "no query reached it over the untrusted connection")
        check(u.stop() == 0, "node u stops")

        print("== a TSA that hangs delays nothing else", flush=True)
        b_node = Node(kh, work, "b", [f"{tsa.url('hang')} {ca}"], "tsa_timeout_ms = 3600000\n")
        nodes.append(b_node)
        r = b_node.submit(evidence)
        check(r.returncode == 0, "the first submission is acknowledged")
        for _ in range(600):  # the append wakes the timestamper, which asks the TSA
            if tsa.hits.get("hang"):
                break
            time.sleep(0.1)
        check(tsa.hits.get("hang") == 1, "the hanging TSA holds the node's ask")
        for i in range(3):
            p = os.path.join(work, f"more-{i}.txt")
            with open(p, "w") as f:
                f.write(f"statement {i}\n")
            r = b_node.submit(p)
            check(r.returncode == 0 and "index " + str(b_node.granted + i + 1) in r.stdout,
                  f"submission {i + 2} is acknowledged while the TSA hangs")
        s, body = b_node.api("GET", "/v1/checkpoint", "auditor")
        check(s == 200 and body.decode().split("\n")[1] == str(b_node.granted + 4),
              "reads are answered meanwhile")
        check(tsa.hits.get("hang") == 1, "the TSA was not asked again within the interval")
        s, body = b_node.api("GET", "/v1/checkpoint/timestamps", "auditor")
        check(s == 200 and json.loads(body)["timestamps"] == [], "nothing is stored")
        s, body = b_node.api("GET", "/v1/checkpoint/timestamped", "reader")
        check(s == 404, "and nothing is shown as timestamped")
        check(b_node.stop() == 0, "the node stops although its TSA still holds the ask")
    finally:
        for n in nodes:
            if n.proc.poll() is None:
                n.proc.kill()
        tsa.stop()
        if failures:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    if failures:
        print(f"FAILED: {len(failures)} checks", flush=True)
        return 1
    print("PASS: timestamps", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
