// The node's TLS face: `khronika serve` prints the fingerprint of the certificate it really
// presents (the one `khronika id` reports), a client pinned to another fingerprint refuses to
// talk before anything is uploaded, and nothing older than TLS 1.3 is spoken.
#include <gtest/gtest.h>
#include <openssl/ssl.h>

#include <nlohmann/json.hpp>

#include "server_fixture.h"

namespace khronika::testing {
namespace {

using nlohmann::json;

TEST(ServerTlsTest, PrintedFingerprintIsTheCertificatePresented) {
  ServedNode node;
  ServerProcess& server = node.server();
  ASSERT_TRUE(server.started());
  EXPECT_EQ(server.url(), "https://127.0.0.1:" + std::to_string(server.port()));
  EXPECT_NE(server.port(), 0);
  EXPECT_EQ(server.fingerprint().size(), 64u);

  RunResult id = RunKhronika({"id", "--data", node.data().string(), "--json"});
  ASSERT_EQ(id.exit_code, 0) << id.err;
  json j = json::parse(id.out);
  EXPECT_EQ(j["cert_sha256"], server.fingerprint());

  // ...and it is the certificate the server actually presents, over TLS 1.3.
  std::string error;
  auto tls = RawTls::Connect(server.port(), 0, &error);
  ASSERT_TRUE(tls) << error;
  EXPECT_EQ(tls->PeerCertSha256(), server.fingerprint());
  EXPECT_EQ(tls->Protocol(), "TLSv1.3");

  // openssl's own view of the certificate agrees (fingerprint of the PEM it prints).
  RunResult s =
      RunProgram({"sh", "-c",
                  "openssl s_client -connect 127.0.0.1:" + std::to_string(server.port()) +
                      " </dev/null 2>/dev/null | openssl x509 -noout -fingerprint -sha256"});
  ASSERT_EQ(s.exit_code, 0) << s.err;
  std::string fp;
  for (char c : s.out.substr(s.out.find('=') + 1)) {
    if (std::isxdigit(static_cast<unsigned char>(c))) fp += static_cast<char>(std::tolower(c));
  }
  EXPECT_EQ(fp, server.fingerprint()) << s.out;
}

// The node's name is readable only with the data key (docs/threat-model.md), so it must not be
// in the certificate: tls.crt lies in the clear on the disk, and every handshake shows it.
TEST(ServerTlsTest, CertificateDoesNotNameTheNode) {
  TempDir dir;
  const std::string name = "kharkiv-field-office-7f3a";
  const std::filesystem::path data = dir / "node";
  RunResult init =
      RunKhronika({"init", "--data", data.string(), "--name", name, "--no-encryption"});
  ASSERT_EQ(init.exit_code, 0) << init.err;
  ASSERT_NE(init.err.find(name), std::string::npos) << init.err;  // the name is really this node's
  const std::string cert = (data / "tls.crt").string();

  RunResult fields = RunProgram({"openssl", "x509", "-in", cert, "-noout", "-subject", "-issuer",
                                 "-ext", "subjectAltName"});
  ASSERT_EQ(fields.exit_code, 0) << fields.err;
  EXPECT_NE(fields.out.find("subject=CN = khronika node\n"), std::string::npos) << fields.out;
  EXPECT_NE(fields.out.find("issuer=CN = khronika node\n"), std::string::npos) << fields.out;
  // What local clients that check host names need, and nothing else.
  EXPECT_NE(fields.out.find("DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1\n"),
            std::string::npos)
      << fields.out;
  RunResult text = RunProgram({"openssl", "x509", "-in", cert, "-noout", "-text"});
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_EQ(text.out.find("kharkiv"), std::string::npos) << text.out;
  RunResult der = RunProgram({"openssl", "x509", "-in", cert, "-outform", "DER"});
  ASSERT_EQ(der.exit_code, 0) << der.err;
  EXPECT_EQ(der.out.find("kharkiv"), std::string::npos);

  // Nor in what the server presents to anyone who connects.
  ServerProcess server(data);
  ASSERT_TRUE(server.started());
  RunResult shown = RunProgram(
      {"sh", "-c",
       "openssl s_client -connect 127.0.0.1:" + std::to_string(server.port()) +
           " </dev/null 2>/dev/null | openssl x509 -noout -subject -issuer -ext subjectAltName"});
  ASSERT_EQ(shown.exit_code, 0) << shown.err;
  EXPECT_EQ(shown.out, fields.out);
  EXPECT_NE(server.Stdout().find(name), std::string::npos);  // serve still says which node it is
}

TEST(ServerTlsTest, WrongPinIsRefusedAndNothingIsUploaded) {
  ServedNode node;
  ServerProcess& server = node.server();
  ASSERT_TRUE(server.started());
  WriteFile(node / "statement.txt", "nothing of this may reach an impostor\n");
  std::string chunk_id = HexSha256("nothing of this may reach an impostor\n");

  std::string wrong = server.fingerprint();
  wrong[0] = wrong[0] == '0' ? '1' : '0';
  RunResult r = RunKhronika({"submit", "--node", server.url(), "--pin", "sha256:" + wrong,
                             "--token", node.admin().secret, "--key", node.key().string(), "--case",
                             "c1", (node / "statement.txt").string()});
  EXPECT_NE(r.exit_code, 0);
  // A clear error: names the fingerprint seen and the one pinned.
  EXPECT_NE(r.err.find(server.fingerprint()), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(wrong), std::string::npos) << r.err;
  EXPECT_EQ(r.out, "");

  // get with a wrong pin is refused the same way.
  RunResult g =
      RunKhronika({"get", "--node", server.url(), "--pin", "sha256:" + wrong, "--token",
                   node.admin().secret, std::string(64, 'a'), "--out", (node / "out").string()});
  EXPECT_NE(g.exit_code, 0);
  EXPECT_NE(g.err.find(wrong), std::string::npos) << g.err;

  // Nothing reached the node: no record, the chunk is still missing, no bytes stored, and the
  // node saw no request on an upload route.
  EXPECT_TRUE(LogJson(node.data()).empty());
  HttpRequest missing;
  missing.method = "POST";
  missing.path = "/v1/chunks/missing";
  missing.token = node.admin().secret;
  missing.body = json{{"ids", {chunk_id}}}.dump();
  HttpReply m = Curl(server, missing);
  ASSERT_EQ(m.status, 200) << m.Describe();
  EXPECT_EQ(m.Json()["missing"], json::array({chunk_id}));
  HttpReply metrics = Get(server, "/metrics", node.admin().secret);
  ASSERT_EQ(metrics.status, 200) << metrics.Describe();
  EXPECT_NE(metrics.body.find("khronika_bytes_stored_total 0\n"), std::string::npos)
      << metrics.body;
  EXPECT_EQ(metrics.body.find("route=\"PUT /v1/chunks/{id}\""), std::string::npos) << metrics.body;
  EXPECT_EQ(metrics.body.find("route=\"POST /v1/entries\""), std::string::npos) << metrics.body;

  // With the right pin the same submission goes through.
  RunResult ok = node.Submit(node.admin().secret, "c1", {node / "statement.txt"});
  EXPECT_EQ(ok.exit_code, 0) << ok.err;
  EXPECT_EQ(LogJson(node.data()).size(), 1u);

  // A malformed pin is a usage error, not a connection.
  RunResult bad = RunKhronika({"submit", "--node", server.url(), "--pin", "sha256:xyz", "--token",
                               node.admin().secret, "--key", node.key().string(), "--case", "c1",
                               (node / "statement.txt").string()});
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_EQ(LogJson(node.data()).size(), 1u);
}

// --cacert instead of a pin: the chain is checked against the file's certificates and the URL's
// host against the names and addresses the certificate holds (a node's: localhost, 127.0.0.1,
// ::1). "localhost" resolves to ::1 first on many machines, where the node does not listen: the
// client goes on to the next address.
TEST(ServerTlsTest, CaFileTrustsTheNodeOnlyUnderTheNamesItsCertificateHolds) {
  ServedNode node;
  ServerProcess& server = node.server();
  ASSERT_TRUE(server.started());
  const std::string port = std::to_string(server.port());
  const std::string ca = (node.data() / "tls.crt").string();
  WriteFile(node / "statement.txt", "sent to the node its certificate names\n");
  auto submit = [&](const std::string& url, const std::string& ca_file) {
    return RunKhronika({"submit", "--node", url, "--cacert", ca_file, "--token",
                        node.admin().secret, "--key", node.key().string(), "--case", "c1",
                        "--json", (node / "statement.txt").string()});
  };
  for (const std::string host : {"127.0.0.1", "localhost"}) {
    SCOPED_TRACE(host);
    RunResult r = submit("https://" + host + ":" + port, ca);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const std::string entry = json::parse(r.out)["entry_id"];
    const std::filesystem::path out = node / ("out-" + host);
    RunResult g = RunKhronika({"get", "--node", "https://" + host + ":" + port, "--cacert", ca,
                               "--token", node.admin().secret, entry, "--out", out.string()});
    ASSERT_EQ(g.exit_code, 0) << g.err;
    EXPECT_EQ(ReadFile(out / "statement.txt"), "sent to the node its certificate names\n");
  }
  ASSERT_EQ(LogJson(node.data()).size(), 2u);

  // Another node's certificate as the CA: the chain does not verify.
  TempDir other;
  RunResult init = RunKhronika({"init", "--data", (other / "n").string(), "--no-encryption"});
  ASSERT_EQ(init.exit_code, 0) << init.err;
  RunResult wrong_ca = submit(server.url(), (other / "n" / "tls.crt").string());
  EXPECT_NE(wrong_ca.exit_code, 0);
  EXPECT_NE(wrong_ca.err.find("TLS handshake with " + server.url()), std::string::npos)
      << wrong_ca.err;
  EXPECT_NE(wrong_ca.err.find("certificate verify failed"), std::string::npos) << wrong_ca.err;
  // The right certificate under a name it does not hold ("127.1" is 127.0.0.1 to the resolver).
  RunResult wrong_name = submit("https://127.1:" + port, ca);
  EXPECT_NE(wrong_name.exit_code, 0);
  EXPECT_NE(wrong_name.err.find("certificate verify failed"), std::string::npos)
      << wrong_name.err;
  // A CA file that is not there.
  RunResult missing = submit(server.url(), (other / "absent.crt").string());
  EXPECT_NE(missing.exit_code, 0);
  EXPECT_NE(missing.err.find("CA file " + (other / "absent.crt").string()), std::string::npos)
      << missing.err;
  EXPECT_EQ(LogJson(node.data()).size(), 2u);
}

TEST(ServerTlsTest, OnlyTls13IsSpoken) {
  ServedNode node;
  ServerProcess& server = node.server();
  ASSERT_TRUE(server.started());
  std::string target = "127.0.0.1:" + std::to_string(server.port());

  RunResult tls12 = RunProgram({"openssl", "s_client", "-tls1_2", "-connect", target});
  EXPECT_NE(tls12.exit_code, 0) << tls12.out << tls12.err;
  EXPECT_EQ(tls12.out.find("BEGIN CERTIFICATE"), std::string::npos) << tls12.out;
  RunResult tls11 = RunProgram({"openssl", "s_client", "-tls1_1", "-connect", target});
  EXPECT_NE(tls11.exit_code, 0) << tls11.out << tls11.err;

  // The control: TLS 1.3 with the same tool connects.
  RunResult tls13 = RunProgram({"openssl", "s_client", "-tls1_3", "-connect", target});
  EXPECT_EQ(tls13.exit_code, 0) << tls13.out << tls13.err;
  EXPECT_NE(tls13.out.find("TLSv1.3"), std::string::npos) << tls13.out;

  // Our own client capped at TLS 1.2 cannot complete a handshake either.
  std::string error;
  EXPECT_FALSE(RawTls::Connect(server.port(), TLS1_2_VERSION, &error));
  // curl capped at 1.2 fails too.
  HttpRequest r;
  r.path = "/healthz";
  r.extra_args = {"--tls-max", "1.2"};
  HttpReply c = Curl(server, r);
  EXPECT_EQ(c.status, 0) << c.Describe();
  EXPECT_NE(c.curl_exit, 0);
  // And the server is still well.
  EXPECT_EQ(Get(server, "/healthz").status, 200);
  EXPECT_TRUE(server.Running());
}

// A browser's second connection resumes the TLS session of its first (a TLS 1.3 ticket). The
// server asks every client for a certificate, and without a session id context OpenSSL then
// failed every resumed handshake: the console's page loaded and its scripts did not.
TEST(ServerTlsTest, ASessionIsResumed) {
  ServedNode node;
  ServerProcess& server = node.server();
  ASSERT_TRUE(server.started());
  std::string target = "127.0.0.1:" + std::to_string(server.port());
  std::string session = (node / "session.pem").string();
  std::string request = "printf 'GET /healthz HTTP/1.1\\r\\nHost: x\\r\\nConnection: close\\r\\n\\r\\n' | ";
  RunResult first = RunProgram({"sh", "-c", request + "openssl s_client -tls1_3 -quiet -connect " + target +
                                                " -sess_out " + session + " 2>&1"});
  ASSERT_EQ(first.exit_code, 0) << first.out;
  EXPECT_NE(first.out.find("\"status\":\"ok\""), std::string::npos) << first.out;
  RunResult second = RunProgram({"sh", "-c", request + "openssl s_client -tls1_3 -ign_eof -connect " + target +
                                                 " -sess_in " + session + " 2>&1"});
  EXPECT_EQ(second.exit_code, 0) << second.out;
  EXPECT_NE(second.out.find("Reused, TLSv1.3"), std::string::npos) << second.out;
  EXPECT_NE(second.out.find("\"status\":\"ok\""), std::string::npos) << second.out;
}

}  // namespace
}  // namespace khronika::testing
