// The node's HTTPS server: Boost.Beast over TLS 1.3, one strand per connection, a fresh parser
// with limits per request, request handling on a worker pool, file content streamed chunk by
// chunk. See docs/api.md for the endpoints and docs/operator.md for the limits.
#pragma once

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "khronika/http/api.h"
#include "khronika/http/client.h"
#include "khronika/http/timestamper.h"
#include "khronika/log/node.h"
#include "khronika/replication/witness.h"

namespace khronika {

struct ServerOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 8443;  // 0: any free port (see Server::port)
  std::filesystem::path tls_cert;
  std::filesystem::path tls_key;
  size_t io_threads = 0;       // 0: one per core
  // Request handlers (JSON, signature checks, sealing); 0: one per core. None waits for a
  // group commit, so more than the cores only adds context switches.
  size_t worker_threads = 0;
  size_t max_connections = 512;
  // Connections still in their TLS handshake (not yet known to be clients): at most this many
  // in all (0: half of max_connections), so that the rest of the cap stays for connections
  // past their handshake, and at most `max_handshakes_per_address` from one source address
  // (an IPv6 /64 counts as one). Beyond either, a new connection is closed at once. 32 per
  // address leaves room for honest bursts from one address (200 `khronika submit` started at
  // once from 127.0.0.1 on two cores had up to 17 handshakes in progress together).
  size_t max_handshakes = 0;
  size_t max_handshakes_per_address = 32;
  std::chrono::milliseconds handshake_timeout{5000};  // from accept to the end of the handshake
  uint32_t header_limit = 16 * 1024;
  std::chrono::milliseconds head_timeout{10000};  // waiting for, and reading, a request head
  std::chrono::milliseconds body_timeout{120000};  // reading one body or writing one response
  std::chrono::milliseconds shutdown_grace{30000};
  std::chrono::seconds sync_interval{30};  // pull every peer this often; 0: only on demand
  // Seal pending custody events into the log this often (docs/format.md section 7.3).
  std::chrono::milliseconds custody_interval{2000};
  ClientDeadlines peer_deadlines;          // pulling from and notifying peers
  std::vector<ExternalWitness> witnesses;  // khronika.conf `witness =`: C2SP witnesses to ask
  ApiOptions api;
  TimestamperOptions timestamps;  // `tsa` lines (#16): none, no timestamps
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
