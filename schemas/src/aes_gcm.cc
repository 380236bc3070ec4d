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

}  // namespace

CipherCtx SealContext(const uint8_t* key) {
  CipherCtx ctx(EVP_CIPHER_CTX_new());
  if (!ctx || EVP_EncryptInit_ex(ctx.get(), Cipher(), nullptr, key, nullptr) != 1) {
    std::abort();
  }
  return ctx;
}

CipherCtx OpenContext(const uint8_t* key) {
  CipherCtx ctx(EVP_CIPHER_CTX_new());
  if (!ctx || EVP_DecryptInit_ex(ctx.get(), Cipher(), nullptr, key, nullptr) != 1) {
    std::abort();
  }
  return ctx;
}

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
