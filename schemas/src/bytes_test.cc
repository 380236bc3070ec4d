#include "khronika/schemas/bytes.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace khronika {
namespace {

Bytes RandomBuffer(std::mt19937_64& rng, size_t n) {
  Bytes b(n);
  for (auto& x : b) x = static_cast<uint8_t>(rng());
  return b;
}

// ---- Hex ------------------------------------------------------------------------------------

TEST(HexTest, EncodesLowercaseKnownValues) {
  EXPECT_EQ(ToHex(Bytes{}), "");
  EXPECT_EQ(ToHex(Bytes{0x00}), "00");
  EXPECT_EQ(ToHex(Bytes{0x00, 0x01, 0x7f, 0x80, 0xab, 0xcd, 0xef, 0xff}), "00017f80abcdefff");
  EXPECT_EQ(ToHex(AsBytes("Khronika")), "4b68726f6e696b61");
}

TEST(HexTest, EveryByteValueRoundTrips) {
  Bytes all(256);
  for (int i = 0; i < 256; ++i) all[static_cast<size_t>(i)] = static_cast<uint8_t>(i);
  std::string hex = ToHex(all);
  ASSERT_EQ(hex.size(), 512u);
  for (int i = 0; i < 256; ++i) {
    // Each byte prints as exactly two lowercase digits, independently of the library.
    static constexpr char kDigits[] = "0123456789abcdef";
    EXPECT_EQ(hex[2 * static_cast<size_t>(i)], kDigits[i >> 4]) << i;
    EXPECT_EQ(hex[2 * static_cast<size_t>(i) + 1], kDigits[i & 15]) << i;
  }
  auto back = FromHex(hex);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, all);
}

TEST(HexTest, RandomBuffersRoundTrip) {
  std::mt19937_64 rng(1);
  for (size_t n = 0; n < 200; ++n) {
    Bytes b = RandomBuffer(rng, n);
    std::string hex = ToHex(b);
    EXPECT_EQ(hex.size(), 2 * n);
    auto back = FromHex(hex);
    ASSERT_TRUE(back.ok());
    EXPECT_EQ(*back, b);
  }
}

TEST(HexTest, EmptyStringDecodesToNothing) {
  auto r = FromHex("");
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->empty());
}

TEST(HexTest, RejectsUppercase) {
  for (std::string_view s : {"AB", "0A", "aB", "Ff", "DEADBEEF", "deadbeeF"}) {
    auto r = FromHex(s);
    EXPECT_FALSE(r.ok()) << s;
    EXPECT_EQ(r.status().code(), Code::kInvalidArgument) << s;
  }
}

TEST(HexTest, RejectsOddLength) {
  for (std::string_view s : {"a", "abc", "00000", "0123456789abcdef0"}) {
    auto r = FromHex(s);
    EXPECT_FALSE(r.ok()) << s;
    EXPECT_EQ(r.status().code(), Code::kInvalidArgument) << s;
  }
}

