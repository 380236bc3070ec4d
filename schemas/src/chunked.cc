#include "khronika/schemas/chunked.h"

#include "aes_gcm.h"

#include <openssl/crypto.h>

#include <algorithm>
#include <cstdlib>
#include <memory>

namespace khronika {
namespace {

constexpr std::string_view kInfoPrefix = "c2sp.org/chunked-encryption@v1+AEAD_AES_256_GCM";

std::array<uint8_t, kAeadNonceBytes> ChunkNonce(const ChunkedKeys& keys, uint64_t index) {
  std::array<uint8_t, kAeadNonceBytes> nonce = keys.base_nonce;
  for (int i = 0; i < 8; ++i) {
    nonce[kAeadNonceBytes - 1 - i] ^= static_cast<uint8_t>(index >> (8 * i));
  }
  return nonce;
}

}  // namespace

Result<uint64_t> ChunkedPlaintextSize(uint64_t sealed_size) {
  if (sealed_size < kChunkedHeaderBytes + kAeadTagBytes) {
    return Status::InvalidArgument("a sealed message is at least 72 bytes");
  }
  uint64_t body = sealed_size - kChunkedHeaderBytes;
  uint64_t full = body / kChunkedSealedChunk;
  uint64_t rest = body % kChunkedSealedChunk;
  // The final chunk carries a tag and fewer than 16 KiB: a remainder shorter than a tag can only
  // be a cut message.
  if (rest < kAeadTagBytes) return Status::InvalidArgument("the sealed message is truncated");
  uint64_t plain = full * kChunkedPlainChunk + (rest - kAeadTagBytes);
  if (plain > kChunkedMaxPlaintext) return Status::InvalidArgument("the sealed message is too large");
  return plain;
}

ChunkedKeys::~ChunkedKeys() {
  OPENSSL_cleanse(key.data(), key.size());
  OPENSSL_cleanse(base_nonce.data(), base_nonce.size());
}

ChunkedKeys DeriveChunkedKeys(const SymmetricKey& input_key, const ChunkedSalt& salt,
                              ByteView context) {
  Bytes info(kInfoPrefix.begin(), kInfoPrefix.end());
  info.push_back(0x00);
  info.insert(info.end(), salt.begin(), salt.end());
  info.insert(info.end(), context.begin(), context.end());
  std::array<uint8_t, 32 + kAeadNonceBytes + kChunkedCommitmentBytes> out{};
  HkdfExpand(HkdfHash::kSha512, input_key, info, out);
  ChunkedKeys keys;
  std::copy_n(out.begin(), 32, keys.key.begin());
  std::copy_n(out.begin() + 32, kAeadNonceBytes, keys.base_nonce.begin());
  std::copy_n(out.begin() + 32 + kAeadNonceBytes, kChunkedCommitmentBytes, keys.commitment.begin());
  OPENSSL_cleanse(out.data(), out.size());
  return keys;
}

ChunkedSealer::ChunkedSealer(const SymmetricKey& input_key, const ChunkedSalt& salt,
                             ByteView context)
    : salt_(salt), keys_(DeriveChunkedKeys(input_key, salt, context)) {
  buffer_.reserve(kChunkedPlainChunk);
}

ChunkedSealer::~ChunkedSealer() { OPENSSL_cleanse(buffer_.data(), buffer_.size()); }

void ChunkedSealer::Header(Bytes& out) const {
  out.insert(out.end(), salt_.begin(), salt_.end());
  out.insert(out.end(), keys_.commitment.begin(), keys_.commitment.end());
}

Status ChunkedSealer::Update(ByteView plaintext, Bytes& out) {
  if (finished_) return Status::InvalidArgument("the sealed message is already finished");
  uint64_t so_far = next_chunk_ * kChunkedPlainChunk + buffer_.size();
  if (plaintext.size() > kChunkedMaxPlaintext - so_far) {
    return Status::InvalidArgument("the message is larger than a sealed file may be");
  }
  while (!plaintext.empty()) {
    if (buffer_.empty() && plaintext.size() >= kChunkedPlainChunk) {
      SealChunk(plaintext.first(kChunkedPlainChunk), out);
      plaintext = plaintext.subspan(kChunkedPlainChunk);
      continue;
    }
    size_t take = std::min(plaintext.size(), kChunkedPlainChunk - buffer_.size());
    buffer_.insert(buffer_.end(), plaintext.begin(), plaintext.begin() + take);
    plaintext = plaintext.subspan(take);
    if (buffer_.size() == kChunkedPlainChunk) {
      SealChunk(buffer_, out);
      OPENSSL_cleanse(buffer_.data(), buffer_.size());
      buffer_.clear();
    }
  }
  return Status::Ok();
}

void ChunkedSealer::Finish(Bytes& out) {
  if (finished_) return;
  // Always a final chunk shorter than 16 KiB, empty if the plaintext filled the last one.
  SealChunk(buffer_, out);
  OPENSSL_cleanse(buffer_.data(), buffer_.size());
  buffer_.clear();
  finished_ = true;
}

void ChunkedSealer::SealChunk(ByteView plain, Bytes& out) {
  auto nonce = ChunkNonce(keys_, next_chunk_++);
  size_t at = out.size();
  out.resize(at + plain.size() + kAeadTagBytes);
  aes_gcm::Seal(aes_gcm::ThreadSealContext(keys_.key.data()), nonce.data(), {}, plain,
                out.data() + at);
}

Result<ChunkedOpener> ChunkedOpener::Open(const SymmetricKey& input_key, ByteView header,
                                          ByteView context) {
  if (header.size() != kChunkedHeaderBytes) {
    return Status::InvalidArgument("a sealed message starts with a 56-byte header");
  }
  ChunkedSalt salt;
  std::copy_n(header.begin(), kChunkedSaltBytes, salt.begin());
  ChunkedOpener opener;
  opener.keys_ = DeriveChunkedKeys(input_key, salt, context);
  if (!ConstantTimeEqual(opener.keys_.commitment, header.subspan(kChunkedSaltBytes))) {
    return Status::PermissionDenied("the key does not open this sealed message");
  }
  return opener;
}

Result<Bytes> ChunkedOpener::OpenChunk(uint64_t index, ByteView sealed_chunk, bool last) const {
  Bytes out(sealed_chunk.size() >= kAeadTagBytes ? sealed_chunk.size() - kAeadTagBytes : 0);
  KH_RETURN_IF_ERROR(OpenChunkInto(index, sealed_chunk, last, out.data()));
  return out;
}

Status ChunkedOpener::OpenChunkInto(uint64_t index, ByteView sealed_chunk, bool last,
                                    uint8_t* out) const {
  if (sealed_chunk.size() < kAeadTagBytes || sealed_chunk.size() > kChunkedSealedChunk) {
    return Status::Corruption("sealed chunk " + std::to_string(index) + " has a wrong length");
  }
  const size_t n = sealed_chunk.size() - kAeadTagBytes;
  if (last ? n >= kChunkedPlainChunk : n != kChunkedPlainChunk) {
    return Status::Corruption("sealed chunk " + std::to_string(index) +
                              (last ? " is full, so the message was cut short"
                                    : " is short but is not the last"));
  }
  if (index >= (uint64_t{1} << 38)) return Status::InvalidArgument("chunk index out of range");
  auto nonce = ChunkNonce(keys_, index);
  if (!aes_gcm::Open(aes_gcm::ThreadOpenContext(keys_.key.data()), nonce.data(), {}, sealed_chunk,
                     out)) {
    return Status::Corruption("sealed chunk " + std::to_string(index) +
                              " does not authenticate: it was altered or moved");
  }
  return Status::Ok();
}

Bytes ChunkedSeal(const SymmetricKey& input_key, const ChunkedSalt& salt, ByteView context,
                  ByteView plaintext) {
  ChunkedSealer sealer(input_key, salt, context);
  Bytes out;
  out.reserve(ChunkedSealedSize(plaintext.size()));
  sealer.Header(out);
  if (!sealer.Update(plaintext, out).ok()) std::abort();  // callers pass in-memory values
  sealer.Finish(out);
  return out;
}

Result<Bytes> ChunkedOpen(const SymmetricKey& input_key, ByteView context, ByteView sealed) {
  KH_ASSIGN_OR_RETURN(uint64_t plain_size, ChunkedPlaintextSize(sealed.size()));
  KH_ASSIGN_OR_RETURN(ChunkedOpener opener,
                      ChunkedOpener::Open(input_key, sealed.first(kChunkedHeaderBytes), context));
  Bytes out;
  out.reserve(plain_size);
  uint64_t chunks = ChunkedChunkCount(plain_size);
  ByteView body = sealed.subspan(kChunkedHeaderBytes);
  for (uint64_t k = 0; k < chunks; ++k) {
    size_t len = std::min<size_t>(body.size(), kChunkedSealedChunk);
    KH_ASSIGN_OR_RETURN(Bytes plain, opener.OpenChunk(k, body.first(len), k + 1 == chunks));
    out.insert(out.end(), plain.begin(), plain.end());
    OPENSSL_cleanse(plain.data(), plain.size());
    body = body.subspan(len);
  }
  return out;
}

}  // namespace khronika
