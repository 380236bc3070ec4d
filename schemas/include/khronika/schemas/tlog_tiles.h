// C2SP tlog-tiles (https://c2sp.org/tlog-tiles): the paths of tiles and entry bundles and which
// of them a tree of a given size has. Pure: the bytes come from server/log (tiles.h).
//
// A tile at level L, index N, holds the hashes MTH(D[(N*256+i) * 256^L : (N*256+i+1) * 256^L])
// for i < width: the perfect subtrees of height 8L at indexes N*256+i. An entry bundle N holds
// entries N*256+i, each as a big-endian u16 length and the entry's bytes.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "khronika/schemas/bytes.h"
#include "khronika/schemas/merkle.h"
#include "khronika/schemas/status.h"

namespace khronika {

inline constexpr unsigned kTileHeight = 8;      // tree levels per tile level
inline constexpr unsigned kTileWidth = 256;     // hashes in a full tile
inline constexpr unsigned kMaxTileLevel = 63;   // the spec's largest <L>
inline constexpr size_t kMaxTilePathBytes = 128;  // longer than any valid "tile/..." path

struct TilePath {
  bool entries = false;  // tile/entries/<N>: an entry bundle (level 0 by definition)
  unsigned level = 0;    // <L>; 0 for an entry bundle
  uint64_t index = 0;    // <N>
  unsigned width = kTileWidth;  // 256: a full tile; 1-255: the partial tile ".p/<W>"
  bool partial() const { return width != kTileWidth; }
};

// "x001/x234/067" for 1234067; "000" for 0: three-digit groups, all but the last prefixed 'x'.
std::string FormatTileIndex(uint64_t index);
// "tile/<L>/<N>[.p/<W>]" or "tile/entries/<N>[.p/<W>]".
std::string FormatTilePath(const TilePath& tile);
// The inverse of FormatTilePath, strictly: no leading zeros in <L> or <W>, exactly three digits
// in each group of <N>, 'x' on every group but the last, <L> at most 63, <W> from 1 to 255,
// nothing else (no empty segment, no "..", no query). InvalidArgument says what is wrong.
Result<TilePath> ParseTilePath(std::string_view path);

// How many hashes of tile (level, index) a tree of `tree_size` leaves has: 256 when the tile is
// full, 1-255 for the partial tile, 0 when it has none. For entry bundles use level 0.
unsigned TileWidthInTree(unsigned level, uint64_t index, uint64_t tree_size);

// The bytes of a Merkle tile (not an entry bundle): its `width` hashes, 32 bytes each, of the
// tree of `tree_size` leaves read through `subtree`. NotFound when that tree has fewer hashes
// there (TileWidthInTree); the SubtreeFn's errors otherwise.
Result<Bytes> TileBytes(const TilePath& tile, uint64_t tree_size, const SubtreeFn& subtree);

// Appends one entry to an entry bundle: its length as a big-endian u16, then its bytes.
// InvalidArgument for an entry longer than 65535 bytes (the format cannot say it).
Status AppendBundleEntry(Bytes& bundle, ByteView entry);

}  // namespace khronika