TEST(HexTest, RejectsNonHexCharacters) {
  const std::vector<std::string> bad = {"zz", "0g", "g0", " 0", "0 ", "0x", "-1", "+1", "0\n",
                                        "..", std::string("0\0", 2), "\xff\xff", "0,"};
  for (const std::string& s : bad) {
    auto r = FromHex(s);
    EXPECT_FALSE(r.ok()) << ToHex(AsBytes(s));
    EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  }
  // Every single non-hex character in an otherwise valid string is caught, wherever it is.
  std::string good = "0123456789abcdef";
  for (int c = 0; c < 256; ++c) {
    char ch = static_cast<char>(c);
    bool is_hex = (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f');
    for (size_t pos : {size_t{0}, size_t{7}, good.size() - 1}) {
      std::string s = good;
      s[pos] = ch;
      EXPECT_EQ(FromHex(s).ok(), is_hex) << "char " << c << " at " << pos;
    }
  }
}

TEST(ParseHashHexTest, AcceptsExactly64LowercaseHex) {
  std::string hex = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
  auto h = ParseHashHex(hex);
  ASSERT_TRUE(h.ok()) << h.status().ToString();
  EXPECT_EQ((*h)[0], 0xe3);
  EXPECT_EQ((*h)[1], 0xb0);
  EXPECT_EQ((*h)[31], 0x55);
  EXPECT_EQ(ToHex(*h), hex);
}

TEST(ParseHashHexTest, RejectsWrongLengths) {
  std::string hex64(64, 'a');
  for (size_t n : {size_t{0}, size_t{1}, size_t{2}, size_t{62}, size_t{63}, size_t{65}, size_t{66},
                   size_t{128}}) {
    std::string s(n, 'a');
    auto r = ParseHashHex(s);
    EXPECT_FALSE(r.ok()) << n;
    EXPECT_EQ(r.status().code(), Code::kInvalidArgument) << n;
  }
  EXPECT_TRUE(ParseHashHex(hex64).ok());
}

TEST(ParseHashHexTest, RejectsUppercaseAndNonHex) {
  std::string hex = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
  std::string upper = hex;
  std::transform(upper.begin(), upper.end(), upper.begin(),
                 [](char c) { return static_cast<char>(std::toupper(c)); });
  EXPECT_EQ(ParseHashHex(upper).status().code(), Code::kInvalidArgument);
  std::string one_upper = hex;
  one_upper[1] = '3';
  one_upper[2] = 'B';
  EXPECT_FALSE(ParseHashHex(one_upper).ok());
  std::string non_hex = hex;
  non_hex[63] = 'g';
  EXPECT_EQ(ParseHashHex(non_hex).status().code(), Code::kInvalidArgument);
}

TEST(IsZeroTest, OnlyAllZeroBytes) {
  Hash h{};
  EXPECT_TRUE(IsZero(h));
  for (size_t i = 0; i < h.size(); ++i) {
    Hash g{};
    g[i] = 1;
    EXPECT_FALSE(IsZero(g)) << i;
    g[i] = 0x80;
    EXPECT_FALSE(IsZero(g)) << i;
  }
}

// ---- Base64 ---------------------------------------------------------------------------------

// RFC 4648 section 10 test vectors.
TEST(Base64Test, Rfc4648Vectors) {
  const std::pair<std::string_view, std::string_view> vectors[] = {
      {"", ""},          {"f", "Zg=="},         {"fo", "Zm8="},       {"foo", "Zm9v"},
      {"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="}, {"foobar", "Zm9vYmFy"},
  };
  for (const auto& [plain, encoded] : vectors) {
    EXPECT_EQ(Base64Encode(AsBytes(plain)), encoded) << plain;
    auto back = Base64Decode(encoded);
    ASSERT_TRUE(back.ok()) << encoded << ": " << back.status().ToString();
    EXPECT_EQ(AsChars(*back), plain);
  }
}

TEST(Base64Test, UsesStandardAlphabetNotUrlSafe) {
  // 0xfb 0xff encodes with '+' and '/' in the standard alphabet.
  EXPECT_EQ(Base64Encode(Bytes{0xfb, 0xff, 0xbf}), "+/+/");
  auto r = Base64Decode("+/+/");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, (Bytes{0xfb, 0xff, 0xbf}));
  EXPECT_FALSE(Base64Decode("-_-_").ok());
}

TEST(Base64Test, RandomBuffersRoundTrip) {
  std::mt19937_64 rng(2);
  for (size_t n = 0; n < 300; ++n) {
    Bytes b = RandomBuffer(rng, n);
    std::string text = Base64Encode(b);
    EXPECT_EQ(text.size(), 4 * ((n + 2) / 3)) << n;
    auto back = Base64Decode(text);
    ASSERT_TRUE(back.ok()) << n << ": " << back.status().ToString();
    EXPECT_EQ(*back, b) << n;
  }
}

