// Authenticated encryption (AES-256-GCM) and passphrase sealing (scrypt, then AES-256-GCM), through
// OpenSSL 3. Pure computation: what is sealed and where it is stored is the caller's business.
//
// Sealed with a passphrase (docs/format.md, "Sealed secrets"):
//   "KHRSEAL1" || log2(N) (u8) || r (u8) || p (u8) || salt (16) || nonce (12) || ciphertext || tag (16)
// The scrypt key of the passphrase and salt encrypts; the 27-byte header is the associated data,
// so the parameters cannot be changed without the tag failing.
#pragma once

#include <array>
#include <span>
#include <string_view>

#include "khronika/schemas/bytes.h"

namespace khronika {

using SymmetricKey = std::array<uint8_t, 32>;
inline constexpr size_t kAeadNonceBytes = 12;
inline constexpr size_t kAeadTagBytes = 16;
inline constexpr size_t kAeadOverhead = kAeadNonceBytes + kAeadTagBytes;

SymmetricKey RandomSymmetricKey();

// nonce (random, 12) || ciphertext || tag (16).
Bytes AeadSeal(const SymmetricKey& key, ByteView plaintext, ByteView associated_data);
// Corruption if the bytes or the associated data were changed, or the key is not the one used.
Result<Bytes> AeadOpen(const SymmetricKey& key, ByteView sealed, ByteView associated_data);

// One AES-256-GCM key for many values (a store's): the same output format and checks as
// AeadSeal/AeadOpen, but each thread keeps a cipher context with the key already expanded, and
// draws nonces from a buffer of random bytes it refills (and discards after a fork), so that a
// small value costs a fraction of a one-off AeadSeal. Safe to share between threads.
class AeadKey {
 public:
  explicit AeadKey(const SymmetricKey& key);
  ~AeadKey();
  AeadKey(const AeadKey&) = delete;
  AeadKey& operator=(const AeadKey&) = delete;

  Bytes Seal(ByteView plaintext, ByteView associated_data) const;
  // Seal into `out`, exactly plaintext.size() + kAeadOverhead bytes (space the caller already
  // has, such as a value LMDB reserved), as nonce || ciphertext || tag.
  void SealInto(ByteView plaintext, ByteView associated_data, std::span<uint8_t> out) const;
  Result<Bytes> Open(ByteView sealed, ByteView associated_data) const;

 private:
  SymmetricKey key_;
  uint64_t id_;  // which key a thread's cached contexts hold
};

// HKDF-Expand (RFC 5869 section 2.3) with SHA-256 or SHA-512, filling `out`. The pseudorandom key
// must be uniformly random already (a key, not a passphrase). Aborts only on allocation failure.
enum class HkdfHash { kSha256, kSha512 };
void HkdfExpand(HkdfHash hash, ByteView prk, ByteView info, std::span<uint8_t> out);

// HMAC-SHA-256: a keyed hash, for names that must be found again but not read (index keys).
Hash KeyedHash(const SymmetricKey& key, ByteView data);

struct ScryptParams {
  uint8_t log2_n = 17;  // N = 131072: 128 MiB and about half a second, as OWASP advises
  uint8_t r = 8;
  uint8_t p = 1;
};
inline constexpr std::string_view kSealMagic = "KHRSEAL1";

Result<SymmetricKey> DeriveKeyFromPassphrase(std::string_view passphrase, ByteView salt,
                                             const ScryptParams& params);
// InvalidArgument for an empty passphrase or parameters outside log2(N) 10..20, r 1..16, p 1..4.
Result<Bytes> SealWithPassphrase(ByteView plaintext, std::string_view passphrase,
                                 const ScryptParams& params = {});
// PermissionDenied for a wrong passphrase (or altered bytes: the two cannot be told apart),
// InvalidArgument for something that is not a sealed secret.
Result<Bytes> OpenWithPassphrase(ByteView sealed, std::string_view passphrase);
// OpenWithPassphrase in two steps, for a caller that keeps the key rather than the passphrase
// (an unlock agent): the scrypt key of `passphrase` with this sealed secret's own salt and
// parameters, which opens this secret and no other (every seal draws a new salt); then the
// opening with that key (PermissionDenied if it is not the one).
Result<SymmetricKey> DeriveSealedSecretKey(ByteView sealed, std::string_view passphrase);
Result<Bytes> OpenWithSealedSecretKey(ByteView sealed, const SymmetricKey& key);

}  // namespace khronika
