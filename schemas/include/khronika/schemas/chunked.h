// C2SP chunked-encryption, instantiated as Cobblestone-256 (HKDF-Expand with SHA-512, AES-256-GCM,
// 16 KiB chunks, a 32-byte key commitment): how format 2 seals a file (docs/format.md).
//
//   sealed message = salt (24) || commitment (32) || chunk 0 || chunk 1 || ... || final chunk
//   chunk k        = AES-256-GCM(key, base_nonce XOR k, plaintext[k*16384, ...)) || tag (16)
//
// Every chunk but the last holds exactly 16 KiB of plaintext; the last holds less (possibly
// nothing), which is what marks the end: a truncated message cannot look complete. Any chunk can
// be opened on its own, so a sealed file can be read from any offset.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

#include "khronika/schemas/bytes.h"
#include "khronika/schemas/seal.h"

namespace khronika {

inline constexpr size_t kChunkedSaltBytes = 24;
inline constexpr size_t kChunkedCommitmentBytes = 32;
inline constexpr size_t kChunkedHeaderBytes = kChunkedSaltBytes + kChunkedCommitmentBytes;  // 56
inline constexpr size_t kChunkedPlainChunk = 16 * 1024;
inline constexpr size_t kChunkedSealedChunk = kChunkedPlainChunk + kAeadTagBytes;  // 16400
// The specification allows 2^38 chunks; we stop far below, at the largest file we accept.
inline constexpr uint64_t kChunkedMaxPlaintext = uint64_t{1} << 41;

using ChunkedSalt = std::array<uint8_t, kChunkedSaltBytes>;

// Length of the sealed message for `plaintext_size` bytes of plaintext.
constexpr uint64_t ChunkedSealedSize(uint64_t plaintext_size) {
  return kChunkedHeaderBytes + (plaintext_size / kChunkedPlainChunk) * kChunkedSealedChunk +
         plaintext_size % kChunkedPlainChunk + kAeadTagBytes;
}
// The plaintext length a sealed message of `sealed_size` bytes holds, or InvalidArgument if no
// plaintext seals to that length (too short, or a length that can only be a truncation).
Result<uint64_t> ChunkedPlaintextSize(uint64_t sealed_size);
// Number of AEAD chunks (including the short final one) in a message of `plaintext_size` bytes.
inline uint64_t ChunkedChunkCount(uint64_t plaintext_size) {
  return plaintext_size / kChunkedPlainChunk + 1;
}

// The derived per-message secrets of the specification's key derivation.
struct ChunkedKeys {
  SymmetricKey key{};
  std::array<uint8_t, kAeadNonceBytes> base_nonce{};
  std::array<uint8_t, kChunkedCommitmentBytes> commitment{};
  ~ChunkedKeys();
};
// key || base nonce || commitment = HKDF-Expand-SHA-512(input key,
//   "c2sp.org/chunked-encryption@v1+AEAD_AES_256_GCM" || 0x00 || salt || context)
ChunkedKeys DeriveChunkedKeys(const SymmetricKey& input_key, const ChunkedSalt& salt,
                              ByteView context);

// Streaming encryption: Header() first, then Update() as plaintext arrives, then Finish() once.
// Each call appends whole sealed chunks to `out`; at most 16 KiB of plaintext is buffered.
class ChunkedSealer {
 public:
  ChunkedSealer(const SymmetricKey& input_key, const ChunkedSalt& salt, ByteView context);
  ~ChunkedSealer();
  ChunkedSealer(const ChunkedSealer&) = delete;
  ChunkedSealer& operator=(const ChunkedSealer&) = delete;

  void Header(Bytes& out) const;
  // InvalidArgument once the message would exceed kChunkedMaxPlaintext.
  Status Update(ByteView plaintext, Bytes& out);
  void Finish(Bytes& out);

 private:
  void SealChunk(ByteView plain, Bytes& out);

  ChunkedSalt salt_;
  ChunkedKeys keys_;
  Bytes buffer_;
  uint64_t next_chunk_ = 0;
  bool finished_ = false;
};

// Opening: check the header (salt and key commitment) once, then open chunks in any order.
class ChunkedOpener {
 public:
  // PermissionDenied if the key commitment does not match: wrong key, wrong context, or an
  // altered salt. InvalidArgument if `header` is not 56 bytes.
  static Result<ChunkedOpener> Open(const SymmetricKey& input_key, ByteView header,
                                    ByteView context);
  ChunkedOpener(ChunkedOpener&&) noexcept = default;
  ChunkedOpener& operator=(ChunkedOpener&&) noexcept = default;

  // Opens chunk `index` (its sealed bytes, tag included). `last` says whether the caller expects
  // it to be the final chunk: a final chunk must hold less than 16 KiB and any other exactly
  // 16 KiB, so a message cut at a chunk boundary is refused. Corruption if the tag fails.
  Result<Bytes> OpenChunk(uint64_t index, ByteView sealed_chunk, bool last) const;
  // The same into `out`, which has room for sealed_chunk.size() - 16 bytes: for a reader that
  // opens straight into the buffer it hands on. On failure `out` holds nothing of the chunk.
  Status OpenChunkInto(uint64_t index, ByteView sealed_chunk, bool last, uint8_t* out) const;

 private:
  ChunkedOpener() = default;
  ChunkedKeys keys_;
};

// Whole-message helpers, for small values and tests.
Bytes ChunkedSeal(const SymmetricKey& input_key, const ChunkedSalt& salt, ByteView context,
                  ByteView plaintext);
Result<Bytes> ChunkedOpen(const SymmetricKey& input_key, ByteView context, ByteView sealed);

}  // namespace khronika