// The decoder against OpenSSL's (EVP_DecodeBlock, then encoded again and compared, which is
// what "canonical" means), on every 4-character text over an alphabet that has the characters
// whose unused bits matter, padding, and a foreign one, and on random 8-character mutations of
// valid texts: both accept exactly the same texts, to the same bytes.
std::optional<Bytes> ReferenceBase64Decode(std::string_view text) {
  if (text.size() % 4 != 0) return std::nullopt;
  for (char c : text) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '+' && c != '/' && c != '=') {
      return std::nullopt;
    }
  }
  Bytes out(text.size() / 4 * 3);
  int n = EVP_DecodeBlock(out.data(), reinterpret_cast<const unsigned char*>(text.data()),
                          static_cast<int>(text.size()));
  if (n < 0) return std::nullopt;
  size_t pad = 0;
  if (!text.empty() && text.back() == '=') ++pad;
  if (text.size() > 1 && text[text.size() - 2] == '=') ++pad;
  if (static_cast<size_t>(n) < pad) return std::nullopt;
  out.resize(static_cast<size_t>(n) - pad);
  if (Base64Encode(out) != text) return std::nullopt;
  return out;
}

TEST(Base64Test, AcceptsExactlyWhatOpenSslDecodesCanonically) {
  const std::string alphabet = "AQgwB/+=-";
  std::string text(4, 'A');
  size_t accepted = 0;
  for (char a : alphabet) {
    for (char b : alphabet) {
      for (char c : alphabet) {
        for (char d : alphabet) {
          text = {a, b, c, d};
          auto ours = Base64Decode(text);
          auto reference = ReferenceBase64Decode(text);
          ASSERT_EQ(ours.ok(), reference.has_value()) << text;
          if (ours.ok()) {
            EXPECT_EQ(*ours, *reference) << text;
            ++accepted;
          } else {
            EXPECT_EQ(ours.status().code(), Code::kInvalidArgument) << text;
          }
        }
      }
    }
  }
  EXPECT_GT(accepted, 100u);  // the loop did test valid texts, not only refusals
  std::mt19937_64 rng(7);
  for (int i = 0; i < 20000; ++i) {
    Bytes b = RandomBuffer(rng, 4 + rng() % 3);
    std::string valid = Base64Encode(b);
    std::string mutated = valid;
    mutated[rng() % mutated.size()] = alphabet[rng() % alphabet.size()];
    for (const std::string& t : {valid, mutated}) {
      auto ours = Base64Decode(t);
      auto reference = ReferenceBase64Decode(t);
      ASSERT_EQ(ours.ok(), reference.has_value()) << t;
      if (ours.ok()) {
        EXPECT_EQ(*ours, *reference) << t;
      }
    }
  }
}

TEST(Base64Test, RejectsBadPadding) {
  for (std::string_view s :
       {"Zg", "Zg=", "Zg===", "Zm8", "Zm9vYg", "Zm9vYg=", "Zm9vYmE", "=", "==", "===", "====",
        "Z===", "=Zg=", "Z=g=", "Zg==Zg==", "Zm8=Zm9v", "Zm9vYg==Zg=="}) {
    auto r = Base64Decode(s);
    EXPECT_FALSE(r.ok()) << s;
    EXPECT_EQ(r.status().code(), Code::kInvalidArgument) << s;
  }
}

TEST(Base64Test, RejectsNonCanonicalTrailingBits) {
  // "Zg==" is "f"; "Zh==" .. "Zv==" carry non-zero bits in the discarded positions.
  for (std::string_view s : {"Zh==", "Zi==", "Zv==", "Zm9=", "Zm+=", "Zm/="}) {
    auto r = Base64Decode(s);
    EXPECT_FALSE(r.ok()) << s;
    EXPECT_EQ(r.status().code(), Code::kInvalidArgument) << s;
  }
}

TEST(Base64Test, RejectsWhitespaceAndForeignCharacters) {
  const std::vector<std::string> bad = {
      " Zg==",    "Zg== ",     "Zg==\n",  "\nZg==",   "Zm9v\nYmFy", "Zm9v YmFy", "Zm9vYmFy\r\n",
      "Zm9v\tYmFy", "Zm9v\r\nYmFy", "Zm9v-mFy", "Zm9v_mFy", "Zm9v.mFy", "Zm9v\xc3\xa9mF",
      std::string("Zm9v\0mFy", 8)};
  for (const std::string& s : bad) {
    auto r = Base64Decode(s);
    EXPECT_FALSE(r.ok()) << s;
    EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  }
}

