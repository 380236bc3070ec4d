// Format 2's primitives: chunked encryption (Cobblestone-256), the key schedule, boxes, padding,
// commitments, Shamir shares and X25519 sealing. The known answers below were computed with an
// independent implementation (Python's `cryptography`: HKDFExpand, AESGCM, hashlib), from the
// definitions in docs/format.md, not from this code.
#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "khronika/schemas/chunked.h"
#include "khronika/schemas/crypto.h"
#include "khronika/schemas/recovery.h"
#include "khronika/schemas/sealing.h"

namespace khronika {
namespace {

SymmetricKey KeyOf(uint8_t start) {
  SymmetricKey k;
  for (size_t i = 0; i < k.size(); ++i) k[i] = static_cast<uint8_t>(start + i);
  return k;
}

Bytes Pattern(size_t n) {
  Bytes b(n);
  for (size_t i = 0; i < n; ++i) b[i] = static_cast<uint8_t>(i * 7);
  return b;
}

ChunkedSalt TestSalt() {
  ChunkedSalt s;
  for (size_t i = 0; i < s.size(); ++i) s[i] = static_cast<uint8_t>(100 + i);
  return s;
}

const ByteView kContext = AsBytes(kFileContentContext);

TEST(ChunkedTest, MatchesAnIndependentImplementation) {
  Bytes sealed = ChunkedSeal(KeyOf(0), TestSalt(), kContext, Pattern(16384 + 100));
  EXPECT_EQ(sealed.size(), 16572u);
  EXPECT_EQ(ToHex(Sha256(sealed)),
            "d996613e5ad0376d3c02b1a5d89933338972e74df098d1036670c659f46402c5");
}

TEST(ChunkedTest, RoundTripsAtEveryBoundary) {
  for (size_t n : {size_t{0}, size_t{1}, size_t{16383}, size_t{16384}, size_t{16385},
                   size_t{3 * 16384}, size_t{100000}}) {
    Bytes plain = Pattern(n);
    Bytes sealed = ChunkedSeal(KeyOf(1), TestSalt(), kContext, plain);
    EXPECT_EQ(sealed.size(), ChunkedSealedSize(n)) << n;
    ASSERT_EQ(ChunkedPlaintextSize(sealed.size()).value(), n) << n;
    auto opened = ChunkedOpen(KeyOf(1), kContext, sealed);
    ASSERT_TRUE(opened.ok()) << n << ": " << opened.status().ToString();
    EXPECT_EQ(opened.value(), plain) << n;
  }
}

TEST(ChunkedTest, StreamingInOddPiecesEqualsOneShot) {
  Bytes plain = Pattern(70000);
  ChunkedSealer sealer(KeyOf(2), TestSalt(), kContext);
  Bytes out;
  sealer.Header(out);
  size_t at = 0;
  for (size_t piece : {1u, 16383u, 5u, 20000u, 33611u}) {
    ASSERT_TRUE(sealer.Update(ByteView(plain).subspan(at, piece), out).ok());
    at += piece;
  }
  ASSERT_EQ(at, plain.size());
  sealer.Finish(out);
  EXPECT_EQ(out, ChunkedSeal(KeyOf(2), TestSalt(), kContext, plain));
}

TEST(ChunkedTest, AnyChunkOpensOnItsOwn) {
  Bytes plain = Pattern(5 * 16384 + 10);
  Bytes sealed = ChunkedSeal(KeyOf(3), TestSalt(), kContext, plain);
  auto opener =
      ChunkedOpener::Open(KeyOf(3), ByteView(sealed).first(kChunkedHeaderBytes), kContext);
  ASSERT_TRUE(opener.ok());
  ByteView chunk3 = ByteView(sealed).subspan(kChunkedHeaderBytes + 3 * kChunkedSealedChunk,
                                             kChunkedSealedChunk);
  auto opened = opener->OpenChunk(3, chunk3, false);
  ASSERT_TRUE(opened.ok());
  EXPECT_TRUE(std::equal(opened->begin(), opened->end(), plain.begin() + 3 * 16384));
  // The same bytes presented as another chunk, or as the last one, are refused.
  EXPECT_FALSE(opener->OpenChunk(2, chunk3, false).ok());
  EXPECT_FALSE(opener->OpenChunk(3, chunk3, true).ok());
}

TEST(ChunkedTest, WrongKeyContextOrSaltIsRefusedBeforeAnyChunk) {
  Bytes sealed = ChunkedSeal(KeyOf(4), TestSalt(), kContext, Pattern(1000));
  EXPECT_EQ(ChunkedOpen(KeyOf(5), kContext, sealed).status().code(),
            Code::kPermissionDenied);
  EXPECT_EQ(ChunkedOpen(KeyOf(4), AsBytes("another context"), sealed).status().code(),
            Code::kPermissionDenied);
  Bytes salted = sealed;
  salted[0] ^= 1;
  EXPECT_EQ(ChunkedOpen(KeyOf(4), kContext, salted).status().code(),
            Code::kPermissionDenied);
}

TEST(ChunkedTest, TamperedTruncatedAndExtendedMessagesAreRefused) {
  Bytes plain = Pattern(2 * 16384 + 5);
  Bytes sealed = ChunkedSeal(KeyOf(6), TestSalt(), kContext, plain);
  for (size_t at : {kChunkedHeaderBytes, kChunkedHeaderBytes + 16399, sealed.size() - 1}) {
    Bytes bad = sealed;
    bad[at] ^= 0x80;
    EXPECT_FALSE(ChunkedOpen(KeyOf(6), kContext, bad).ok()) << at;
  }
  // Cut at a chunk boundary: every remaining chunk is whole, so only the rule that the last chunk
  // is short catches it.
  Bytes cut(sealed.begin(), sealed.begin() + kChunkedHeaderBytes + 2 * kChunkedSealedChunk);
  EXPECT_FALSE(ChunkedOpen(KeyOf(6), kContext, cut).ok());
  Bytes cut_short(sealed.begin(), sealed.end() - 3);
  EXPECT_FALSE(ChunkedOpen(KeyOf(6), kContext, cut_short).ok());
  Bytes extended = sealed;
  extended.push_back(0);
  EXPECT_FALSE(ChunkedOpen(KeyOf(6), kContext, extended).ok());
  EXPECT_FALSE(ChunkedPlaintextSize(kChunkedHeaderBytes + kAeadTagBytes - 1).ok());
  EXPECT_FALSE(ChunkedPlaintextSize(kChunkedHeaderBytes + kChunkedSealedChunk).ok());
}

TEST(ChunkedTest, TheSameKeyWithAnotherSaltSealsDifferently) {
  ChunkedSalt other = TestSalt();
  other[5] ^= 1;
  Bytes a = ChunkedSeal(KeyOf(7), TestSalt(), kContext, Pattern(100));
  Bytes b = ChunkedSeal(KeyOf(7), other, kContext, Pattern(100));
  EXPECT_FALSE(std::equal(a.begin() + kChunkedSaltBytes, a.begin() + kChunkedHeaderBytes,
                          b.begin() + kChunkedSaltBytes));  // the commitments differ
  EXPECT_FALSE(std::equal(a.begin() + kChunkedHeaderBytes, a.end(), b.begin() + kChunkedHeaderBytes));
}

TEST(KeyScheduleTest, MatchesAnIndependentImplementation) {
  SymmetricKey archive;
  archive.fill(7);
  EntryNonce nonce;
  for (size_t i = 0; i < nonce.size(); ++i) nonce[i] = static_cast<uint8_t>(i);
  SymmetricKey case_key = DeriveCaseKey(archive, "case-1");
  EXPECT_EQ(ToHex(case_key), "1fbd2dc4c8938b45dec202cb0276038cc2b53af52cc09b6b21e2e4aa78b386a9");
  EXPECT_EQ(ToHex(DeriveEntryKey(case_key, nonce)),
            "307d5abfbfd7648ecb451a796d48e2521ff894f923caa13a15fcec60851c69de");
  SymmetricKey file2 = DeriveFileKey(case_key, nonce, 2);
  EXPECT_EQ(ToHex(file2), "4934f77412174b44d10c365145dcf3da8d0c5ddea5bed6053d5a1b3dca24cd4e");
  EXPECT_EQ(ToHex(DeriveIndexKey(archive, nonce)),
            "0d882afebe7544815e48adb1298b6fced3207c412d6c6c2dbc3bcc8413b29d4c");
  EXPECT_EQ(ToHex(DeriveDescriptorKey(file2)),
            "ea13c20e4b0e2cb88a20fe16decf42df5d0975a18d587d0404a2482696b06e47");
}

TEST(KeyScheduleTest, EveryKeyIsDistinct) {
  SymmetricKey archive = KeyOf(9);
  EntryNonce n1{}, n2{};
  n2[31] = 1;
  SymmetricKey c1 = DeriveCaseKey(archive, "a"), c2 = DeriveCaseKey(archive, "b");
  std::set<SymmetricKey> keys = {archive,
                                 c1,
                                 c2,
                                 DeriveCaseKey(archive, std::string_view("a\0", 2)),
                                 DeriveIndexKey(archive, n1),
                                 DeriveIndexKey(archive, n2),
                                 DeriveEntryKey(c1, n1),
                                 DeriveEntryKey(c1, n2),
                                 DeriveEntryKey(c2, n1),
                                 DeriveLinkKey(c1, n1),
                                 DeriveFileKey(c1, n1, 0),
                                 DeriveFileKey(c1, n1, 1),
                                 DeriveFileKey(c1, n2, 0),
                                 DeriveDescriptorKey(DeriveFileKey(c1, n1, 0))};
  EXPECT_EQ(keys.size(), 14u);
}

TEST(BoxTest, MatchesAnIndependentImplementationAndRoundTrips) {
  SymmetricKey archive;
  archive.fill(7);
  SymmetricKey key = DeriveCaseKey(archive, "case-1");
  Bytes padded = PadValue(AsBytes("abc"), 16).value();
  Bytes box = BoxSeal(key, kEntryBoxLabel, padded);
  EXPECT_EQ(ToHex(box), "27a427bcabeb4772e81dfdab20992f9f3d182e68e103397bb9780696d67f161f");
  auto opened = BoxOpen(key, kEntryBoxLabel, box);
  ASSERT_TRUE(opened.ok());
  EXPECT_EQ(AsChars(UnpadValue(*opened).value()), "abc");
  EXPECT_FALSE(BoxOpen(key, kLinkBoxLabel, box).ok());
  EXPECT_FALSE(BoxOpen(KeyOf(1), kEntryBoxLabel, box).ok());
  box[3] ^= 1;
  EXPECT_FALSE(BoxOpen(key, kEntryBoxLabel, box).ok());
}

TEST(BoxTest, PaddingIsCheckedOnTheWayOut) {
  EXPECT_FALSE(PadValue(Pattern(13), 16).ok());
  Bytes padded = PadValue(Pattern(12), 16).value();
  EXPECT_EQ(UnpadValue(padded).value(), Pattern(12));
  Bytes nonzero = PadValue(Pattern(3), 16).value();
  nonzero[15] = 1;
  EXPECT_FALSE(UnpadValue(nonzero).ok());
  Bytes too_long = padded;
  too_long[3] = 13;
  EXPECT_FALSE(UnpadValue(too_long).ok());
}

TEST(PaddingTest, PadmeOverheadIsBoundedAndLengthsCollapse) {
  std::set<uint64_t> distinct;
  uint64_t previous = 0;
  for (uint64_t n = 1; n < 3'000'000; n = n * 1.01 + 1) {
    uint64_t p = Padme(n);
    EXPECT_GE(p, n);
    EXPECT_GE(p, previous) << "not monotone at " << n;
    previous = p;
    if (n >= 4096) {
      EXPECT_LE(double(p - n) / double(n), 0.12) << n;
    }
    // A padded length pads to itself, so a partner can check that a sealed size is one.
    EXPECT_EQ(PaddedFileSize(PaddedFileSize(n)), PaddedFileSize(n)) << n;
  }
  for (uint64_t n = 1'000'000; n < 1'100'000; ++n) distinct.insert(Padme(n));
  // 100,000 exact sizes around 1 MB fall into a handful of padded ones.
  EXPECT_LT(distinct.size(), 10u);
  EXPECT_EQ(PaddedFileSize(0), kMinPaddedFileSize);
  EXPECT_EQ(PaddedFileSize(1), kMinPaddedFileSize);
  EXPECT_EQ(PaddedFileSize(kMinPaddedFileSize), kMinPaddedFileSize);
  EXPECT_EQ(PaddedFileSize(kMinPaddedFileSize + 1), Padme(kMinPaddedFileSize + 1));
  EXPECT_GT(PaddedFileSize(kMinPaddedFileSize + 1), kMinPaddedFileSize);
  EXPECT_EQ(PaddedFileSize(uint64_t{1} << 30), uint64_t{1} << 30);  // a power of two is kept
}

TEST(CommitmentTest, MatchesAnIndependentImplementationAndDependsOnTheSalt) {
  CommitmentSalt salt;
  salt.fill(9);
  EXPECT_EQ(ToHex(FileCommitment(salt, AsBytes("descriptor"))),
            "79b30e7d886f4ac4042adf8513f165007da3d8e9c07a37e8d5dc27faed2d487a");
  CommitmentSalt other = salt;
  other[0] = 8;
  EXPECT_NE(FileCommitment(salt, AsBytes("descriptor")),
            FileCommitment(other, AsBytes("descriptor")));
}

TEST(ShamirTest, AnyKSharesRecoverTheSecret) {
  Bytes secret = Pattern(32);
  auto shares = SplitSecret(secret, 3, 5).value();
  ASSERT_EQ(shares.size(), 5u);
  for (unsigned a = 0; a < 5; ++a) {
    for (unsigned b = a + 1; b < 5; ++b) {
      for (unsigned c = b + 1; c < 5; ++c) {
        std::vector<SecretShare> pick(3);
        pick[0] = shares[a];
        pick[1] = shares[b];
        pick[2] = shares[c];
        EXPECT_EQ(CombineShares(pick).value(), secret) << a << b << c;
      }
    }
  }
  std::vector<SecretShare> four = {shares[0], shares[1], shares[3], shares[4]};
  EXPECT_EQ(CombineShares(four).value(), secret);
}

TEST(ShamirTest, FewerThanKSharesFitEverySecretEqually) {
  // With k-1 shares fixed, each candidate value of a secret byte is consistent with exactly one
  // choice of the missing share: the k-1 shares rule nothing out.
  Bytes secret = {0x42};
  auto shares = SplitSecret(secret, 3, 5).value();
  std::set<uint8_t> reachable;
  for (int y = 0; y < 256; ++y) {
    std::vector<SecretShare> pick(3);
    pick[0] = shares[0];
    pick[1] = shares[1];
    pick[2].x = 5;
    pick[2].y = {static_cast<uint8_t>(y)};
    reachable.insert(CombineShares(pick).value()[0]);
  }
  EXPECT_EQ(reachable.size(), 256u);
  std::vector<SecretShare> two = {shares[0], shares[1]};
  EXPECT_NE(CombineShares(two).value(), secret);  // interpolates a line, not the secret
}

TEST(ShamirTest, BadParametersAndSharesAreRefused) {
  EXPECT_FALSE(SplitSecret(Pattern(4), 0, 3).ok());
  EXPECT_FALSE(SplitSecret(Pattern(4), 4, 3).ok());
  EXPECT_FALSE(SplitSecret(Pattern(4), 2, 256).ok());
  EXPECT_FALSE(SplitSecret({}, 2, 3).ok());
  auto shares = SplitSecret(Pattern(4), 2, 3).value();
  EXPECT_FALSE(CombineShares({}).ok());
  std::vector<SecretShare> twice = {shares[0], shares[0]};
  EXPECT_FALSE(CombineShares(twice).ok());
  std::vector<SecretShare> uneven = {shares[0], shares[1]};
  uneven[1].y.pop_back();
  EXPECT_FALSE(CombineShares(uneven).ok());
}

TEST(RecoveryKeyTest, OnlyTheRecipientOpensWhatIsSealedToIt) {
  RecoveryKey alice = RecoveryKey::Generate();
  RecoveryKey bob = RecoveryKey::Generate();
  Bytes sealed = SealToRecoveryKey(alice.public_key(), "khronika/2 test", AsBytes("share")).value();
  EXPECT_EQ(AsChars(alice.Open("khronika/2 test", sealed).value()), "share");
  EXPECT_EQ(bob.Open("khronika/2 test", sealed).status().code(), Code::kPermissionDenied);
  EXPECT_FALSE(alice.Open("khronika/2 other", sealed).ok());
  Bytes tampered = sealed;
  tampered.back() ^= 1;
  EXPECT_FALSE(alice.Open("khronika/2 test", tampered).ok());
  // Two seals of the same share to the same key look unrelated (fresh ephemeral keys).
  Bytes again = SealToRecoveryKey(alice.public_key(), "khronika/2 test", AsBytes("share")).value();
  EXPECT_NE(sealed, again);
}

TEST(RecoveryKeyTest, RawKeysAndTextFormsRoundTrip) {
  RecoveryKey key = RecoveryKey::Generate();
  Bytes raw = key.RawPrivate();
  auto again = RecoveryKey::FromRaw(raw);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->public_key(), key.public_key());
  std::string text = RecoveryPublicKeyToText(key.public_key());
  EXPECT_EQ(ParseRecoveryPublicKey(text).value(), key.public_key());
  EXPECT_FALSE(ParseRecoveryPublicKey(text.substr(1)).ok());
  EXPECT_FALSE(ParseRecoveryPublicKey("x25519:" + std::string(64, 'G')).ok());
}

TEST(RecoveryKeyTest, ALowOrderPublicKeyIsRefused) {
  X25519PublicKey zero{};
  EXPECT_FALSE(SealToRecoveryKey(zero, "khronika/2 test", AsBytes("share")).ok());
}

}  // namespace
}  // namespace khronika
