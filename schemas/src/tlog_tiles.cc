#include "khronika/schemas/tlog_tiles.h"

#include <cstdio>
#include <vector>

namespace khronika {
namespace {

bool IsDigits(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

// A decimal number from `min` to `max` written without leading zeros ("0" itself allowed).
Result<unsigned> SmallNumber(std::string_view s, unsigned min, unsigned max, const char* what) {
  if (!IsDigits(s) || s.size() > 3 || (s.size() > 1 && s[0] == '0')) {
    return Status::InvalidArgument(std::string(what) + " must be a decimal number without "
                                   "leading zeros");
  }
  unsigned v = 0;
  for (char c : s) v = v * 10 + static_cast<unsigned>(c - '0');
  if (v < min || v > max) {
    return Status::InvalidArgument(std::string(what) + " must be from " + std::to_string(min) +
                                   " to " + std::to_string(max));
  }
  return v;
}

}  // namespace

std::string FormatTileIndex(uint64_t index) {
  std::vector<unsigned> groups;  // least significant first
  do {
    groups.push_back(static_cast<unsigned>(index % 1000));
    index /= 1000;
  } while (index > 0);
  std::string out;
  for (size_t i = groups.size(); i-- > 0;) {
    char buf[8];
    std::snprintf(buf, sizeof buf, "%s%03u", i > 0 ? "x" : "", groups[i]);
    out += buf;
    if (i > 0) out += '/';
  }
  return out;
}

std::string FormatTilePath(const TilePath& tile) {
  std::string out = "tile/";
  out += tile.entries ? std::string("entries") : std::to_string(tile.level);
  out += "/" + FormatTileIndex(tile.index);
  if (tile.partial()) out += ".p/" + std::to_string(tile.width);
  return out;
}

Result<TilePath> ParseTilePath(std::string_view path) {
  if (path.size() > kMaxTilePathBytes) return Status::InvalidArgument("tile path too long");
  std::vector<std::string_view> parts;
  size_t start = 0;
  while (true) {
    size_t slash = path.find('/', start);
    parts.push_back(path.substr(start, slash == std::string_view::npos ? slash : slash - start));
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  if (parts.size() < 3 || parts[0] != "tile") {
    return Status::InvalidArgument("a tile path is tile/<L>/<N>[.p/<W>] or "
                                   "tile/entries/<N>[.p/<W>]");
  }
  TilePath t;
  if (parts[1] == "entries") {
    t.entries = true;
  } else {
    KH_ASSIGN_OR_RETURN(t.level, SmallNumber(parts[1], 0, kMaxTileLevel, "the tile level <L>"));
  }
  // The index groups run to the one that holds no 'x'; ".p" may follow it, then <W>.
  size_t i = 2;
  uint64_t index = 0;
  size_t groups = 0;
  for (; i < parts.size(); ++i) {
    std::string_view g = parts[i];
    bool last = g.empty() || g[0] != 'x';
    if (!last) g.remove_prefix(1);
    if (last && g.size() == 5 && g.substr(3) == ".p") g = g.substr(0, 3);
    if (g.size() != 3 || !IsDigits(g)) {
      return Status::InvalidArgument("the tile index <N> is groups of three digits, all but the "
                                     "last after an 'x' (x001/x234/067)");
    }
    // 2^64 has 20 digits: seven groups are enough, and the seventh group must not overflow.
    if (++groups > 7) return Status::InvalidArgument("the tile index <N> is too large");
    unsigned v = static_cast<unsigned>((g[0] - '0') * 100 + (g[1] - '0') * 10 + (g[2] - '0'));
    if (index > (UINT64_MAX - v) / 1000) {
      return Status::InvalidArgument("the tile index <N> is too large");
    }
    if (groups == 1 && !last && v == 0) {
      return Status::InvalidArgument("the tile index <N> starts with a group of zeros");
    }
    index = index * 1000 + v;
    if (last) break;
  }
  if (i == parts.size()) return Status::InvalidArgument("the tile index <N> has no last group");
  t.index = index;
  const bool has_p = parts[i].size() == 5;
  ++i;
  if (has_p) {
    if (i + 1 != parts.size()) {
      return Status::InvalidArgument("a partial tile path ends in .p/<W>");
    }
    KH_ASSIGN_OR_RETURN(t.width, SmallNumber(parts[i], 1, kTileWidth - 1, "the width <W>"));
  } else if (i != parts.size()) {
    return Status::InvalidArgument("nothing may follow the tile index but .p/<W>");
  }
  return t;
}

unsigned TileWidthInTree(unsigned level, uint64_t index, uint64_t tree_size) {
  const unsigned shift = kTileHeight * level;
  if (shift >= 64) return 0;
  const uint64_t hashes = tree_size >> shift;  // perfect subtrees of height 8*level
  if (index >= hashes / kTileWidth + 1) return 0;
  const uint64_t before = index * kTileWidth;  // no overflow: index <= hashes / 256
  if (hashes <= before) return 0;
  const uint64_t w = hashes - before;
  return w >= kTileWidth ? kTileWidth : static_cast<unsigned>(w);
}

Result<Bytes> TileBytes(const TilePath& tile, uint64_t tree_size, const SubtreeFn& subtree) {
  if (tile.entries) return Status::InvalidArgument("an entry bundle is not a Merkle tile");
  if (TileWidthInTree(tile.level, tile.index, tree_size) < tile.width) {
    return Status::NotFound("the tree of size " + std::to_string(tree_size) + " has no " +
                            FormatTilePath(tile));
  }
  Bytes out;
  out.reserve(size_t{tile.width} * 32);
  const unsigned tree_level = kTileHeight * tile.level;
  for (unsigned i = 0; i < tile.width; ++i) {
    KH_ASSIGN_OR_RETURN(Hash h, subtree(tree_level, tile.index * kTileWidth + i));
    out.insert(out.end(), h.begin(), h.end());
  }
  return out;
}

Status AppendBundleEntry(Bytes& bundle, ByteView entry) {
  if (entry.size() > 0xffff) {
    return Status::InvalidArgument("an entry bundle holds entries of at most 65535 bytes");
  }
  bundle.push_back(static_cast<uint8_t>(entry.size() >> 8));
  bundle.push_back(static_cast<uint8_t>(entry.size() & 0xff));
  bundle.insert(bundle.end(), entry.begin(), entry.end());
  return Status::Ok();
}

}  // namespace khronika
