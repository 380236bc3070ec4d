// The evidence object model's common ground (docs/format-2.md, byte by byte): format constants,
// the log record, the field rules, ids. The signed and sealed objects are in sealed_objects.h,
// the recovery objects in recovery_objects.h.
//
// Every object's id is the SHA-256 of its canonical bytes. Decoding accepts exactly the bytes
// that encoding produces: truncated, extended, oversized, unknown-version and non-canonical
// inputs are all rejected with InvalidArgument, never with a crash.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "khronika/schemas/bytes.h"
#include "khronika/schemas/crypto.h"

namespace khronika {

// ---- Format constants (change only with a new format version) ----
inline constexpr uint8_t kCerealLittleEndianMarker = 0x01;
// Format 2 (docs/format-2.md): evidence sealed at its origin. Format 1 is no longer read.
inline constexpr uint8_t kFormatVersion = 2;
inline constexpr uint8_t kTypeRecord = 'R';

// Plaintext upload chunks: what a submitter sends its origin (1 MiB, every chunk but a file's
// last full). They exist only on the way in: the origin seals the file and deletes them.
inline constexpr size_t kChunkSize = 1 << 20;
inline constexpr uint64_t kMaxFileSize = uint64_t{1} << 40;  // 1 TiB
inline constexpr size_t kMaxFileNameBytes = 255;
inline constexpr size_t kMaxMediaTypeBytes = 127;
inline constexpr size_t kMaxCaseIdBytes = 128;
inline constexpr size_t kMaxKindBytes = 32;
inline constexpr size_t kMaxFilesPerEntry = 1000;
inline constexpr size_t kMaxMetadataPairs = 64;
inline constexpr size_t kMaxMetadataKeyBytes = 64;
inline constexpr size_t kMaxMetadataValueBytes = 4096;
inline constexpr size_t kMaxMetadataTotalBytes = 32 * 1024;
inline constexpr size_t kMaxObjectBytes = 64 * 1024 * 1024;  // a sealed entry of a 1 TiB file fits

// A leaf of an origin node's log: 115 bytes. The case chain is not here (it is in the sealed
// entry's link box), so a partner cannot tell which records share a case.
struct Record {
  Hash origin{};          // node id of the log's origin (SHA-256 of its public key)
  uint64_t index = 0;     // position in the origin's log, from 0
  Hash prev_record{};     // RecordHash of record index-1; all zero for index 0
  Hash object_id{};       // the logged object: a SealedEntry, a RecoverySet or a ShareRelease
  int64_t received_at_ms = 0;

  bool operator==(const Record&) const = default;
};
inline constexpr size_t kRecordBytes = 3 + 32 + 8 + 32 + 32 + 8;

// ---- Validation of the fields that come from people ----
Status ValidateFileName(std::string_view name);
Status ValidateMediaType(std::string_view media_type);
Status ValidateCaseId(std::string_view case_id);
Status ValidateKind(std::string_view kind);
Status ValidateMetadata(const std::map<std::string, std::string>& metadata);

// ---- Canonical encoding ----
Bytes Encode(const Record& r);
Result<Record> DecodeRecord(ByteView bytes);
// The type byte of a canonical object, or an error if the header is not one of ours.
Result<uint8_t> PeekObjectType(ByteView bytes);

// ---- Ids and hashes ----
inline Hash ObjectId(ByteView canonical_bytes) { return Sha256(canonical_bytes); }
inline Hash ChunkId(ByteView chunk) { return Sha256(chunk); }
inline Hash RecordHash(ByteView record_bytes) { return Sha256(record_bytes); }
// RFC 6962 leaf hash: SHA-256(0x00 || record bytes).
Hash LeafHash(ByteView record_bytes);
// A node id: SHA-256 of the node's Ed25519 public key.
Hash NodeIdFromPublicKey(const PublicKey& key);
// "khronika/<64 hex>": the origin name of a node's log, its checkpoints' origin line and the key
// name of its note signatures (docs/format.md section 9).
std::string OriginName(const Hash& origin);

// A media type for a file name, from its extension; application/octet-stream when unknown.
std::string GuessMediaType(std::string_view file_name);
// The extension Khronika gives a file it writes out (court bundles, git mirror), from its media
// type alone: ".pdf", ".jpg", ...; ".bin" for any other type. Output paths are never made from
// the submitted name.
std::string_view FileExtensionFor(std::string_view media_type);

// Number of plaintext upload chunks a file of `size` bytes is cut into.
inline uint64_t ChunkCount(uint64_t size) { return (size + kChunkSize - 1) / kChunkSize; }
inline uint64_t ChunkLength(uint64_t size, uint64_t i) {
  uint64_t start = i * kChunkSize;
  return size - start < kChunkSize ? size - start : kChunkSize;
}

}  // namespace khronika
