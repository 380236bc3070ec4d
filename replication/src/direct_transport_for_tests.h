// For the replication tests: a peer reached by calling another store's serving functions
// directly (no HTTP), with hooks that let a test corrupt what the "peer" sends.
#pragma once

#include <functional>
#include <vector>

#include "khronika/replication/protocol.h"
#include "khronika/replication/sync.h"

namespace khronika {

class DirectTransport : public PeerTransport {
 public:
  explicit DirectTransport(Store& store) : store_(store) {}
  Result<std::vector<Head>> Heads() override {
    std::vector<Head> heads;
    KH_RETURN_IF_ERROR(store_.View([&](ReadTxn& txn) -> Status {
      KH_ASSIGN_OR_RETURN(heads, LocalHeads(txn));
      return Status::Ok();
    }));
    if (heads_hook) heads_hook(heads);
    return heads;
  }
  Result<std::vector<Hash>> ConsistencyProof(const Hash& origin, uint64_t from, uint64_t to) override {
    return ServeConsistencyProof(store_, origin, from, to);
  }
  Result<Bytes> Pack(const Hash& origin, uint64_t from, uint64_t to) override {
    if (packs_left == 0) return Status::IOError("connection lost");
    if (packs_left > 0) --packs_left;
    Bytes body;
    KH_RETURN_IF_ERROR(store_.View([&](ReadTxn& txn) -> Status {
      KH_ASSIGN_OR_RETURN(body, BuildPack(txn, origin, from, to));
      return Status::Ok();
    }));
    if (pack_hook) pack_hook(body);
    return body;
  }
  Result<Bytes> Chunks(const std::vector<Hash>& ids) override {
    Bytes body;
    KH_RETURN_IF_ERROR(store_.View([&](ReadTxn& txn) -> Status {
      KH_ASSIGN_OR_RETURN(body, BuildChunkBody(txn, ids));
      return Status::Ok();
    }));
    if (chunk_hook) chunk_hook(body);
    chunk_requests += 1;
    return body;
  }
  Result<std::string> Timestamps(const Hash& origin, uint64_t size) override {
    std::string body;
    KH_RETURN_IF_ERROR(store_.View([&](ReadTxn& txn) -> Status {
      KH_ASSIGN_OR_RETURN(body, BuildTimestampsAnswer(txn, origin, size));
      return Status::Ok();
    }));
    if (timestamps_hook) timestamps_hook(body);
    return body;
  }
  std::function<void(std::string&)> timestamps_hook;

  std::function<void(std::vector<Head>&)> heads_hook;
  std::function<void(Bytes&)> pack_hook, chunk_hook;
  int packs_left = -1;  // -1: unlimited
  int chunk_requests = 0;

 private:
  Store& store_;
};

}  // namespace khronika
