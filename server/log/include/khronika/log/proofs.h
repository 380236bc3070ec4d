// Inclusion and consistency proofs of a stored log, with the roots they lead to, in the one
// JSON shape that the CLI (`khronika proof`) and the API (/v1/proof/...) both print.
#pragma once

#include <optional>
#include <vector>

#include <nlohmann/json.hpp>

#include "khronika/store/store.h"

namespace khronika {

struct InclusionProofResult {
  Hash origin{};
  uint64_t index = 0;
  uint64_t size = 0;
  Hash leaf_hash{};
  Hash root{};
  std::vector<Hash> proof;
};

struct ConsistencyProofResult {
  Hash origin{};
  uint64_t from = 0;
  uint64_t to = 0;
  Hash old_root{};
  Hash new_root{};
  std::vector<Hash> proof;
};

// `size` / `to` default to the log's current size; beyond it is InvalidArgument.
Result<InclusionProofResult> ProveInclusion(const ReadTxn& txn, const Hash& origin, uint64_t index,
                                            std::optional<uint64_t> size);
Result<ConsistencyProofResult> ProveConsistency(const ReadTxn& txn, const Hash& origin,
                                                uint64_t from, std::optional<uint64_t> to);

nlohmann::json ToJson(const InclusionProofResult& p);
nlohmann::json ToJson(const ConsistencyProofResult& p);

}  // namespace khronika
