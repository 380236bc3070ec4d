// Full verification of a store from its raw bytes: nothing stored is trusted.
#pragma once

#include <string>
#include <vector>

#include "khronika/store/store.h"

namespace khronika {

struct VerifyReport {
  // One line per problem, each naming the damaged or missing object.
  std::vector<std::string> problems;
  uint64_t chunks = 0, objects = 0, records = 0, tree_nodes = 0, checkpoints = 0, origins = 0;
  bool clean() const { return problems.empty(); }
};

// Recomputes every chunk and object id, every author and checkpoint signature, the hash chain
// and each case chain of every log, every stored Merkle node, the root of every checkpoint, and
// every file's content against its manifest. Fails only if the store cannot be read at all.
Result<VerifyReport> VerifyStore(const Store& store);

}  // namespace khronika
