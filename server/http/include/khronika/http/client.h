// A small synchronous HTTPS client for the command line (`submit`, `get`) and for pulling from
// peers: one keep-alive connection, TLS 1.3, and either a pinned certificate fingerprint or a CA
// file. Every step has a deadline (ClientDeadlines), and another thread can stop it at once
// (ClientCancel), so a node that accepts a connection and then stalls cannot hold the caller.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "khronika/schemas/bytes.h"

namespace khronika {

// How long the client waits. A step that runs out fails with an IOError saying which step,
// the URL and the limit.
struct ClientDeadlines {
  // Resolving the name, the TCP connection and the TLS handshake, all together.
  std::chrono::milliseconds connect{10000};
  // Each read and each write: a node that sends nothing (or takes nothing) for this long is
  // given up on.
  std::chrono::milliseconds idle{30000};
  // One whole Request: sending it and reading its buffered answer, however steadily the bytes
  // trickle. 0: no limit. Download has no such limit (a large file may take hours), only `idle`.
  std::chrono::milliseconds request{600000};
};

// Stops, from any thread, the clients given it: what they are doing fails at once with an
// IOError ending in "cancelled", and so does everything they are asked to do afterwards. Used
// by `serve` so that SIGTERM does not wait for a peer that stalls. Thread-safe; must outlive
// the clients given it.
class ClientCancel {
 public:
  ClientCancel() = default;
  ClientCancel(const ClientCancel&) = delete;
  ClientCancel& operator=(const ClientCancel&) = delete;

  void Cancel();
  bool cancelled() const;

  // For HttpsClient: `wake` is called (from the thread calling Cancel) once Cancel() is
  // called, until Unwatch(id) returns. It must not call back into this object.
  uint64_t Watch(std::function<void()> wake);
  void Unwatch(uint64_t id);

 private:
  mutable std::mutex mu_;
  bool cancelled_ = false;
  uint64_t next_id_ = 0;
  std::map<uint64_t, std::function<void()>> watchers_;
};

struct ClientOptions {
  std::string url;         // https://host:port
  std::string pin_sha256;  // 64 hex: accept exactly the certificate with this SHA-256
  std::string ca_file;     // or: verify the chain and host name against these CAs
  bool system_cas = false;  // or (neither pin nor ca_file): against the system's CAs
  std::string token;       // sent as "Authorization: Bearer ..."
  std::string client_cert;  // PEM files presented for mutual TLS (node to node)
  std::string client_key;
  ClientDeadlines deadlines;
  ClientCancel* cancel = nullptr;  // optional, not owned
};

struct HttpResult {
  int status = 0;
  std::string body;
  std::map<std::string, std::string> headers;  // lowercase names
};

// Not thread-safe: one thread uses a client at a time (only ClientCancel reaches in from
// another).
class HttpsClient {
 public:
  static Result<std::unique_ptr<HttpsClient>> Connect(const ClientOptions& options);
  ~HttpsClient();

  Result<HttpResult> Request(const std::string& method, const std::string& target,
                             const std::string& body = "",
                             const std::string& content_type = "application/json",
                             const std::map<std::string, std::string>& headers = {});

  // The same with a body sent from the caller's memory as it stands, not copied (a 1 MiB upload
  // chunk). `body` must stay valid until the call returns.
  Result<HttpResult> RequestBytes(const std::string& method, const std::string& target,
                                  ByteView body,
                                  const std::string& content_type = "application/octet-stream",
                                  const std::map<std::string, std::string>& headers = {});

  // The same with the answer's body into `answer`, as bytes (not copied out of a string: a sync
  // answer of sealed chunks, up to 4 MiB). HttpResult::body holds it only for an error status.
  Result<HttpResult> RequestForBytes(const std::string& method, const std::string& target,
                                     ByteView body, Bytes& answer,
                                     const std::string& content_type = "application/json",
                                     const std::map<std::string, std::string>& headers = {});

  // GET whose body goes to `sink` piece by piece, so memory does not grow with its size. The
  // returned result has an empty body unless the status is an error.
  Result<HttpResult> Download(const std::string& target,
                              const std::function<Status(ByteView)>& sink,
                              const std::map<std::string, std::string>& headers = {});

  // The same, in pieces of `piece_size` bytes (the last one shorter) that the sink may keep: it
  // may swap the buffer it is given with another of any size (or an empty one), which is
  // then filled next. For a sink that hands each piece to another thread without a copy.
  Result<HttpResult> DownloadPieces(const std::string& target, size_t piece_size,
                                    const std::function<Status(Bytes&)>& sink,
                                    const std::map<std::string, std::string>& headers = {});

  struct Impl;

 private:
  explicit HttpsClient(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// The "message" of a JSON error body, or the body itself.
std::string ErrorMessage(const HttpResult& result);

}  // namespace khronika
