#include "khronika/schemas/seal.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <initializer_list>
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
void SealWith(EVP_CIPHER_CTX* ctx, ByteView plaintext, ByteView associated_data, uint8_t* out) {
  aes_gcm::Seal(ctx, out, associated_data, plaintext, out + kAeadNonceBytes);
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
  SealWith(aes_gcm::ThreadSealContext(key.data()), plaintext, associated_data, out.data());
  return out;
}

Result<Bytes> AeadOpen(const SymmetricKey& key, ByteView sealed, ByteView associated_data) {
  if (sealed.size() < kAeadOverhead) return Status::Corruption("sealed value is too short");
  return OpenWith(aes_gcm::ThreadOpenContext(key.data()), sealed, associated_data);
}

namespace {

// Per thread: the contexts of the AeadKey used last, its key already expanded.
struct CachedContexts {
  uint64_t key_id = 0;
  CipherCtx seal{EVP_CIPHER_CTX_new()};
  CipherCtx open{EVP_CIPHER_CTX_new()};
};
thread_local CachedContexts t_contexts;

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
  Bytes out(plaintext.size() + kAeadOverhead);
  SealInto(plaintext, associated_data, out);
  return out;
}

void AeadKey::SealInto(ByteView plaintext, ByteView associated_data,
                       std::span<uint8_t> out) const {
  if (out.size() != plaintext.size() + kAeadOverhead) std::abort();  // a caller's bug
  RandomBytes(out.data(), kAeadNonceBytes);  // a small draw: from a per-thread buffer
  SealWith(ContextsFor(id_, key_).seal.get(), plaintext, associated_data, out.data());
}

Result<Bytes> AeadKey::Open(ByteView sealed, ByteView associated_data) const {
  if (sealed.size() < kAeadOverhead) return Status::Corruption("sealed value is too short");
  return OpenWith(ContextsFor(id_, key_).open.get(), sealed, associated_data);
}

namespace {

// Fetched once for the process, as Sha256Md in crypto.cc: a fetch per digest is a provider
// lookup each time.
const EVP_MD* FetchedMd(HkdfHash hash) {
  static EVP_MD* const sha256 = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  static EVP_MD* const sha512 = EVP_MD_fetch(nullptr, "SHA512", nullptr);
  const EVP_MD* md = hash == HkdfHash::kSha256 ? sha256 : sha512;
  if (md == nullptr) std::abort();
  return md;
}

struct MdCtxFree {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};

// HMAC (RFC 2104) on OpenSSL's digests. OpenSSL 3's one-shot HMAC() and its HKDF set up a
// provider MAC or KDF object, and parse parameters, on every call: several times the cost of
// the three or four compressions that keying a blinded index name or deriving a key needs, and
// the sealed-evidence paths do thousands of them per second (docs/performance.md, "Encryption's
// cost"). The construction is the standard one, checked against RFC 4231, RFC 5869 and
// OpenSSL's own HMAC in seal_test.cc. The key's inner and outer pads are hashed once, when the
// key is set; each MAC then starts from copies of those two states, so it costs the
// compressions of its own message and of the inner hash only.
class Hmac {
 public:
  static constexpr size_t kMaxBlock = 128;  // SHA-512's block; SHA-256's is 64
  static constexpr size_t kMaxOut = 64;

  Hmac() = default;
  // Wipes the key; resetting a context makes its provider wipe the state it held.
  ~Hmac() {
    OPENSSL_cleanse(key_.data(), key_.size());
    if (inner_) EVP_MD_CTX_reset(inner_.get());
    if (outer_) EVP_MD_CTX_reset(outer_.get());
  }
  Hmac(const Hmac&) = delete;
  Hmac& operator=(const Hmac&) = delete;

  // Keys this object: `key` under `hash`, and absorbs the two pads (initialising a context
  // again overwrites the state it held).
  void SetKey(HkdfHash hash, ByteView key) {
    OPENSSL_cleanse(key_.data(), key_.size());
    hash_ = hash;
    key_size_ = key.size();
    md_ = FetchedMd(hash);
    block_ = static_cast<size_t>(EVP_MD_get_block_size(md_));
    out_ = static_cast<size_t>(EVP_MD_get_size(md_));
    if (key.size() > block_) {  // RFC 2104: a key longer than a block is hashed first
      unsigned int len = 0;
      if (EVP_Digest(key.data(), key.size(), key_.data(), &len, md_, nullptr) != 1) std::abort();
    } else {
      std::copy(key.begin(), key.end(), key_.begin());
    }
    if (!inner_) inner_.reset(EVP_MD_CTX_new());
    if (!outer_) outer_.reset(EVP_MD_CTX_new());
    std::array<uint8_t, kMaxBlock> pad;
    for (size_t i = 0; i < block_; ++i) pad[i] = key_[i] ^ 0x36;
    bool ok = inner_ && outer_ && EVP_DigestInit_ex(inner_.get(), md_, nullptr) == 1 &&
              EVP_DigestUpdate(inner_.get(), pad.data(), block_) == 1;
    for (size_t i = 0; i < block_; ++i) pad[i] = key_[i] ^ 0x5c;
    ok = ok && EVP_DigestInit_ex(outer_.get(), md_, nullptr) == 1 &&
         EVP_DigestUpdate(outer_.get(), pad.data(), block_) == 1;
    OPENSSL_cleanse(pad.data(), pad.size());
    if (!ok) std::abort();  // only on allocation failure
    keyed_ = true;
  }

