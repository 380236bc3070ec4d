// The evidence object model and its one canonical byte encoding (docs/format.md, byte by byte).
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
inline constexpr uint8_t kFormatVersion = 1;
inline constexpr uint8_t kTypeManifest = 'M';
inline constexpr uint8_t kTypeEntry = 'E';
inline constexpr uint8_t kTypeRecord = 'R';

inline constexpr size_t kChunkSize = 1 << 20;  // 1 MiB: every chunk but a file's last is full
inline constexpr uint64_t kMaxFileSize = uint64_t{1} << 40;  // 1 TiB
inline constexpr size_t kMaxFileNameBytes = 255;
inline constexpr size_t kMaxMediaTypeBytes = 127;
inline constexpr size_t kMaxCaseIdBytes = 128;
inline constexpr size_t kMaxKindBytes = 32;
inline constexpr size_t kMaxManifestsPerEntry = 1000;
inline constexpr size_t kMaxMetadataPairs = 64;
inline constexpr size_t kMaxMetadataKeyBytes = 64;
inline constexpr size_t kMaxMetadataValueBytes = 4096;
inline constexpr size_t kMaxMetadataTotalBytes = 32 * 1024;
inline constexpr size_t kMaxObjectBytes = 64 * 1024 * 1024;  // a 1 TiB file's manifest fits

// The message an author signs: this prefix, then the SHA-256 of the entry's unsigned bytes.
inline constexpr std::string_view kEntrySignaturePrefix{"khronika entry signature v1\0", 28};

struct FileManifest {
  std::string name;        // a plain file name: see ValidateFileName
  std::string media_type;  // "type/subtype", lowercase
  uint64_t size = 0;
  Hash content_sha256{};
  std::vector<Hash> chunks;  // ceil(size / kChunkSize) chunk ids, in order

  bool operator==(const FileManifest&) const = default;
};

struct Entry {
  std::string case_id;
  PublicKey author{};
  int64_t created_at_ms = 0;  // author-claimed, milliseconds since the Unix epoch
  std::string kind;           // "evidence", "note", "correction", ...
  std::vector<Hash> manifests;
  std::map<std::string, std::string> metadata;
  std::optional<Hash> corrects;  // id of an entry this one corrects
  Signature signature{};

  bool operator==(const Entry&) const = default;
};

// A leaf of an origin node's log.
struct Record {
  Hash origin{};            // node id of the log's origin (SHA-256 of its public key)
  uint64_t index = 0;       // position in the origin's log, from 0
  Hash prev_record{};       // RecordHash of record index-1; all zero for index 0
  Hash entry_id{};
  Hash prev_case_record{};  // RecordHash of the previous record of the same case; zero if first
  int64_t received_at_ms = 0;

  bool operator==(const Record&) const = default;
};

// ---- Validation of the fields that come from people ----
Status ValidateFileName(std::string_view name);
Status ValidateMediaType(std::string_view media_type);
Status ValidateCaseId(std::string_view case_id);
Status ValidateKind(std::string_view kind);
Status ValidateMetadata(const std::map<std::string, std::string>& metadata);
Status ValidateManifest(const FileManifest& m);
Status ValidateEntryFields(const Entry& e);

// ---- Canonical encoding ----
Bytes Encode(const FileManifest& m);
Bytes Encode(const Entry& e);
Bytes Encode(const Record& r);
Result<FileManifest> DecodeManifest(ByteView bytes);
Result<Entry> DecodeEntry(ByteView bytes);
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

// ---- Entry signatures ----
Bytes EntrySigningMessage(const Entry& e);  // kEntrySignaturePrefix || SHA-256(unsigned bytes)
void SignEntry(Entry& e, const SigningKey& key);  // sets author and signature
bool VerifyEntrySignature(const Entry& e);

// A media type for a file name, from its extension; application/octet-stream when unknown.
std::string GuessMediaType(std::string_view file_name);
// The extension Khronika gives a file it writes out (court bundles, git mirror), from its media
// type alone: ".pdf", ".jpg", ...; ".bin" for any other type. Output paths are never made from
// the submitted name.
std::string_view FileExtensionFor(std::string_view media_type);

// Number of chunks a file of `size` bytes is cut into.
inline uint64_t ChunkCount(uint64_t size) { return (size + kChunkSize - 1) / kChunkSize; }
inline uint64_t ChunkLength(uint64_t size, uint64_t i) {
  uint64_t start = i * kChunkSize;
  return size - start < kChunkSize ? size - start : kChunkSize;
}

}  // namespace khronika
