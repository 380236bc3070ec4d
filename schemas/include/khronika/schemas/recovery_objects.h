// Format 2's recovery objects (docs/format-2.md section 9), logged like entries:
//
//  - a RecoverySet ('K') in the origin's own log: its archive key split k-of-n, one share sealed
//    to each partner's recovery key, and a check value to recognise the key once recovered;
//  - a ShareRelease ('X') in a partner's log: that partner's share, sealed again to a rebuilt
//    node's recovery key. Releasing is an act of a person, and the record is its custody trail.
//
// A share's sealed plaintext names the origin and its point, so a share cannot be passed off as
// another origin's, or as another point.
#pragma once

#include <cstdint>
#include <vector>

#include "khronika/schemas/bytes.h"
#include "khronika/schemas/recovery.h"
#include "khronika/schemas/seal.h"

namespace khronika {

inline constexpr uint8_t kTypeRecoverySet = 'K';
inline constexpr uint8_t kTypeShareRelease = 'X';
inline constexpr std::string_view kShareLabel = "khronika/2 recovery share";
// ephemeral key (32) || sealed origin (32), point (1), share (32) || tag (16)
inline constexpr size_t kSealedShareBytes = 32 + 32 + 1 + 32 + kAeadTagBytes;
using SealedShare = std::array<uint8_t, kSealedShareBytes>;

struct ShareHolder {
  Hash node_id{};
  X25519PublicKey recovery_key{};
  uint8_t x = 0;
  SealedShare sealed{};

  bool operator==(const ShareHolder&) const = default;
};

struct RecoverySet {
  uint8_t threshold = 0;     // k
  Hash archive_key_check{};  // HKDF-Expand-SHA-256(archive key, "khronika/2 archive key check")
  std::vector<ShareHolder> holders;

  bool operator==(const RecoverySet&) const = default;
};

struct ShareRelease {
  Hash origin{};          // whose archive key the share is of
  Hash recovery_set{};    // id of the RecoverySet it came from
  Hash recipient{};       // the rebuilt node
  X25519PublicKey recipient_key{};
  uint8_t x = 0;
  SealedShare sealed{};

  bool operator==(const ShareRelease&) const = default;
};

Bytes Encode(const RecoverySet& s);
Bytes Encode(const ShareRelease& r);
// InvalidArgument unless 1 <= threshold <= holders <= 255, holders distinct by node and point.
Result<RecoverySet> DecodeRecoverySet(ByteView bytes);
Result<ShareRelease> DecodeShareRelease(ByteView bytes);

Hash ArchiveKeyCheck(const SymmetricKey& archive_key);

struct ShareRecipient {
  Hash node_id{};
  X25519PublicKey recovery_key{};
};
// Splits `archive_key` of `origin` among `recipients`, any `threshold` of whom recover it.
Result<RecoverySet> MakeRecoverySet(const Hash& origin, const SymmetricKey& archive_key,
                                    unsigned threshold, const std::vector<ShareRecipient>& recipients);

// The share of `me` in a set, opened with its recovery key. NotFound if the set holds no share
// for `me`; PermissionDenied if the key does not open it.
Result<SecretShare> OpenOwnShare(const RecoverySet& set, const Hash& origin, const Hash& me,
                                 const RecoveryKey& key);
// Seals `share` again, to a rebuilt node's recovery key.
Result<ShareRelease> MakeShareRelease(const Hash& origin, const Hash& recovery_set,
                                      const SecretShare& share, const ShareRecipient& to);
// Opens a release addressed to the holder of `key`; PermissionDenied for any other key.
Result<SecretShare> OpenShareRelease(const ShareRelease& release, const RecoveryKey& key);
// The archive key from shares of one set: InvalidArgument with fewer than its threshold,
// Corruption if they combine to something other than the key the set was made of.
Result<SymmetricKey> RecoverArchiveKey(const RecoverySet& set, const std::vector<SecretShare>& shares);

}  // namespace khronika
