#include "khronika/log/verify.h"

#include <openssl/crypto.h>

#include <algorithm>
#include <functional>
#include <map>
#include <set>

#include "khronika/log/log.h"
#include "khronika/log/store_keys.h"
#include "khronika/schemas/merkle.h"
#include "khronika/schemas/note.h"
#include "khronika/schemas/objects.h"
#include "khronika/schemas/recovery_objects.h"
#include "khronika/schemas/sealed_objects.h"

namespace khronika {
namespace {

constexpr size_t kMaxProblemsPerKind = 1000;

class Verifier {
 public:
  Verifier(const ReadTxn& txn, const VerifyOptions& options, VerifyReport& report)
      : txn_(txn), options_(options), report_(report) {}

  Status Run() {
    // Objects first: checking a sealed entry re-hashes each of its sealed chunks, so the chunk
    // pass after it reads only the chunks no intact entry covered (each byte read once).
    KH_RETURN_IF_ERROR(CheckObjects());
    KH_RETURN_IF_ERROR(CheckChunks());
    KH_RETURN_IF_ERROR(CheckRecords());
    for (auto& [origin, log] : logs_) KH_RETURN_IF_ERROR(CheckTree(origin, log));
    KH_RETURN_IF_ERROR(CheckStrayTreeNodes());
    KH_RETURN_IF_ERROR(CheckCheckpoints());
    report_.origins = logs_.size();
    return Status::Ok();
  }

 private:
  struct LogState {
    std::vector<std::vector<Hash>> levels;  // levels[0] = leaf hashes, recomputed
    std::map<std::string, Hash> case_tips;  // own log, opened with the archive key
    Hash prev_record{};
    uint64_t next_index = 0;
  };

  void Problem(std::string line) {
    if (report_.problems.size() < 20 * kMaxProblemsPerKind) report_.problems.push_back(std::move(line));
  }

  // In an encrypted store a value whose bytes were altered fails its authentication tag and
  // cannot be read at all: a problem to name, not a reason to stop verifying.
  static constexpr const char* kUnreadable = ": unreadable, the stored bytes were altered (authentication failed)";
  std::function<void(ByteView)> Unreadable(const char* kind) {
    return [this, kind](ByteView key) {
      Problem(std::string(kind) + " " + ToHex(key) + kUnreadable);
    };
  }
  // Get, with an unreadable value named as a problem and treated as absent.
  Result<std::optional<Bytes>> Read(Table table, ByteView key, const std::string& what) {
    auto v = txn_.Get(table, key);
    if (v.ok() || v.status().code() != Code::kCorruption) return v;
    Problem(what + kUnreadable);
    return std::optional<Bytes>();
  }

  Status CheckChunks() {
    return txn_.ScanKeys(Table::kChunks, {}, [&](ByteView key) -> Result<bool> {
      ++report_.chunks;
      if (key.size() != 32) {
        Problem("chunk table: malformed key " + ToHex(key));
        return true;
      }
      if (chunks_checked_.count(HashOf(key))) return true;
      KH_ASSIGN_OR_RETURN(std::optional<Bytes> value, Read(Table::kChunks, key, "chunk " + ToHex(key)));
      if (value && ChunkId(*value) != HashOf(key)) {
        Problem("chunk " + ToHex(key) + ": content does not match its id");
      }
      return true;
    });
  }

  Status CheckObjects() {
    return txn_.Scan(Table::kObjects, {}, [&](ByteView key, ByteView value) -> Result<bool> {
      ++report_.objects;
      std::string id = ToHex(key);
      auto type = PeekObjectType(value);
      const char* kind = !type.ok()                       ? "object"
                         : *type == kTypeSealedEntry      ? "sealed entry"
                         : *type == kTypeRecoverySet      ? "recovery set"
                         : *type == kTypeShareRelease     ? "share release"
                                                          : "object";
      if (key.size() != 32 || ObjectId(value) != HashOf(key)) {
        Problem(std::string(kind) + " " + id + ": bytes do not match its id");
        return true;
      }
      if (!type.ok()) {
        Problem("object " + id + ": " + type.status().message());
      } else if (*type == kTypeSealedEntry) {
        auto e = DecodeSealedEntry(value);
        if (!e.ok()) {
          Problem("sealed entry " + id + ": " + e.status().message());
          return true;
        }
        bool intact = true;
        std::vector<Hash> checked;
        for (size_t f = 0; f < e->files.size(); ++f) {
          const SealedFile& file = e->files[f];
          for (uint64_t i = 0; i < file.chunks.size(); ++i) {
            const Hash& cid = file.chunks[i];
            std::string where = "sealed entry " + id + ", file " + std::to_string(f) +
                                ", sealed chunk " + std::to_string(i) + " (" + ToHex(cid) + ")";
            KH_ASSIGN_OR_RETURN(std::optional<Bytes> chunk, Read(Table::kChunks, cid, where));
            if (!chunk) {
              Problem(where + ": missing");
              intact = false;
            } else if (ChunkId(*chunk) != cid) {
              Problem(where + ": content does not match its id");
              intact = false;
            } else if (chunk->size() != SealedChunkLength(file.sealed_size, i)) {
              Problem(where + ": wrong length for the sealed size");
              intact = false;
            } else {
              checked.push_back(cid);
            }
          }
        }
        chunks_checked_.insert(checked.begin(), checked.end());
        if (intact) intact_entries_.insert(HashOf(key));
      } else if (*type == kTypeRecoverySet) {
        auto k = DecodeRecoverySet(value);
        if (!k.ok()) Problem("recovery set " + id + ": " + k.status().message());
      } else if (*type == kTypeShareRelease) {
        auto x = DecodeShareRelease(value);
        if (!x.ok()) Problem("share release " + id + ": " + x.status().message());
      } else {
        Problem("object " + id + ": unexpected object type");
      }
      return true;
    }, {}, Unreadable("object"));
  }

