// Recovery sets and share releases: k releases give the archive key back byte for byte; fewer,
// a share released to the wrong node, or a partner alone, give nothing.
#include "khronika/schemas/recovery_objects.h"

#include <gtest/gtest.h>

#include "khronika/schemas/crypto.h"
#include "khronika/schemas/sealed_objects.h"

namespace khronika {
namespace {

struct Partner {
  Hash node_id{};
  RecoveryKey key = RecoveryKey::Generate();
};

struct Federation {
  Hash origin{};
  SymmetricKey archive_key = RandomSymmetricKey();
  std::vector<Partner> partners;
  RecoverySet set;
  Hash set_id{};
  Partner rebuilt;  // the new node of the raided organisation

  explicit Federation(unsigned n, unsigned k) : partners(n) {
    origin.fill(0x0a);
    std::vector<ShareRecipient> to;
    for (unsigned i = 0; i < n; ++i) {
      partners[i].node_id.fill(static_cast<uint8_t>(0x10 + i));
      to.push_back({partners[i].node_id, partners[i].key.public_key()});
    }
    rebuilt.node_id.fill(0xee);
    set = MakeRecoverySet(origin, archive_key, k, to).value();
    set_id = Sha256(Encode(set));
  }

  // Partner i opens its own share and releases it to the rebuilt node.
  ShareRelease Release(size_t i) const {
    SecretShare share = OpenOwnShare(set, origin, partners[i].node_id, partners[i].key).value();
    return MakeShareRelease(origin, set_id, share, {rebuilt.node_id, rebuilt.key.public_key()})
        .value();
  }
};

TEST(RecoveryObjectsTest, KReleasesGiveTheKeyBackAndFewerDoNot) {
  Federation f(5, 3);
  std::vector<SecretShare> received;
  for (size_t i : {4u, 1u}) {
    ShareRelease r = DecodeShareRelease(Encode(f.Release(i))).value();
    received.push_back(OpenShareRelease(r, f.rebuilt.key).value());
  }
  EXPECT_EQ(RecoverArchiveKey(f.set, received).status().code(), Code::kInvalidArgument);
  // Two shares interpolate something, but not the key: the check value says so.
  RecoverySet lowered = f.set;
  lowered.threshold = 2;
  EXPECT_EQ(RecoverArchiveKey(lowered, received).status().code(), Code::kCorruption);
  received.push_back(OpenShareRelease(f.Release(2), f.rebuilt.key).value());
  EXPECT_EQ(RecoverArchiveKey(f.set, received).value(), f.archive_key);
}

TEST(RecoveryObjectsTest, AShareOpensOnlyForItsHolderAndAReleaseOnlyForItsRecipient) {
  Federation f(3, 2);
  // Partner 0's key does not open partner 1's share, nor does anyone's open a missing one.
  EXPECT_EQ(OpenOwnShare(f.set, f.origin, f.partners[1].node_id, f.partners[0].key).status().code(),
            Code::kPermissionDenied);
  EXPECT_EQ(OpenOwnShare(f.set, f.origin, f.rebuilt.node_id, f.rebuilt.key).status().code(),
            Code::kNotFound);
  // A release to the rebuilt node opens nothing for a partner, or for an impostor holding a
  // key of its own under the recipient's name.
  ShareRelease r = f.Release(0);
  EXPECT_FALSE(OpenShareRelease(r, f.partners[0].key).ok());
  ShareRelease forged = r;
  Partner impostor;
  forged.recipient_key = impostor.key.public_key();
  EXPECT_FALSE(OpenShareRelease(forged, impostor.key).ok());
  // The share is bound to its origin and point.
  ShareRelease moved = r;
  moved.origin.fill(0x0b);
  EXPECT_FALSE(OpenShareRelease(moved, f.rebuilt.key).ok());
  moved = r;
  moved.x = static_cast<uint8_t>(r.x % 3 + 1);
  EXPECT_FALSE(OpenShareRelease(moved, f.rebuilt.key).ok());
}

TEST(RecoveryObjectsTest, ASetIsCanonicalAndRefusesRepeatsAndBadThresholds) {
  Federation f(3, 2);
  Bytes bytes = Encode(f.set);
  EXPECT_EQ(DecodeRecoverySet(bytes).value(), f.set);
  for (size_t cut = 0; cut < bytes.size(); cut += 13) {
    EXPECT_FALSE(DecodeRecoverySet(ByteView(bytes).first(cut)).ok());
  }
  RecoverySet bad = f.set;
  bad.threshold = 4;
  EXPECT_FALSE(DecodeRecoverySet(Encode(bad)).ok());
  bad = f.set;
  bad.holders[1].x = bad.holders[0].x;
  EXPECT_FALSE(DecodeRecoverySet(Encode(bad)).ok());
  bad = f.set;
  bad.holders[2].node_id = bad.holders[0].node_id;
  EXPECT_FALSE(DecodeRecoverySet(Encode(bad)).ok());
  EXPECT_FALSE(MakeRecoverySet(f.origin, f.archive_key, 4, {}).ok());
}

TEST(RecoveryObjectsTest, WhatEveryPartnerHoldsDoesNotContainTheKey) {
  Federation f(3, 2);
  Bytes set = Encode(f.set), release = Encode(f.Release(1));
  for (const Bytes* b : {&set, &release}) {
    auto at = std::search(b->begin(), b->end(), f.archive_key.begin(), f.archive_key.end());
    EXPECT_EQ(at, b->end());
  }
  EXPECT_NE(f.set.archive_key_check, Sha256(f.archive_key));
}

}  // namespace
}  // namespace khronika
