#include "khronika/schemas/bytes.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <array>

namespace khronika {

std::string ToHex(ByteView bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (uint8_t b : bytes) {
    out.push_back(kDigits[b >> 4]);
    out.push_back(kDigits[b & 0xf]);
  }
  return out;
}

static int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

Result<Bytes> FromHex(std::string_view hex) {
  if (hex.size() % 2 != 0) return Status::InvalidArgument("hex string has odd length");
  Bytes out(hex.size() / 2);
  for (size_t i = 0; i < out.size(); ++i) {
    int hi = HexValue(hex[2 * i]), lo = HexValue(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return Status::InvalidArgument("not lowercase hexadecimal");
    out[i] = static_cast<uint8_t>(hi << 4 | lo);
  }
  return out;
}

Result<Hash> ParseHashHex(std::string_view hex) {
  if (hex.size() != 64) {
    return Status::InvalidArgument("an id is 64 lowercase hex characters, got " +
                                   std::to_string(hex.size()) + " characters");
  }
  KH_ASSIGN_OR_RETURN(Bytes raw, FromHex(hex));
  Hash h;
  std::copy(raw.begin(), raw.end(), h.begin());
  return h;
}

bool IsZero(const Hash& h) {
  for (uint8_t b : h) {
    if (b != 0) return false;
  }
  return true;
}

std::string Base64Encode(ByteView bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), bytes.data(),
                          static_cast<int>(bytes.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

namespace {

// Each character's 6-bit value in the standard alphabet (RFC 4648 section 4), or -1.
constexpr std::array<int8_t, 256> kBase64Values = [] {
  std::array<int8_t, 256> t{};
  t.fill(-1);
  for (int i = 0; i < 26; ++i) {
    t['A' + i] = static_cast<int8_t>(i);
    t['a' + i] = static_cast<int8_t>(26 + i);
  }
  for (int i = 0; i < 10; ++i) t['0' + i] = static_cast<int8_t>(52 + i);
  t['+'] = 62;
  t['/'] = 63;
  return t;
}();

}  // namespace

// Decoded here rather than by EVP_DecodeBlock and then encoded again to compare: a file sent
// inside an entry's POST is decoded on every submission. Canonical means what re-encoding
// checked: padding only as the last one or two characters, and the bits the padding leaves
// unused all zero (the only way two texts can decode to the same bytes).
Result<Bytes> Base64Decode(std::string_view text) {
  if (text.size() % 4 != 0) return Status::InvalidArgument("base64 length is not a multiple of 4");
  if (text.size() > (1u << 24)) return Status::InvalidArgument("base64 text too long");
  size_t pad = 0;
  if (!text.empty() && text.back() == '=') pad = text[text.size() - 2] == '=' ? 2 : 1;
  const size_t body = text.size() - pad;  // body % 4 is 0, 3 (one '=') or 2 (two)
  Bytes out(body / 4 * 3 + (body % 4 == 0 ? 0 : body % 4 - 1));
  size_t at = 0;
  uint32_t bits = 0;
  for (size_t i = 0; i < body; ++i) {
    const int8_t v = kBase64Values[static_cast<uint8_t>(text[i])];
    if (v < 0) return Status::InvalidArgument("invalid base64 character");
    bits = bits << 6 | static_cast<uint32_t>(v);
    if (i % 4 == 3) {
      out[at++] = static_cast<uint8_t>(bits >> 16);
      out[at++] = static_cast<uint8_t>(bits >> 8);
      out[at++] = static_cast<uint8_t>(bits);
      bits = 0;
    }
  }
  if (body % 4 == 2) {  // 12 bits: one byte and 4 unused
    if ((bits & 0xf) != 0) return Status::InvalidArgument("non-canonical base64");
    out[at++] = static_cast<uint8_t>(bits >> 4);
  } else if (body % 4 == 3) {  // 18 bits: two bytes and 2 unused
    if ((bits & 0x3) != 0) return Status::InvalidArgument("non-canonical base64");
    out[at++] = static_cast<uint8_t>(bits >> 10);
    out[at++] = static_cast<uint8_t>(bits >> 2);
  }
  return out;
}

bool ConstantTimeEqual(ByteView a, ByteView b) {
  if (a.size() != b.size()) return false;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

void AppendBigEndian64(Bytes& out, uint64_t v) {
  for (int shift = 56; shift >= 0; shift -= 8) out.push_back(static_cast<uint8_t>(v >> shift));
}

uint64_t ReadBigEndian64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = v << 8 | p[i];
  return v;
}

}  // namespace khronika
