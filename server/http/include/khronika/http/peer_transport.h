// The sync protocol over HTTPS with mutual TLS: this node presents its own certificate and pins
// the peer's by fingerprint.
#pragma once

#include <memory>
#include <string>

#include "khronika/http/client.h"
#include "khronika/replication/roster.h"
#include "khronika/replication/sync.h"

namespace khronika {

// `message` (an error from reaching `peer`) with the peer's URL, and its host name wherever it
// stands alone, replaced by "peer " and the first 16 hex digits of its id. What serve writes to
// its log lies on the disk in clear (the journal), and a seized disk should not list where the
// partners are (docs/threat-model.md); the URL stays in the encrypted store, where `khronika
// status` and `peer list` show it, and the full message in the peer's status.
std::string WithoutPeerAddress(std::string message, const Peer& peer);

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
  Result<std::string> Timestamps(const Hash& origin, uint64_t size) override;
  // Asks the peer to pull from this node now.
  Status Notify();

 private:
  explicit HttpsPeerTransport(std::unique_ptr<HttpsClient> client) : client_(std::move(client)) {}
  Result<std::string> Get(const std::string& target, const char* what);
  std::unique_ptr<HttpsClient> client_;
};

}  // namespace khronika