// ---- ConstantTimeEqual ----------------------------------------------------------------------

TEST(ConstantTimeEqualTest, ComparesContentAndLength) {
  EXPECT_TRUE(ConstantTimeEqual(ByteView{}, ByteView{}));
  Bytes a = {1, 2, 3, 4, 5, 6, 7, 8};
  Bytes b = a;
  EXPECT_TRUE(ConstantTimeEqual(a, b));
  for (size_t i = 0; i < a.size(); ++i) {
    Bytes c = a;
    c[i] ^= 0x01;
    EXPECT_FALSE(ConstantTimeEqual(a, c)) << i;
    c[i] = a[i] ^ 0x80;
    EXPECT_FALSE(ConstantTimeEqual(c, a)) << i;
  }
  Bytes shorter(a.begin(), a.end() - 1);
  EXPECT_FALSE(ConstantTimeEqual(a, shorter));
  EXPECT_FALSE(ConstantTimeEqual(shorter, a));
  EXPECT_FALSE(ConstantTimeEqual(a, ByteView{}));
  Bytes longer = a;
  longer.push_back(0);
  EXPECT_FALSE(ConstantTimeEqual(a, longer));
}

// ---- Big-endian helpers ---------------------------------------------------------------------

TEST(BigEndianTest, KnownEncodings) {
  Bytes out;
  AppendBigEndian64(out, 0x0102030405060708ull);
  EXPECT_EQ(out, (Bytes{1, 2, 3, 4, 5, 6, 7, 8}));
  out.clear();
  AppendBigEndian64(out, 0);
  EXPECT_EQ(out, Bytes(8, 0));
  out.clear();
  AppendBigEndian64(out, UINT64_MAX);
  EXPECT_EQ(out, Bytes(8, 0xff));
  out.clear();
  AppendBigEndian64(out, 1);
  EXPECT_EQ(out, (Bytes{0, 0, 0, 0, 0, 0, 0, 1}));
  out.clear();
  AppendBigEndian64(out, uint64_t{1} << 63);
  EXPECT_EQ(out, (Bytes{0x80, 0, 0, 0, 0, 0, 0, 0}));
}

TEST(BigEndianTest, AppendsWithoutClearing) {
  Bytes out = {0xaa, 0xbb};
  AppendBigEndian64(out, 0x1122334455667788ull);
  EXPECT_EQ(out, (Bytes{0xaa, 0xbb, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88}));
  EXPECT_EQ(ReadBigEndian64(out.data() + 2), 0x1122334455667788ull);
}

TEST(BigEndianTest, ReadKnownValues) {
  const uint8_t a[8] = {1, 2, 3, 4, 5, 6, 7, 8};
  EXPECT_EQ(ReadBigEndian64(a), 0x0102030405060708ull);
  const uint8_t b[8] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe};
  EXPECT_EQ(ReadBigEndian64(b), UINT64_MAX - 1);
}

TEST(BigEndianTest, RoundTripAndByteOrderEqualsNumericOrder) {
  std::mt19937_64 rng(3);
  std::vector<uint64_t> values = {0, 1, 255, 256, 65535, 65536, UINT64_MAX, UINT64_MAX - 1,
                                  uint64_t{1} << 63, (uint64_t{1} << 63) - 1};
  for (int i = 0; i < 2000; ++i) {
    uint64_t v = rng();
    values.push_back(v >> (rng() % 64));  // spread over all magnitudes
  }
  for (uint64_t v : values) {
    Bytes e;
    AppendBigEndian64(e, v);
    ASSERT_EQ(e.size(), 8u);
    EXPECT_EQ(ReadBigEndian64(e.data()), v);
  }
  for (size_t i = 0; i + 1 < values.size(); ++i) {
    uint64_t a = values[i], b = values[i + 1];
    Bytes ea, eb;
    AppendBigEndian64(ea, a);
    AppendBigEndian64(eb, b);
    EXPECT_EQ(ea < eb, a < b) << a << " vs " << b;  // lexicographic byte order
    EXPECT_EQ(ea == eb, a == b);
  }
}

}  // namespace
}  // namespace khronika
