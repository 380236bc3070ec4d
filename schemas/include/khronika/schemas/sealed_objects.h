// Format 2's evidence objects (docs/format-2.md): what the author signs (SignedEntry,
// FileDescriptor) and what the origin seals and every partner holds (SealedEntry, sealed chunks).
// The record that logs a sealed entry is Record (objects.h). Canonical encoding as in objects.h.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "khronika/schemas/bytes.h"
#include "khronika/schemas/chunked.h"
#include "khronika/schemas/crypto.h"
#include "khronika/schemas/objects.h"
#include "khronika/schemas/sealing.h"

namespace khronika {

inline constexpr uint8_t kTypeEntry = 'E';
inline constexpr uint8_t kTypeDescriptor = 'D';
inline constexpr uint8_t kTypeSealedEntry = 'S';

// Box sizes: padded plaintext, and the box (plus the 16-byte tag).
inline constexpr size_t kIndexBoxPadded = 160;
inline constexpr size_t kLinkBoxPadded = 36;
inline constexpr size_t kDescriptorBoxPadded = 512;
inline constexpr size_t kIndexBoxBytes = kIndexBoxPadded + kAeadTagBytes;
inline constexpr size_t kLinkBoxBytes = kLinkBoxPadded + kAeadTagBytes;
inline constexpr size_t kDescriptorBoxBytes = kDescriptorBoxPadded + kAeadTagBytes;
inline constexpr size_t kMaxEntryBoxBytes = 128 * 1024;
// Sealed files are stored and replicated in chunks of 1 MiB of ciphertext.
inline constexpr size_t kSealedChunkSize = 1 << 20;

inline constexpr std::string_view kEntrySignaturePrefix{"khronika entry signature v2\0", 28};

// A file as its author describes it: format 1's manifest without the chunk list.
struct FileDescriptor {
  std::string name;
  std::string media_type;
  uint64_t size = 0;
  Hash content_sha256{};

  bool operator==(const FileDescriptor&) const = default;
};

// The entry the author signs. `files` holds one salted commitment per file (FileCommitment of
// the file's descriptor bytes), so one file can be disclosed without the others.
struct SignedEntry {
  std::string case_id;
  PublicKey author{};
  int64_t created_at_ms = 0;
  std::string kind;
  std::vector<Hash> files;
  std::map<std::string, std::string> metadata;
  std::optional<Hash> corrects;  // the SealedEntry id of the entry this one corrects
  Signature signature{};

  bool operator==(const SignedEntry&) const = default;
};

struct SealedFile {
  std::array<uint8_t, kDescriptorBoxBytes> descriptor_box{};
  uint64_t sealed_size = 0;  // of the C2SP chunked-encryption message
  std::vector<Hash> chunks;  // SHA-256 of each 1 MiB piece of that message
  // A small file's whole sealed message (its one chunk), carried in the sealed entry itself:
  // present exactly when IsInlineSealedSize(sealed_size). See kMaxInlineSealedSize.
  Bytes inline_chunk;

  bool operator==(const SealedFile&) const = default;
};

// All that leaves the origin of an entry. Its id is the entry's public handle.
struct SealedEntry {
  EntryNonce nonce{};
  std::array<uint8_t, kIndexBoxBytes> index_box{};
  std::array<uint8_t, kLinkBoxBytes> link_box{};
  Bytes entry_box;
  std::vector<SealedFile> files;

  bool operator==(const SealedEntry&) const = default;
};

// ---- Validation and canonical encoding ----
Status ValidateDescriptor(const FileDescriptor& d);
Status ValidateSignedEntryFields(const SignedEntry& e);
// Sizes a partner can check without keys: box sizes, padded sealed sizes, chunk counts.
Status ValidateSealedEntry(const SealedEntry& e);

Bytes Encode(const FileDescriptor& d);
Bytes Encode(const SignedEntry& e);
Bytes Encode(const SealedEntry& e);
Result<FileDescriptor> DecodeDescriptor(ByteView bytes);
Result<SignedEntry> DecodeSignedEntry(ByteView bytes);
Result<SealedEntry> DecodeSealedEntry(ByteView bytes);

// ---- Author signatures ----
Bytes SignedEntryMessage(const SignedEntry& e);  // kEntrySignaturePrefix || SHA-256(unsigned)
void SignEntry(SignedEntry& e, const SigningKey& key);
bool VerifyEntrySignature(const SignedEntry& e);
// What an opener says of an entry whose author signature fails.
inline constexpr const char* kEntrySignatureFails = "the entry's author signature does not verify";
// One Ed25519 check, taken out of its opener so that a batch of them can run on every core
// (log/worker_pool.h). Whoever takes one must check it before trusting what it signs.
struct SignatureCheck {
  PublicKey key{};
  Bytes message;
  Signature signature{};
  bool Verify() const { return VerifySignature(key, message, signature); }
};
SignatureCheck EntrySignatureCheck(const SignedEntry& e);

// ---- Sizes of a sealed file ----
// The C2SP message length of a file of `size` bytes once padded.
inline uint64_t SealedFileSize(uint64_t size) { return ChunkedSealedSize(PaddedFileSize(size)); }
inline uint64_t SealedChunkCount(uint64_t sealed_size) {
  return (sealed_size + kSealedChunkSize - 1) / kSealedChunkSize;
}
inline uint64_t SealedChunkLength(uint64_t sealed_size, uint64_t i) {
  uint64_t start = i * kSealedChunkSize;
  return sealed_size - start < kSealedChunkSize ? sealed_size - start : kSealedChunkSize;
}

// A file padded to at most 4 KiB (a statement, a note, a small document) travels sealed inside
// its sealed entry rather than as a sealed chunk of its own: it is stored, synced, mirrored and
// verified with the entry, in log order, instead of one more object found by a random id.
inline constexpr uint64_t kMaxInlinePaddedSize = 4096;
inline constexpr uint64_t kMaxInlineSealedSize = ChunkedSealedSize(kMaxInlinePaddedSize);
inline constexpr bool IsInlineSealedSize(uint64_t sealed_size) {
  return sealed_size <= kMaxInlineSealedSize;
}

// ---- Sealing a file's content ----
// Pads and seals `size` bytes of content fed in any pieces, cutting the sealed message into
// 1 MiB chunks and handing each to `emit` as soon as it is full. Memory stays at one chunk. A
// small file's one chunk (IsInlineSealedSize) is not emitted: Finish() returns it as the
// SealedFile's inline_chunk, to be stored with its sealed entry.
class FileSealer {
 public:
  using Emit = std::function<Status(ByteView sealed_chunk, const Hash& chunk_id)>;
  FileSealer(const SymmetricKey& file_key, uint64_t size, const ChunkedSalt& salt, Emit emit);

