// RFC 6962 / RFC 9162 Merkle trees over record leaves.
//
// The tree is read through a SubtreeFn that returns the hash of a *perfect* subtree: level L,
// index I covers leaves [I * 2^L, (I + 1) * 2^L). A store persists exactly those nodes, so a proof
// costs O(log n) lookups; tests supply the leaves from memory.
#pragma once

#include <functional>
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

// The perfect nodes that appending leaf number `leaf_index` completes, from level 0 upwards.
Result<std::vector<TreeNode>> NodesCompletedByAppend(uint64_t leaf_index, const Hash& leaf,
                                                     const SubtreeFn& subtree);

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
