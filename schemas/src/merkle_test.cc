#include "khronika/schemas/merkle.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <bit>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <map>
#include <optional>
#include <random>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "khronika/schemas/objects.h"

namespace khronika {
namespace {

// =============================================================================================
// An independent RFC 6962 reference. Hashing goes straight to OpenSSL; MTH, PATH, PROOF and
// SUBPROOF are transcribed from RFC 6962 section 2.1 over a plain vector of leaf hashes.
// =============================================================================================

Hash RefSha256(const Bytes& data) {
  Hash out{};
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), out.data(), &len, EVP_sha256(), nullptr) != 1 ||
      len != out.size()) {
    std::abort();
  }
  return out;
}

// MTH({d(0)}) = SHA-256(0x00 || d(0)).
Hash RefLeafHash(ByteView input) {
  Bytes b{0x00};
  b.insert(b.end(), input.begin(), input.end());
  return RefSha256(b);
}

// SHA-256(0x01 || left || right).
Hash RefNodeHash(const Hash& left, const Hash& right) {
  Bytes b{0x01};
  b.insert(b.end(), left.begin(), left.end());
  b.insert(b.end(), right.begin(), right.end());
  return RefSha256(b);
}

// "k is the largest power of two smaller than n (i.e., k < n <= 2k)".
uint64_t RefSplit(uint64_t n) {
  uint64_t k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

Hash HashFromHex(std::string_view hex) {
  auto h = ParseHashHex(hex);
  if (!h.ok()) std::abort();
  return *h;
}

Bytes BytesFromHex(std::string_view hex) {
  auto b = FromHex(hex);
  if (!b.ok()) std::abort();
  return *b;
}

class RefTree {
 public:
  explicit RefTree(std::vector<Hash> leaves) : leaves_(std::move(leaves)) {}

  uint64_t size() const { return leaves_.size(); }
  const Hash& leaf(uint64_t i) const { return leaves_[i]; }

  // MTH(D[begin:end]). Memoized: the definition stays the RFC's, only repeated work is saved.
  Hash Mth(uint64_t begin, uint64_t end) {
    auto key = std::make_pair(begin, end);
    auto it = memo_.find(key);
    if (it != memo_.end()) return it->second;
    uint64_t n = end - begin;
    Hash h;
    if (n == 0) {
      h = RefSha256({});
    } else if (n == 1) {
      h = leaves_[begin];
    } else {
      uint64_t k = RefSplit(n);
      h = RefNodeHash(Mth(begin, begin + k), Mth(begin + k, end));
    }
    memo_.emplace(key, h);
    return h;
  }

  // PATH(m, D[n]) for D[n] = D[begin:end].
  std::vector<Hash> Path(uint64_t m, uint64_t begin, uint64_t end) {
    uint64_t n = end - begin;
    if (n <= 1) return {};  // PATH(0, {d(0)}) = {}
    uint64_t k = RefSplit(n);
    std::vector<Hash> out;
    if (m < k) {
      out = Path(m, begin, begin + k);
      out.push_back(Mth(begin + k, end));
    } else {
      out = Path(m - k, begin + k, end);
      out.push_back(Mth(begin, begin + k));
    }
    return out;
  }

  // PROOF(m, D[n]) = SUBPROOF(m, D[n], true).
  std::vector<Hash> Proof(uint64_t m, uint64_t n) { return SubProof(m, 0, n, true); }

  std::vector<Hash> SubProof(uint64_t m, uint64_t begin, uint64_t end, bool b) {
    uint64_t n = end - begin;
    if (m == n) {
      if (b) return {};           // SUBPROOF(m, D[m], true) = {}
      return {Mth(begin, end)};   // SUBPROOF(m, D[m], false) = {MTH(D[m])}
    }
    uint64_t k = RefSplit(n);
    std::vector<Hash> out;
    if (m <= k) {
      out = SubProof(m, begin, begin + k, b);
      out.push_back(Mth(begin + k, end));
    } else {
      out = SubProof(m - k, begin + k, end, false);
      out.push_back(Mth(begin, begin + k));
    }
    return out;
  }

 private:
  std::vector<Hash> leaves_;
  std::map<std::pair<uint64_t, uint64_t>, Hash> memo_;
};

// Inverts PATH: rebuilds the root from a leaf and its audit path, or nullopt if the path does not
// have the shape PATH(m, D[n]) has.
std::optional<Hash> RefRootFromPath(uint64_t m, uint64_t n, const Hash& leaf,
                                    std::span<const Hash> path) {
  if (n == 1) return path.empty() ? std::optional<Hash>(leaf) : std::nullopt;
  if (path.empty()) return std::nullopt;
  uint64_t k = RefSplit(n);
  const Hash& last = path.back();
  auto rest = path.first(path.size() - 1);
  if (m < k) {
    auto sub = RefRootFromPath(m, k, leaf, rest);
    if (!sub) return std::nullopt;
    return RefNodeHash(*sub, last);
  }
  auto sub = RefRootFromPath(m - k, n - k, leaf, rest);
  if (!sub) return std::nullopt;
  return RefNodeHash(last, *sub);
}

bool RefVerifyInclusion(const Hash& leaf, uint64_t m, uint64_t n, std::span<const Hash> path,
                        const Hash& root) {
  if (m >= n) return false;
  auto r = RefRootFromPath(m, n, leaf, path);
  return r && *r == root;
}

// Length of PATH(m, D[n]); needs no hashes.
size_t RefPathLength(uint64_t m, uint64_t n) {
  if (n <= 1) return 0;
  uint64_t k = RefSplit(n);
  return 1 + (m < k ? RefPathLength(m, k) : RefPathLength(m - k, n - k));
}

// Inverts SUBPROOF: returns (old subtree hash, new subtree hash) for SUBPROOF(m, D[n], b).
std::optional<std::pair<Hash, Hash>> RefRebuild(uint64_t m, uint64_t n, bool b,
                                                std::span<const Hash> proof,
                                                const Hash& old_root) {
  if (m == n) {
    if (b) {
      if (!proof.empty()) return std::nullopt;
      return std::make_pair(old_root, old_root);
    }
    if (proof.size() != 1) return std::nullopt;
    return std::make_pair(proof[0], proof[0]);
  }
  if (proof.empty()) return std::nullopt;
  uint64_t k = RefSplit(n);
  const Hash& last = proof.back();
  auto rest = proof.first(proof.size() - 1);
  if (m <= k) {
    auto sub = RefRebuild(m, k, b, rest, old_root);
    if (!sub) return std::nullopt;
    return std::make_pair(sub->first, RefNodeHash(sub->second, last));
  }
  auto sub = RefRebuild(m - k, n - k, false, rest, old_root);
  if (!sub) return std::nullopt;
  return std::make_pair(RefNodeHash(last, sub->first), RefNodeHash(last, sub->second));
}

// Defined for 0 < m < n only.
bool RefVerifyConsistency(uint64_t m, uint64_t n, const Hash& old_root, const Hash& new_root,
                          std::span<const Hash> proof) {
  if (m == 0 || m >= n) std::abort();
  auto r = RefRebuild(m, n, true, proof, old_root);
  return r && r->first == old_root && r->second == new_root;
}

// A SubtreeFn over the first `size` leaves of `ref`: level L, index I is the reference MTH of
// leaves [I << L, (I + 1) << L). Nodes reaching past `size` do not exist yet, as in a store.
SubtreeFn SubtreesOf(RefTree& ref, uint64_t size, uint64_t* calls = nullptr) {
  return [&ref, size, calls](unsigned level, uint64_t index) -> Result<Hash> {
    if (calls) ++*calls;
    if (level >= 64) return Status::InvalidArgument("level out of range");
    uint64_t begin = index << level, end = (index + 1) << level;
    if ((begin >> level) != index || end <= begin || end > size) {
      return Status::NotFound("no node " + std::to_string(level) + "/" + std::to_string(index));
    }
    return ref.Mth(begin, end);
  };
}

std::vector<Hash> TestLeaves(size_t n) {
  std::vector<Hash> leaves;
  for (size_t i = 0; i < n; ++i) {
    std::string input = "leaf " + std::to_string(i);
    leaves.push_back(RefLeafHash(AsBytes(input)));
  }
  return leaves;
}

Hash Flipped(Hash h, size_t bit) {
  h[bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
  return h;
}

// =============================================================================================
// RFC 6962 / Certificate Transparency reference vectors.
//
// Leaf inputs and roots for sizes 0..8 are verbatim from transparency-dev/merkle,
// testonly/constants.go (LeafInputs, NodeHashes, RootHashes), which are the vectors of
// google/certificate-transparency; the audit paths and consistency proofs are verbatim from
// google/certificate-transparency, go/fulltree/merkle_tree_test.go (whose indexes are 1-based).
// =============================================================================================

const char* const kCtLeafInputs[] = {"",         "00",       "10",
                                     "2021",     "3031",     "40414243",
                                     "5051525354555657",
                                     "606162636465666768696a6b6c6d6e6f"};

const char* const kCtRoots[] = {
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",  // size 0
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",  // size 1
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",  // size 8
};

// NodeHashes(): level, then index within the level.
const std::vector<std::vector<const char*>> kCtNodes = {
    {"6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
     "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
     "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
     "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
     "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
     "4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658",
     "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
     "46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1"},
    {"fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
     "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
     "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
     "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"},
    {"d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
     "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"},
    {"5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"},
};

std::vector<Hash> CtLeafHashes() {
  std::vector<Hash> out;
  for (const char* in : kCtLeafInputs) out.push_back(LeafHash(BytesFromHex(in)));
  return out;
}

// A SubtreeFn over a fixed table of node hashes (level, index) -> hash.
SubtreeFn TableSubtrees(const std::map<std::pair<unsigned, uint64_t>, Hash>* table) {
  return [table](unsigned level, uint64_t index) -> Result<Hash> {
    auto it = table->find({level, index});
    if (it == table->end()) return Status::NotFound("missing node");
    return it->second;
  };
}

TEST(MerkleVectorsTest, EmptyTreeRoot) {
  EXPECT_EQ(ToHex(MerkleEmptyRoot()), kCtRoots[0]);
  SubtreeFn never = [](unsigned, uint64_t) -> Result<Hash> {
    ADD_FAILURE() << "an empty tree reads no node";
    return Status::NotFound("none");
  };
  auto root = MerkleRoot(0, never);
  ASSERT_TRUE(root.ok());
  EXPECT_EQ(ToHex(*root), kCtRoots[0]);
}

TEST(MerkleVectorsTest, LeafAndNodeHashesMatchCt) {
  std::vector<Hash> leaves = CtLeafHashes();
  for (size_t i = 0; i < leaves.size(); ++i) {
    EXPECT_EQ(ToHex(leaves[i]), kCtNodes[0][i]) << "leaf " << i;
    EXPECT_EQ(leaves[i], RefLeafHash(BytesFromHex(kCtLeafInputs[i])));
  }
  for (size_t level = 1; level < kCtNodes.size(); ++level) {
    for (size_t i = 0; i < kCtNodes[level].size(); ++i) {
      Hash left = HashFromHex(kCtNodes[level - 1][2 * i]);
      Hash right = HashFromHex(kCtNodes[level - 1][2 * i + 1]);
      EXPECT_EQ(ToHex(HashChildren(left, right)), kCtNodes[level][i]) << level << "/" << i;
    }
  }
}

TEST(MerkleVectorsTest, RootsForSizes1To8) {
  std::vector<Hash> leaves = CtLeafHashes();
  RefTree ref(leaves);
  for (uint64_t n = 0; n <= 8; ++n) {
    auto root = MerkleRoot(n, SubtreesOf(ref, n));
    ASSERT_TRUE(root.ok()) << root.status().ToString();
    EXPECT_EQ(ToHex(*root), kCtRoots[n]) << "size " << n;
    EXPECT_EQ(ToHex(ref.Mth(0, n)), kCtRoots[n]) << "reference, size " << n;
  }
  // The same roots from a store holding only the published node table.
  std::map<std::pair<unsigned, uint64_t>, Hash> table;
  for (size_t level = 0; level < kCtNodes.size(); ++level) {
    for (size_t i = 0; i < kCtNodes[level].size(); ++i) {
      table[{static_cast<unsigned>(level), i}] = HashFromHex(kCtNodes[level][i]);
    }
  }
  for (uint64_t n = 0; n <= 8; ++n) {
    auto root = MerkleRoot(n, TableSubtrees(&table));
    ASSERT_TRUE(root.ok());
    EXPECT_EQ(ToHex(*root), kCtRoots[n]) << "size " << n;
  }
}

TEST(MerkleVectorsTest, CtAuditPaths) {
  RefTree ref(CtLeafHashes());
  auto fn = SubtreesOf(ref, 8);
  Hash root = HashFromHex(kCtRoots[8]);
  struct Case {
    uint64_t index;
    std::vector<const char*> path;
  };
  const Case cases[] = {
      {0,
       {"96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"}},
      {5,
       {"bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"}},
  };
  for (const Case& c : cases) {
    auto proof = InclusionProof(c.index, 8, fn);
    ASSERT_TRUE(proof.ok()) << proof.status().ToString();
    ASSERT_EQ(proof->size(), c.path.size());
    for (size_t i = 0; i < c.path.size(); ++i) EXPECT_EQ(ToHex((*proof)[i]), c.path[i]);
    EXPECT_TRUE(VerifyInclusion(ref.leaf(c.index), c.index, 8, *proof, root));
  }
}

TEST(MerkleVectorsTest, CtConsistencyProofs) {
  RefTree ref(CtLeafHashes());
  struct Case {
    uint64_t from, to;
    std::vector<const char*> proof;
  };
  const Case cases[] = {
      {1, 8,
       {"96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"}},
      {6, 8,
       {"0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"}},
      {2, 5,
       {"5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"}},
  };
  for (const Case& c : cases) {
    auto proof = ConsistencyProof(c.from, c.to, SubtreesOf(ref, c.to));
    ASSERT_TRUE(proof.ok()) << proof.status().ToString();
    ASSERT_EQ(proof->size(), c.proof.size()) << c.from << "->" << c.to;
    for (size_t i = 0; i < c.proof.size(); ++i) EXPECT_EQ(ToHex((*proof)[i]), c.proof[i]);
    EXPECT_TRUE(VerifyConsistency(c.from, c.to, HashFromHex(kCtRoots[c.from]),
                                  HashFromHex(kCtRoots[c.to]), *proof));
    EXPECT_FALSE(VerifyConsistency(c.from, c.to, HashFromHex(kCtRoots[c.from - 1]),
                                   HashFromHex(kCtRoots[c.to]), *proof));
  }
}

// =============================================================================================
// Exhaustive comparison against the reference for every size 0..300.
// =============================================================================================

constexpr uint64_t kMaxSize = 300;

class MerkleReferenceTest : public ::testing::Test {
 protected:
  MerkleReferenceTest() : ref_(TestLeaves(kMaxSize + 1)) {}
  RefTree ref_;
};

TEST_F(MerkleReferenceTest, ReferenceSelfCheck) {
  // The reference's own inverse functions accept the reference's proofs (so that a later
  // comparison against them means something).
  for (uint64_t n = 1; n <= 40; ++n) {
    Hash root = ref_.Mth(0, n);
    for (uint64_t i = 0; i < n; ++i) {
      auto path = ref_.Path(i, 0, n);
      EXPECT_EQ(path.size(), RefPathLength(i, n));
      EXPECT_TRUE(RefVerifyInclusion(ref_.leaf(i), i, n, path, root));
    }
    for (uint64_t m = 1; m < n; ++m) {
      EXPECT_TRUE(RefVerifyConsistency(m, n, ref_.Mth(0, m), root, ref_.Proof(m, n)));
      EXPECT_FALSE(RefVerifyConsistency(m, n, ref_.Mth(0, m), ref_.Mth(0, n - 1),
                                        ref_.Proof(m, n)));
    }
  }
}

TEST_F(MerkleReferenceTest, RootsMatchReference) {
  for (uint64_t n = 0; n <= kMaxSize; ++n) {
    auto root = MerkleRoot(n, SubtreesOf(ref_, n));
    ASSERT_TRUE(root.ok()) << n << ": " << root.status().ToString();
    EXPECT_EQ(*root, ref_.Mth(0, n)) << "size " << n;
  }
}

TEST_F(MerkleReferenceTest, RangeHashMatchesReferenceForEveryRange) {
  const uint64_t n = 70;
  auto fn = SubtreesOf(ref_, n);
  for (uint64_t b = 0; b <= n; ++b) {
    for (uint64_t e = b; e <= n; ++e) {
      auto h = RangeHash(b, e, fn);
      ASSERT_TRUE(h.ok()) << b << ".." << e;
      EXPECT_EQ(*h, ref_.Mth(b, e)) << b << ".." << e;
    }
  }
  auto reversed = RangeHash(5, 3, fn);
  EXPECT_FALSE(reversed.ok());
  EXPECT_EQ(reversed.status().code(), Code::kInvalidArgument);
}

TEST_F(MerkleReferenceTest, InclusionProofsMatchReferenceAndVerify) {
  std::mt19937_64 rng(6962);
  size_t wrong_size_accepted = 0, wrong_size_rejected = 0;
  for (uint64_t n = 1; n <= kMaxSize; ++n) {
    auto fn = SubtreesOf(ref_, n);
    Hash root = ref_.Mth(0, n);
    for (uint64_t i = 0; i < n; ++i) {
      auto proof_r = InclusionProof(i, n, fn);
      ASSERT_TRUE(proof_r.ok()) << i << "/" << n << ": " << proof_r.status().ToString();
      const std::vector<Hash>& proof = *proof_r;
      ASSERT_EQ(proof, ref_.Path(i, 0, n)) << "index " << i << " size " << n;
      const Hash& leaf = ref_.leaf(i);
      ASSERT_TRUE(VerifyInclusion(leaf, i, n, proof, root)) << i << "/" << n;

      // Full negative battery for small trees, a random sample of indexes for larger ones.
      if (n > 64 && rng() % 8 != 0) continue;

      for (size_t j = 0; j < proof.size(); ++j) {
        std::vector<Hash> bad = proof;
        bad[j] = Flipped(bad[j], rng() % 256);
        EXPECT_FALSE(VerifyInclusion(leaf, i, n, bad, root)) << "flip " << j << " " << i << "/" << n;
      }
      EXPECT_FALSE(VerifyInclusion(Flipped(leaf, rng() % 256), i, n, proof, root));
      EXPECT_FALSE(VerifyInclusion(leaf, i, n, proof, Flipped(root, rng() % 256)));
      // Wrong index, same tree: always rejected.
      for (uint64_t j : {i + 1, i - 1, i ^ 1, i ^ 2, n, n + 1, UINT64_MAX}) {
        if (j == i) continue;
        EXPECT_FALSE(VerifyInclusion(leaf, j, n, proof, root))
            << "index " << j << " instead of " << i << " size " << n;
      }
      if (n > 1) {
        EXPECT_FALSE(VerifyInclusion(ref_.leaf((i + 1) % n), i, n, proof, root));
      }
      // Truncated and extended proofs.
      if (!proof.empty()) {
        std::span<const Hash> all(proof);
        EXPECT_FALSE(VerifyInclusion(leaf, i, n, all.first(proof.size() - 1), root));
        EXPECT_FALSE(VerifyInclusion(leaf, i, n, all.subspan(1), root));
        EXPECT_FALSE(VerifyInclusion(leaf, i, n, {}, root));
      }
      for (const Hash& extra : {root, leaf, proof.empty() ? root : proof.back()}) {
        std::vector<Hash> longer = proof;
        longer.push_back(extra);
        EXPECT_FALSE(VerifyInclusion(leaf, i, n, longer, root));
        longer = proof;
        longer.insert(longer.begin(), extra);
        EXPECT_FALSE(VerifyInclusion(leaf, i, n, longer, root));
      }
      // Wrong size: a verifier cannot tell two sizes apart whose audit paths have the same shape,
      // so the library must agree exactly with the reference verifier, and reject whenever the
      // shape differs.
      for (uint64_t m : {n - 1, n + 1, n + 2, 2 * n, n / 2, n + (n & (~n + 1))}) {
        if (m == n) continue;
        if (m <= i) {
          EXPECT_FALSE(VerifyInclusion(leaf, i, m, proof, root)) << i << " size " << m;
          continue;
        }
        bool lib = VerifyInclusion(leaf, i, m, proof, root);
        EXPECT_EQ(lib, RefVerifyInclusion(leaf, i, m, proof, root))
            << "index " << i << " proof for size " << n << " checked as size " << m;
        if (RefPathLength(i, m) != proof.size()) {
          EXPECT_FALSE(lib);
        }
        (lib ? wrong_size_accepted : wrong_size_rejected)++;
        // Against the other tree's own root, the proof passes only if it is that tree's path.
        if (m <= kMaxSize) {
          EXPECT_EQ(VerifyInclusion(leaf, i, m, proof, ref_.Mth(0, m)),
                    proof == ref_.Path(i, 0, m))
              << "index " << i << " proof for size " << n << " against the root of size " << m;
        }
      }
    }
    auto past = InclusionProof(n, n, fn);
    EXPECT_FALSE(past.ok());
    EXPECT_EQ(past.status().code(), Code::kInvalidArgument);
  }
  // Both outcomes occur (e.g. leaf 0 has the same path shape in trees of sizes 3 and 4).
  EXPECT_GT(wrong_size_rejected, 1000u);
  EXPECT_GT(wrong_size_accepted, 0u);
  auto empty = InclusionProof(0, 0, SubtreesOf(ref_, 0));
  EXPECT_EQ(empty.status().code(), Code::kInvalidArgument);
}

TEST_F(MerkleReferenceTest, ConsistencyProofsMatchReferenceAndVerify) {
  std::mt19937_64 rng(9162);
  for (uint64_t n = 0; n <= kMaxSize; ++n) {
    auto fn = SubtreesOf(ref_, n);
    Hash new_root = ref_.Mth(0, n);
    for (uint64_t m = 0; m <= n; ++m) {
      auto proof_r = ConsistencyProof(m, n, fn);
      ASSERT_TRUE(proof_r.ok()) << m << "->" << n << ": " << proof_r.status().ToString();
      const std::vector<Hash>& proof = *proof_r;
      Hash old_root = ref_.Mth(0, m);
      if (m == 0 || m == n) {
        EXPECT_TRUE(proof.empty()) << m << "->" << n;
        EXPECT_TRUE(VerifyConsistency(m, n, old_root, new_root, proof)) << m << "->" << n;
        continue;
      }
      ASSERT_EQ(proof, ref_.Proof(m, n)) << m << "->" << n;
      ASSERT_TRUE(VerifyConsistency(m, n, old_root, new_root, proof)) << m << "->" << n;

      if (n > 64 && rng() % 8 != 0) continue;

      for (size_t j = 0; j < proof.size(); ++j) {
        std::vector<Hash> bad = proof;
        bad[j] = Flipped(bad[j], rng() % 256);
        EXPECT_FALSE(VerifyConsistency(m, n, old_root, new_root, bad))
            << "flip " << j << " " << m << "->" << n;
      }
      EXPECT_FALSE(VerifyConsistency(m, n, Flipped(old_root, rng() % 256), new_root, proof));
      EXPECT_FALSE(VerifyConsistency(m, n, old_root, Flipped(new_root, rng() % 256), proof));
      EXPECT_FALSE(VerifyConsistency(m, n, new_root, old_root, proof));
      EXPECT_FALSE(VerifyConsistency(n, m, old_root, new_root, proof));
      EXPECT_FALSE(VerifyConsistency(m, n, old_root, new_root, {}));
      std::span<const Hash> all(proof);
      EXPECT_FALSE(VerifyConsistency(m, n, old_root, new_root, all.first(proof.size() - 1)));
      EXPECT_FALSE(VerifyConsistency(m, n, old_root, new_root, all.subspan(1)));
      for (const Hash& extra : {old_root, new_root, proof.back()}) {
        std::vector<Hash> longer = proof;
        longer.push_back(extra);
        EXPECT_FALSE(VerifyConsistency(m, n, old_root, new_root, longer));
        longer = proof;
        longer.insert(longer.begin(), extra);
        EXPECT_FALSE(VerifyConsistency(m, n, old_root, new_root, longer));
      }
      // Wrong sizes with the same proof and roots: agree with the reference verifier.
      const std::pair<uint64_t, uint64_t> sizes[] = {
          {m - 1, n}, {m + 1, n}, {m, n + 1}, {m, n - 1}, {m + 1, n + 1}, {2 * m, 2 * n}};
      for (auto [a, b] : sizes) {
        if (a == 0 || a >= b) continue;
        EXPECT_EQ(VerifyConsistency(a, b, old_root, new_root, proof),
                  RefVerifyConsistency(a, b, old_root, new_root, proof))
            << "proof " << m << "->" << n << " checked as " << a << "->" << b;
      }
    }
    auto backwards = ConsistencyProof(n + 1, n, fn);
    EXPECT_FALSE(backwards.ok());
    EXPECT_EQ(backwards.status().code(), Code::kInvalidArgument);
  }
}

TEST_F(MerkleReferenceTest, ConsistencyEdgeCases) {
  Hash r5 = ref_.Mth(0, 5), r7 = ref_.Mth(0, 7);
  // Equal sizes: the roots must be equal and the proof empty.
  EXPECT_TRUE(VerifyConsistency(5, 5, r5, r5, {}));
  EXPECT_FALSE(VerifyConsistency(5, 5, r5, r7, {}));
  std::vector<Hash> one = {r5};
  EXPECT_FALSE(VerifyConsistency(5, 5, r5, r5, one));
  // From the empty tree: the proof is empty.
  EXPECT_TRUE(VerifyConsistency(0, 7, MerkleEmptyRoot(), r7, {}));
  EXPECT_FALSE(VerifyConsistency(0, 7, MerkleEmptyRoot(), r7, one));
  EXPECT_TRUE(VerifyConsistency(0, 0, MerkleEmptyRoot(), MerkleEmptyRoot(), {}));
  // Shrinking is never consistent.
  EXPECT_FALSE(VerifyConsistency(7, 5, r7, r5, {}));
  auto p = ConsistencyProof(5, 7, SubtreesOf(ref_, 7));
  ASSERT_TRUE(p.ok());
  EXPECT_FALSE(VerifyConsistency(7, 5, r7, r5, *p));
}

TEST_F(MerkleReferenceTest, InclusionEdgeCases) {
  Hash leaf = ref_.leaf(0);
  // A one-leaf tree: the root is the leaf hash and the path is empty.
  auto p = InclusionProof(0, 1, SubtreesOf(ref_, 1));
  ASSERT_TRUE(p.ok());
  EXPECT_TRUE(p->empty());
  EXPECT_TRUE(VerifyInclusion(leaf, 0, 1, {}, leaf));
  EXPECT_FALSE(VerifyInclusion(leaf, 0, 0, {}, leaf));
  EXPECT_FALSE(VerifyInclusion(leaf, 1, 1, {}, leaf));
  std::vector<Hash> extra = {leaf};
  EXPECT_FALSE(VerifyInclusion(leaf, 0, 1, extra, leaf));
}

// =============================================================================================
// The store's view: appends persist exactly the perfect nodes.
// =============================================================================================

TEST_F(MerkleReferenceTest, FrontierAppendCompletesExactlyThePerfectNodes) {
  std::map<std::pair<unsigned, uint64_t>, Hash> store;
  SubtreeFn from_store = TableSubtrees(&store);
  MerkleFrontier frontier;
  for (uint64_t i = 0; i < kMaxSize; ++i) {
    const std::vector<TreeNode> nodes = frontier.Append(ref_.leaf(i));
    // Appending leaf i completes the perfect subtree (L, I) exactly when it ends at leaf i,
    // i.e. (I + 1) * 2^L == i + 1.
    std::vector<std::pair<unsigned, uint64_t>> want;
    for (unsigned level = 0; ((i + 1) & ((uint64_t{1} << level) - 1)) == 0; ++level) {
      want.emplace_back(level, ((i + 1) >> level) - 1);
    }
    ASSERT_EQ(nodes.size(), want.size()) << "leaf " << i;
    for (size_t j = 0; j < want.size(); ++j) {
      const TreeNode& node = nodes[j];
      EXPECT_EQ(node.level, want[j].first) << "leaf " << i;
      EXPECT_EQ(node.index, want[j].second) << "leaf " << i;
      uint64_t begin = node.index << node.level, end = (node.index + 1) << node.level;
      EXPECT_EQ(node.hash, ref_.Mth(begin, end)) << "leaf " << i << " node " << j;
      EXPECT_FALSE(store.count({node.level, node.index})) << "node written twice";
      store[{node.level, node.index}] = node.hash;
    }
    // The store now answers every question about the tree of size i + 1.
    auto root = MerkleRoot(i + 1, from_store);
    ASSERT_TRUE(root.ok()) << root.status().ToString();
    EXPECT_EQ(*root, ref_.Mth(0, i + 1));
  }
  // Exactly the perfect subtrees of a 300-leaf tree: sum over L of floor(300 / 2^L).
  size_t expected = 0;
  for (uint64_t w = kMaxSize; w > 0; w >>= 1) expected += w;
  EXPECT_EQ(store.size(), expected);
  for (const auto& [key, hash] : store) {
    uint64_t begin = key.second << key.first, end = (key.second + 1) << key.first;
    EXPECT_LE(end, kMaxSize);
    EXPECT_EQ(hash, ref_.Mth(begin, end));
  }
  // Proofs served from the store agree with the reference.
  for (uint64_t i = 0; i < kMaxSize; i += 7) {
    auto proof = InclusionProof(i, kMaxSize, from_store);
    ASSERT_TRUE(proof.ok());
    EXPECT_EQ(*proof, ref_.Path(i, 0, kMaxSize));
  }
}

// =============================================================================================
// The verifiers' view: a frontier of O(log n) subtrees, built leaf by leaf.
// =============================================================================================

TEST_F(MerkleReferenceTest, FrontierRootsMatchReferenceAndReadBackFromTheNodesItCompletes) {
  MerkleFrontier frontier;
  EXPECT_EQ(frontier.Root(), ref_.Mth(0, 0));
  std::map<std::pair<unsigned, uint64_t>, Hash> store;
  for (uint64_t i = 0; i < kMaxSize; ++i) {
    for (const TreeNode& node : frontier.Append(ref_.leaf(i))) store[{node.level, node.index}] = node.hash;
    EXPECT_EQ(frontier.size(), i + 1);
    EXPECT_EQ(frontier.Root(), ref_.Mth(0, i + 1)) << "size " << i + 1;
    // Read back from the nodes persisted so far, the frontier is the same.
    auto read = MerkleFrontier::FromSubtrees(i + 1, TableSubtrees(&store));
    ASSERT_TRUE(read.ok()) << read.status().ToString();
    EXPECT_EQ(read->size(), i + 1);
    EXPECT_EQ(read->Root(), frontier.Root());
    MerkleFrontier copy = *read;
    EXPECT_EQ(copy.Append(ref_.leaf(i + 1)).back().hash, MerkleFrontier(frontier).Append(ref_.leaf(i + 1)).back().hash);
  }
}

TEST_F(MerkleReferenceTest, FrontierFromSubtreesReadsOnlyPopcountNodes) {
  for (uint64_t n : {0ull, 1ull, 6ull, 255ull, 256ull, 300ull}) {
    uint64_t calls = 0;
    auto f = MerkleFrontier::FromSubtrees(n, SubtreesOf(ref_, n, &calls));
    ASSERT_TRUE(f.ok());
    EXPECT_EQ(calls, static_cast<uint64_t>(std::popcount(n))) << n;
    EXPECT_EQ(f->Root(), ref_.Mth(0, n));
  }
  SubtreeFn broken = [](unsigned, uint64_t) -> Result<Hash> { return Status::IOError("disk on fire"); };
  EXPECT_EQ(MerkleFrontier::FromSubtrees(5, broken).status().code(), Code::kIOError);
}

TEST_F(MerkleReferenceTest, SkippedLeavesHideEveryRootOverThemButNotTheSubtreesAfter) {
  for (uint64_t gap_at = 0; gap_at < 40; ++gap_at) {
    for (uint64_t gap : {1ull, 2ull, 5ull, 16ull}) {
      MerkleFrontier f;
      for (uint64_t i = 0; i < gap_at; ++i) f.Append(ref_.leaf(i));
      ASSERT_TRUE(f.Skip(gap).ok());
      EXPECT_EQ(f.size(), gap_at + gap);
      EXPECT_FALSE(f.Root().has_value());
      const uint64_t end = gap_at + gap;
      for (uint64_t i = end; i < end + 70; ++i) {
        for (const TreeNode& node : f.Append(ref_.leaf(i))) {
          uint64_t begin = node.index << node.level, stop = (node.index + 1) << node.level;
          EXPECT_GE(begin, end) << "a node over a skipped leaf came out";
          EXPECT_EQ(node.hash, ref_.Mth(begin, stop));
        }
        EXPECT_FALSE(f.Root().has_value());
      }
    }
  }
  // Skipping none changes nothing; a skip past 2^64 leaves is refused.
  MerkleFrontier f;
  for (uint64_t i = 0; i < 7; ++i) f.Append(ref_.leaf(i));
  ASSERT_TRUE(f.Skip(0).ok());
  EXPECT_EQ(f.Root(), ref_.Mth(0, 7));
  EXPECT_EQ(f.Skip(UINT64_MAX).code(), Code::kInvalidArgument);
  EXPECT_EQ(f.size(), 7u);
  MerkleFrontier huge;
  ASSERT_TRUE(huge.Skip(uint64_t{1} << 62).ok());
  EXPECT_EQ(huge.Append(ref_.leaf(0)).size(), 1u);  // only the leaf: its left neighbours are unknown
}

TEST(MerkleErrorsTest, SubtreeErrorsPropagateWithTheirCode) {
  SubtreeFn broken = [](unsigned, uint64_t) -> Result<Hash> {
    return Status::IOError("disk on fire");
  };
  auto root = MerkleRoot(5, broken);
  ASSERT_FALSE(root.ok());
  EXPECT_EQ(root.status().code(), Code::kIOError);
  auto inc = InclusionProof(2, 5, broken);
  ASSERT_FALSE(inc.ok());
  EXPECT_EQ(inc.status().code(), Code::kIOError);
  auto con = ConsistencyProof(3, 5, broken);
  ASSERT_FALSE(con.ok());
  EXPECT_EQ(con.status().code(), Code::kIOError);
  auto frontier = MerkleFrontier::FromSubtrees(3, broken);
  ASSERT_FALSE(frontier.ok());
  EXPECT_EQ(frontier.status().code(), Code::kIOError);
}

// =============================================================================================
// Huge trees: proofs touch O(log n) nodes and verify, without overflow near 2^64.
// =============================================================================================

// A virtual tree of any size whose leaves repeat with period 16: leaf I is VirtualLeaf(I % 16).
// Every perfect node is then determined by its level and, below level 4, its index modulo
// 2^(4 - level), so all the nodes of a 2^64-leaf tree can be computed, consistently, from memory.
Hash VirtualLeaf(uint64_t index) {
  Bytes b;
  AppendBigEndian64(b, index);
  return RefLeafHash(b);
}

class PeriodicTree {
 public:
  Hash Node(unsigned level, uint64_t index) {
    if (level == 0) return VirtualLeaf(index % 16);
    uint64_t key_index = level >= 4 ? 0 : index % (uint64_t{1} << (4 - level));
    auto key = std::make_pair(level, key_index);
    auto it = memo_.find(key);
    if (it != memo_.end()) return it->second;
    Hash h = RefNodeHash(Node(level - 1, 2 * key_index), Node(level - 1, 2 * key_index + 1));
    memo_.emplace(key, h);
    return h;
  }

 private:
  std::map<std::pair<unsigned, uint64_t>, Hash> memo_;
};

TEST(MerkleHugeTest, PeriodicTreeMatchesReferenceWhereBothExist) {
  std::vector<Hash> leaves;
  for (uint64_t i = 0; i < 100; ++i) leaves.push_back(VirtualLeaf(i % 16));
  RefTree ref(leaves);
  PeriodicTree tree;
  for (unsigned level = 0; level <= 6; ++level) {
    for (uint64_t index = 0; ((index + 1) << level) <= 100; ++index) {
      EXPECT_EQ(tree.Node(level, index), ref.Mth(index << level, (index + 1) << level));
    }
  }
}

TEST(MerkleHugeTest, ProofsOverHugeSizesVerifyWithFewLookups) {
  PeriodicTree tree;
  uint64_t calls = 0;
  SubtreeFn fn = [&](unsigned level, uint64_t index) -> Result<Hash> {
    ++calls;
    if (level >= 64) return Status::InvalidArgument("level out of range");
    return tree.Node(level, index);
  };
  const uint64_t sizes[] = {uint64_t{1} << 40,
                            (uint64_t{1} << 40) + 12345,
                            (uint64_t{1} << 63) - 1,
                            uint64_t{1} << 63,
                            (uint64_t{1} << 63) + 5,
                            UINT64_MAX - 1,
                            UINT64_MAX};
  for (uint64_t n : sizes) {
    calls = 0;
    auto root = MerkleRoot(n, fn);
    ASSERT_TRUE(root.ok());
    EXPECT_LE(calls, 64u) << n;
    for (uint64_t i : {uint64_t{0}, n / 3, n / 2, n - 2, n - 1}) {
      calls = 0;
      auto proof = InclusionProof(i, n, fn);
      ASSERT_TRUE(proof.ok());
      EXPECT_LE(calls, 130u) << i << "/" << n;
      EXPECT_LE(proof->size(), 64u);
      EXPECT_TRUE(VerifyInclusion(tree.Node(0, i), i, n, *proof, *root)) << i << "/" << n;
      EXPECT_FALSE(VerifyInclusion(tree.Node(0, i), i ^ 1, n, *proof, *root)) << i << "/" << n;
    }
    for (uint64_t m : {uint64_t{1}, uint64_t{3}, n / 2, n / 2 + 1, n - 1}) {
      calls = 0;
      auto proof = ConsistencyProof(m, n, fn);
      ASSERT_TRUE(proof.ok());
      EXPECT_LE(calls, 130u) << m << "->" << n;
      auto old_root = MerkleRoot(m, fn);
      ASSERT_TRUE(old_root.ok());
      EXPECT_TRUE(VerifyConsistency(m, n, *old_root, *root, *proof)) << m << "->" << n;
      EXPECT_FALSE(VerifyConsistency(m, n, *root, *root, *proof)) << m << "->" << n;
    }
  }
}

}  // namespace
}  // namespace khronika
