// RFC 6962 / RFC 9162 Merkle trees over record leaves.
//
// The tree is read through a SubtreeFn that returns the hash of a *perfect* subtree: level L,
// index I covers leaves [I * 2^L, (I + 1) * 2^L). A store persists exactly those nodes, so a proof
// costs O(log n) lookups; tests supply the leaves from memory.
#pragma once

#include <functional>
#include <optional>
#include <span>
#include <vector>

#include "khronika/schemas/bytes.h"

namespace khronika {

using SubtreeFn = std::function<Result<Hash>(unsigned level, uint64_t index)>;

struct TreeNode {
  unsigned level;
  uint64_t index;
  Hash hash;
};

Hash MerkleEmptyRoot();                                 // SHA-256 of the empty string
Hash HashChildren(const Hash& left, const Hash& right);  // SHA-256(0x01 || left || right)

// Hash of leaves [begin, end) as RFC 6962 defines MTH for that range.
Result<Hash> RangeHash(uint64_t begin, uint64_t end, const SubtreeFn& subtree);
Result<Hash> MerkleRoot(uint64_t size, const SubtreeFn& subtree);

// The compact form of a tree built leaf by leaf (the "compact range" of leaves [0, size)): one
// perfect subtree per binary digit 1 of size, largest first, covering the leaves from the left.
// It is all that appending and the root need: O(log n) hashes, however large the tree. Leaves
// may be skipped (their hashes not known); every subtree and root over a skipped leaf is then
// unknown too, and the subtrees entirely after it are known again. Not thread-safe; a value.
class MerkleFrontier {
 public:
  MerkleFrontier() = default;  // no leaves
  // The frontier of the first `size` leaves of a tree read through `subtree` (a store's
  // persisted nodes): popcount(size) reads. Errors are the SubtreeFn's.
  static Result<MerkleFrontier> FromSubtrees(uint64_t size, const SubtreeFn& subtree);

  uint64_t size() const { return size_; }
  // Appends leaf number size(). Returns the perfect nodes it completes, from the leaf (level 0)
  // upwards: what a store persists (the log's append writes exactly these); a node over a
  // skipped leaf is left out.
  std::vector<TreeNode> Append(const Hash& leaf);
  // Appends `count` leaves whose hashes are not known. InvalidArgument if size() would overflow.
  Status Skip(uint64_t count);
  // MTH of the leaves so far (MerkleEmptyRoot() for none), or nullopt if it covers a skipped leaf.
  std::optional<Hash> Root() const;

 private:
  struct Subtree {
    unsigned level;
    std::optional<Hash> hash;  // nullopt: over a skipped leaf
  };
  std::vector<Subtree> subtrees_;  // largest first: their sizes 2^level are size_'s binary digits
  uint64_t size_ = 0;
};

// Audit path for leaf `index` in the tree of `size` leaves (RFC 6962 section 2.1.1).
Result<std::vector<Hash>> InclusionProof(uint64_t index, uint64_t size, const SubtreeFn& subtree);
// Consistency proof between sizes old_size <= new_size (RFC 6962 section 2.1.2).
Result<std::vector<Hash>> ConsistencyProof(uint64_t old_size, uint64_t new_size,
                                           const SubtreeFn& subtree);

// Verifiers as RFC 9162 sections 2.1.3.2 and 2.1.4.2 specify them.
bool VerifyInclusion(const Hash& leaf, uint64_t index, uint64_t size, std::span<const Hash> proof,
                     const Hash& root);
bool VerifyConsistency(uint64_t old_size, uint64_t new_size, const Hash& old_root,
                       const Hash& new_root, std::span<const Hash> proof);

}  // namespace khronika
