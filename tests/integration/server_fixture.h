// Helpers for the server integration tests (server_*_test.cc): a real `khronika serve` process
// on 127.0.0.1 with a free port, the real `curl` binary, a raw TLS client for what curl cannot
// do (slow clients, lying Content-Length, TLS 1.2), tokens and signed submissions.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <csignal>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "test_support.h"

namespace khronika::testing {

// A duration in seconds, for messages and comparisons with configured deadlines.
inline double Seconds(std::chrono::steady_clock::duration d) {
  return std::chrono::duration<double>(d).count();
}

// `khronika serve --data DATA --listen 127.0.0.1:0 EXTRA...` as a child process. The
// constructor waits until the server has printed its URL and certificate fingerprint; the
// destructor sends SIGTERM and waits (SIGKILL after 30 s). A server that does not start is a
// test failure unless `expect_start` is false.
class ServerProcess {
 public:
  explicit ServerProcess(const std::filesystem::path& data, std::vector<std::string> extra = {},
                         bool expect_start = true);
  ~ServerProcess();
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;

  bool started() const { return !url_.empty() && !fingerprint_.empty(); }
  pid_t pid() const { return pid_; }
  const std::string& url() const { return url_; }  // https://127.0.0.1:PORT
  uint16_t port() const { return port_; }
  const std::string& fingerprint() const { return fingerprint_; }  // lowercase hex
  std::string pin() const { return "sha256:" + fingerprint_; }

  // True while the process has not exited (reaps it if it has).
  bool Running();
  // Sends `sig` and waits up to `timeout`. Returns the exit code (128 + signal if killed by one),
  // or -1 if it did not exit in time (it is then killed with SIGKILL).
  int Stop(int sig = SIGTERM, std::chrono::milliseconds timeout = std::chrono::seconds(30));
  // Waits for an exit that has already been asked for; same return values as Stop().
  int Wait(std::chrono::milliseconds timeout);

  std::string Stdout() const;
  std::string Stderr() const;

 private:
  TempDir logs_;
  pid_t pid_ = -1;
  std::optional<int> exit_code_;
  std::string url_;
  uint16_t port_ = 0;
  std::string fingerprint_;
};

// ---- curl ----

struct HttpRequest {
  std::string method = "GET";
  std::string path;                 // "/v1/..." (appended to the server URL)
  std::string token;                // sent as "Authorization: Bearer TOKEN" when not empty
  std::optional<std::string> body;  // sent with --data-binary
  std::optional<std::filesystem::path> body_file;
  std::vector<std::string> headers;     // "Name: value"
  std::vector<std::string> extra_args;  // more curl arguments
  int max_time_s = 120;
};

struct HttpReply {
  int status = 0;  // 0: no HTTP answer at all
  std::string body;
  std::string headers;  // the last header block (after any 100 Continue)
  int curl_exit = -1;
  std::string curl_err;

  // Value of the first header `name` (case-insensitive) in the last block, or "".
  std::string Header(const std::string& name) const;
  // The body as JSON (discarded value if it is not JSON).
  nlohmann::json Json() const;
  // True if the body is a JSON object with string "error" and string "message".
  bool IsJsonError() const;
  std::string Describe() const;  // for failure messages
};

// Runs `curl -sk` against `server`. (-k: the self-signed certificate is checked separately by
// fingerprint where a test cares about it.)
HttpReply Curl(const ServerProcess& server, const HttpRequest& request);
// Shorthand for a GET with a token.
HttpReply Get(const ServerProcess& server, const std::string& path, const std::string& token = "");

// ---- a node with one author, served ----

struct Token {
  std::string secret;  // khr_...
  std::string id;
};
Token MakeToken(const std::filesystem::path& data, const std::string& role,
                const std::vector<std::string>& cases = {});

// The evidence of `khronika log --data DATA --json`: one object per sealed entry, in log order.
// Custody records (a token grant, a read, an export: docs/format.md section 7.3) are left out;
// LogRecordsJson has every record.
std::vector<nlohmann::json> LogJson(const std::filesystem::path& data);
std::vector<nlohmann::json> LogRecordsJson(const std::filesystem::path& data);

class ServedNode {
 public:
  // Creates a node with a registered author (MakeNodeWithAuthor), writes `config` to
  // DATA/khronika.conf when not empty, starts the server and creates an admin token.
  explicit ServedNode(const std::string& config = "");
  ServedNode(const ServedNode&) = delete;
  ServedNode& operator=(const ServedNode&) = delete;

