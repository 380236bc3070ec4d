#include "khronika/schemas/merkle.h"

#include <bit>
#include <cstdint>

#include "khronika/schemas/crypto.h"

namespace khronika {
namespace {

// Largest power of two strictly smaller than n (n >= 2).
uint64_t SplitPoint(uint64_t n) { return std::bit_floor(n - 1); }

Status SubProof(uint64_t m, uint64_t begin, uint64_t end, bool complete_subtree,
                const SubtreeFn& subtree, std::vector<Hash>& out) {
  uint64_t n = end - begin;
  if (m == n) {
    if (!complete_subtree) {
      KH_ASSIGN_OR_RETURN(Hash h, RangeHash(begin, end, subtree));
      out.push_back(h);
    }
    return Status::Ok();
  }
  uint64_t k = SplitPoint(n);
  if (m <= k) {
    KH_RETURN_IF_ERROR(SubProof(m, begin, begin + k, complete_subtree, subtree, out));
    KH_ASSIGN_OR_RETURN(Hash right, RangeHash(begin + k, end, subtree));
    out.push_back(right);
  } else {
    KH_RETURN_IF_ERROR(SubProof(m - k, begin + k, end, false, subtree, out));
    KH_ASSIGN_OR_RETURN(Hash left, RangeHash(begin, begin + k, subtree));
    out.push_back(left);
  }
  return Status::Ok();
}

Status Path(uint64_t m, uint64_t begin, uint64_t end, const SubtreeFn& subtree,
            std::vector<Hash>& out) {
  uint64_t n = end - begin;
  if (n <= 1) return Status::Ok();
  uint64_t k = SplitPoint(n);
  if (m < k) {
    KH_RETURN_IF_ERROR(Path(m, begin, begin + k, subtree, out));
    KH_ASSIGN_OR_RETURN(Hash right, RangeHash(begin + k, end, subtree));
    out.push_back(right);
  } else {
    KH_RETURN_IF_ERROR(Path(m - k, begin + k, end, subtree, out));
    KH_ASSIGN_OR_RETURN(Hash left, RangeHash(begin, begin + k, subtree));
    out.push_back(left);
  }
  return Status::Ok();
}

}  // namespace

Hash MerkleEmptyRoot() { return Sha256(ByteView{}); }

Hash HashChildren(const Hash& left, const Hash& right) {
  uint8_t buf[65];
  buf[0] = 0x01;
  std::copy(left.begin(), left.end(), buf + 1);
  std::copy(right.begin(), right.end(), buf + 33);
  return Sha256(ByteView(buf, sizeof buf));
}

Result<Hash> RangeHash(uint64_t begin, uint64_t end, const SubtreeFn& subtree) {
  if (end < begin) return Status::InvalidArgument("empty or reversed leaf range");
  uint64_t n = end - begin;
  if (n == 0) return MerkleEmptyRoot();
  if (std::has_single_bit(n) && begin % n == 0) {
    return subtree(static_cast<unsigned>(std::countr_zero(n)), begin / n);
  }
  uint64_t k = SplitPoint(n);
  KH_ASSIGN_OR_RETURN(Hash left, RangeHash(begin, begin + k, subtree));
  KH_ASSIGN_OR_RETURN(Hash right, RangeHash(begin + k, end, subtree));
  return HashChildren(left, right);
}

Result<Hash> MerkleRoot(uint64_t size, const SubtreeFn& subtree) {
  return RangeHash(0, size, subtree);
}

Result<MerkleFrontier> MerkleFrontier::FromSubtrees(uint64_t size, const SubtreeFn& subtree) {
  MerkleFrontier f;
  uint64_t start = 0;
  for (int level = 63; level >= 0; --level) {
    const uint64_t width = uint64_t{1} << level;
    if (!(size & width)) continue;
    KH_ASSIGN_OR_RETURN(Hash h, subtree(static_cast<unsigned>(level), start >> level));
    f.subtrees_.push_back({static_cast<unsigned>(level), h});
    start += width;
  }
  f.size_ = size;
  return f;
}

std::vector<TreeNode> MerkleFrontier::Append(const Hash& leaf) {
  std::vector<TreeNode> completed{{0, size_, leaf}};
  Subtree right{0, leaf};
  uint64_t index = size_;
  // The subtrees that end where the leaf starts and have its size merge with it, level by level.
  while (!subtrees_.empty() && subtrees_.back().level == right.level) {
    const std::optional<Hash>& left = subtrees_.back().hash;
    right.hash = left && right.hash ? std::optional<Hash>(HashChildren(*left, *right.hash)) : std::nullopt;
    right.level += 1;
    index /= 2;
    subtrees_.pop_back();
    if (right.hash) completed.push_back({right.level, index, *right.hash});
  }
  subtrees_.push_back(right);
  size_ += 1;
  return completed;
}

Status MerkleFrontier::Skip(uint64_t count) {
  if (count > UINT64_MAX - size_) return Status::InvalidArgument("a tree of more than 2^64 leaves");
  const uint64_t size = size_ + count;
  // The subtrees of the new size that lie within the old leaves are exactly the old ones that
  // come first (a perfect subtree maximal in [0, size) and inside [0, size_) is maximal there
  // too); every other one covers a skipped leaf.
  std::vector<Subtree> next;
  uint64_t start = 0;
  size_t kept = 0;
  for (int level = 63; level >= 0; --level) {
    const uint64_t width = uint64_t{1} << level;
    if (!(size & width)) continue;
    Subtree s{static_cast<unsigned>(level), std::nullopt};
    if (start + width <= size_ && kept < subtrees_.size() && subtrees_[kept].level == s.level) {
      s.hash = subtrees_[kept++].hash;
    }
    next.push_back(s);
    start += width;
  }
  subtrees_ = std::move(next);
  size_ = size;
  return Status::Ok();
}

std::optional<Hash> MerkleFrontier::Root() const {
  if (subtrees_.empty()) return MerkleEmptyRoot();
  std::optional<Hash> h = subtrees_.back().hash;
  for (size_t i = subtrees_.size() - 1; i-- > 0;) {
    if (!h || !subtrees_[i].hash) return std::nullopt;
    h = HashChildren(*subtrees_[i].hash, *h);
  }
  return h;
}

Result<std::vector<Hash>> InclusionProof(uint64_t index, uint64_t size, const SubtreeFn& subtree) {
  if (index >= size) {
    return Status::InvalidArgument("index " + std::to_string(index) +
                                   " is not in a tree of size " + std::to_string(size));
  }
  std::vector<Hash> out;
  KH_RETURN_IF_ERROR(Path(index, 0, size, subtree, out));
  return out;
}

Result<std::vector<Hash>> ConsistencyProof(uint64_t old_size, uint64_t new_size,
                                           const SubtreeFn& subtree) {
  if (old_size > new_size) {
    return Status::InvalidArgument("consistency proof needs from <= to");
  }
  std::vector<Hash> out;
  if (old_size == 0 || old_size == new_size) return out;
  KH_RETURN_IF_ERROR(SubProof(old_size, 0, new_size, true, subtree, out));
  return out;
}

bool VerifyInclusion(const Hash& leaf, uint64_t index, uint64_t size, std::span<const Hash> proof,
                     const Hash& root) {
  if (index >= size) return false;
  uint64_t fn = index, sn = size - 1;
  Hash r = leaf;
  for (const Hash& p : proof) {
    if (sn == 0) return false;
    if ((fn & 1) || fn == sn) {
      r = HashChildren(p, r);
      if (!(fn & 1)) {
        while (!(fn & 1) && fn != 0) {
          fn >>= 1;
          sn >>= 1;
        }
      }
    } else {
      r = HashChildren(r, p);
    }
    fn >>= 1;
    sn >>= 1;
  }
  return sn == 0 && r == root;
}

bool VerifyConsistency(uint64_t old_size, uint64_t new_size, const Hash& old_root,
                       const Hash& new_root, std::span<const Hash> proof) {
  if (old_size > new_size) return false;
  if (old_size == new_size) return proof.empty() && old_root == new_root;
  if (old_size == 0) return proof.empty();
  if (proof.empty()) return false;
  std::vector<Hash> path;
  if (std::has_single_bit(old_size)) path.push_back(old_root);
  path.insert(path.end(), proof.begin(), proof.end());
  uint64_t fn = old_size - 1, sn = new_size - 1;
  while (fn & 1) {
    fn >>= 1;
    sn >>= 1;
  }
  Hash fr = path[0], sr = path[0];
  for (size_t i = 1; i < path.size(); ++i) {
    const Hash& c = path[i];
    if (sn == 0) return false;
    if ((fn & 1) || fn == sn) {
      fr = HashChildren(c, fr);
      sr = HashChildren(c, sr);
      if (!(fn & 1)) {
        while (!(fn & 1) && fn != 0) {
          fn >>= 1;
          sn >>= 1;
        }
      }
    } else {
      sr = HashChildren(sr, c);
    }
    fn >>= 1;
    sn >>= 1;
  }
  return sn == 0 && fr == old_root && sr == new_root;
}

}  // namespace khronika
