#include "khronika/log/proofs.h"

#include "khronika/log/log.h"
#include "khronika/log/store_keys.h"
#include "khronika/schemas/merkle.h"
#include "khronika/schemas/objects.h"

namespace khronika {
namespace {

Result<uint64_t> SizeWithin(const ReadTxn& txn, const Hash& origin, std::optional<uint64_t> size,
                            const char* what) {
  KH_ASSIGN_OR_RETURN(uint64_t current, LogSize(txn, origin));
  uint64_t s = size.value_or(current);
  if (s > current) {
    return Status::InvalidArgument(std::string(what) + " " + std::to_string(s) +
                                   " is beyond the log (" + std::to_string(current) + " records)");
  }
  return s;
}

nlohmann::json HashArray(const std::vector<Hash>& hashes) {
  nlohmann::json a = nlohmann::json::array();
  for (const Hash& h : hashes) a.push_back(ToHex(h));
  return a;
}

}  // namespace

Result<InclusionProofResult> ProveInclusion(const ReadTxn& txn, const Hash& origin, uint64_t index,
                                            std::optional<uint64_t> size) {
  InclusionProofResult out;
  out.origin = origin;
  out.index = index;
  KH_ASSIGN_OR_RETURN(out.size, SizeWithin(txn, origin, size, "size"));
  SubtreeFn subtrees = StoredSubtrees(txn, origin);
  KH_ASSIGN_OR_RETURN(out.proof, InclusionProof(index, out.size, subtrees));
  KH_ASSIGN_OR_RETURN(out.root, MerkleRoot(out.size, subtrees));
  KH_ASSIGN_OR_RETURN(auto record, txn.Get(Table::kRecords, keys::Record(origin, index)));
  if (!record) return Status::Corruption("record " + std::to_string(index) + " is missing");
  out.leaf_hash = LeafHash(*record);
  return out;
}

Result<ConsistencyProofResult> ProveConsistency(const ReadTxn& txn, const Hash& origin,
                                                uint64_t from, std::optional<uint64_t> to) {
  ConsistencyProofResult out;
  out.origin = origin;
  out.from = from;
  KH_ASSIGN_OR_RETURN(out.to, SizeWithin(txn, origin, to, "to"));
  SubtreeFn subtrees = StoredSubtrees(txn, origin);
  KH_ASSIGN_OR_RETURN(out.proof, ConsistencyProof(from, out.to, subtrees));
  KH_ASSIGN_OR_RETURN(out.old_root, MerkleRoot(from, subtrees));
  KH_ASSIGN_OR_RETURN(out.new_root, MerkleRoot(out.to, subtrees));
  return out;
}

nlohmann::json ToJson(const InclusionProofResult& p) {
  return {{"origin", ToHex(p.origin)},       {"index", p.index},        {"size", p.size},
          {"leaf_hash", ToHex(p.leaf_hash)}, {"root", ToHex(p.root)}, {"proof", HashArray(p.proof)}};
}

nlohmann::json ToJson(const ConsistencyProofResult& p) {
  return {{"origin", ToHex(p.origin)},         {"from", p.from},
          {"to", p.to},                        {"old_root", ToHex(p.old_root)},
          {"new_root", ToHex(p.new_root)},     {"proof", HashArray(p.proof)}};
}

}  // namespace khronika
