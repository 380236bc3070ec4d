// libFuzzer target: C2SP tlog-tiles paths and tlog-policy files (schemas/tlog_tiles.h,
// policy.h), the two parsers that read what a URL or a lawyer's file says. A tile path that parses
// prints back to exactly the input (one spelling per tile, so that immutable caching cannot be
// split); a policy that parses obeys the spec's rules (names defined before use, 1 <= k <= n, one
// quorum) and can judge a note without failing.
#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <string_view>

#include "fuzz_check.h"
#include "khronika/schemas/policy.h"
#include "khronika/schemas/tlog_tiles.h"

using khronika::fuzz::Check;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);

  if (auto tile = khronika::ParseTilePath(input); tile.ok()) {
    Check(khronika::FormatTilePath(*tile) == input);
    Check(tile->width >= 1 && tile->width <= khronika::kTileWidth);
    Check(tile->level <= khronika::kMaxTileLevel && (!tile->entries || tile->level == 0));
    (void)khronika::TileWidthInTree(tile->level, tile->index, UINT64_MAX);
  }

  if (auto policy = khronika::ParsePolicy(input); policy.ok()) {
    std::set<std::string> defined;
    for (const auto& w : policy->witnesses) Check(defined.insert(w.name).second);
    for (const auto& g : policy->groups) {
      Check(!g.members.empty() && g.threshold >= 1 && g.threshold <= g.members.size());
      for (const std::string& m : g.members) Check(defined.count(m) == 1);
      Check(defined.insert(g.name).second);
    }
    Check(policy->quorum == "none" || defined.count(policy->quorum) == 1);
    khronika::PolicyEvaluation e = khronika::EvaluatePolicy(*policy, input);
    Check(!e.ok());  // the input is a policy, not a signed checkpoint
  }
  return 0;
}
