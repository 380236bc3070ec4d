#include "khronika/schemas/crypto.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <pthread.h>

#include <array>
#include <atomic>
#include <cstdlib>
#include <cstring>

namespace khronika {
namespace {

struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
using BioPtr = std::unique_ptr<BIO, BioFree>;

struct PkeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;

struct MdCtxFree {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};
using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, MdCtxFree>;

// OpenSSL keeps errors on a per-thread queue; drain it where a call failed so that a later,
// unrelated failure is not reported with a stale cause.
std::string DrainOpenSslErrors() {
  std::string out;
  while (unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    if (!out.empty()) out += "; ";
    out += buf;
  }
  return out.empty() ? "unknown OpenSSL error" : out;
}

PublicKey RawPublicKey(EVP_PKEY* pkey) {
  PublicKey pub{};
  size_t len = pub.size();
  if (EVP_PKEY_get_raw_public_key(pkey, pub.data(), &len) != 1 || len != pub.size()) std::abort();
  return pub;
}

}  // namespace

namespace {

// Fetched once for the process: EVP_sha256() makes OpenSSL 3 look the implementation up in its
// providers on every digest, which costs more than hashing a record.
const EVP_MD* Sha256Md() {
  static EVP_MD* const md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  if (md == nullptr) std::abort();
  return md;
}

}  // namespace

Hash Sha256(ByteView data) {
  // One context per thread, initialised again for each hash: EVP_Digest makes and frees a
  // context on every call, which costs three times what hashing a record or a tree node does.
  thread_local MdCtxPtr ctx(EVP_MD_CTX_new());
  Hash out;
  unsigned int len = 0;
  if (!ctx || EVP_DigestInit_ex(ctx.get(), Sha256Md(), nullptr) != 1 ||
      EVP_DigestUpdate(ctx.get(), data.data(), data.size()) != 1 ||
      EVP_DigestFinal_ex(ctx.get(), out.data(), &len) != 1) {
    std::abort();
  }
  return out;
}

struct Sha256Stream::Ctx {
  MdCtxPtr md{EVP_MD_CTX_new()};
};

Sha256Stream::Sha256Stream() : ctx_(std::make_unique<Ctx>()) {
  if (!ctx_->md || EVP_DigestInit_ex(ctx_->md.get(), Sha256Md(), nullptr) != 1) std::abort();
}
Sha256Stream::~Sha256Stream() = default;

void Sha256Stream::Update(ByteView data) {
  if (EVP_DigestUpdate(ctx_->md.get(), data.data(), data.size()) != 1) std::abort();
}

Hash Sha256Stream::Finish() {
  Hash out;
  unsigned int len = 0;
  if (EVP_DigestFinal_ex(ctx_->md.get(), out.data(), &len) != 1) std::abort();
  return out;
}

namespace {

// Per thread: random bytes for small draws (the store's value nonces, entry nonces, salts),
// taken from OpenSSL's generator 4 KiB at a time; one RAND_bytes call costs about a microsecond
// whatever its size, and sealing one small entry draws several. Each draw is wiped from the
// buffer as it is taken. A forked child starts with a copy of its parent's buffer, so a buffer
// filled in another process is thrown away before use: two processes never share a draw.
struct RandomBuffer {
  uint8_t bytes[4096];
  size_t used = sizeof(bytes);
  uint64_t filled_in = 0;  // the fork generation it was filled in; 0: never
  ~RandomBuffer() { OPENSSL_cleanse(bytes, sizeof(bytes)); }
};
thread_local RandomBuffer t_random;
constexpr size_t kBufferedDrawMax = 64;

// Counts forks (in the child): a buffer filled before the last fork is not used after it.
std::atomic<uint64_t> g_fork_generation{1};
void CountFork() { g_fork_generation.fetch_add(1, std::memory_order_relaxed); }
uint64_t ForkGeneration() {
  static const bool counted = ::pthread_atfork(nullptr, nullptr, CountFork) == 0;
  if (!counted) std::abort();  // forks could not be told apart
  return g_fork_generation.load(std::memory_order_relaxed);
}

}  // namespace

void RandomBytes(uint8_t* out, size_t n) {
  if (n == 0) return;  // `out` may be null (an empty vector's data())
  if (n > kBufferedDrawMax) {
    if (RAND_bytes(out, static_cast<int>(n)) != 1) std::abort();
    return;
  }
  RandomBuffer& b = t_random;
  const uint64_t generation = ForkGeneration();
  if (b.used + n > sizeof(b.bytes) || b.filled_in != generation) {
    if (RAND_bytes(b.bytes, static_cast<int>(sizeof(b.bytes))) != 1) std::abort();
    b.used = 0;
    b.filled_in = generation;
  }
  std::memcpy(out, b.bytes + b.used, n);
  OPENSSL_cleanse(b.bytes + b.used, n);
  b.used += n;
}

struct SigningKey::Key {
  PkeyPtr pkey;
};

SigningKey::SigningKey(std::unique_ptr<Key> key) : key_(std::move(key)) {
  public_key_ = RawPublicKey(key_->pkey.get());
}
SigningKey::SigningKey(SigningKey&&) noexcept = default;
SigningKey& SigningKey::operator=(SigningKey&&) noexcept = default;
SigningKey::~SigningKey() = default;

SigningKey SigningKey::Generate() {
  std::array<uint8_t, 32> seed;
  RandomBytes(seed.data(), seed.size());
  auto key = FromSeed(seed);
  OPENSSL_cleanse(seed.data(), seed.size());
  if (!key.ok()) std::abort();
  return std::move(key).value();
}

Result<SigningKey> SigningKey::FromSeed(ByteView seed32) {
  if (seed32.size() != 32) return Status::InvalidArgument("an Ed25519 seed is 32 bytes");
  PkeyPtr pkey(
      EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr, seed32.data(), seed32.size()));
  if (!pkey) return Status::InvalidArgument("Ed25519 key: " + DrainOpenSslErrors());
  auto key = std::make_unique<Key>();
  key->pkey = std::move(pkey);
  return SigningKey(std::move(key));
}

