#include "khronika/schemas/seal.h"

#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <thread>
#include <vector>

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

TEST(AeadKeyTest, SameFormatAsAeadSealAndEveryAlterationIsRefused) {
  SymmetricKey raw = RandomSymmetricKey();
  AeadKey key(raw);
  Bytes plain(3000, 'e'), ad = {'t', 'k'};
  Bytes sealed = key.Seal(plain, ad);
  ASSERT_EQ(sealed.size(), plain.size() + kAeadOverhead);
  EXPECT_EQ(AeadOpen(raw, sealed, ad).value(), plain);          // one format, two ways in
  EXPECT_EQ(key.Open(AeadSeal(raw, plain, ad), ad).value(), plain);
  EXPECT_NE(key.Seal(plain, ad), sealed);                        // a new nonce every time
  for (size_t i : {size_t{0}, size_t{11}, size_t{12}, size_t{1500}, sealed.size() - 1}) {
    Bytes bad = sealed;
    bad[i] ^= 0x01;
    EXPECT_EQ(key.Open(bad, ad).status().code(), Code::kCorruption) << "byte " << i;
  }
  EXPECT_FALSE(key.Open(sealed, Bytes{'t', 'x'}).ok());
  EXPECT_EQ(key.Open(key.Seal({}, {}), {}).value(), Bytes{});
}

TEST(AeadKeyTest, KeysUsedInTurnOnOneThreadAndOnManyThreadsStayApart) {
  AeadKey a(RandomSymmetricKey()), b(RandomSymmetricKey());
  Bytes plain = {'x', 'y'};
  for (int i = 0; i < 5; ++i) {  // each switch re-expands the other key in the cached context
    Bytes sa = a.Seal(plain, {}), sb = b.Seal(plain, {});
    EXPECT_TRUE(a.Open(sa, {}).ok());
    EXPECT_FALSE(a.Open(sb, {}).ok());
    EXPECT_TRUE(b.Open(sb, {}).ok());
  }
  std::vector<std::thread> threads;
  std::atomic<int> good{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 200; ++i) good += a.Open(a.Seal(plain, {}), {}).ok() ? 1 : 0;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(good.load(), 800);
}

TEST(AeadKeyTest, AForkedChildNeverReusesItsParentsNonces) {
  AeadKey key(RandomSymmetricKey());
  key.Seal({}, {});  // the parent's buffer of nonces is now filled
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    Bytes sealed = key.Seal({}, {});
    ssize_t n = ::write(fds[1], sealed.data(), kAeadNonceBytes);
    ::_exit(n == static_cast<ssize_t>(kAeadNonceBytes) ? 0 : 1);
  }
  Bytes child(kAeadNonceBytes);
  ASSERT_EQ(::read(fds[0], child.data(), child.size()), static_cast<ssize_t>(child.size()));
  int status = 0;
  ::waitpid(pid, &status, 0);
  ::close(fds[0]);
  ::close(fds[1]);
  Bytes parent = key.Seal({}, {});
  EXPECT_NE(Bytes(parent.begin(), parent.begin() + kAeadNonceBytes), child);
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

TEST(SealTest, TheDerivedKeyOpensItsOwnSealAndNoOther) {
  Bytes secret = {9, 8, 7};
  Bytes sealed = SealWithPassphrase(secret, "correct horse battery staple", kFast).value();
  SymmetricKey key = DeriveSealedSecretKey(sealed, "correct horse battery staple").value();
  EXPECT_EQ(OpenWithSealedSecretKey(sealed, key).value(), secret);
  // The same passphrase sealed again has a new salt: the key of the first does not open it.
  Bytes resealed = SealWithPassphrase(secret, "correct horse battery staple", kFast).value();
  EXPECT_EQ(OpenWithSealedSecretKey(resealed, key).status().code(), Code::kPermissionDenied);
  SymmetricKey wrong = DeriveSealedSecretKey(sealed, "correct horse battery stapler").value();
  EXPECT_EQ(OpenWithSealedSecretKey(sealed, wrong).status().code(), Code::kPermissionDenied);
  EXPECT_EQ(DeriveSealedSecretKey(Bytes(60, 'x'), "p").status().code(), Code::kInvalidArgument);
  EXPECT_EQ(OpenWithSealedSecretKey(Bytes(10, 'x'), key).status().code(), Code::kInvalidArgument);
}

}  // namespace
}  // namespace khronika