  const TempDir& dir() const { return dir_; }
  std::filesystem::path operator/(const std::string& name) const { return dir_ / name; }
  const std::filesystem::path& data() const { return node_.data; }
  const std::filesystem::path& key() const { return node_.key; }
  ServerProcess& server() { return *server_; }
  const Token& admin() const { return admin_; }

  // `khronika submit --node URL --pin FP --token TOKEN --key KEY --case CASE --json EXTRA FILES`.
  RunResult Submit(const std::string& token, const std::string& case_id,
                   const std::vector<std::filesystem::path>& files,
                   const std::vector<std::string>& extra = {}) const;
  // The argv of the same command (for processes started by hand).
  std::vector<std::string> SubmitArgv(const std::string& token, const std::string& case_id,
                                      const std::vector<std::filesystem::path>& files) const;

 private:
  TempDir dir_;
  LocalNode node_;
  std::unique_ptr<ServerProcess> server_;
  Token admin_;
};

// ---- signed submissions built in the test, for requests sent with curl ----

struct BuiltSubmission {
  // {"entry": ..., "files": [{"descriptor", "salt", "chunks"}]}, as POST /v1/entries takes (format
  // 2: the entry signs a salted commitment to each file's descriptor). The entry's id is the
  // sealed entry's, which only the node's receipt gives.
  nlohmann::json body;
  std::vector<std::string> chunk_ids;  // hex, in file order: the plaintext upload chunks
  std::vector<std::string> chunks;     // the chunk contents
};

// One file `name` with `content`, in an entry for `case_id` signed with the PEM key at
// `key_path`. Nothing is validated, so names may be deliberately bad.
BuiltSubmission BuildSubmission(const std::filesystem::path& key_path, const std::string& case_id,
                                const std::string& name, const std::string& content);
// Signs `s`'s entry again after a test changed its JSON (a descriptor, a commitment, the case),
// with the same key; the file commitments are recomputed from the descriptors and salts.
void Resign(const std::filesystem::path& key_path, BuiltSubmission& s);

// PUTs every chunk of `s` with `token`; returns false (and adds a failure) if one is refused.
bool UploadChunks(const ServerProcess& server, const std::string& token, const BuiltSubmission& s);

std::string HexSha256(const std::string& data);

// ---- processes ----

// A field of /proc/PID/status in KiB ("VmHWM", "VmRSS", "RssAnon"), or -1.
long ProcStatusKiB(pid_t pid, const std::string& field);

// Starts argv with stdout and stderr going to files; returns its pid.
pid_t SpawnProgram(const std::vector<std::string>& argv, const std::filesystem::path& out,
                   const std::filesystem::path& err);
// Waits for a spawned program; exit code, or 128 + signal.
int WaitProgram(pid_t pid);

// ---- a raw TLS connection (OpenSSL), for what curl will not do ----

class RawTls {
 public:
  // Connects to 127.0.0.1:port and completes the TLS handshake without checking the
  // certificate. max_version 0: any. Returns null and sets *error on failure.
  static std::unique_ptr<RawTls> Connect(uint16_t port, int max_version = 0,
                                         std::string* error = nullptr);
  ~RawTls();

  // Writes all of `data`; false if the connection is broken (what the server sent before that
  // can still be read).
  bool Write(const std::string& data);
  // Reads whatever arrives within `timeout`; appends to *out. Returns true once the peer has
  // closed the connection (EOF, close_notify or error), false if still open at the deadline.
  bool ReadUntilClosed(std::string* out, std::chrono::milliseconds timeout);
  // Hex SHA-256 of the peer's certificate (DER).
  std::string PeerCertSha256() const;
  std::string Protocol() const;  // "TLSv1.3"

 private:
  RawTls() = default;
  bool Flush();                                               // TLS output to the socket
  bool Fill(std::chrono::steady_clock::time_point deadline);  // socket to TLS input
  int fd_ = -1;
  bool send_failed_ = false, eof_ = false;
  void* ctx_ = nullptr;  // SSL_CTX*
  void* ssl_ = nullptr;  // SSL*
};

// Each node accepts the others' logs (member add, with the witness key) and knows how to reach
// them (peer add, pinned): a full mesh.
void Federate(const std::vector<ServedNode*>& nodes);

}  // namespace khronika::testing
