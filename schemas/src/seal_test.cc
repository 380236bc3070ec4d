#include "khronika/schemas/seal.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "khronika/schemas/crypto.h"

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

// Small draws come from a per-thread buffer (crypto.cc): none may repeat, across draws of any
// size, across threads, or between a parent and a child forked with a filled buffer.
TEST(RandomBytesTest, SmallDrawsNeverRepeatAcrossSizesThreadsAndForks) {
  std::set<Bytes> seen;
  std::mutex mu;
  auto draw_many = [&] {
    std::vector<Bytes> mine;
    for (int i = 0; i < 3000; ++i) {  // more than one 4 KiB buffer of 12- to 32-byte draws
      Bytes b(12 + i % 21);
      RandomBytes(b.data(), b.size());
      b.resize(12);  // compare the first 12 bytes: a repeated 12-byte prefix is a repeat
      mine.push_back(std::move(b));
    }
    std::lock_guard<std::mutex> lock(mu);
    for (Bytes& b : mine) EXPECT_TRUE(seen.insert(std::move(b)).second);
  };
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) threads.emplace_back(draw_many);
  for (auto& t : threads) t.join();
  EXPECT_EQ(seen.size(), 12000u);
  Bytes none;  // an empty draw, from an empty vector's data(), takes nothing
  RandomBytes(none.data(), none.size());
  Bytes large(4096);  // larger draws go to OpenSSL directly
  RandomBytes(large.data(), large.size());
  EXPECT_NE(large, Bytes(4096, 0));

  uint8_t first[32];
  RandomBytes(first, sizeof(first));  // the buffer is filled
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    uint8_t in_child[32];
    RandomBytes(in_child, sizeof(in_child));
    ssize_t n = ::write(fds[1], in_child, sizeof(in_child));
    ::_exit(n == static_cast<ssize_t>(sizeof(in_child)) ? 0 : 1);
  }
  Bytes child(32);
  ASSERT_EQ(::read(fds[0], child.data(), child.size()), 32);
  int status = 0;
  ::waitpid(pid, &status, 0);
  ::close(fds[0]);
  ::close(fds[1]);
  Bytes parent(32);
  RandomBytes(parent.data(), parent.size());
  EXPECT_NE(parent, child);
  EXPECT_NE(Bytes(first, first + 32), child);
}

// VerifySignature keeps OpenSSL's objects for a thread's last 16 public keys (crypto.cc): with
// more keys than that, in turn and on several threads, each signature verifies under its own
// key only, a changed message under none, and a key OpenSSL refuses verifies nothing.
TEST(VerifySignatureTest, ManyKeysInTurnVerifyOnlyTheirOwnSignatures) {
  constexpr size_t kKeys = 40;
  std::vector<SigningKey> keys;
  std::vector<Signature> sigs;
  std::vector<std::string> messages;
  for (size_t i = 0; i < kKeys; ++i) {
    keys.push_back(SigningKey::Generate());
    messages.push_back("message " + std::to_string(i));
    sigs.push_back(keys.back().Sign(AsBytes(messages.back())));
  }
  std::atomic<int> wrong{0};
  auto check_all = [&](size_t step) {
    for (size_t round = 0; round < 3; ++round) {
      for (size_t k = 0; k < kKeys; ++k) {
        const size_t i = (k * step + round) % kKeys;
        const size_t other = (i + 1) % kKeys;
        if (!VerifySignature(keys[i].public_key(), AsBytes(messages[i]), sigs[i])) ++wrong;
        if (VerifySignature(keys[other].public_key(), AsBytes(messages[i]), sigs[i])) ++wrong;
        if (VerifySignature(keys[i].public_key(), AsBytes(messages[other]), sigs[i])) ++wrong;
      }
    }
  };
  std::vector<std::thread> threads;
  for (size_t step : {1, 7, 11}) threads.emplace_back(check_all, step);
  for (auto& t : threads) t.join();
  check_all(3);
  EXPECT_EQ(wrong.load(), 0);
  PublicKey not_a_point;
  not_a_point.fill(0xff);  // not an encoding of a curve point
  EXPECT_FALSE(VerifySignature(not_a_point, AsBytes(messages[0]), sigs[0]));
  EXPECT_TRUE(VerifySignature(keys[0].public_key(), AsBytes(messages[0]), sigs[0]));
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

// RFC 5869 appendix A, test cases 1 to 3: the Expand step from the PRK the RFC gives.
TEST(HkdfExpandTest, MatchesRfc5869) {
  struct Case {
    const char* prk;
    std::string info;
    size_t length;
    const char* okm;
  };
  std::string info2;
  for (int b = 0xb0; b <= 0xff; ++b) info2.push_back(static_cast<char>(b));
  const Case cases[] = {
      {"077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844ad7c2b3e5",
       "\xf0\xf1\xf2\xf3\xf4\xf5\xf6\xf7\xf8\xf9", 42,
       "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865"},
      {"06a6b88c5853361a06104c9ceb35b45cef760014904671014a193f40c15fc244", info2, 82,
       "b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050cc4c19afa97c59045a99cac7827271cb41c6"
       "5e590e09da3275600c2f09b8367793a9aca3db71cc30c58179ec3e87c14c01d5c1f3434f1d87"},
      {"19ef24a32c717b167f33a91d6f648bdf96596776afdb6377ac434c1c293ccb04", "", 42,
       "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8"},
  };
  for (const Case& c : cases) {
    Bytes prk = FromHex(c.prk).value();
    Bytes out(c.length);
    HkdfExpand(HkdfHash::kSha256, prk, AsBytes(std::string_view(c.info)), out);
    EXPECT_EQ(ToHex(out), c.okm);
  }
}

// Our HMAC and HKDF-Expand against OpenSSL's own, for both hashes, keys shorter and longer than
// a block (a long key is hashed first), and outputs of one block, several, and a partial one.
TEST(HkdfExpandTest, AgreesWithOpenSslForEveryShape) {
  for (HkdfHash hash : {HkdfHash::kSha256, HkdfHash::kSha512}) {
    const char* name = hash == HkdfHash::kSha256 ? "SHA256" : "SHA512";
    for (size_t key_len : {16, 32, 64, 65, 128, 129, 300}) {
      for (size_t out_len : {1, 32, 33, 64, 100, 200}) {
        Bytes prk(key_len), info(key_len % 7 * 5);
        RandomBytes(prk.data(), prk.size());
        RandomBytes(info.data(), info.size());
        Bytes ours(out_len), theirs(out_len);
        HkdfExpand(hash, prk, info, ours);
        EVP_KDF* kdf = EVP_KDF_fetch(nullptr, "HKDF", nullptr);
        ASSERT_NE(kdf, nullptr);
        EVP_KDF_CTX* ctx = EVP_KDF_CTX_new(kdf);
        int mode = EVP_KDF_HKDF_MODE_EXPAND_ONLY;
        OSSL_PARAM params[] = {
            OSSL_PARAM_construct_int(OSSL_KDF_PARAM_MODE, &mode),
            OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, const_cast<char*>(name), 0),
            OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, prk.data(), prk.size()),
            OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, info.data(), info.size()),
            OSSL_PARAM_construct_end()};
        ASSERT_EQ(EVP_KDF_derive(ctx, theirs.data(), theirs.size(), params), 1);
        EVP_KDF_CTX_free(ctx);
        EVP_KDF_free(kdf);
        EXPECT_EQ(ours, theirs) << name << " key " << key_len << " out " << out_len;
      }
    }
  }
}

