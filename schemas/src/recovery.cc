#include "khronika/schemas/recovery.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>

#include <algorithm>
#include <cstdlib>

#include "khronika/schemas/crypto.h"
#include "khronika/schemas/sealing.h"

namespace khronika {
namespace {

// Multiplication in GF(2^8) modulo x^8 + x^4 + x^3 + x + 1, without data-dependent branches or
// table lookups, so its timing says nothing about the secret bytes.
uint8_t GfMul(uint8_t a, uint8_t b) {
  uint8_t p = 0;
  for (int i = 0; i < 8; ++i) {
    p ^= static_cast<uint8_t>(-(b & 1)) & a;
    uint8_t high = static_cast<uint8_t>(-(a >> 7));
    a = static_cast<uint8_t>((a << 1) ^ (0x1b & high));
    b >>= 1;
  }
  return p;
}

// a^254 = a^-1 for a != 0.
uint8_t GfInverse(uint8_t a) {
  uint8_t result = 1;
  uint8_t power = a;
  for (int bit = 0; bit < 8; ++bit) {
    if ((254 >> bit) & 1) result = GfMul(result, power);  // branch on the public exponent only
    power = GfMul(power, power);
  }
  return result;
}

struct PkeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
  void operator()(EVP_PKEY_CTX* c) const { EVP_PKEY_CTX_free(c); }
  void operator()(EVP_CIPHER_CTX* c) const { EVP_CIPHER_CTX_free(c); }
  void operator()(EVP_KDF* k) const { EVP_KDF_free(k); }
  void operator()(EVP_KDF_CTX* c) const { EVP_KDF_CTX_free(c); }
};
using Pkey = std::unique_ptr<EVP_PKEY, PkeyFree>;

X25519PublicKey PublicOf(EVP_PKEY* key) {
  X25519PublicKey pub{};
  size_t len = pub.size();
  if (EVP_PKEY_get_raw_public_key(key, pub.data(), &len) != 1 || len != pub.size()) std::abort();
  return pub;
}

Result<Bytes> SharedSecret(EVP_PKEY* own, const X25519PublicKey& peer_public) {
  Pkey peer(EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, nullptr, peer_public.data(),
                                        peer_public.size()));
  if (!peer) return Status::InvalidArgument("not an X25519 public key");
  std::unique_ptr<EVP_PKEY_CTX, PkeyFree> ctx(EVP_PKEY_CTX_new(own, nullptr));
  Bytes secret(32);
  size_t len = secret.size();
  if (!ctx || EVP_PKEY_derive_init(ctx.get()) != 1 ||
      EVP_PKEY_derive_set_peer(ctx.get(), peer.get()) != 1 ||
      EVP_PKEY_derive(ctx.get(), secret.data(), &len) != 1 || len != 32) {
    // OpenSSL refuses an all-zero shared secret (a low-order peer key).
    return Status::InvalidArgument("the X25519 key agreement failed (a low-order public key?)");
  }
  return secret;
}

SymmetricKey WrapKey(ByteView shared, const X25519PublicKey& ephemeral,
                     const X25519PublicKey& recipient, std::string_view label) {
  std::unique_ptr<EVP_KDF, PkeyFree> kdf(EVP_KDF_fetch(nullptr, "HKDF", nullptr));
  std::unique_ptr<EVP_KDF_CTX, PkeyFree> ctx(kdf ? EVP_KDF_CTX_new(kdf.get()) : nullptr);
  if (!ctx) std::abort();
  Bytes salt(ephemeral.begin(), ephemeral.end());
  salt.insert(salt.end(), recipient.begin(), recipient.end());
  char digest[] = "SHA256";
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest, 0),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, const_cast<uint8_t*>(shared.data()),
                                        shared.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, salt.data(), salt.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, const_cast<char*>(label.data()),
                                        label.size()),
      OSSL_PARAM_construct_end()};
  SymmetricKey key;
  if (EVP_KDF_derive(ctx.get(), key.data(), key.size(), params) != 1) std::abort();
  return key;
}

}  // namespace

SecretShare::~SecretShare() { OPENSSL_cleanse(y.data(), y.size()); }

Result<std::vector<SecretShare>> SplitSecret(ByteView secret, unsigned k, unsigned n) {
  if (secret.empty()) return Status::InvalidArgument("there is no secret to split");
  if (k < 1 || k > n || n > kMaxShares) {
    return Status::InvalidArgument("shares: need 1 <= k <= n <= 255, got k=" + std::to_string(k) +
                                   " n=" + std::to_string(n));
  }
  std::vector<SecretShare> shares(n);
  for (unsigned i = 0; i < n; ++i) {
    shares[i].x = static_cast<uint8_t>(i + 1);
    shares[i].y.resize(secret.size());
  }
  Bytes coefficients(k);
  for (size_t b = 0; b < secret.size(); ++b) {
    coefficients[0] = secret[b];
    if (k > 1) RandomBytes(coefficients.data() + 1, k - 1);
    for (auto& share : shares) {
      uint8_t y = 0;  // Horner's rule from the highest coefficient down
      for (unsigned c = k; c-- > 0;) y = static_cast<uint8_t>(GfMul(y, share.x) ^ coefficients[c]);
      share.y[b] = y;
    }
  }
  OPENSSL_cleanse(coefficients.data(), coefficients.size());
  return shares;
}