  // Whether this object was keyed with exactly `key` under `hash`, the bytes compared in
  // constant time. (A key that differs only by trailing zero bytes has the same MAC, but is
  // not found here: it is keyed afresh, which gives the same answer.)
  bool Holds(HkdfHash hash, ByteView key) const {
    return keyed_ && hash == hash_ && key.size() == key_size_ && key.size() <= block_ &&
           ConstantTimeEqual(key, ByteView(key_.data(), key.size()));
  }

  size_t size() const { return out_; }

  // HMAC(key, parts[0] || parts[1] || ...) into `out` (size() bytes).
  void Mac(std::initializer_list<ByteView> parts, uint8_t* out) const {
    EVP_MD_CTX* ctx = WorkCtx();
    std::array<uint8_t, kMaxOut> inner;
    unsigned int len = 0;
    bool ok = EVP_MD_CTX_copy_ex(ctx, inner_.get()) == 1;
    for (ByteView part : parts) ok = ok && EVP_DigestUpdate(ctx, part.data(), part.size()) == 1;
    ok = ok && EVP_DigestFinal_ex(ctx, inner.data(), &len) == 1 &&
         EVP_MD_CTX_copy_ex(ctx, outer_.get()) == 1 &&
         EVP_DigestUpdate(ctx, inner.data(), out_) == 1 && EVP_DigestFinal_ex(ctx, out, &len) == 1;
    OPENSSL_cleanse(inner.data(), inner.size());
    if (!ok) std::abort();  // only on allocation failure
  }

 private:
  // One work context per thread, into which the pads' states are copied for each MAC.
  static EVP_MD_CTX* WorkCtx() {
    thread_local std::unique_ptr<EVP_MD_CTX, MdCtxFree> ctx(EVP_MD_CTX_new());
    if (!ctx) std::abort();
    return ctx.get();
  }
  HkdfHash hash_ = HkdfHash::kSha256;
  size_t key_size_ = 0;  // as given, before padding or hashing
  const EVP_MD* md_ = nullptr;
  size_t block_ = 0;
  size_t out_ = 0;
  bool keyed_ = false;
  std::array<uint8_t, kMaxBlock> key_{};  // zero-padded to the block
  std::unique_ptr<EVP_MD_CTX, MdCtxFree> inner_, outer_;
};

// Per thread: the HMAC keys used last, their pads absorbed. The same few keys come back all the
// time (the archive key derives each entry's index key and case key, a case key its entries'
// keys, the store's index key blinds every name it looks up), so most derivations and blinded
// names find their key here and skip the pads. A key used once (a file key) takes the slot used
// least recently. What a slot holds is as secret as its key, and lives as long as the thread
// or until eight other keys have been used since: the keys it can hold are in the same
// process's memory anyway (docs/threat-model.md, "A seized running node"), as the AES contexts
// of aes_gcm.cc keep their last key's schedule.
class HmacCache {
 public:
  // Looked through most recent first; a key found, or keyed afresh in the least recent slot,
  // becomes the most recent.
  const Hmac& For(HkdfHash hash, ByteView key) {
    size_t found = order_.size() - 1;
    bool hit = false;
    for (size_t i = 0; i < order_.size(); ++i) {
      if (slots_[order_[i]].Holds(hash, key)) {
        found = i;
        hit = true;
        break;
      }
    }
    const uint8_t slot = order_[found];
    std::copy_backward(order_.begin(), order_.begin() + static_cast<std::ptrdiff_t>(found),
                       order_.begin() + static_cast<std::ptrdiff_t>(found) + 1);
    order_[0] = slot;
    if (!hit) slots_[slot].SetKey(hash, key);
    return slots_[slot];
  }

 private:
  std::array<Hmac, 8> slots_;
  std::array<uint8_t, 8> order_ = {0, 1, 2, 3, 4, 5, 6, 7};  // slot numbers, most recent first
};

const Hmac& KeyedHmac(HkdfHash hash, ByteView key) {
  thread_local HmacCache cache;
  return cache.For(hash, key);
}

}  // namespace

void HkdfExpand(HkdfHash hash, ByteView prk, ByteView info, std::span<uint8_t> out) {
  // RFC 5869 section 2.3: T(i) = HMAC(PRK, T(i-1) || info || i), at most 255 blocks.
  const Hmac& hmac = KeyedHmac(hash, prk);
  if (out.size() > 255 * hmac.size()) std::abort();  // a caller's bug, not an input
  std::array<uint8_t, Hmac::kMaxOut> block{};
  size_t done = 0;
  for (uint8_t i = 1; done < out.size(); ++i) {
    const uint8_t counter[1] = {i};
    ByteView previous(block.data(), i == 1 ? 0 : hmac.size());
    hmac.Mac({previous, info, ByteView(counter, 1)}, block.data());
    const size_t n = std::min(hmac.size(), out.size() - done);
    std::copy_n(block.begin(), n, out.begin() + static_cast<std::ptrdiff_t>(done));
    done += n;
  }
  OPENSSL_cleanse(block.data(), block.size());
}

Hash KeyedHash(const SymmetricKey& key, ByteView data) {
  Hash out{};
  KeyedHmac(HkdfHash::kSha256, key).Mac({data}, out.data());
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
