// Full verification of a store from its raw bytes: nothing stored is trusted.
#pragma once

#include <string>
#include <vector>

#include "khronika/schemas/seal.h"
#include "khronika/store/store.h"

namespace khronika {

struct VerifyReport {
  // One line per problem, each naming the damaged or missing object.
  std::vector<std::string> problems;
  uint64_t chunks = 0, objects = 0, records = 0, tree_nodes = 0, checkpoints = 0, origins = 0;
  uint64_t sealed_entries = 0;  // objects that are sealed entries (evidence, not custody)
  uint64_t entries_opened = 0;  // own entries opened with the archive key
  uint64_t custody_records_opened = 0;  // own custody records opened with the archive key
  bool clean() const { return problems.empty(); }
};

// With the origin's archive key, VerifyStore also opens every entry of that origin's log.
struct VerifyOptions {
  const SymmetricKey* archive_key = nullptr;
  Hash origin{};  // whose archive key it is
};

// What anyone holding the store can check, keys or not (docs/format-2.md section 5): every
// sealed chunk and object id, every sealed entry's sizes and chunk counts and that each of its
// sealed chunks is held with the right length, the hash chain of every log, every stored Merkle
// node, and every checkpoint's signature and root.
// With `options.archive_key`, for each entry of its origin: the index, link and entry boxes open,
// the case chain (link boxes) and case index agree, the author signature, every file's
// descriptor against its signed commitment, and every plaintext byte against the signed size
// and SHA-256. Fails only if the store cannot be read at all.
Result<VerifyReport> VerifyStore(const Store& store, const VerifyOptions& options = {});

}  // namespace khronika