TEST(KeyedHashTest, AgreesWithOpenSslsHmac) {
  for (size_t len : {0, 1, 55, 56, 64, 65, 200, 1000}) {
    SymmetricKey key = RandomSymmetricKey();
    Bytes data(len);
    RandomBytes(data.data(), data.size());
    Hash theirs{};
    unsigned int n = 0;
    ASSERT_NE(HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), data.data(),
                   data.size(), theirs.data(), &n),
              nullptr);
    EXPECT_EQ(KeyedHash(key, data), theirs) << len << " bytes";
  }
}

// The pads of recent keys are kept per thread (seal.cc, HmacCache): a key that comes back, a key
// evicted by eight others, the same key under the other hash, and keys that differ in one last
// bit or only by trailing zero bytes (which HMAC pads away: RFC 2104) must all give OpenSSL's
// answer, in any order and on any thread.
TEST(KeyedHashTest, KeysComingBackEvictedOrAlikeStillAgreeWithOpenSsl) {
  auto openssl_hmac = [](const EVP_MD* md, ByteView key, ByteView data) {
    Bytes out(EVP_MD_get_size(md));
    unsigned int n = 0;
    EXPECT_NE(HMAC(md, key.data(), static_cast<int>(key.size()), data.data(), data.size(),
                   out.data(), &n),
              nullptr);
    return out;
  };
  std::vector<SymmetricKey> keys(20);
  for (SymmetricKey& k : keys) k = RandomSymmetricKey();
  keys[1] = keys[0];
  keys[1][31] ^= 1;  // one bit from key 0
  const Bytes data = {'n', 'a', 'm', 'e'};
  for (int round = 0; round < 3; ++round) {
    for (size_t i = 0; i < keys.size(); ++i) {
      // Key i, then one of the first nine again: found while it is recent, evicted later.
      for (size_t j : {i, i % 9}) {
        const Hash ours = KeyedHash(keys[j], data);
        EXPECT_EQ(Bytes(ours.begin(), ours.end()), openssl_hmac(EVP_sha256(), keys[j], data))
            << "round " << round << " key " << j;
        Bytes ours512(64);
        HkdfExpand(HkdfHash::kSha512, keys[j], data, ours512);
        Bytes info_and_counter = data;
        info_and_counter.push_back(1);
        EXPECT_EQ(ours512, openssl_hmac(EVP_sha512(), keys[j], info_and_counter))
            << "round " << round << " key " << j << " under SHA-512";
      }
    }
  }
  // A 32-byte key and the same key followed by zero bytes have the same HMAC; a key that ends
  // in a zero byte and the key without it, too. Both orders, so that either may be cached.
  Bytes longer(keys[2].begin(), keys[2].end());
  longer.resize(48, 0);
  Bytes out_long(32), out_short(32);
  HkdfExpand(HkdfHash::kSha256, longer, data, out_long);
  HkdfExpand(HkdfHash::kSha256, keys[2], data, out_short);
  EXPECT_EQ(out_long, out_short);
  Bytes info_and_counter = data;
  info_and_counter.push_back(1);
  EXPECT_EQ(out_long, openssl_hmac(EVP_sha256(), longer, info_and_counter));
  // Another thread starts with no keys of its own and agrees too.
  std::thread other([&] {
    for (size_t j = 0; j < keys.size(); ++j) {
      const Hash ours = KeyedHash(keys[j], data);
      EXPECT_EQ(Bytes(ours.begin(), ours.end()), openssl_hmac(EVP_sha256(), keys[j], data));
    }
  });
  other.join();
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