  // With the archive key: everything the origin can check of one of its own entries.
  Status OpenOwnEntry(const std::string& name, const Hash& origin, uint64_t index,
                      const Hash& record_hash, const Hash& entry_id, LogState& log) {
    auto opened = OpenEntry(txn_, origin, EntryKey::Archive(*options_.archive_key), entry_id);
    if (!opened.ok()) {
      Problem(name + ": sealed entry " + ToHex(entry_id) + " does not open: " +
              opened.status().message());
      return Status::Ok();
    }
    ++report_.entries_opened;
    const std::string& case_id = opened->case_id;
    SymmetricKey link_key = DeriveLinkKey(opened->case_key, opened->sealed.nonce);
    auto link = OpenLinkBox(link_key, opened->sealed);
    OPENSSL_cleanse(link_key.data(), link_key.size());
    Hash& tip = log.case_tips[case_id];
    if (!link.ok()) {
      Problem(name + ": link box: " + link.status().message());
    } else if (*link != tip) {
      Problem(name + ": its link box does not name the case's previous record in this log (case "
                     "chain broken)");
    }
    tip = record_hash;
    KH_ASSIGN_OR_RETURN(auto indexed, Read(Table::kCaseIndex,
                                           keys::CaseRecord(txn_, case_id, origin, index),
                                           name + ": case index entry"));
    if (!indexed || *indexed != Bytes(record_hash.begin(), record_hash.end())) {
      Problem(name + ": case index entry missing or wrong");
    }
    KH_ASSIGN_OR_RETURN(auto logged_as, Read(Table::kSignedEntries,
                                             keys::SignedEntry(txn_, ObjectId(opened->signed_entry_bytes)),
                                             name + ": signed entry index"));
    if (!logged_as || *logged_as != Bytes(entry_id.begin(), entry_id.end())) {
      Problem(name + ": signed entry index missing or wrong");
    }
    std::set<std::string> names;
    for (uint32_t i = 0; i < opened->files.size(); ++i) {
      const FileDescriptor& d = opened->files[i].descriptor;
      if (!names.insert(d.name).second) Problem(name + ": two files are named '" + d.name + "'");
      if (!intact_entries_.count(entry_id)) continue;  // its sealed chunks were named above
      SymmetricKey file_key = DeriveFileKey(opened->case_key, opened->sealed.nonce, i);
      auto reader = SealedFileReader::Open(ChunksIn(txn_), opened->sealed, d, file_key, i);
      OPENSSL_cleanse(file_key.data(), file_key.size());
      std::string file_name = name + ", file " + std::to_string(i) + " ('" + d.name + "')";
      if (!reader.ok()) {
        Problem(file_name + ": " + reader.status().message());
        continue;
      }
      Sha256Stream content;
      uint64_t read = 0;
      Status st = Status::Ok();
      while (read < d.size) {
        auto piece = reader->Read(read, 1 << 20);
        if (!piece.ok()) {
          st = piece.status();
          break;
        }
        if (piece->empty()) {
          st = Status::Corruption("the sealed file ends early");
          break;
        }
        content.Update(*piece);
        read += piece->size();
        OPENSSL_cleanse(piece->data(), piece->size());
      }
      if (!st.ok()) {
        Problem(file_name + ": " + st.message());
      } else if (content.Finish() != d.content_sha256) {
        Problem(file_name + ": plaintext does not match the SHA-256 its author signed");
      }
    }
    return Status::Ok();
  }