  // InvalidArgument if more content arrives than `size` announced.
  Status Update(ByteView content);
  // InvalidArgument if less content arrived than announced. Returns the sealed size and chunk
  // ids; the content hash is the caller's to compare with the descriptor.
  Result<SealedFile> Finish();

 private:
  Status Flush(bool final);

  ChunkedSealer sealer_;
  uint64_t size_;
  uint64_t fed_ = 0;
  Emit emit_;
  Bytes pending_;  // sealed bytes not yet a full chunk
  SealedFile result_;
};

// ---- Sealing and opening an entry ----
// What the holder of a case key (or of an entry key and some file keys) learns of an entry.
struct FileOpening {
  FileDescriptor descriptor;
  CommitmentSalt salt{};
};

// Boxes of one entry. `files` gives each file's descriptor and the sealed content made by
// FileSealer (its descriptor_box is filled in here).
struct EntryToSeal {
  EntryNonce nonce{};
  std::string case_id;
  Hash prev_case_record{};
  Bytes signed_entry;  // canonical SignedEntry bytes
  // Optional: what `signed_entry` decodes to, when the caller made the bytes from it (Encode) and
  // checked it; SealEntry then does not decode them again. Not owned.
  const SignedEntry* decoded_entry = nullptr;
  std::vector<FileOpening> openings;
  std::vector<SealedFile> sealed_files;
};
Result<SealedEntry> SealEntry(const SymmetricKey& archive_key, const EntryToSeal& in);

// SealEntry in two steps. All but the link box is sealed first: the link box holds the case's
// previous record, which only the transaction that appends the entry knows, and the rest can be
// sealed on any thread before it (Log::Check), leaving the one thread that commits little to do.
class PresealedEntry {
 public:
  PresealedEntry() = default;
  PresealedEntry(PresealedEntry&&) noexcept = default;
  PresealedEntry& operator=(PresealedEntry&&) noexcept = default;
  ~PresealedEntry();

  // The sealed entry with its link box sealed over `prev_case_record` (zero for a case's first
  // entry): the bytes SealEntry makes of the same input.
  SealedEntry Finish(const Hash& prev_case_record) const;
  // Encode(Finish(prev_case_record)), without the copy of the entry.
  Bytes FinishEncoded(const Hash& prev_case_record) const;
  const std::vector<SealedFile>& files() const { return entry_.files; }

 private:
  friend Result<PresealedEntry> PresealEntry(const SymmetricKey&, const SymmetricKey&,
                                             const EntryToSeal&);
  std::array<uint8_t, kLinkBoxBytes> LinkBox(const Hash& prev_case_record) const;
  SealedEntry entry_;        // its link box not yet sealed
  SymmetricKey link_key_{};  // cleansed when this goes
};
// `case_key` is DeriveCaseKey(archive_key, in.case_id), which the caller has made already;
// `in.prev_case_record` is not used.
Result<PresealedEntry> PresealEntry(const SymmetricKey& archive_key, const SymmetricKey& case_key,
                                    const EntryToSeal& in);

// Each opener checks what it opens: the case id against the index box, the entry's signature
// and field rules, a descriptor against the entry's signed commitment for that file.
Result<std::string> OpenIndexBox(const SymmetricKey& archive_key, const SealedEntry& e);
Result<Hash> OpenLinkBox(const SymmetricKey& link_key, const SealedEntry& e);
// The signed entry in the entry box; Corruption if its signature does not verify or its number
// of files differs from the sealed entry's.
Result<SignedEntry> OpenEntryBox(const SymmetricKey& entry_key, const SealedEntry& e);
// OpenEntryBox with every check but the author signature's, which goes to `deferred`: the
// entry is not to be trusted until the caller has verified it.
Result<SignedEntry> OpenEntryBoxDeferringSignature(const SymmetricKey& entry_key,
                                                   const SealedEntry& e,
                                                   SignatureCheck& deferred);
// The checks of OpenEntryBox on an entry box that BoxOpen has opened already (its padded
// plaintext), the author signature deferred to `deferred` when that is set.
Result<SignedEntry> SignedEntryFromOpenedBox(ByteView padded, const SealedEntry& e,
                                             SignatureCheck* deferred);
Result<FileOpening> OpenDescriptorBox(const SymmetricKey& file_key, const SealedEntry& e,
                                      const SignedEntry& signed_entry, uint32_t file_index);

}  // namespace khronika
