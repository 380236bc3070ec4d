// What every fuzz target asserts with: a failed property stops the run at once (a crash that
// libFuzzer keeps as a reproducer), in release builds too, where assert() would be compiled out.
#pragma once

#include <algorithm>

#include "khronika/schemas/bytes.h"

namespace khronika::fuzz {

inline void Check(bool ok) {
  if (!ok) __builtin_trap();
}

// True if an encoder gave back exactly the bytes it decoded.
inline bool SameBytes(const Bytes& encoded, ByteView input) {
  return encoded.size() == input.size() && std::equal(encoded.begin(), encoded.end(), input.begin());
}

}  // namespace khronika::fuzz
