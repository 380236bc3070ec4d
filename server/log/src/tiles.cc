#include "khronika/log/tiles.h"

#include <algorithm>

#include "khronika/log/log.h"
#include "khronika/log/store_keys.h"
#include "khronika/schemas/objects.h"

namespace khronika {

Result<Bytes> ReadTile(const ReadTxn& txn, const Hash& origin, const TilePath& tile,
                       uint64_t tree_size) {
  if (tile.entries) return Status::InvalidArgument("an entry bundle is not a Merkle tile");
  SubtreeFn stored = StoredSubtrees(txn, origin);
  // A node the tree of this size must have, missing from the store, is damage, not absence.
  auto subtree = [&](unsigned level, uint64_t index) -> Result<Hash> {
    Result<Hash> h = stored(level, index);
    if (!h.ok() && h.status().code() == Code::kNotFound) {
      return Status::Corruption("tree node " + std::to_string(level) + "/" +
                                std::to_string(index) + " of log " + ToHex(origin) +
                                " is missing");
    }
    return h;
  };
  return TileBytes(tile, tree_size, subtree);
}

Result<Bytes> ReadEntryBundle(const ReadTxn& txn, const Hash& origin, const TilePath& bundle,
                              uint64_t tree_size) {
  if (!bundle.entries) return Status::InvalidArgument("a Merkle tile is not an entry bundle");
  if (TileWidthInTree(0, bundle.index, tree_size) < bundle.width) {
    return Status::NotFound("the tree of size " + std::to_string(tree_size) + " has no " +
                            FormatTilePath(bundle));
  }
  SubtreeFn stored = StoredSubtrees(txn, origin);
  Bytes out;
  out.reserve(size_t{bundle.width} * (2 + 115));
  for (unsigned i = 0; i < bundle.width; ++i) {
    const uint64_t index = bundle.index * kTileWidth + i;
    KH_ASSIGN_OR_RETURN(auto record, txn.Get(Table::kRecords, keys::Record(origin, index)));
    if (!record) {
      return Status::Corruption("record " + std::to_string(index) + " of log " + ToHex(origin) +
                                " is missing");
    }
    Result<Hash> leaf = stored(0, index);
    if (!leaf.ok() || *leaf != LeafHash(*record)) {
      return Status::Corruption("record " + std::to_string(index) + " of log " + ToHex(origin) +
                                " does not hash to its leaf in the tree");
    }
    KH_RETURN_IF_ERROR(AppendBundleEntry(out, *record));
  }
  return out;
}

}  // namespace khronika