  Status CheckRecords() {
    auto unreadable = [&](ByteView key) {
      ++report_.records;
      auto at = keys::DecodePosition(key);
      if (!at.ok()) return Problem("record table: malformed key " + ToHex(key));
      const Hash origin = at->origin;
      const uint64_t index = at->index;
      Problem("record " + std::to_string(index) + " of " + OriginName(origin) + kUnreadable);
      LogState& log = logs_[origin];
      log.next_index = std::max(log.next_index, index + 1);  // its leaf stays unknown (zero)
      if (log.levels.empty()) log.levels.emplace_back();
      log.levels[0].resize(index + 1);
    };
    return txn_.Scan(Table::kRecords, {}, [&](ByteView key, ByteView value) -> Result<bool> {
      ++report_.records;
      auto at = keys::DecodePosition(key);
      if (!at.ok()) {
        Problem("record table: malformed key " + ToHex(key));
        return true;
      }
      const Hash origin = at->origin;
      const uint64_t index = at->index;
      std::string name = "record " + std::to_string(index) + " of " + OriginName(origin);
      LogState& log = logs_[origin];
      if (index != log.next_index) {
        Problem("records " + std::to_string(log.next_index) + " to " + std::to_string(index - 1) +
                " of " + OriginName(origin) + " are missing");
      }
      // A record that cannot be decoded still occupies its leaf; its bytes are hashed as they
      // are, so the tree and checkpoint checks report the damage too.
      log.next_index = index + 1;
      Hash leaf = LeafHash(value);
      if (log.levels.empty()) log.levels.emplace_back();
      log.levels[0].resize(index + 1);
      log.levels[0][index] = leaf;
      Hash this_hash = RecordHash(value);
      auto rec = DecodeRecord(value);
      if (!rec.ok()) {
        Problem(name + ": " + rec.status().message());
        log.prev_record = this_hash;
        return true;
      }
      if (rec->origin != origin || rec->index != index) {
        Problem(name + ": stored under the wrong origin or index");
      }
      if (rec->prev_record != (index == 0 ? Hash{} : log.prev_record)) {
        Problem(name + ": hash chain broken (previous record hash does not match)");
      }
      log.prev_record = this_hash;
      const Hash& object_id = rec->object_id;
      KH_ASSIGN_OR_RETURN(std::optional<Bytes> object,
                          Read(Table::kObjects, object_id, name + ": object " + ToHex(object_id)));
      if (!object) {
        Problem(name + ": object " + ToHex(object_id) + " is missing");
        return true;
      }
      auto type = PeekObjectType(*object);
      if (!type.ok()) return true;  // reported with the objects
      if (*type == kTypeRecoverySet || *type == kTypeShareRelease) return true;
      if (*type != kTypeSealedEntry) {
        Problem(name + ": logs an object that is not a sealed entry or recovery object");
        return true;
      }
      // The entry index names the record of each sealed entry (ids are unique: each sealing
      // draws a fresh nonce).
      KH_ASSIGN_OR_RETURN(auto location, Read(Table::kEntryIndex, object_id, name + ": entry index"));
      if (!location || *location != keys::EntryLocation(origin, index)) {
        Problem(name + ": entry index does not point to this record");
      }
      if (options_.archive_key && origin == options_.origin) {
        KH_RETURN_IF_ERROR(OpenOwnEntry(name, origin, index, this_hash, object_id, log));
      }
      return true;
    }, {}, unreadable);
  }

  // Recomputes every perfect subtree from the leaves and compares each stored node.
  Status CheckTree(const Hash& origin, LogState& log) {
    auto& levels = log.levels;
    while (levels.back().size() >= 2) {
      const auto& below = levels.back();
      std::vector<Hash> above(below.size() / 2);
      for (size_t i = 0; i < above.size(); ++i) above[i] = HashChildren(below[2 * i], below[2 * i + 1]);
      levels.push_back(std::move(above));
    }
    uint64_t expected = 0;
    for (const auto& l : levels) expected += l.size();
    uint64_t seen = 0;
    KH_RETURN_IF_ERROR(txn_.Scan(Table::kTree, origin, [&](ByteView key, ByteView value) -> Result<bool> {
      ++report_.tree_nodes;
      ++seen;
      auto node = keys::DecodeTree(key);
      if (!node.ok()) {
        Problem("tree table: malformed key " + ToHex(key));
        return true;
      }
      const unsigned level = node->level;
      const uint64_t index = node->index;
      std::string name = "Merkle tree node (level " + std::to_string(level) + ", index " +
                         std::to_string(index) + ") of " + OriginName(origin);
      if (level >= levels.size() || index >= levels[level].size()) {
        Problem(name + ": no such node in a log of " + std::to_string(levels[0].size()) + " records");
      } else if (value.size() != 32 || HashOf(value) != levels[level][index]) {
        Problem(name + ": hash does not match the records");
      }
      return true;
    }, {}, [&](ByteView key) {
      ++report_.tree_nodes;
      ++seen;
      auto node = keys::DecodeTree(key);
      if (!node.ok()) return Problem("tree table: malformed key " + ToHex(key));
      Problem("Merkle tree node (level " + std::to_string(node->level) + ", index " +
              std::to_string(node->index) + ") of " + OriginName(origin) + kUnreadable);
    }));
    if (seen < expected) {
      Problem(OriginName(origin) + ": " + std::to_string(expected - seen) +
              " Merkle tree nodes are missing");
    }
    return Status::Ok();
  }

