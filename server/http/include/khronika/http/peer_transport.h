// The sync protocol over HTTPS with mutual TLS: this node presents its own certificate and pins
// the peer's by fingerprint.
#pragma once

#include <memory>

#include "khronika/http/client.h"
#include "khronika/replication/roster.h"
#include "khronika/replication/sync.h"

namespace khronika {

// How this node reaches its peers.
struct PeerClientOptions {
  std::string tls_cert, tls_key;  // this node's TLS files (DIR/tls.crt, DIR/tls.key)
  ClientDeadlines deadlines;      // khronika.conf: peer_*_timeout_ms
  ClientCancel* cancel = nullptr;  // optional, not owned: stops a pull at once (serve's shutdown)
};

class HttpsPeerTransport : public PeerTransport {
 public:
  static Result<std::unique_ptr<HttpsPeerTransport>> Connect(const Peer& peer,
                                                            const PeerClientOptions& options);

  Result<std::vector<Head>> Heads() override;
  Result<std::vector<Hash>> ConsistencyProof(const Hash& origin, uint64_t from, uint64_t to) override;
  Result<Bytes> Pack(const Hash& origin, uint64_t from, uint64_t to) override;
  Result<Bytes> Chunks(const std::vector<Hash>& ids) override;
  // Asks the peer to pull from this node now.
  Status Notify();

 private:
  explicit HttpsPeerTransport(std::unique_ptr<HttpsClient> client) : client_(std::move(client)) {}
  Result<std::string> Get(const std::string& target, const char* what);
  std::unique_ptr<HttpsClient> client_;
};

}  // namespace khronika