Result<SigningKey> SigningKey::FromPem(std::string_view pem) {
  if (pem.size() > 16 * 1024) return Status::InvalidArgument("key file too large");
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) std::abort();
  PkeyPtr pkey(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  if (!pkey) {
    return Status::InvalidArgument("not a PEM private key: " + DrainOpenSslErrors());
  }
  if (EVP_PKEY_get_id(pkey.get()) != EVP_PKEY_ED25519) {
    return Status::InvalidArgument("the private key is not an Ed25519 key");
  }
  auto key = std::make_unique<Key>();
  key->pkey = std::move(pkey);
  return SigningKey(std::move(key));
}

std::string SigningKey::ToPem() const {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_PrivateKey(bio.get(), key_->pkey.get(), nullptr, nullptr, 0, nullptr,
                                       nullptr) != 1) {
    std::abort();
  }
  char* data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);
  std::string pem(data, static_cast<size_t>(len));
  return pem;
}

Signature SigningKey::Sign(ByteView message) const {
  MdCtxPtr ctx(EVP_MD_CTX_new());
  Signature sig{};
  size_t len = sig.size();
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, key_->pkey.get()) != 1 ||
      EVP_DigestSign(ctx.get(), sig.data(), &len, message.data(), message.size()) != 1 ||
      len != sig.size()) {
    std::abort();
  }
  return sig;
}

namespace {

// Per thread: OpenSSL's objects for the last few public keys, and one verify context. Making an
// EVP_PKEY from raw bytes and a context for it cost about 5% of an Ed25519 verify, and nearly
// every signature a node checks is by one of a few keys (its authors, members and witnesses).
struct Verifiers {
  static constexpr size_t kKeys = 16;
  struct Slot {
    PublicKey key{};
    PkeyPtr pkey;
    uint64_t last_used = 0;
  };
  std::array<Slot, kKeys> slots;
  uint64_t clock = 0;
  MdCtxPtr ctx{EVP_MD_CTX_new()};
};
thread_local Verifiers t_verifiers;

// The EVP_PKEY of `key`, made at most once while it stays among the thread's last 16; null if
// OpenSSL refuses the bytes.
EVP_PKEY* PublicKeyObject(const PublicKey& key) {
  Verifiers& v = t_verifiers;
  Verifiers::Slot* oldest = &v.slots[0];
  for (Verifiers::Slot& slot : v.slots) {
    if (slot.pkey && slot.key == key) {
      slot.last_used = ++v.clock;
      return slot.pkey.get();
    }
    if (slot.last_used < oldest->last_used) oldest = &slot;
  }
  PkeyPtr pkey(EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, key.data(), key.size()));
  if (!pkey) return nullptr;
  oldest->key = key;
  oldest->pkey = std::move(pkey);
  oldest->last_used = ++v.clock;
  return oldest->pkey.get();
}

}  // namespace

bool VerifySignature(const PublicKey& key, ByteView message, const Signature& signature) {
  EVP_PKEY* pkey = PublicKeyObject(key);
  EVP_MD_CTX* ctx = t_verifiers.ctx.get();
  if (!pkey || !ctx || EVP_MD_CTX_reset(ctx) != 1 ||
      EVP_DigestVerifyInit(ctx, nullptr, nullptr, nullptr, pkey) != 1) {
    ERR_clear_error();
    return false;
  }
  bool ok = EVP_DigestVerify(ctx, signature.data(), signature.size(), message.data(),
                             message.size()) == 1;
  ERR_clear_error();
  return ok;
}

Result<PublicKey> ParsePublicKey(std::string_view text) {
  if (text.size() > 16 * 1024) return Status::InvalidArgument("public key text too large");
  std::string_view trimmed = text;
  while (!trimmed.empty() && (trimmed.back() == '\n' || trimmed.back() == '\r' ||
                              trimmed.back() == ' ')) {
    trimmed.remove_suffix(1);
  }
  if (trimmed.size() == 64) {
    KH_ASSIGN_OR_RETURN(Bytes raw, FromHex(trimmed));
    PublicKey key;
    std::copy(raw.begin(), raw.end(), key.begin());
    return key;
  }
  BioPtr bio(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
  if (!bio) std::abort();
  PkeyPtr pkey(PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr));
  if (!pkey) {
    return Status::InvalidArgument("not a PEM public key or 64 hex characters: " +
                                   DrainOpenSslErrors());
  }
  if (EVP_PKEY_get_id(pkey.get()) != EVP_PKEY_ED25519) {
    return Status::InvalidArgument("the public key is not an Ed25519 key");
  }
  return RawPublicKey(pkey.get());
}

std::string PublicKeyToPem(const PublicKey& key) {
  PkeyPtr pkey(EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, key.data(), key.size()));
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!pkey || !bio || PEM_write_bio_PUBKEY(bio.get(), pkey.get()) != 1) std::abort();
  char* data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(len));
}

}  // namespace khronika
