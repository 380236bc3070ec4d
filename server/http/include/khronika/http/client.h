// A small synchronous HTTPS client for the command line (`submit`, `get`): one keep-alive
// connection, TLS 1.3, and either a pinned certificate fingerprint or a CA file.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>

#include "khronika/schemas/bytes.h"

namespace khronika {

struct ClientOptions {
  std::string url;         // https://host:port
  std::string pin_sha256;  // 64 hex: accept exactly the certificate with this SHA-256
  std::string ca_file;     // or: verify the chain and host name against these CAs
  std::string token;       // sent as "Authorization: Bearer ..."
  std::string client_cert;  // PEM files presented for mutual TLS (node to node)
  std::string client_key;
};

struct HttpResult {
  int status = 0;
  std::string body;
  std::map<std::string, std::string> headers;  // lowercase names
};

class HttpsClient {
 public:
  static Result<std::unique_ptr<HttpsClient>> Connect(const ClientOptions& options);
  ~HttpsClient();

  Result<HttpResult> Request(const std::string& method, const std::string& target,
                             const std::string& body = "",
                             const std::string& content_type = "application/json",
                             const std::map<std::string, std::string>& headers = {});

  // GET whose body goes to `sink` piece by piece, so memory does not grow with its size. The
  // returned result has an empty body unless the status is an error.
  Result<HttpResult> Download(const std::string& target,
                              const std::function<Status(ByteView)>& sink,
                              const std::map<std::string, std::string>& headers = {});

  struct Impl;

 private:
  explicit HttpsClient(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// The "message" of a JSON error body, or the body itself.
std::string ErrorMessage(const HttpResult& result);

}  // namespace khronika
