#include "khronika/schemas/seal.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/core_names.h>
#include <openssl/hmac.h>
#include <openssl/kdf.h>
#include <openssl/params.h>

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <memory>

#include "aes_gcm.h"
#include "khronika/schemas/crypto.h"

namespace khronika {
namespace {

constexpr size_t kSaltBytes = 16;
constexpr size_t kHeaderBytes = 8 + 3 + kSaltBytes;

using aes_gcm::CipherCtx;

Status CheckParams(const ScryptParams& p) {
  if (p.log2_n < 10 || p.log2_n > 20 || p.r < 1 || p.r > 16 || p.p < 1 || p.p > 4) {
    return Status::InvalidArgument("scrypt parameters out of range");
  }
  return Status::Ok();
}

// Seals into `out` (the nonce already in its first 12 bytes) with a context that holds the key.
void SealWith(EVP_CIPHER_CTX* ctx, ByteView plaintext, ByteView associated_data, Bytes& out) {
  aes_gcm::Seal(ctx, out.data(), associated_data, plaintext, out.data() + kAeadNonceBytes);
}

// Opens nonce || ciphertext || tag (at least kAeadOverhead bytes) with a context that holds the key.
Result<Bytes> OpenWith(EVP_CIPHER_CTX* ctx, ByteView sealed, ByteView associated_data) {
  Bytes out(sealed.size() - kAeadOverhead);
  if (!aes_gcm::Open(ctx, sealed.data(), associated_data, sealed.subspan(kAeadNonceBytes),
                     out.data())) {
    return Status::Corruption("authentication failed: the value was altered or the key is wrong");
  }
  return out;
}

}  // namespace

SymmetricKey RandomSymmetricKey() {
  SymmetricKey k;
  RandomBytes(k.data(), k.size());
  return k;
}

Bytes AeadSeal(const SymmetricKey& key, ByteView plaintext, ByteView associated_data) {
  Bytes out(kAeadNonceBytes + plaintext.size() + kAeadTagBytes);
  RandomBytes(out.data(), kAeadNonceBytes);
  SealWith(aes_gcm::SealContext(key.data()).get(), plaintext, associated_data, out);
  return out;
}

Result<Bytes> AeadOpen(const SymmetricKey& key, ByteView sealed, ByteView associated_data) {
  if (sealed.size() < kAeadOverhead) return Status::Corruption("sealed value is too short");
  return OpenWith(aes_gcm::OpenContext(key.data()).get(), sealed, associated_data);
}

namespace {

// Per thread: the contexts of the AeadKey used last, its key already expanded.
struct CachedContexts {
  uint64_t key_id = 0;
  CipherCtx seal{EVP_CIPHER_CTX_new()};
  CipherCtx open{EVP_CIPHER_CTX_new()};
};
thread_local CachedContexts t_contexts;

// Per thread: random bytes for nonces, drawn from OpenSSL's generator 4 KiB at a time. A forked
// child starts with a copy of its parent's buffer, so a buffer filled in another process is
// thrown away before use: two processes never take the same nonce.
struct NonceBuffer {
  uint8_t bytes[4096];
  size_t used = sizeof(bytes);
  pid_t filled_by = 0;
};
thread_local NonceBuffer t_nonces;

void TakeNonce(uint8_t* out) {
  pid_t self = ::getpid();
  if (t_nonces.used + kAeadNonceBytes > sizeof(t_nonces.bytes) || t_nonces.filled_by != self) {
    RandomBytes(t_nonces.bytes, sizeof(t_nonces.bytes));
    t_nonces.used = 0;
    t_nonces.filled_by = self;
  }
  std::copy_n(t_nonces.bytes + t_nonces.used, kAeadNonceBytes, out);
  OPENSSL_cleanse(t_nonces.bytes + t_nonces.used, kAeadNonceBytes);
  t_nonces.used += kAeadNonceBytes;
}

std::atomic<uint64_t> g_next_key_id{1};

}  // namespace

AeadKey::AeadKey(const SymmetricKey& key) : key_(key), id_(g_next_key_id.fetch_add(1)) {}

AeadKey::~AeadKey() {
  OPENSSL_cleanse(key_.data(), key_.size());
  if (t_contexts.key_id == id_) {  // this thread's expanded key; other threads' go with them
    EVP_CIPHER_CTX_reset(t_contexts.seal.get());
    EVP_CIPHER_CTX_reset(t_contexts.open.get());
    t_contexts.key_id = 0;
  }
}

namespace {

CachedContexts& ContextsFor(uint64_t id, const SymmetricKey& key) {
  CachedContexts& c = t_contexts;
  if (c.key_id != id) {
    // Only allocation failure or misuse can make these fail; treat either as fatal.
    if (!c.seal || !c.open ||
        EVP_EncryptInit_ex(c.seal.get(), EVP_aes_256_gcm(), nullptr, key.data(), nullptr) != 1 ||
        EVP_DecryptInit_ex(c.open.get(), EVP_aes_256_gcm(), nullptr, key.data(), nullptr) != 1) {
      std::abort();
    }
    c.key_id = id;
  }
  return c;
}

}  // namespace

Bytes AeadKey::Seal(ByteView plaintext, ByteView associated_data) const {
  Bytes out(kAeadNonceBytes + plaintext.size() + kAeadTagBytes);
  TakeNonce(out.data());
  SealWith(ContextsFor(id_, key_).seal.get(), plaintext, associated_data, out);
  return out;
}

Result<Bytes> AeadKey::Open(ByteView sealed, ByteView associated_data) const {
  if (sealed.size() < kAeadOverhead) return Status::Corruption("sealed value is too short");
  return OpenWith(ContextsFor(id_, key_).open.get(), sealed, associated_data);
}

void HkdfExpand(HkdfHash hash, ByteView prk, ByteView info, std::span<uint8_t> out) {
  struct KdfFree {
    void operator()(EVP_KDF* k) const { EVP_KDF_free(k); }
    void operator()(EVP_KDF_CTX* c) const { EVP_KDF_CTX_free(c); }
  };
  // Fetched once for the process: a fetch per derivation is a provider lookup each time.
  static EVP_KDF* const kdf = EVP_KDF_fetch(nullptr, "HKDF", nullptr);
  if (kdf == nullptr) std::abort();
  std::unique_ptr<EVP_KDF_CTX, KdfFree> ctx(EVP_KDF_CTX_new(kdf));
  if (!ctx) std::abort();
  int mode = EVP_KDF_HKDF_MODE_EXPAND_ONLY;
  char digest[16];
  std::string_view name = hash == HkdfHash::kSha256 ? "SHA256" : "SHA512";
  std::copy(name.begin(), name.end(), digest);
  digest[name.size()] = '\0';
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_int(OSSL_KDF_PARAM_MODE, &mode),
      OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest, 0),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, const_cast<uint8_t*>(prk.data()),
                                        prk.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, const_cast<uint8_t*>(info.data()),
                                        info.size()),
      OSSL_PARAM_construct_end()};
  if (EVP_KDF_derive(ctx.get(), out.data(), out.size(), params) != 1) std::abort();
}

