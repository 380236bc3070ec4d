#include "khronika/schemas/tlog_tiles.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "khronika/schemas/crypto.h"
#include "khronika/schemas/merkle.h"
#include "khronika/schemas/objects.h"

namespace khronika {
namespace {

// ---- the examples of c2sp.org/tlog-tiles ---------------------------------------------------

TEST(TlogTiles, IndexEncodingIsTheSpecsExample) {
  // "index 1234067 will be encoded as x001/x234/067"
  EXPECT_EQ(FormatTileIndex(1234067), "x001/x234/067");
  EXPECT_EQ(FormatTileIndex(0), "000");
  EXPECT_EQ(FormatTileIndex(67), "067");
  EXPECT_EQ(FormatTileIndex(1000), "x001/000");
  EXPECT_EQ(FormatTileIndex(UINT64_MAX), "x018/x446/x744/x073/x709/x551/615");
  auto t = ParseTilePath("tile/0/x001/x234/067");
  ASSERT_TRUE(t.ok()) << t.status().message();
  EXPECT_EQ(t->index, 1234067u);
  EXPECT_EQ(t->level, 0u);
  EXPECT_FALSE(t->partial());
  auto max = ParseTilePath("tile/entries/x018/x446/x744/x073/x709/x551/615.p/255");
  ASSERT_TRUE(max.ok()) << max.status().message();
  EXPECT_EQ(max->index, UINT64_MAX);
  EXPECT_TRUE(max->entries);
  EXPECT_EQ(max->width, 255u);
}

TEST(TlogTiles, TheSpecsTreeOf70000HasItsTiles) {
  // "a tree of size 70,000 will be represented by 273 full level 0 tiles, one partial level 0
  // tile of width 112, one full level 1 tile, one partial level 1 tile of width 17, and one
  // partial level 2 tile of width 1."
  const uint64_t size = 70000;
  for (uint64_t n = 0; n < 273; ++n) EXPECT_EQ(TileWidthInTree(0, n, size), 256u) << n;
  EXPECT_EQ(TileWidthInTree(0, 273, size), 112u);
  EXPECT_EQ(TileWidthInTree(0, 274, size), 0u);
  EXPECT_EQ(TileWidthInTree(1, 0, size), 256u);
  EXPECT_EQ(TileWidthInTree(1, 1, size), 17u);
  EXPECT_EQ(TileWidthInTree(1, 2, size), 0u);
  EXPECT_EQ(TileWidthInTree(2, 0, size), 1u);
  EXPECT_EQ(TileWidthInTree(2, 1, size), 0u);
  EXPECT_EQ(TileWidthInTree(3, 0, size), 0u);
  // "a tree of size 256 will be represented by a full level 0 tile and a partial level 1 tile of
  // width 1."
  EXPECT_EQ(TileWidthInTree(0, 0, 256), 256u);
  EXPECT_EQ(TileWidthInTree(0, 1, 256), 0u);
  EXPECT_EQ(TileWidthInTree(1, 0, 256), 1u);
  EXPECT_EQ(TileWidthInTree(2, 0, 256), 0u);
  // "Empty tiles MUST NOT be served": an empty tree has none, and no level beyond 2^64 exists.
  EXPECT_EQ(TileWidthInTree(0, 0, 0), 0u);
  EXPECT_EQ(TileWidthInTree(63, 0, UINT64_MAX), 0u);
  EXPECT_EQ(TileWidthInTree(7, 0, UINT64_MAX), 255u);  // 2^64 - 1 >> 56
  EXPECT_EQ(TileWidthInTree(0, UINT64_MAX, UINT64_MAX), 0u);
}

TEST(TlogTiles, PathsRoundTrip) {
  for (bool entries : {false, true}) {
    for (unsigned level : {0u, 1u, 9u, 63u}) {
      if (entries && level) continue;
      for (uint64_t index : {uint64_t{0}, uint64_t{5}, uint64_t{999}, uint64_t{1000},
                             uint64_t{1234067}, UINT64_MAX}) {
        for (unsigned width : {1u, 112u, 255u, 256u}) {
          TilePath t{entries, level, index, width};
          std::string path = FormatTilePath(t);
          auto back = ParseTilePath(path);
          ASSERT_TRUE(back.ok()) << path << ": " << back.status().message();
          EXPECT_EQ(back->entries, entries) << path;
          EXPECT_EQ(back->level, level) << path;
          EXPECT_EQ(back->index, index) << path;
          EXPECT_EQ(back->width, width) << path;
        }
      }
    }
  }
  EXPECT_EQ(FormatTilePath({false, 1, 1, 17}), "tile/1/001.p/17");
  EXPECT_EQ(FormatTilePath({true, 0, 273, 112}), "tile/entries/273.p/112");
}

TEST(TlogTiles, MalformedPathsAreRefused) {
  for (const char* bad : {
           "", "tile", "tile/", "tile/0", "tile/0/", "tile//000", "tile/00/000", "tile/01/000",
           "tile/64/000", "tile/-1/000", "tile/+1/000", "tile/a/000", "tile/0/0", "tile/0/0000",
           "tile/0/00a", "tile/0/x000", "tile/0/x001", "tile/0/001/002", "tile/0/x000/001",
           "tile/0/1x01/000", "tile/0/x01/000", "tile/0/000.p", "tile/0/000.p/", "tile/0/000.p/0",
           "tile/0/000.p/256", "tile/0/000.p/010", "tile/0/000.p/1/2", "tile/0/000.q/1",
           "tile/0/000/", "tile/0/000/..", "tile/0/../000", "tile/entry/000", "tiles/0/000",
           "tile/entries/x001", "tile/0/000?x=1", "tile/0/000.p/1?", "tile/0/x018/x446/x744/x073/"
           "x709/x551/616", "tile/0/x001/x018/x446/x744/x073/x709/x551/615", "TILE/0/000",
           "tile/0/000.P/1", "tile/0/ 000", "tile/0/000%2e"}) {
    EXPECT_FALSE(ParseTilePath(bad).ok()) << "accepted: " << bad;
  }
  EXPECT_FALSE(ParseTilePath("tile/0/" + std::string(200, '0')).ok());
}

// ---- tiles of a real tree ------------------------------------------------------------------

// An independent MTH over leaf hashes (RFC 6962 2.1), for checking what the tiles give.
Hash Mth(const std::vector<Hash>& leaves, size_t begin, size_t end) {
  if (end - begin == 1) return leaves[begin];
  size_t k = 1;
  while (k * 2 < end - begin) k *= 2;
  return HashChildren(Mth(leaves, begin, begin + k), Mth(leaves, begin + k, end));
}

TEST(TlogTiles, TilesOfATreeGiveItsLeavesAndTheirFullTilesHashes) {
  const uint64_t size = 256 * 256 + 3 * 256 + 77;  // a full level-1 tile and partials
  std::vector<Hash> leaves;
  std::map<std::pair<unsigned, uint64_t>, Hash> nodes;
  MerkleFrontier frontier;
  for (uint64_t i = 0; i < size; ++i) {
    std::string text = "record " + std::to_string(i);
    leaves.push_back(LeafHash(AsBytes(text)));
    for (const TreeNode& n : frontier.Append(leaves.back())) nodes[{n.level, n.index}] = n.hash;
  }
  SubtreeFn subtree = [&](unsigned level, uint64_t index) -> Result<Hash> {
    auto it = nodes.find({level, index});
    if (it == nodes.end()) return Status::NotFound("no node");
    return it->second;
  };
  // Level 0: the leaf hashes themselves, full and partial.
  std::vector<Hash> from_tiles;
  for (uint64_t n = 0;; ++n) {
    unsigned w = TileWidthInTree(0, n, size);
    if (w == 0) break;
    auto tile = TileBytes({false, 0, n, w}, size, subtree);
    ASSERT_TRUE(tile.ok()) << tile.status().message();
    ASSERT_EQ(tile->size(), size_t{w} * 32);
    for (unsigned i = 0; i < w; ++i) {
      Hash h;
      std::copy(tile->begin() + i * 32, tile->begin() + (i + 1) * 32, h.begin());
      from_tiles.push_back(h);
    }
  }
  ASSERT_EQ(from_tiles, leaves);
  EXPECT_EQ(Mth(from_tiles, 0, from_tiles.size()), *frontier.Root());
  // Level 1: hash i is MTH of the 256 leaves of full level-0 tile i.
  auto l1 = TileBytes({false, 1, 0, 256}, size, subtree);
  ASSERT_TRUE(l1.ok()) << l1.status().message();
  for (unsigned i = 0; i < 256; ++i) {
    Hash want = Mth(leaves, size_t{i} * 256, size_t{i + 1} * 256);
    EXPECT_TRUE(std::equal(want.begin(), want.end(), l1->begin() + i * 32)) << i;
  }
  auto l1p = TileBytes({false, 1, 1, 3}, size, subtree);
  ASSERT_TRUE(l1p.ok()) << l1p.status().message();
  Hash want = Mth(leaves, 65536 + 2 * 256, 65536 + 3 * 256);
  EXPECT_TRUE(std::equal(want.begin(), want.end(), l1p->begin() + 64));
  // A partial tile narrower than the tree has is a prefix of it; wider ones are not there.
  auto narrow = TileBytes({false, 0, 259, 5}, size, subtree);
  ASSERT_TRUE(narrow.ok());
  EXPECT_EQ(narrow->size(), 5u * 32);
  EXPECT_EQ(TileBytes({false, 0, 259, 78}, size, subtree).status().code(), Code::kNotFound);
  EXPECT_EQ(TileBytes({false, 1, 1, 4}, size, subtree).status().code(), Code::kNotFound);
  EXPECT_EQ(TileBytes({false, 2, 0, 2}, size, subtree).status().code(), Code::kNotFound);
  EXPECT_TRUE(TileBytes({false, 2, 0, 1}, size, subtree).ok());
}

TEST(TlogTiles, BundleEntriesAreU16LengthPrefixed) {
  Bytes bundle;
  ASSERT_TRUE(AppendBundleEntry(bundle, AsBytes(std::string("abc"))).ok());
  ASSERT_TRUE(AppendBundleEntry(bundle, Bytes(300, 7)).ok());
  ASSERT_EQ(bundle.size(), 2u + 3 + 2 + 300);
  EXPECT_EQ(bundle[0], 0);
  EXPECT_EQ(bundle[1], 3);
  EXPECT_EQ(bundle[5], 1);
  EXPECT_EQ(bundle[6], 44);
  EXPECT_TRUE(AppendBundleEntry(bundle, Bytes(65535, 1)).ok());
  EXPECT_FALSE(AppendBundleEntry(bundle, Bytes(65536, 1)).ok());
}

}  // namespace
}  // namespace khronika
