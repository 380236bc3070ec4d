#include "khronika/schemas/recovery_objects.h"

#include <openssl/crypto.h>

#include <algorithm>
#include <set>

#include "canonical.h"
#include "khronika/schemas/sealed_objects.h"

namespace khronika {

using canonical::CanonicalReader;
using canonical::CanonicalWriter;
using canonical::DecodeCanonical;

namespace {

// origin (32) || point (1) || share (32)
Bytes SharePlaintext(const Hash& origin, const SecretShare& share) {
  Bytes out(origin.begin(), origin.end());
  out.push_back(share.x);
  out.insert(out.end(), share.y.begin(), share.y.end());
  return out;
}

Result<SecretShare> ParseSharePlaintext(Bytes plain, const Hash& origin, uint8_t x) {
  if (plain.size() != 32 + 1 + 32) {
    OPENSSL_cleanse(plain.data(), plain.size());
    return Status::Corruption("a sealed share holds something else");
  }
  bool ok = std::equal(origin.begin(), origin.end(), plain.begin()) && plain[32] == x;
  SecretShare share;
  share.x = plain[32];
  share.y.assign(plain.begin() + 33, plain.end());
  OPENSSL_cleanse(plain.data(), plain.size());
  if (!ok) return Status::Corruption("the sealed share is of another origin or another point");
  return share;
}

Result<SealedShare> Seal(const X25519PublicKey& to, const Hash& origin, const SecretShare& share) {
  Bytes plain = SharePlaintext(origin, share);
  auto sealed = SealToRecoveryKey(to, kShareLabel, plain);
  OPENSSL_cleanse(plain.data(), plain.size());
  if (!sealed.ok()) return sealed.status();
  SealedShare out;
  if (sealed->size() != out.size()) std::abort();  // fixed by construction
  std::copy(sealed->begin(), sealed->end(), out.begin());
  return out;
}

Status ValidateSet(const RecoverySet& s) {
  if (s.holders.empty() || s.holders.size() > kMaxShares) {
    return Status::InvalidArgument("a recovery set has 1 to 255 shares");
  }
  if (s.threshold < 1 || s.threshold > s.holders.size()) {
    return Status::InvalidArgument("a recovery set's threshold is between 1 and its shares");
  }
  std::set<Hash> nodes;
  std::set<uint8_t> points;
  for (const ShareHolder& h : s.holders) {
    if (h.x == 0 || !points.insert(h.x).second || !nodes.insert(h.node_id).second) {
      return Status::InvalidArgument("a recovery set names a node or a point twice, or point 0");
    }
  }
  return Status::Ok();
}

}  // namespace

Bytes Encode(const RecoverySet& s) {
  CanonicalWriter w(kTypeRecoverySet);
  w.U8(s.threshold);
  w.Fixed(s.archive_key_check);
  w.U64(s.holders.size());
  for (const ShareHolder& h : s.holders) {
    w.Fixed(h.node_id);
    w.Fixed(h.recovery_key);
    w.U8(h.x);
    w.Fixed(h.sealed);
  }
  return w.Take();
}

Bytes Encode(const ShareRelease& r) {
  CanonicalWriter w(kTypeShareRelease);
  w.Fixed(r.origin);
  w.Fixed(r.recovery_set);
  w.Fixed(r.recipient);
  w.Fixed(r.recipient_key);
  w.U8(r.x);
  w.Fixed(r.sealed);
  return w.Take();
}

Result<RecoverySet> DecodeRecoverySet(ByteView bytes) {
  auto result = DecodeCanonical<RecoverySet>(bytes, "recovery set", [](ByteView b) {
    CanonicalReader r(b, kTypeRecoverySet, "recovery set");
    RecoverySet s;
    s.threshold = r.U8("threshold");
    r.Fixed(s.archive_key_check, "archive key check");
    uint64_t n = r.U64("share count");
    if (n > kMaxShares) r.Fail("more than 255 shares");
    r.Need(n * (32 + 32 + 1 + kSealedShareBytes), "shares");
    s.holders.resize(n);
    for (ShareHolder& h : s.holders) {
      r.Fixed(h.node_id, "holder");
      r.Fixed(h.recovery_key, "recovery key");
      h.x = r.U8("point");
      r.Fixed(h.sealed, "sealed share");
    }
    r.Finish();
    return s;
  });
  if (result.ok()) KH_RETURN_IF_ERROR(ValidateSet(*result).Annotate("recovery set"));
  return result;
}

Result<ShareRelease> DecodeShareRelease(ByteView bytes) {
  auto result = DecodeCanonical<ShareRelease>(bytes, "share release", [](ByteView b) {
    CanonicalReader r(b, kTypeShareRelease, "share release");
    ShareRelease s;
    r.Fixed(s.origin, "origin");
    r.Fixed(s.recovery_set, "recovery set");
    r.Fixed(s.recipient, "recipient");
    r.Fixed(s.recipient_key, "recipient key");
    s.x = r.U8("point");
    r.Fixed(s.sealed, "sealed share");
    r.Finish();
    return s;
  });
  if (result.ok() && result->x == 0) return Status::InvalidArgument("share release: point 0");
  return result;
}

Hash ArchiveKeyCheck(const SymmetricKey& archive_key) {
  static constexpr std::string_view kInfo{"khronika/2 archive key check\0", 29};
  Hash out;
  HkdfExpand(HkdfHash::kSha256, archive_key, AsBytes(kInfo), out);
  return out;
}

Result<RecoverySet> MakeRecoverySet(const Hash& origin, const SymmetricKey& archive_key,
                                    unsigned threshold,
                                    const std::vector<ShareRecipient>& recipients) {
  KH_ASSIGN_OR_RETURN(std::vector<SecretShare> shares,
                      SplitSecret(archive_key, threshold, static_cast<unsigned>(recipients.size())));
  RecoverySet set;
  set.threshold = static_cast<uint8_t>(threshold);
  set.archive_key_check = ArchiveKeyCheck(archive_key);
  for (size_t i = 0; i < recipients.size(); ++i) {
    ShareHolder h;
    h.node_id = recipients[i].node_id;
    h.recovery_key = recipients[i].recovery_key;
    h.x = shares[i].x;
    KH_ASSIGN_OR_RETURN(h.sealed, Seal(h.recovery_key, origin, shares[i]));
    set.holders.push_back(h);
  }
  KH_RETURN_IF_ERROR(ValidateSet(set));
  return set;
}

Result<SecretShare> OpenOwnShare(const RecoverySet& set, const Hash& origin, const Hash& me,
                                 const RecoveryKey& key) {
  for (const ShareHolder& h : set.holders) {
    if (h.node_id != me) continue;
    if (h.recovery_key != key.public_key()) {
      return Status::PermissionDenied("this share is sealed to another recovery key (" +
                                      RecoveryPublicKeyToText(h.recovery_key) + ")");
    }
    KH_ASSIGN_OR_RETURN(Bytes plain, key.Open(kShareLabel, h.sealed));
    return ParseSharePlaintext(std::move(plain), origin, h.x);
  }
  return Status::NotFound("the recovery set holds no share for node " + ToHex(me));
}

Result<ShareRelease> MakeShareRelease(const Hash& origin, const Hash& recovery_set,
                                      const SecretShare& share, const ShareRecipient& to) {
  ShareRelease r;
  r.origin = origin;
  r.recovery_set = recovery_set;
  r.recipient = to.node_id;
  r.recipient_key = to.recovery_key;
  r.x = share.x;
  KH_ASSIGN_OR_RETURN(r.sealed, Seal(to.recovery_key, origin, share));
  return r;
}

Result<SecretShare> OpenShareRelease(const ShareRelease& release, const RecoveryKey& key) {
  if (release.recipient_key != key.public_key()) {
    return Status::PermissionDenied("this release is sealed to another recovery key");
  }
  KH_ASSIGN_OR_RETURN(Bytes plain, key.Open(kShareLabel, release.sealed));
  return ParseSharePlaintext(std::move(plain), release.origin, release.x);
}

Result<SymmetricKey> RecoverArchiveKey(const RecoverySet& set,
                                       const std::vector<SecretShare>& shares) {
  if (shares.size() < set.threshold) {
    return Status::InvalidArgument("recovering needs " + std::to_string(set.threshold) +
                                   " shares of this set; " + std::to_string(shares.size()) +
                                   " given");
  }
  for (const SecretShare& s : shares) {
    bool in_set = std::any_of(set.holders.begin(), set.holders.end(),
                              [&](const ShareHolder& h) { return h.x == s.x; });
    if (!in_set) return Status::InvalidArgument("a share is not of this recovery set");
  }
  KH_ASSIGN_OR_RETURN(Bytes secret, CombineShares(shares));
  if (secret.size() != 32) {
    OPENSSL_cleanse(secret.data(), secret.size());
    return Status::Corruption("the shares do not make a 32-byte key");
  }
  SymmetricKey key;
  std::copy(secret.begin(), secret.end(), key.begin());
  OPENSSL_cleanse(secret.data(), secret.size());
  if (!ConstantTimeEqual(ArchiveKeyCheck(key), set.archive_key_check)) {
    OPENSSL_cleanse(key.data(), key.size());
    return Status::Corruption("the shares combine to a key that is not the one split: a share "
                              "is altered or of another set");
  }
  return key;
}

}  // namespace khronika
