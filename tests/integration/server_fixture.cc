#include "server_fixture.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

#include "khronika/schemas/crypto.h"
#include "khronika/schemas/json_view.h"
#include "khronika/schemas/objects.h"
#include "khronika/schemas/sealed_objects.h"

namespace khronika::testing {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

std::string Trim(std::string s) {
  size_t b = s.find_first_not_of(" \t\r\n"), e = s.find_last_not_of(" \t\r\n");
  return b == std::string::npos ? std::string() : s.substr(b, e - b + 1);
}

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// Exit code from a wait status: the code, or 128 + signal.
int DecodeStatus(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

}  // namespace

// ---------------------------------------------------------------- ServerProcess

ServerProcess::ServerProcess(const std::filesystem::path& data, std::vector<std::string> extra,
                             bool expect_start) {
  std::vector<std::string> argv{KHRONIKA_BINARY, "serve",    "--data",
                                data.string(),   "--listen", "127.0.0.1:0"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  std::filesystem::path out = logs_ / "serve.out", err = logs_ / "serve.err";
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_ = ::fork();
  if (pid_ < 0) throw std::runtime_error("fork failed");
  if (pid_ == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlive a crashed test
    int o = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    int e = ::open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    int in = ::open("/dev/null", O_RDONLY);
    ::dup2(o, STDOUT_FILENO);
    ::dup2(e, STDERR_FILENO);
    ::dup2(in, STDIN_FILENO);
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  auto deadline = Clock::now() + std::chrono::seconds(30);
  while (Clock::now() < deadline) {
    std::istringstream in(ReadFile(out));
    for (std::string line; std::getline(in, line);) {
      const std::string listening = "listening on https://";
      const std::string cert = "certificate sha256:";
      if (line.rfind("{", 0) == 0) {
        // log_format = json: one object with the URL and the fingerprint.
        auto j = nlohmann::json::parse(line, nullptr, false);
        if (j.is_object() && j.contains("url") && j.contains("cert_sha256")) {
          url_ = j["url"].get<std::string>();
          port_ = static_cast<uint16_t>(std::stoi(url_.substr(url_.rfind(':') + 1)));
          fingerprint_ = j["cert_sha256"].get<std::string>();
        }
      } else if (line.rfind(listening, 0) == 0) {
        url_ = Trim(line.substr(std::string("listening on ").size()));
        size_t colon = url_.rfind(':');
        port_ = static_cast<uint16_t>(std::stoi(url_.substr(colon + 1)));
      } else if (line.rfind(cert, 0) == 0) {
        fingerprint_ = Trim(line.substr(cert.size()));
      }
    }
    if (started() || !Running()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  if (!started() && expect_start) {
    ADD_FAILURE() << "khronika serve did not start\nstdout:\n"
                  << Stdout() << "\nstderr:\n"
                  << Stderr();
  }
}

ServerProcess::~ServerProcess() {
  if (pid_ > 0 && !exit_code_) Stop(SIGTERM, std::chrono::seconds(30));
}

bool ServerProcess::Running() {
  if (exit_code_) return false;
  int status = 0;
  pid_t r = ::waitpid(pid_, &status, WNOHANG);
  if (r == pid_) {
    exit_code_ = DecodeStatus(status);
    return false;
  }
  return r == 0;
}

int ServerProcess::Wait(std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  while (Running()) {
    if (Clock::now() >= deadline) {
      ::kill(pid_, SIGKILL);
      int status = 0;
      ::waitpid(pid_, &status, 0);
      exit_code_ = DecodeStatus(status);
      return -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return exit_code_.value_or(-1);
}

int ServerProcess::Stop(int sig, std::chrono::milliseconds timeout) {
  if (exit_code_) return *exit_code_;
  ::kill(pid_, sig);
  return Wait(timeout);
}

std::string ServerProcess::Stdout() const { return ReadFile(logs_ / "serve.out"); }
std::string ServerProcess::Stderr() const { return ReadFile(logs_ / "serve.err"); }

// ---------------------------------------------------------------- curl

std::string HttpReply::Header(const std::string& name) const {
  std::istringstream in(headers);
  std::string want = Lower(name) + ":";
  for (std::string line; std::getline(in, line);) {
    if (Lower(line).rfind(want, 0) == 0) return Trim(line.substr(want.size()));
  }
  return "";
}

json HttpReply::Json() const { return json::parse(body, nullptr, false); }

bool HttpReply::IsJsonError() const {
  json j = Json();
  return j.is_object() && j.contains("error") && j["error"].is_string() &&
         !j["error"].get<std::string>().empty() && j.contains("message") &&
         j["message"].is_string() && !j["message"].get<std::string>().empty();
}

std::string HttpReply::Describe() const {
  std::string b = body.size() > 400 ? body.substr(0, 400) + "..." : body;
  return "status " + std::to_string(status) + ", curl exit " + std::to_string(curl_exit) +
         ", body: " + b + (curl_err.empty() ? "" : ", curl stderr: " + curl_err);
}

HttpReply Curl(const ServerProcess& server, const HttpRequest& r) {
  TempDir tmp;
  std::filesystem::path body_out = tmp / "body", headers_out = tmp / "headers";
  std::vector<std::string> argv{"curl",
                                "-sS",
                                "-k",
                                "--max-time",
                                std::to_string(r.max_time_s),
                                "-o",
                                body_out.string(),
                                "-D",
                                headers_out.string(),
                                "-w",
                                "%{http_code}",
                                "-X",
                                r.method};
  if (!r.token.empty()) argv.insert(argv.end(), {"-H", "Authorization: Bearer " + r.token});
  for (const std::string& h : r.headers) argv.insert(argv.end(), {"-H", h});
  if (r.body) {
    WriteFile(tmp / "request", *r.body);
    argv.insert(argv.end(), {"--data-binary", "@" + (tmp / "request").string()});
  } else if (r.body_file) {
    argv.insert(argv.end(), {"--data-binary", "@" + r.body_file->string()});
  }
  argv.insert(argv.end(), r.extra_args.begin(), r.extra_args.end());
  argv.push_back(server.url() + r.path);
  RunResult run = RunProgram(argv);
  HttpReply reply;
  reply.curl_exit = run.exit_code;
  reply.curl_err = run.err;
  try {
    reply.status = std::stoi(Trim(run.out));
  } catch (...) {
    reply.status = 0;
  }
  reply.body = ReadFile(body_out);
  // Keep only the last header block (a 100 Continue comes first).
  std::string all = ReadFile(headers_out);
  size_t last = all.rfind("HTTP/");
  reply.headers = last == std::string::npos ? all : all.substr(last);
  return reply;
}

HttpReply Get(const ServerProcess& server, const std::string& path, const std::string& token) {
  HttpRequest r;
  r.path = path;
  r.token = token;
  return Curl(server, r);
}

// ---------------------------------------------------------------- node, tokens, log

Token MakeToken(const std::filesystem::path& data, const std::string& role,
                const std::vector<std::string>& cases) {
  std::vector<std::string> args{"token", "create", "--data", data.string(), "--role", role};
  for (const std::string& c : cases) args.insert(args.end(), {"--case", c});
  RunResult r = RunKhronika(args);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  Token t;
  t.secret = Trim(r.out);
  // stderr: "token ID (ROLE) created; ..."
  size_t at = r.err.find("token ");
  if (at != std::string::npos) {
    size_t end = r.err.find(' ', at + 6);
    t.id = r.err.substr(at + 6, end - at - 6);
  }
  EXPECT_EQ(t.secret.rfind("khr_", 0), 0u) << r.out;
  EXPECT_FALSE(t.id.empty()) << r.err;
  return t;
}

std::vector<json> LogRecordsJson(const std::filesystem::path& data) {
  RunResult r = RunKhronika({"log", "--data", data.string(), "--json"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  std::vector<json> out;
  std::istringstream in(r.out);
  for (std::string line; std::getline(in, line);) {
    if (!Trim(line).empty()) out.push_back(json::parse(line));
  }
  return out;
}

std::vector<json> LogJson(const std::filesystem::path& data) {
  std::vector<json> out;
  for (json& r : LogRecordsJson(data)) {
    if (r.value("object_type", "") == "sealed_entry") out.push_back(std::move(r));
  }
  return out;
}

ServedNode::ServedNode(const std::string& config) : node_(MakeNodeWithAuthor(dir_)) {
  if (!config.empty()) WriteFile(node_.data / "khronika.conf", config);
  server_ = std::make_unique<ServerProcess>(node_.data);
  admin_ = MakeToken(node_.data, "admin");
}

std::vector<std::string> ServedNode::SubmitArgv(
    const std::string& token, const std::string& case_id,
    const std::vector<std::filesystem::path>& files) const {
  std::vector<std::string> argv{KHRONIKA_BINARY, "submit",           "--node",  server_->url(),
                                "--pin",         server_->pin(),     "--token", token,
                                "--key",         node_.key.string(), "--case",  case_id,
                                "--json"};
  for (const auto& f : files) argv.push_back(f.string());
  return argv;
}

RunResult ServedNode::Submit(const std::string& token, const std::string& case_id,
                             const std::vector<std::filesystem::path>& files,
                             const std::vector<std::string>& extra) const {
  std::vector<std::string> args{"submit",           "--node",  server_->url(), "--pin",
                                server_->pin(),     "--token", token,          "--key",
                                node_.key.string(), "--case",  case_id,        "--json"};
  args.insert(args.end(), extra.begin(), extra.end());
  for (const auto& f : files) args.push_back(f.string());
  return RunKhronika(args);
}

// ---------------------------------------------------------------- submissions by hand

std::string HexSha256(const std::string& data) { return ToHex(Sha256(AsBytes(data))); }

BuiltSubmission BuildSubmission(const std::filesystem::path& key_path, const std::string& case_id,
                                const std::string& name, const std::string& content) {
  auto key = SigningKey::FromPem(ReadFile(key_path));
  if (!key.ok()) throw std::runtime_error("cannot read key " + key_path.string());
  BuiltSubmission s;
  FileDescriptor d;
  d.name = name;
  d.media_type = "application/octet-stream";
  d.size = content.size();
  d.content_sha256 = Sha256(AsBytes(content));
  json chunks = json::array();
  for (size_t off = 0; off < content.size(); off += kChunkSize) {
    std::string piece = content.substr(off, kChunkSize);
    s.chunk_ids.push_back(ToHex(ChunkId(AsBytes(piece))));
    s.chunks.push_back(std::move(piece));
    chunks.push_back(s.chunk_ids.back());
  }
  CommitmentSalt salt;
  RandomBytes(salt.data(), salt.size());
  SignedEntry e;
  e.case_id = case_id;
  e.kind = "evidence";
  e.created_at_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                        std::chrono::system_clock::now().time_since_epoch())
                        .count();
  // Commitments are over the canonical descriptor bytes, which Encode gives even for a name
  // that validation would refuse (the bad-input tests send such names on purpose).
  e.files.push_back(FileCommitment(salt, Encode(d)));
  SignEntry(e, *key);
  json file = {{"descriptor", ToJson(d)}, {"salt", ToHex(salt)}, {"chunks", chunks}};
  s.body = {{"entry", ToJson(e)}, {"files", json::array({file})}};
  return s;
}

void Resign(const std::filesystem::path& key_path, BuiltSubmission& s) {
  auto key = SigningKey::FromPem(ReadFile(key_path));
  if (!key.ok()) throw std::runtime_error("cannot read key " + key_path.string());
  json& entry = s.body["entry"];
  json commitments = json::array();
  for (const json& f : s.body["files"]) {
    FileDescriptor d;
    d.name = f["descriptor"]["name"];
    d.media_type = f["descriptor"]["media_type"];
    d.size = f["descriptor"]["size"];
    d.content_sha256 = *ParseHashHex(f["descriptor"]["sha256"].get<std::string>());
    CommitmentSalt salt;
    Bytes salt_bytes = *FromHex(f["salt"].get<std::string>());
    std::copy(salt_bytes.begin(), salt_bytes.end(), salt.begin());
    commitments.push_back(ToHex(FileCommitment(salt, Encode(d))));
  }
  entry["files"] = commitments;
  entry["signature"] = std::string(128, '0');
  auto e = SignedEntryFromJson(entry);
  if (!e.ok()) throw std::runtime_error("cannot re-sign: " + e.status().ToString());
  SignEntry(*e, *key);
  entry = ToJson(*e);
}

bool UploadChunks(const ServerProcess& server, const std::string& token, const BuiltSubmission& s) {
  for (size_t i = 0; i < s.chunks.size(); ++i) {
    HttpRequest r;
    r.method = "PUT";
    r.path = "/v1/chunks/" + s.chunk_ids[i];
    r.token = token;
    r.body = s.chunks[i];
    r.headers = {"Content-Type: application/octet-stream"};
    HttpReply reply = Curl(server, r);
    if (reply.status != 200 && reply.status != 201) {
      ADD_FAILURE() << "PUT chunk " << s.chunk_ids[i] << ": " << reply.Describe();
      return false;
    }
  }
  return true;
}

// ---------------------------------------------------------------- processes

long ProcStatusKiB(pid_t pid, const std::string& field) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(field + ":", 0) == 0) {
      try {
        return std::stol(line.substr(field.size() + 1));
      } catch (...) {
        return -1;
      }
    }
  }
  return -1;
}

pid_t SpawnProgram(const std::vector<std::string>& argv, const std::filesystem::path& out,
                   const std::filesystem::path& err) {
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  std::string out_path = out.string(), err_path = err.string();
  pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    int o = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    int e = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    int in = ::open("/dev/null", O_RDONLY);
    ::dup2(o, STDOUT_FILENO);
    ::dup2(e, STDERR_FILENO);
    ::dup2(in, STDIN_FILENO);
    ::execvp(args[0], args.data());
    ::_exit(127);
  }
  return pid;
}

int WaitProgram(pid_t pid) {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return -1;
  }
  return DecodeStatus(status);
}

// ---------------------------------------------------------------- RawTls
//
// TLS runs over memory BIOs and the test moves the bytes to and from the socket itself, so that a
// failed send (the server closed while we were still sending) does not stop us from reading what
// the server had already answered, as it would with OpenSSL on the socket directly.

namespace {
SSL* AsSsl(void* p) { return static_cast<SSL*>(p); }
}  // namespace

std::unique_ptr<RawTls> RawTls::Connect(uint16_t port, int max_version, std::string* error) {
  ::signal(SIGPIPE, SIG_IGN);  // a write to a closed connection is an error, not a death
  auto fail = [&](const std::string& what) -> std::unique_ptr<RawTls> {
    if (error) {
      *error = what;
      unsigned long e;
      while ((e = ERR_get_error()) != 0) {
        char buf[256];
        ERR_error_string_n(e, buf, sizeof buf);
        *error += std::string(": ") + buf;
      }
    }
    ERR_clear_error();
    return nullptr;
  };
  std::unique_ptr<RawTls> t(new RawTls);
  t->fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (t->fd_ < 0) return fail("socket");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(t->fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    return fail(std::string("connect: ") + std::strerror(errno));
  }
  ::fcntl(t->fd_, F_SETFL, ::fcntl(t->fd_, F_GETFL) | O_NONBLOCK);
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  t->ctx_ = ctx;
  SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
  if (max_version) {
    SSL_CTX_set_min_proto_version(ctx, 0);
    SSL_CTX_set_max_proto_version(ctx, max_version);
  }
  SSL* ssl = SSL_new(ctx);
  t->ssl_ = ssl;
  BIO* network_in = BIO_new(BIO_s_mem());
  BIO* network_out = BIO_new(BIO_s_mem());
  SSL_set_bio(ssl, network_in, network_out);
  SSL_set_connect_state(ssl);
  auto deadline = Clock::now() + std::chrono::seconds(5);
  for (;;) {
    int r = SSL_do_handshake(ssl);
    t->Flush();
    if (r == 1) break;
    int e = SSL_get_error(ssl, r);
    if (e != SSL_ERROR_WANT_READ) return fail("TLS handshake failed");
    if (!t->Fill(deadline)) return fail("TLS handshake failed: connection closed");
  }
  return t;
}

RawTls::~RawTls() {
  if (ssl_) SSL_free(AsSsl(ssl_));  // frees the BIOs too
  if (ctx_) SSL_CTX_free(static_cast<SSL_CTX*>(ctx_));
  if (fd_ >= 0) ::close(fd_);
}

bool RawTls::Flush() {
  BIO* out = SSL_get_wbio(AsSsl(ssl_));
  auto deadline = Clock::now() + std::chrono::seconds(10);
  char* data = nullptr;
  long pending;
  while ((pending = BIO_get_mem_data(out, &data)) > 0) {
    if (send_failed_) {
      (void)BIO_reset(out);  // nowhere to send it
      return false;
    }
    ssize_t n = ::send(fd_, data, static_cast<size_t>(pending), MSG_NOSIGNAL);
    if (n > 0) {
      std::vector<char> sink(static_cast<size_t>(n));
      BIO_read(out, sink.data(), static_cast<int>(n));
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EINTR) && Clock::now() < deadline) {
      pollfd p{fd_, POLLOUT, 0};
      ::poll(&p, 1, 100);
      continue;
    }
    send_failed_ = true;
  }
  return !send_failed_;
}

bool RawTls::Fill(Clock::time_point deadline) {
  BIO* in = SSL_get_rbio(AsSsl(ssl_));
  for (;;) {
    if (eof_) return false;
    char buf[65536];
    ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n > 0) {
      BIO_write(in, buf, static_cast<int>(n));
      return true;
    }
    if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
      eof_ = true;  // FIN or reset: whatever arrived before it has been read
      return false;
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return false;
    pollfd p{fd_, POLLIN, 0};
    ::poll(&p, 1, static_cast<int>(left.count()));
  }
}

bool RawTls::Write(const std::string& data) {
  if (data.empty()) return !send_failed_;
  int n = SSL_write(AsSsl(ssl_), data.data(), static_cast<int>(data.size()));
  if (n <= 0) {
    ERR_clear_error();
    return false;
  }
  return Flush();
}

bool RawTls::ReadUntilClosed(std::string* out, std::chrono::milliseconds timeout) {
  SSL* ssl = AsSsl(ssl_);
  auto deadline = Clock::now() + timeout;
  char buf[16384];
  for (;;) {
    int n = SSL_read(ssl, buf, sizeof buf);
    Flush();  // key updates and alerts the read may have produced
    if (n > 0) {
      out->append(buf, static_cast<size_t>(n));
      continue;
    }
    int e = SSL_get_error(ssl, n);
    if (e == SSL_ERROR_WANT_READ) {
      if (Fill(deadline)) continue;
      if (eof_) return true;  // the connection is over
      return false;           // still open at the deadline
    }
    ERR_clear_error();
    return true;  // close_notify, or a TLS error: the connection is over
  }
}

std::string RawTls::PeerCertSha256() const {
  X509* cert = SSL_get1_peer_certificate(AsSsl(ssl_));
  if (!cert) return "";
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  X509_digest(cert, EVP_sha256(), md, &len);
  X509_free(cert);
  return ToHex(ByteView(md, len));
}

std::string RawTls::Protocol() const { return SSL_get_version(AsSsl(ssl_)); }

void Federate(const std::vector<ServedNode*>& nodes) {
  for (ServedNode* x : nodes) {
    for (ServedNode* y : nodes) {
      if (x == y) continue;
      nlohmann::json id = IdOf(y->data());
      RunResult m = RunKhronika({"member", "add", "--data", x->data().string(), "--vkey", id["vkey"],
                                 "--cosigner-vkey", id["cosigner_vkey"]});
      ASSERT_EQ(m.exit_code, 0) << m.err;
      RunResult p = RunKhronika({"peer", "add", "--data", x->data().string(), "--url",
                                 y->server().url(), "--id", id["node_id"], "--cert-sha256",
                                 id["cert_sha256"]});
      ASSERT_EQ(p.exit_code, 0) << p.err;
    }
  }
}

}  // namespace khronika::testing