  Status CheckStrayTreeNodes() {
    auto stray = [&](ByteView key) {
      if (key.size() >= 32 && !logs_.count(HashOf(key.first(32)))) {
        ++report_.tree_nodes;
        Problem("Merkle tree node " + ToHex(key) + ": belongs to no log with records");
      }
    };
    return txn_.Scan(Table::kTree, {}, [&](ByteView key, ByteView) -> Result<bool> {
      stray(key);
      return true;
    }, {}, stray);  // unreadable nodes of known logs were named above
  }

  Status CheckCheckpoints() {
    return txn_.Scan(Table::kCheckpoints, {}, [&](ByteView key, ByteView value) -> Result<bool> {
      ++report_.checkpoints;
      auto at = keys::DecodePosition(key);
      if (!at.ok()) {
        Problem("checkpoint table: malformed key " + ToHex(key));
        return true;
      }
      const Hash origin = at->origin;
      const uint64_t size = at->index;
      std::string name = "checkpoint at size " + std::to_string(size) + " of " + OriginName(origin);
      KH_ASSIGN_OR_RETURN(std::optional<Bytes> pub, Read(Table::kOrigins, origin, "origin " + OriginName(origin)));
      if (!pub || pub->size() != 32) {
        Problem(name + ": the origin's public key is not known");
        return true;
      }
      PublicKey key_bytes;
      std::copy(pub->begin(), pub->end(), key_bytes.begin());
      if (NodeIdFromPublicKey(key_bytes) != origin) {
        Problem("origin " + OriginName(origin) + ": stored public key does not match the id");
        return true;
      }
      auto note = ParseSignedNote(AsChars(value));
      if (!note.ok()) {
        Problem(name + ": " + note.status().message());
        return true;
      }
      auto verifier = ParseVerifierKey(FormatVerifierKey(OriginName(origin), key_bytes));
      if (!verifier.ok() || !NoteSignedBy(*note, *verifier)) {
        Problem(name + ": origin signature is invalid");
        return true;
      }
      auto cp = ParseCheckpointBody(note->text);
      if (!cp.ok()) {
        Problem(name + ": " + cp.status().message());
        return true;
      }
      if (cp->origin != OriginName(origin) || cp->size != size) {
        Problem(name + ": signed origin or size does not match where it is stored");
        return true;
      }
      auto it = logs_.find(origin);
      uint64_t held = it == logs_.end() ? 0 : it->second.levels[0].size();
      if (size > held) {
        Problem(name + ": covers " + std::to_string(size) + " records but only " +
                std::to_string(held) + " are stored");
        return true;
      }
      Hash root = size == 0 ? MerkleEmptyRoot() : Hash{};
      if (size > 0) {
        const auto& levels = it->second.levels;
        SubtreeFn computed = [&levels](unsigned level, uint64_t index) -> Result<Hash> {
          if (level >= levels.size() || index >= levels[level].size()) {
            return Status::Corruption("subtree out of range");
          }
          return levels[level][index];
        };
        KH_ASSIGN_OR_RETURN(root, MerkleRoot(size, computed));
      }
      if (root != cp->root) Problem(name + ": Merkle root does not match the records");
      return true;
    }, {}, [&](ByteView key) {
      ++report_.checkpoints;
      auto at = keys::DecodePosition(key);
      if (!at.ok()) return Problem("checkpoint table: malformed key " + ToHex(key));
      Problem("checkpoint at size " + std::to_string(at->index) + " of " + OriginName(at->origin) +
              kUnreadable);
    });
  }

  static Hash HashOf(ByteView b) {
    Hash h{};
    std::copy(b.begin(), b.begin() + std::min<size_t>(32, b.size()), h.begin());
    return h;
  }

  const ReadTxn& txn_;
  const VerifyOptions& options_;
  std::set<Hash> chunks_checked_;  // each hashed against its id by CheckObjects
  std::set<Hash> intact_entries_;  // sealed entries all of whose sealed chunks are held intact
  VerifyReport& report_;
  std::map<Hash, LogState> logs_;
};

}  // namespace

Result<VerifyReport> VerifyStore(const Store& store, const VerifyOptions& options) {
  VerifyReport report;
  KH_RETURN_IF_ERROR(store.View([&](ReadTxn& txn) { return Verifier(txn, options, report).Run(); }));
  return report;
}

}  // namespace khronika
