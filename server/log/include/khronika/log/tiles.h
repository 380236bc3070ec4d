// A stored log as C2SP tlog-tiles resources (schemas/tlog_tiles.h, docs/api.md "Tiles"): Merkle
// tiles from the tree table, entry bundles from the records table. Both are read at the size of
// the latest checkpoint held for the log, so that what is served is what that checkpoint signs.
#pragma once

#include <optional>
#include <string>

#include "khronika/schemas/tlog_tiles.h"
#include "khronika/store/store.h"

namespace khronika {

// A Merkle tile of `origin`'s log as the tree of `tree_size` leaves has it. NotFound when that
// tree has no such tile (or fewer hashes there than tile.width); Corruption when a stored node
// the tree should have is missing.
Result<Bytes> ReadTile(const ReadTxn& txn, const Hash& origin, const TilePath& tile,
                       uint64_t tree_size);

// An entry bundle of `origin`'s log: for each record of the tile, its length (u16 big-endian)
// and its canonical bytes (docs/format.md section 7), whose SHA-256(0x00 || bytes) is the leaf
// hash the tree covers. Each record is checked against the stored leaf hash before it is served
// (LMDB keeps no checksums): Corruption when one differs or is missing. NotFound as ReadTile.
Result<Bytes> ReadEntryBundle(const ReadTxn& txn, const Hash& origin, const TilePath& bundle,
                              uint64_t tree_size);

}  // namespace khronika
