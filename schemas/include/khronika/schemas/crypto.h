// SHA-256 and Ed25519 through OpenSSL 3. Pure computation: keys move in and out as bytes or PEM
// text, never as files, so an offline verifier needs nothing but this library.
#pragma once

#include <array>
#include <memory>
#include <string>
#include <string_view>

#include "khronika/schemas/bytes.h"

namespace khronika {

using PublicKey = std::array<uint8_t, 32>;
using Signature = std::array<uint8_t, 64>;

Hash Sha256(ByteView data);
inline Hash Sha256(std::string_view s) { return Sha256(AsBytes(s)); }

// Incremental SHA-256, for content that is streamed chunk by chunk.
class Sha256Stream {
 public:
  Sha256Stream();
  ~Sha256Stream();
  Sha256Stream(const Sha256Stream&) = delete;
  Sha256Stream& operator=(const Sha256Stream&) = delete;

  void Update(ByteView data);
  Hash Finish();  // The stream cannot be updated afterwards.

 private:
  struct Ctx;
  std::unique_ptr<Ctx> ctx_;
};

// Cryptographically secure random bytes; aborts the process if the generator fails, since
// continuing without randomness would make keys guessable.
void RandomBytes(uint8_t* out, size_t n);

// An Ed25519 private key. Move-only; the key material is wiped by OpenSSL on destruction.
class SigningKey {
 public:
  static SigningKey Generate();
  // PKCS#8 PEM ("-----BEGIN PRIVATE KEY-----"), as `openssl genpkey -algorithm ed25519` writes.
  static Result<SigningKey> FromPem(std::string_view pem);
  static Result<SigningKey> FromSeed(ByteView seed32);

  SigningKey(SigningKey&&) noexcept;
  SigningKey& operator=(SigningKey&&) noexcept;
  ~SigningKey();

  std::string ToPem() const;
  const PublicKey& public_key() const { return public_key_; }
  Signature Sign(ByteView message) const;

 private:
  struct Key;
  explicit SigningKey(std::unique_ptr<Key> key);
  std::unique_ptr<Key> key_;
  PublicKey public_key_{};
};

bool VerifySignature(const PublicKey& key, ByteView message, const Signature& signature);

// Public keys travel as "-----BEGIN PUBLIC KEY-----" PEM (SubjectPublicKeyInfo) or as 64 hex chars.
Result<PublicKey> ParsePublicKey(std::string_view text);
std::string PublicKeyToPem(const PublicKey& key);

}  // namespace khronika
