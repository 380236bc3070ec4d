// Scrub and repair (docs/operator.md, "Scrub"): LMDB 0.9 keeps no page checksums, so a node
// re-reads everything it stores and re-checks it against its id — sealed chunks and objects by
// their SHA-256, records by the leaf hashes in the Merkle tree — and follows every reference
// (record to logged object, sealed entry to its sealed chunks) to find what is missing. Damaged
// or missing items are fetched again by id from a peer that holds them, checked against their
// id, and only then put back, as LOCKSS and Tahoe-LAFS repair. All of it is ciphertext: a
// partner repairs what it cannot read.
#pragma once

#include <atomic>
#include <optional>
#include <string>
#include <vector>

#include "khronika/replication/sync.h"
#include "khronika/store/store.h"

namespace khronika {

struct ScrubFinding {
  enum class Kind { kChunk, kObject, kRecord };
  Kind kind = Kind::kChunk;
  Hash id{};            // chunk or object id; for a record, its origin
  uint64_t index = 0;   // record index (records only)
  std::string problem;  // "damaged", "missing", ...
  bool repaired = false;

  std::string Describe() const;  // "chunk 1a2b…: damaged", "record 7 of 3c4d…: missing"
};

struct ScrubReport {
  uint64_t chunks = 0;   // chunks read and re-hashed
  uint64_t objects = 0;  // sealed entries and recovery objects
  uint64_t records = 0;
  std::vector<ScrubFinding> findings;
  size_t unrepaired() const;
};

// Reads everything, in short read transactions so that a long scrub never holds back the writer.
// Setting `*stop` makes it return early with Status kIOError "scrub stopped".
Result<ScrubReport> ScrubStore(const Store& store, const std::atomic<bool>* stop = nullptr);

// Fetches every unrepaired finding from `peer`, checks it (hash, id, leaf hash), and writes it
// back. Findings the peer cannot supply stay unrepaired; only a store error fails the call.
Status RepairFromPeer(Store& store, PeerTransport& peer, ScrubReport& report);

// The outcome of the last scrub, for `khronika status` and /metrics.
struct ScrubSummary {
  int64_t finished_ms = 0;
  uint64_t checked = 0;     // chunks + objects + records
  uint64_t damaged = 0;     // found damaged or missing
  uint64_t repaired = 0;
  uint64_t unrepaired = 0;
  std::vector<std::string> unrepaired_items;  // Describe() of each, at most 100
};
Status RememberScrub(Store& store, const ScrubReport& report, int64_t now_ms);
Result<std::optional<ScrubSummary>> LastScrub(const Store& store);

}  // namespace khronika
