// k-of-n recovery of an origin's archive key (docs/format.md, "Recovery shares").
//
// Shamir's secret sharing over GF(2^8) (the AES field, x^8 + x^4 + x^3 + x + 1), byte by byte:
// any k shares give the secret, k-1 shares say nothing about it. Each share is sealed to one
// partner's X25519 recovery key: an ephemeral X25519 key, HKDF-SHA-256 of the shared secret, and
// AES-256-GCM, so only the holder of that recovery key can open it.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "khronika/schemas/bytes.h"
#include "khronika/schemas/seal.h"

namespace khronika {

inline constexpr size_t kMaxShares = 255;

struct SecretShare {
  uint8_t x = 0;  // the share's point, 1..255 (never 0: that is where the secret lies)
  Bytes y;        // one byte per byte of the secret
  ~SecretShare();
};

// n shares of `secret`, any k of which recover it. InvalidArgument unless 1 <= k <= n <= 255
// and the secret is not empty.
Result<std::vector<SecretShare>> SplitSecret(ByteView secret, unsigned k, unsigned n);
// The secret from at least k shares of one split. InvalidArgument for no shares, shares of
// different lengths, or a point used twice. Fewer than k shares give a wrong secret that cannot
// be told from a right one: check the result against a commitment.
Result<Bytes> CombineShares(const std::vector<SecretShare>& shares);

// ---- X25519 recovery keys ----
using X25519PublicKey = std::array<uint8_t, 32>;

class RecoveryKey {
 public:
  static RecoveryKey Generate();
  static Result<RecoveryKey> FromRaw(ByteView private32);
  RecoveryKey(RecoveryKey&&) noexcept;
  RecoveryKey& operator=(RecoveryKey&&) noexcept;
  ~RecoveryKey();

  const X25519PublicKey& public_key() const { return public_key_; }
  Bytes RawPrivate() const;  // 32 bytes; the caller wipes them

  // Opens what SealToRecoveryKey sealed to this key under the same label.
  Result<Bytes> Open(std::string_view label, ByteView sealed) const;

 private:
  friend Result<Bytes> SealToRecoveryKey(const X25519PublicKey&, std::string_view, ByteView);
  struct Key;
  explicit RecoveryKey(std::unique_ptr<Key> key);
  std::unique_ptr<Key> key_;
  X25519PublicKey public_key_{};
};

// ephemeral public key (32) || AES-256-GCM ciphertext || tag (16), under
// HKDF-Extract-and-Expand-SHA-256(ikm = X25519(ephemeral, recipient),
//   salt = ephemeral public || recipient public, info = label). The key is used once.
Result<Bytes> SealToRecoveryKey(const X25519PublicKey& recipient, std::string_view label,
                                ByteView plaintext);

// Recovery public keys travel as "x25519:" followed by 64 hex characters.
std::string RecoveryPublicKeyToText(const X25519PublicKey& key);
Result<X25519PublicKey> ParseRecoveryPublicKey(std::string_view text);

}  // namespace khronika
