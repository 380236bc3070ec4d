// The node's HTTPS server: Boost.Beast over TLS 1.3, one strand per connection, a fresh parser
// with limits per request, request handling on a worker pool, file content streamed chunk by
// chunk. See docs/api.md for the endpoints and docs/operator.md for the limits.
#pragma once

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>

#include "khronika/http/api.h"
#include "khronika/http/client.h"
#include "khronika/log/node.h"

namespace khronika {

struct ServerOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 8443;  // 0: any free port (see Server::port)
  std::filesystem::path tls_cert;
  std::filesystem::path tls_key;
  size_t io_threads = 0;       // 0: one per core
  size_t worker_threads = 32;  // request handlers; many wait on group commit
  size_t max_connections = 512;
  uint32_t header_limit = 16 * 1024;
  std::chrono::milliseconds head_timeout{10000};  // waiting for, and reading, a request head
  std::chrono::milliseconds body_timeout{120000};  // reading one body or writing one response
  std::chrono::milliseconds shutdown_grace{30000};
  std::chrono::seconds sync_interval{30};  // pull every peer this often; 0: only on demand
  ClientDeadlines peer_deadlines;          // pulling from and notifying peers
  ApiOptions api;
};

class Server {
 public:
  Server(Node& node, ServerOptions options);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Loads TLS material and binds the listening socket.
  Status Start();
  uint16_t port() const;
  // Serves until Stop() or SIGINT/SIGTERM, then stops accepting, cancels a pull from a peer in
  // progress, lets requests in flight finish and commit, and returns.
  void Run();
  // Asks Run() to shut down gracefully; callable from any thread.
  void Stop();

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace khronika
