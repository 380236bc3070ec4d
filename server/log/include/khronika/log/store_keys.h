// How the log lays its data out in the store's tables (docs/format.md, "Store layout").
// Integers in keys are big-endian so that key order is numeric order.
#pragma once

#include <algorithm>
#include <string_view>

#include "khronika/schemas/bytes.h"
#include "khronika/store/store.h"

namespace khronika::keys {

inline Bytes Record(const Hash& origin, uint64_t index) {
  Bytes k(origin.begin(), origin.end());
  AppendBigEndian64(k, index);
  return k;
}
inline Bytes Tree(const Hash& origin, unsigned level, uint64_t index) {
  Bytes k(origin.begin(), origin.end());
  k.push_back(static_cast<uint8_t>(level));
  AppendBigEndian64(k, index);
  return k;
}
inline Bytes Checkpoint(const Hash& origin, uint64_t size) { return Record(origin, size); }
// The object that record `index` of `origin`'s log names (Table::kObjects): kept in log order,
// so that appending an entry writes at the end of the table, not at a random place in it.
inline Bytes Object(const Hash& origin, uint64_t index) { return Record(origin, index); }
// The end mark of `origin`'s objects: the key after every index a log can reach, with an empty
// value, written with the log's first object and never read. It keeps LMDB from leaving the
// objects table's pages half empty. An append lands at the end of a page and, for values of a
// third to a half of a page (a sealed entry carrying a small file: a statement, a note), LMDB
// splits a full page so that the old page keeps one value and the new page two, and so on: one
// object a page. With the mark after the log's last object, the append lands inside the page,
// and the split keeps the old page full (docs/format.md section 12).
inline constexpr uint64_t kObjectsEndIndex = ~uint64_t{0};
inline Bytes ObjectsEnd(const Hash& origin) { return Record(origin, kObjectsEndIndex); }
inline bool IsObjectsEnd(ByteView object_key) {
  return object_key.size() == 40 &&
         std::all_of(object_key.begin() + 32, object_key.end(), [](uint8_t b) { return b == 0xff; });
}
// Case ids and author keys appear in index keys only as the transaction's Blind form: in an
// encrypted store a keyed hash, so that a seized disk does not list the cases or the people.
// Every case's records, in all logs.
inline Bytes CaseIdPrefix(const ReadTxn& txn, std::string_view case_id) {
  Bytes k = txn.Blind(AsBytes(case_id));
  k.push_back(0);
  return k;
}
inline Bytes CasePrefix(const ReadTxn& txn, std::string_view case_id, const Hash& origin) {
  Bytes k = CaseIdPrefix(txn, case_id);
  k.insert(k.end(), origin.begin(), origin.end());
  return k;
}
// The record at `index` under a CasePrefix already made (the keyed hash costs a microsecond).
inline Bytes CaseRecord(Bytes case_prefix, uint64_t index) {
  AppendBigEndian64(case_prefix, index);
  return case_prefix;
}
inline Bytes CaseRecord(const ReadTxn& txn, std::string_view case_id, const Hash& origin,
                        uint64_t index) {
  return CaseRecord(CasePrefix(txn, case_id, origin), index);
}
inline Bytes Author(const ReadTxn& txn, const PublicKey& author) { return txn.Blind(author); }

// (The Name functions give what is blinded, for a data-key rotation, which blinds it anew.)
// A plaintext upload chunk (Table::kUploadChunks) sent by `uploader` (a token id; empty for the
// operator's local `add`). Each uploader's chunks are its own, so that sealing one submission
// and deleting its upload chunks never takes content from another uploader's pending one.
inline Bytes UploadChunkName(std::string_view uploader, const Hash& chunk) {
  Bytes name{'u', 'p', 'c', 'h', 'u', 'n', 'k', 0};
  name.insert(name.end(), uploader.begin(), uploader.end());
  name.push_back(0);
  name.insert(name.end(), chunk.begin(), chunk.end());
  return name;
}
inline Bytes UploadChunk(const ReadTxn& txn, std::string_view uploader, const Hash& chunk) {
  return txn.Blind(UploadChunkName(uploader, chunk));
}
// A signed entry already logged here (Table::kSignedEntries), by the SHA-256 of its bytes.
inline Bytes SignedEntryName(const Hash& signed_entry_hash) {
  Bytes name{'s', 'i', 'g', 'n', 'e', 'd', 0};
  name.insert(name.end(), signed_entry_hash.begin(), signed_entry_hash.end());
  return name;
}
inline Bytes SignedEntry(const ReadTxn& txn, const Hash& signed_entry_hash) {
  return txn.Blind(SignedEntryName(signed_entry_hash));
}
inline Bytes EntryLocation(const Hash& origin, uint64_t index) { return Record(origin, index); }

// A place in a log: what Record, EntryLocation and Checkpoint (origin, size) encode, and what a
// CaseRecord key ends with.
struct Position {
  Hash origin{};
  uint64_t index = 0;
};
inline Result<Position> DecodePosition(ByteView bytes) {
  if (bytes.size() != 40) return Status::Corruption("a log position is not 40 bytes");
  Position p;
  std::copy(bytes.begin(), bytes.begin() + 32, p.origin.begin());
  p.index = ReadBigEndian64(bytes.data() + 32);
  return p;
}
// A Merkle tree node's key (Tree).
struct TreePosition {
  Hash origin{};
  unsigned level = 0;
  uint64_t index = 0;
};
inline Result<TreePosition> DecodeTree(ByteView key) {
  if (key.size() != 41) return Status::Corruption("a tree key is not 41 bytes");
  TreePosition t;
  std::copy(key.begin(), key.begin() + 32, t.origin.begin());
  t.level = key[32];
  t.index = ReadBigEndian64(key.data() + 33);
  return t;
}
inline Result<Position> DecodeCaseRecord(ByteView key) {
  if (key.size() < 41 || key[key.size() - 41] != 0) {
    return Status::Corruption("a case index key has the wrong form");
  }
  return DecodePosition(key.subspan(key.size() - 40));
}

// A cosignature of `origin`'s checkpoint at `size` by the witness key `name`.
inline Bytes Cosignature(const Hash& origin, uint64_t size, std::string_view name) {
  Bytes k = Checkpoint(origin, size);
  k.insert(k.end(), name.begin(), name.end());
  return k;
}
// The checkpoint (origin, size) a Cosignature key belongs to.
inline Result<Position> DecodeCosignature(ByteView key) {
  if (key.size() <= 40) return Status::Corruption("a cosignature key is too short");
  return DecodePosition(key.first(40));
}

inline constexpr std::string_view kMetaNodeName = "node_name";
inline constexpr std::string_view kMetaLocalOrigin = "local_origin";
// Present while a node that took back an old identity has not yet pulled its own log back:
// appending then would fork the log it signed before.
inline constexpr std::string_view kMetaRestorePending = "restore_pending";
// "adopted/" || origin (32): a log this node opens with its archive key although another node
// signed it: the log of a destroyed node whose archive key a recovery gave back (AdoptLog).
inline constexpr std::string_view kMetaAdoptedPrefix = "adopted/";
inline Bytes AdoptedOrigin(const Hash& origin) {
  Bytes k(kMetaAdoptedPrefix.begin(), kMetaAdoptedPrefix.end());
  k.insert(k.end(), origin.begin(), origin.end());
  return k;
}
// The public half of this node's offline recovery key (`recovery keygen`), as "x25519:<hex>".
inline constexpr std::string_view kMetaRecoveryPublicKey = "recovery_pubkey";
// The files of the data directory a node needs to rejoin its federation, copied into the store
// by `khronika backup` just before it copies the store (so under the data key on an encrypted
// node) and written back by `khronika restore`: the TLS certificate partners pin, its key, and
// the settings. Each value is the file's bytes; a file the node did not have is absent.
inline constexpr std::string_view kMetaBackupTlsCert = "backup/tls.crt";
inline constexpr std::string_view kMetaBackupTlsKey = "backup/tls.key";
inline constexpr std::string_view kMetaBackupConfig = "backup/khronika.conf";

}  // namespace khronika::keys
