// Pull-based, git-style replication of whole logs from a peer (docs/replication.md).
//
// For each log the peer is ahead on: verify its signed checkpoint against the roster key, check
// it is consistent with what is held here, then fetch records in bounded batches. A partner
// holds ciphertext only and checks without any key: each batch is verified completely (hash
// chain, a Merkle root that a consistency proof ties to the signed checkpoint, each logged
// object against its id, decoding canonically and, for a sealed entry, its sizes and chunk
// counts; every sealed chunk present, of its length and hashing to its id) before one
// transaction makes it visible. An interrupted sync resumes from the last committed batch;
// sealed chunks already here are never fetched again.
#pragma once

#include <string>
#include <vector>

#include "khronika/replication/protocol.h"
#include "khronika/schemas/crypto.h"
#include "khronika/store/store.h"

namespace khronika {

// How a node reaches one peer. The HTTPS implementation lives with the server; tests may
// connect two stores directly.
class PeerTransport {
 public:
  virtual ~PeerTransport() = default;
  virtual Result<std::vector<Head>> Heads() = 0;
  virtual Result<std::vector<Hash>> ConsistencyProof(const Hash& origin, uint64_t from,
                                                     uint64_t to) = 0;
  virtual Result<Bytes> Pack(const Hash& origin, uint64_t from, uint64_t to) = 0;
  virtual Result<Bytes> Chunks(const std::vector<Hash>& ids) = 0;
  // BuildTimestampsAnswer's text, at most kMaxTimestampsAnswerBytes.
  virtual Result<std::string> Timestamps(const Hash& origin, uint64_t size) = 0;
};

// What a node serves to its peers, from its own store (the server side of PeerTransport).
Result<std::vector<Hash>> ServeConsistencyProof(const Store& store, const Hash& origin,
                                                uint64_t from, uint64_t to);

struct LogSyncResult {
  Hash origin{};
  uint64_t from = 0;  // size held here before
  uint64_t to = 0;    // size held here after
  uint64_t chunks_fetched = 0;
  uint64_t peer_size = 0;  // size of the log at the peer
  bool conflict = false;  // the peer's checkpoint contradicts ours: evidence stored
  bool skipped = false;   // not a roster member: not taken, and not an error
  bool cosigned = false;  // this node cosigned the checkpoint it now holds
  std::string cosign_withheld;  // why it did not, when it holds the log but not all of it
  size_t cosignatures_received = 0;  // other witnesses' cosignatures learnt from the peer
  size_t timestamps_received = 0;    // RFC 3161 tokens over the log's checkpoints, checked here
  Status status;
  bool changed() const {
    return to > from || cosigned || cosignatures_received > 0 || timestamps_received > 0;
  }
};

struct SyncReport {
  std::vector<LogSyncResult> logs;
  bool ok() const {
    for (const auto& l : logs) {
      if (!l.status.ok() && !l.skipped) return false;
    }
    return true;
  }
};

// Pulls every roster member's log that `peer` holds more of. Fails only if the peer's heads
// cannot be read; per-log problems are in the report. With a witness, every other member's
// checkpoint held after a successful pull is cosigned, once every object and sealed chunk of
// that prefix is held here (CosignLatest).
// `archive_key` is this node's own: needed only to pull back its own log (after a restore),
// whose entries it opens to rebuild the indexes only an origin keeps (case index, signed
// entries), checking each entry's boxes, author signature and case chain. Without it, a peer
// ahead on this node's own log is refused with nothing taken.
Result<SyncReport> PullFromPeer(Store& store, PeerTransport& peer,
                                const struct Witness* witness = nullptr,
                                const SymmetricKey* archive_key = nullptr);

// Takes the RFC 3161 tokens `peer` holds over `origin`'s checkpoint at `size` unless some are
// held here already: the checkpoint must be signed by the origin's roster key and have the root
// of the log held here at that size, and each token must be over that checkpoint's body and
// verify under the CA certificates of its own chain (VerifyTimestampToken). That shows the token
// was not altered; whether its TSA is to be trusted is for whoever reads it to decide (a court
// bundle's --tsa-ca). Everything is checked before one transaction stores the tokens and the
// checkpoint; anything wrong stores nothing and is an error naming it. Returns the tokens stored.
Result<size_t> PullTimestamps(Store& store, PeerTransport& peer, const Hash& origin, uint64_t size);

// A node re-created with an old identity (`init --node-key`) may append again only once it holds
// its own log as far as every peer does: a shorter copy from one peer would let it fork the log
// it signed before. `khronika sync` calls FinishRestore after a round in which every peer was
// reached and every log pulled.
Result<bool> RestorePending(Store& store);
Status FinishRestore(Store& store);

struct Conflict {
  Hash origin{};
  int64_t detected_ms = 0;
  std::string ours;    // signed checkpoint held here
  std::string theirs;  // signed checkpoint the peer presented
  // True when the two checkpoints contradict each other on their own (with the held log's root
  // and a consistency proof). False when only a proof supplied by the peer failed: kept as a
  // lead, since a faulty relay could cause it.
  bool proven = true;
};
Result<std::vector<Conflict>> ListConflicts(Store& store);

// One pull from a peer, remembered for `khronika status`: the report, or the error that stopped
// it before any log was looked at.
Status RememberPull(Store& store, const Hash& peer, const Result<SyncReport>& outcome,
                    int64_t now_ms);

}  // namespace khronika
