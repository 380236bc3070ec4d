#include "khronika/schemas/seal.h"

#include <gtest/gtest.h>

namespace khronika {
namespace {

const ScryptParams kFast{10, 8, 1};  // keeps the tests quick; the default is 2^17

TEST(AeadTest, RoundTripAndEveryAlterationIsRefused) {
  SymmetricKey key = RandomSymmetricKey();
  Bytes plain = {'e', 'v', 'i', 'd', 'e', 'n', 'c', 'e'};
  Bytes ad = {'k', '1'};
  Bytes sealed = AeadSeal(key, plain, ad);
  ASSERT_EQ(sealed.size(), plain.size() + kAeadOverhead);
  EXPECT_EQ(AeadOpen(key, sealed, ad).value(), plain);
  // Random nonces: sealing twice never gives the same bytes.
  EXPECT_NE(AeadSeal(key, plain, ad), sealed);
  for (size_t i = 0; i < sealed.size(); ++i) {
    Bytes bad = sealed;
    bad[i] ^= 0x20;
    EXPECT_EQ(AeadOpen(key, bad, ad).status().code(), Code::kCorruption) << "byte " << i;
  }
  EXPECT_FALSE(AeadOpen(key, sealed, Bytes{'k', '2'}).ok());  // moved to another database key
  EXPECT_FALSE(AeadOpen(RandomSymmetricKey(), sealed, ad).ok());
  EXPECT_FALSE(AeadOpen(key, Bytes(10, 0), ad).ok());
  EXPECT_EQ(AeadOpen(key, AeadSeal(key, {}, {}), {}).value(), Bytes{});
}

TEST(KeyedHashTest, MatchesPythonsHmacAndDependsOnTheKey) {
  SymmetricKey key;
  for (size_t i = 0; i < key.size(); ++i) key[i] = static_cast<uint8_t>(i);
  // python3 -c "import hmac,hashlib; print(hmac.new(bytes(range(32)), b'case-2026-001',
  //             hashlib.sha256).hexdigest())"
  EXPECT_EQ(ToHex(KeyedHash(key, AsBytes(std::string_view("case-2026-001")))),
            "2bd742869b69ca8fd3167582faba0f4f1e3687100ec2dfb5a0bc4d9a9e33e069");
  EXPECT_NE(KeyedHash(RandomSymmetricKey(), AsBytes(std::string_view("case-2026-001"))),
            KeyedHash(key, AsBytes(std::string_view("case-2026-001"))));
}

TEST(SealTest, PassphraseRoundTripWrongPassphraseAndTampering) {
  Bytes secret = {1, 2, 3, 4, 5};
  Bytes sealed = SealWithPassphrase(secret, "correct horse battery staple", kFast).value();
  EXPECT_EQ(OpenWithPassphrase(sealed, "correct horse battery staple").value(), secret);
  EXPECT_EQ(OpenWithPassphrase(sealed, "correct horse battery stapler").status().code(),
            Code::kPermissionDenied);
  Bytes weaker = sealed;
  weaker[8] = 11;  // a different N changes the key, and the header is authenticated anyway
  EXPECT_EQ(OpenWithPassphrase(weaker, "correct horse battery staple").status().code(),
            Code::kPermissionDenied);
  Bytes flipped = sealed;
  flipped.back() ^= 1;
  EXPECT_FALSE(OpenWithPassphrase(flipped, "correct horse battery staple").ok());
  EXPECT_EQ(OpenWithPassphrase(Bytes(60, 'x'), "p").status().code(), Code::kInvalidArgument);
  Bytes hostile = sealed;
  hostile[8] = 40;  // 2^40: refused before any memory is allocated
  EXPECT_EQ(OpenWithPassphrase(hostile, "correct horse battery staple").status().code(),
            Code::kInvalidArgument);
  EXPECT_FALSE(SealWithPassphrase(secret, "", kFast).ok());
  // Same passphrase, fresh salt: different bytes.
  EXPECT_NE(SealWithPassphrase(secret, "pw", kFast).value(), SealWithPassphrase(secret, "pw", kFast).value());
}

}  // namespace
}  // namespace khronika
