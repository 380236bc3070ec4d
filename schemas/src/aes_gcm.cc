#include "aes_gcm.h"

#include <openssl/crypto.h>

#include <algorithm>
#include <cstdlib>

namespace khronika::aes_gcm {
namespace {

// Fetched once for the process: Cipher() makes OpenSSL 3 look the implementation up in
// its providers on every context, which costs more than sealing a small box.
const EVP_CIPHER* Cipher() {
  static EVP_CIPHER* const cipher = EVP_CIPHER_fetch(nullptr, "AES-256-GCM", nullptr);
  if (cipher == nullptr) std::abort();
  return cipher;
}

struct ThreadContext {
  CipherCtx ctx{EVP_CIPHER_CTX_new()};
  uint8_t key[32] = {};
  bool keyed = false;
  bool has_cipher = false;  // the context is set up for AES-256-GCM in its direction
  ~ThreadContext() { OPENSSL_cleanse(key, sizeof(key)); }
};
thread_local ThreadContext t_seal;
thread_local ThreadContext t_open;

EVP_CIPHER_CTX* Keyed(ThreadContext& t, bool seal, const uint8_t* key) {
  if (!t.ctx) std::abort();
  if (!t.keyed || CRYPTO_memcmp(t.key, key, sizeof(t.key)) != 0) {
    // Once the context holds the cipher, only the key is given: naming the cipher again makes
    // OpenSSL 3 set the whole context up anew, half as much again as expanding the key (format
    // 2 seals each box under a key of its own).
    const EVP_CIPHER* cipher = t.has_cipher ? nullptr : Cipher();
    const int ok = seal ? EVP_EncryptInit_ex(t.ctx.get(), cipher, nullptr, key, nullptr)
                        : EVP_DecryptInit_ex(t.ctx.get(), cipher, nullptr, key, nullptr);
    if (ok != 1) std::abort();
    t.has_cipher = true;
    std::copy(key, key + sizeof(t.key), t.key);
    t.keyed = true;
  }
  return t.ctx.get();
}

}  // namespace

EVP_CIPHER_CTX* ThreadSealContext(const uint8_t* key) { return Keyed(t_seal, true, key); }
EVP_CIPHER_CTX* ThreadOpenContext(const uint8_t* key) { return Keyed(t_open, false, key); }

void Seal(EVP_CIPHER_CTX* ctx, const uint8_t* nonce, ByteView associated_data, ByteView plaintext,
          uint8_t* out) {
  int len = 0;
  bool ok = EVP_EncryptInit_ex(ctx, nullptr, nullptr, nullptr, nonce) == 1 &&
            (associated_data.empty() ||
             EVP_EncryptUpdate(ctx, nullptr, &len, associated_data.data(),
                               static_cast<int>(associated_data.size())) == 1) &&
            (plaintext.empty() || EVP_EncryptUpdate(ctx, out, &len, plaintext.data(),
                                                    static_cast<int>(plaintext.size())) == 1) &&
            EVP_EncryptFinal_ex(ctx, out + plaintext.size(), &len) == 1 &&
            EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, kAeadTagBytes,
                                out + plaintext.size()) == 1;
  if (!ok) std::abort();
}

bool Open(EVP_CIPHER_CTX* ctx, const uint8_t* nonce, ByteView associated_data, ByteView sealed,
          uint8_t* out) {
  const size_t n = sealed.size() - kAeadTagBytes;
  uint8_t tag[kAeadTagBytes];
  std::copy(sealed.end() - kAeadTagBytes, sealed.end(), tag);
  int len = 0;
  bool ok = EVP_DecryptInit_ex(ctx, nullptr, nullptr, nullptr, nonce) == 1 &&
            (associated_data.empty() ||
             EVP_DecryptUpdate(ctx, nullptr, &len, associated_data.data(),
                               static_cast<int>(associated_data.size())) == 1) &&
            (n == 0 ||
             EVP_DecryptUpdate(ctx, out, &len, sealed.data(), static_cast<int>(n)) == 1) &&
            EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, kAeadTagBytes, tag) == 1 &&
            EVP_DecryptFinal_ex(ctx, out + n, &len) == 1;
  if (!ok) OPENSSL_cleanse(out, n);
  return ok;
}

}  // namespace khronika::aes_gcm
