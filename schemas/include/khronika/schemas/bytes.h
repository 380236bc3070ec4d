// Byte strings, fixed-size hashes and their printable forms.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "khronika/schemas/status.h"

namespace khronika {

using Bytes = std::vector<uint8_t>;
using ByteView = std::span<const uint8_t>;

// A SHA-256 digest. Every object id, record hash and Merkle node is one.
using Hash = std::array<uint8_t, 32>;

inline ByteView AsBytes(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}
inline std::string_view AsChars(ByteView b) {
  return {reinterpret_cast<const char*>(b.data()), b.size()};
}

// Lowercase hexadecimal.
std::string ToHex(ByteView bytes);
// Accepts lowercase hex only, so that every id has exactly one printed form.
Result<Bytes> FromHex(std::string_view hex);
// Exactly 64 lowercase hex characters.
Result<Hash> ParseHashHex(std::string_view hex);
bool IsZero(const Hash& h);

// Standard base64 with padding (RFC 4648 section 4), as C2SP signed notes use.
std::string Base64Encode(ByteView bytes);
// Rejects anything that does not re-encode to the same text (no whitespace, strict padding).
Result<Bytes> Base64Decode(std::string_view text);

// Comparison whose running time does not depend on where the inputs differ (for secrets).
bool ConstantTimeEqual(ByteView a, ByteView b);

// Big-endian encoding, used in store keys so that byte order equals numeric order.
void AppendBigEndian64(Bytes& out, uint64_t v);
uint64_t ReadBigEndian64(const uint8_t* p);

}  // namespace khronika