Result<Bytes> CombineShares(const std::vector<SecretShare>& shares) {
  if (shares.empty()) return Status::InvalidArgument("no shares to combine");
  const size_t length = shares.front().y.size();
  for (size_t i = 0; i < shares.size(); ++i) {
    if (shares[i].x == 0) return Status::InvalidArgument("a share's point is 0");
    if (shares[i].y.size() != length || length == 0) {
      return Status::InvalidArgument("the shares are of different lengths");
    }
    for (size_t j = 0; j < i; ++j) {
      if (shares[j].x == shares[i].x) return Status::InvalidArgument("a share is given twice");
    }
  }
  Bytes secret(length, 0);
  for (size_t i = 0; i < shares.size(); ++i) {
    // The Lagrange basis polynomial of point i, at 0: prod x_j / (x_j - x_i); minus is xor here.
    uint8_t basis = 1;
    for (size_t j = 0; j < shares.size(); ++j) {
      if (j == i) continue;
      basis = GfMul(basis, GfMul(shares[j].x, GfInverse(shares[j].x ^ shares[i].x)));
    }
    for (size_t b = 0; b < length; ++b) secret[b] ^= GfMul(shares[i].y[b], basis);
  }
  return secret;
}

struct RecoveryKey::Key {
  Pkey pkey;
};

RecoveryKey::RecoveryKey(std::unique_ptr<Key> key) : key_(std::move(key)) {
  public_key_ = PublicOf(key_->pkey.get());
}
RecoveryKey::RecoveryKey(RecoveryKey&&) noexcept = default;
RecoveryKey& RecoveryKey::operator=(RecoveryKey&&) noexcept = default;
RecoveryKey::~RecoveryKey() = default;

RecoveryKey RecoveryKey::Generate() {
  std::unique_ptr<EVP_PKEY_CTX, PkeyFree> ctx(EVP_PKEY_CTX_new_id(EVP_PKEY_X25519, nullptr));
  EVP_PKEY* raw = nullptr;
  if (!ctx || EVP_PKEY_keygen_init(ctx.get()) != 1 || EVP_PKEY_keygen(ctx.get(), &raw) != 1) {
    std::abort();
  }
  return RecoveryKey(std::make_unique<Key>(Key{Pkey(raw)}));
}

Result<RecoveryKey> RecoveryKey::FromRaw(ByteView private32) {
  if (private32.size() != 32) return Status::InvalidArgument("an X25519 private key is 32 bytes");
  Pkey pkey(EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, nullptr, private32.data(), 32));
  if (!pkey) return Status::InvalidArgument("not an X25519 private key");
  return RecoveryKey(std::make_unique<Key>(Key{std::move(pkey)}));
}

Bytes RecoveryKey::RawPrivate() const {
  Bytes out(32);
  size_t len = out.size();
  if (EVP_PKEY_get_raw_private_key(key_->pkey.get(), out.data(), &len) != 1 || len != 32) {
    std::abort();
  }
  return out;
}

Result<Bytes> SealToRecoveryKey(const X25519PublicKey& recipient, std::string_view label,
                                ByteView plaintext) {
  RecoveryKey ephemeral = RecoveryKey::Generate();
  KH_ASSIGN_OR_RETURN(Bytes shared, SharedSecret(ephemeral.key_->pkey.get(), recipient));
  SymmetricKey key = WrapKey(shared, ephemeral.public_key(), recipient, label);
  OPENSSL_cleanse(shared.data(), shared.size());
  Bytes out(ephemeral.public_key().begin(), ephemeral.public_key().end());
  Bytes box = BoxSeal(key, label, plaintext);
  OPENSSL_cleanse(key.data(), key.size());
  out.insert(out.end(), box.begin(), box.end());
  return out;
}

Result<Bytes> RecoveryKey::Open(std::string_view label, ByteView sealed) const {
  if (sealed.size() < 32 + kAeadTagBytes) {
    return Status::InvalidArgument("a sealed share is at least 48 bytes");
  }
  X25519PublicKey ephemeral;
  std::copy_n(sealed.begin(), 32, ephemeral.begin());
  KH_ASSIGN_OR_RETURN(Bytes shared, SharedSecret(key_->pkey.get(), ephemeral));
  SymmetricKey key = WrapKey(shared, ephemeral, public_key_, label);
  OPENSSL_cleanse(shared.data(), shared.size());
  auto opened = BoxOpen(key, label, sealed.subspan(32));
  OPENSSL_cleanse(key.data(), key.size());
  if (!opened.ok()) {
    return Status::PermissionDenied("this recovery key does not open it: it was sealed to another "
                                    "key, or altered");
  }
  return opened;
}

std::string RecoveryPublicKeyToText(const X25519PublicKey& key) { return "x25519:" + ToHex(key); }

Result<X25519PublicKey> ParseRecoveryPublicKey(std::string_view text) {
  constexpr std::string_view kPrefix = "x25519:";
  if (!text.starts_with(kPrefix) || text.size() != kPrefix.size() + 64) {
    return Status::InvalidArgument("a recovery public key is \"x25519:\" and 64 hex characters");
  }
  KH_ASSIGN_OR_RETURN(Bytes raw, FromHex(text.substr(kPrefix.size())));
  X25519PublicKey key;
  std::copy(raw.begin(), raw.end(), key.begin());
  return key;
}

}  // namespace khronika