Hash KeyedHash(const SymmetricKey& key, ByteView data) {
  Hash out{};
  unsigned int len = 0;
  if (HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), data.data(), data.size(),
           out.data(), &len) == nullptr ||
      len != out.size()) {
    std::abort();  // only on allocation failure
  }
  return out;
}

Result<SymmetricKey> DeriveKeyFromPassphrase(std::string_view passphrase, ByteView salt,
                                             const ScryptParams& params) {
  KH_RETURN_IF_ERROR(CheckParams(params));
  if (passphrase.empty()) return Status::InvalidArgument("the passphrase is empty");
  SymmetricKey key;
  const uint64_t n = uint64_t{1} << params.log2_n;
  const uint64_t maxmem = 128 * params.r * (n + params.p + 2) + (16 << 20);
  if (EVP_PBE_scrypt(passphrase.data(), passphrase.size(), salt.data(), salt.size(), n, params.r,
                     params.p, maxmem, key.data(), key.size()) != 1) {
    return Status::InvalidArgument("scrypt failed (out of memory?)");
  }
  return key;
}

Result<Bytes> SealWithPassphrase(ByteView plaintext, std::string_view passphrase,
                                 const ScryptParams& params) {
  KH_RETURN_IF_ERROR(CheckParams(params));
  Bytes out(kSealMagic.begin(), kSealMagic.end());
  out.push_back(params.log2_n);
  out.push_back(params.r);
  out.push_back(params.p);
  out.resize(kHeaderBytes);
  RandomBytes(out.data() + 11, kSaltBytes);
  KH_ASSIGN_OR_RETURN(SymmetricKey key, DeriveKeyFromPassphrase(passphrase, ByteView(out).subspan(11, kSaltBytes), params));
  Bytes body = AeadSeal(key, plaintext, ByteView(out));
  OPENSSL_cleanse(key.data(), key.size());
  out.insert(out.end(), body.begin(), body.end());
  return out;
}

namespace {

Status CheckSealed(ByteView sealed) {
  if (sealed.size() < kHeaderBytes + kAeadOverhead ||
      !std::equal(kSealMagic.begin(), kSealMagic.end(), sealed.begin())) {
    return Status::InvalidArgument("not a Khronika sealed secret");
  }
  return Status::Ok();
}

}  // namespace

Result<SymmetricKey> DeriveSealedSecretKey(ByteView sealed, std::string_view passphrase) {
  KH_RETURN_IF_ERROR(CheckSealed(sealed));
  ScryptParams params{sealed[8], sealed[9], sealed[10]};
  return DeriveKeyFromPassphrase(passphrase, sealed.subspan(11, kSaltBytes), params);
}

Result<Bytes> OpenWithSealedSecretKey(ByteView sealed, const SymmetricKey& key) {
  KH_RETURN_IF_ERROR(CheckSealed(sealed));
  auto opened = AeadOpen(key, sealed.subspan(kHeaderBytes), sealed.first(kHeaderBytes));
  if (!opened.ok()) return Status::PermissionDenied("wrong passphrase (or the sealed file was altered)");
  return opened;
}

Result<Bytes> OpenWithPassphrase(ByteView sealed, std::string_view passphrase) {
  KH_ASSIGN_OR_RETURN(SymmetricKey key, DeriveSealedSecretKey(sealed, passphrase));
  auto opened = OpenWithSealedSecretKey(sealed, key);
  OPENSSL_cleanse(key.data(), key.size());
  return opened;
}

}  // namespace khronika
