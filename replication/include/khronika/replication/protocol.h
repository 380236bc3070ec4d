// The sync protocol's wire format (docs/replication.md). Version 2 (format 2: what travels is
// ciphertext and ids of ciphertext only).
//
// Binary bodies are sequences of frames:  type (u8) || length (u32, big-endian) || payload.
// A pack holds, for each record in order: 'R' the 115-byte record, 'O' the object it logs (a
// SealedEntry, a RecoverySet or a ShareRelease, told apart by the object's type byte); then 'Z'
// with an empty payload. A chunk body holds 'C' frames whose payload is the sealed chunk's id
// (32 bytes) followed by the sealed chunk, then 'Z'.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "khronika/schemas/note.h"
#include "khronika/schemas/objects.h"
#include "khronika/schemas/sealed_objects.h"
#include "khronika/store/store.h"

namespace khronika {

inline constexpr int kSyncProtocolVersion = 2;
inline constexpr uint8_t kFrameRecord = 'R';
inline constexpr uint8_t kFrameObject = 'O';
inline constexpr uint8_t kFrameChunk = 'C';
inline constexpr uint8_t kFrameEnd = 'Z';
inline constexpr size_t kMaxRecordFrame = kRecordBytes;
// A sealed entry of a 1 TiB file is the largest object.
inline constexpr size_t kMaxObjectFrame = kMaxObjectBytes;
inline constexpr size_t kMaxChunkFrame = 32 + kSealedChunkSize;
inline constexpr size_t kMaxPackRecords = 512;
inline constexpr size_t kMaxPackBytes = 32 << 20;  // a pack stops growing past this
// A chunk request names at most this many ids: a pack's worth, so that a batch of small entries
// fetches its chunks in one round trip.
inline constexpr size_t kMaxChunksPerRequest = 512;
// Chunk answers are held whole in memory on both sides: at most this many bytes of sealed
// chunks in one (never fewer than one chunk) keeps both nodes' memory flat however large the
// file. The puller asks for no more than fits; the server leaves out what would not.
inline constexpr size_t kMaxChunkAnswerBytes = 4 << 20;

struct Frame {
  uint8_t type = 0;
  Bytes payload;
};

void AppendFrame(Bytes& out, uint8_t type, ByteView payload);
// Splits a body into frames, checking every length against its type's limit and that the body
// ends with exactly one 'Z' frame.
Result<std::vector<Frame>> ParseFrames(ByteView body);

// One log as a peer announces it.
struct Head {
  Hash origin{};
  uint64_t size = 0;
  std::string checkpoint;  // signed note
  // The largest size of this log at which the peer holds RFC 3161 tokens (0: none); heads JSON
  // "timestamped", absent for 0. A puller without tokens there asks for them (sync.h).
  uint64_t timestamped = 0;
};
Result<std::vector<Head>> LocalHeads(const ReadTxn& txn);
std::string HeadsToJson(const Hash& node_id, const std::vector<Head>& heads);
Result<std::vector<Head>> HeadsFromJson(std::string_view json_text);

// `note` with only the signature line of `origin` (its roster key): the form in which a log's
// checkpoints are kept, cosignatures being stored apart.
std::string OriginSignedNote(const SignedNote& note, const NoteVerifier& origin);

// Replicated RFC 3161 tokens (docs/replication.md, "Timestamps"): GET /v1/sync/timestamps?origin=O
// &size=N answers {"checkpoint": the origin-signed note of size N, "timestamps": [{"url",
// "token" (base64 DER), "chain" (PEM)}]}, at most kMaxTimestampsPerCheckpoint tokens (the first
// ones in key order), NotFound if none is held at N.
inline constexpr size_t kMaxTimestampsPerCheckpoint = 8;
inline constexpr size_t kMaxTimestampsAnswerBytes = 1 << 20;
Result<std::string> BuildTimestampsAnswer(const ReadTxn& txn, const Hash& origin, uint64_t size);

// Records [from, to) of `origin` with the objects they log, stopping early (never before one
// record) at kMaxPackRecords or kMaxPackBytes.
Result<Bytes> BuildPack(const ReadTxn& txn, const Hash& origin, uint64_t from, uint64_t to);

struct PackItem {
  Bytes record;
  Bytes object;  // the logged object's canonical bytes, unchecked (the importer checks them)
};
// Strictly 'R' then 'O' for each record, at most kMaxPackRecords of them.
Result<std::vector<PackItem>> ParsePack(ByteView body);

// Sealed chunks by id; a chunk missing or damaged here is left out (the asker looks elsewhere),
// and so is every chunk past kMaxChunkAnswerBytes.
Result<Bytes> BuildChunkBody(const ReadTxn& txn, const std::vector<Hash>& ids);
// Each returned chunk's bytes hash to the id it came with (checked here).
Result<std::vector<std::pair<Hash, Bytes>>> ParseChunkBody(ByteView body);

}  // namespace khronika
