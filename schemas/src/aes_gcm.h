// AES-256-GCM through OpenSSL, the one place that drives its cipher contexts: the store's values
// (seal.cc, random nonces), C2SP chunked encryption (chunked.cc, counter nonces) and format 2's
// single-use boxes (sealing.cc, a zero nonce) all seal and open through here. Private to schemas/.
#pragma once

#include <openssl/evp.h>

#include <cstdint>
#include <memory>

#include "khronika/schemas/bytes.h"
#include "khronika/schemas/seal.h"

namespace khronika::aes_gcm {

struct CipherCtxFree {
  void operator()(EVP_CIPHER_CTX* c) const { EVP_CIPHER_CTX_free(c); }
};
using CipherCtx = std::unique_ptr<EVP_CIPHER_CTX, CipherCtxFree>;

// This thread's own context for sealing (opening) under the 32-byte `key`, valid until the
// thread's next call: keyed again only when the key differs from the one it last held. Making
// and freeing a context costs more than sealing a small box, and a file's 16 KiB chunks share
// one key. The thread keeps the last key and its schedule until it is given another or exits.
EVP_CIPHER_CTX* ThreadSealContext(const uint8_t* key);
EVP_CIPHER_CTX* ThreadOpenContext(const uint8_t* key);

// Seals `plaintext` under the context's key and the 12-byte `nonce`, writing ciphertext || tag
// (plaintext.size() + 16 bytes) at `out`. Aborts only on allocation failure or misuse.
void Seal(EVP_CIPHER_CTX* ctx, const uint8_t* nonce, ByteView associated_data, ByteView plaintext,
          uint8_t* out);
// Opens ciphertext || tag (at least 16 bytes) into `out` (size - 16 bytes). False if the tag
// fails, with `out` wiped.
[[nodiscard]] bool Open(EVP_CIPHER_CTX* ctx, const uint8_t* nonce, ByteView associated_data,
                        ByteView sealed, uint8_t* out);

}  // namespace khronika::aes_gcm
