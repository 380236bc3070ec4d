#include "khronika/log/verify.h"

#include <algorithm>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>

#include "khronika/log/log.h"
#include "khronika/log/store_keys.h"
#include "khronika/schemas/chain_checker.h"
#include "khronika/schemas/note.h"
#include "khronika/schemas/objects.h"

namespace khronika {
namespace {

constexpr size_t kMaxProblemsPerKind = 1000;

class Verifier {
 public:
  Verifier(const ReadTxn& txn, VerifyReport& report) : txn_(txn), report_(report) {}

  Status Run() {
    // Objects first: checking a file's content re-hashes each of its chunks, so the chunk pass
    // after it reads only the chunks no intact file covered (each byte is read and decrypted
    // once, not twice).
    KH_RETURN_IF_ERROR(CheckObjects());
    KH_RETURN_IF_ERROR(CheckChunks());
    KH_RETURN_IF_ERROR(WantCheckpointRoots());
    KH_RETURN_IF_ERROR(CheckRecords());
    for (const auto& [origin, log] : logs_) {
      if (log.missing_nodes > 0) {
        Problem(OriginName(origin) + ": " + std::to_string(log.missing_nodes) +
                " Merkle tree nodes are missing");
      }
    }
    KH_RETURN_IF_ERROR(CheckTreeKeys());
    KH_RETURN_IF_ERROR(CheckCheckpoints());
    report_.origins = logs_.size();
    return Status::Ok();
  }

 private:
  // One log as its records are read, in order: the chain checker holds its Merkle frontier, so
  // memory does not grow with the log.
  struct LogState {
    explicit LogState(const Hash& origin) : chain(origin) {}
    ChainChecker chain;
    uint64_t missing_nodes = 0;  // perfect subtrees the records complete that are not stored
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
      if (chunks_of_intact_files_.count(HashOf(key))) return true;
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
      if (key.size() != 32 || ObjectId(value) != HashOf(key)) {
        const char* kind = !type.ok()                ? "object"
                           : *type == kTypeEntry     ? "entry"
                           : *type == kTypeManifest  ? "manifest"
                                                     : "object";
        Problem(std::string(kind) + " " + id + ": bytes do not match its id");
        return true;
      }
      if (!type.ok()) {
        Problem("object " + id + ": " + type.status().message());
      } else if (*type == kTypeManifest) {
        auto m = DecodeManifest(value);
        if (!m.ok()) {
          Problem("manifest " + id + ": " + m.status().message());
        } else {
          Status content = CheckFileContent(txn_, *m);
          if (!content.ok()) {
            Problem("manifest " + id + " ('" + m->name + "'): " + content.message());
          } else {
            chunks_of_intact_files_.insert(m->chunks.begin(), m->chunks.end());
          }
        }
      } else if (*type == kTypeEntry) {
        auto e = DecodeEntry(value);
        if (!e.ok()) {
          Problem("entry " + id + ": " + e.status().message());
        } else {
          if (!VerifyEntrySignature(*e)) Problem("entry " + id + ": author signature is invalid");
          std::set<std::string> names;
          for (const Hash& m : e->manifests) {
            KH_ASSIGN_OR_RETURN(std::optional<Bytes> mb, Read(Table::kObjects, m, "manifest " + ToHex(m)));
            if (!mb) {
              Problem("entry " + id + ": manifest " + ToHex(m) + " is missing");
              continue;
            }
            auto manifest = DecodeManifest(*mb);
            if (manifest.ok() && !names.insert(manifest->name).second) {
              Problem("entry " + id + ": two files are named '" + manifest->name + "'");
            }
          }
        }
      } else {
        Problem("object " + id + ": unexpected object type");
      }
      return true;
    }, {}, Unreadable("object"));
  }

  // The log of `origin`, moved to record `index`: records it has not reached are missing.
  // nullptr for an index no log can reach (a damaged key).
  LogState* Reach(const Hash& origin, uint64_t index) {
    if (index == UINT64_MAX) return nullptr;
    LogState& log = logs_.try_emplace(origin, origin).first->second;
    if (index > log.chain.size()) {
      Problem("records " + std::to_string(log.chain.size()) + " to " + std::to_string(index - 1) +
              " of " + OriginName(origin) + " are missing");
    }
    // Keys come in order, so the log is never past `index`; skipped records have no known hash.
    if (!log.chain.SkipTo(index).ok()) return nullptr;
    return &log;
  }

  // The sizes of the checkpoints held, so that the records pass keeps the root at each.
  Status WantCheckpointRoots() {
    return txn_.ScanKeys(Table::kCheckpoints, {}, [&](ByteView key) -> Result<bool> {
      if (auto at = keys::DecodePosition(key); at.ok()) roots_[at->origin][at->index] = std::nullopt;
      return true;
    });
  }

  Status CheckRecords() {
    auto unreadable = [&](ByteView key) {
      ++report_.records;
      auto at = keys::DecodePosition(key);
      if (!at.ok()) return Problem("record table: malformed key " + ToHex(key));
      Problem("record " + std::to_string(at->index) + " of " + OriginName(at->origin) + kUnreadable);
      // Its hash and leaf stay unknown: the next record is not checked against it, and no root
      // over it can be recomputed.
      if (LogState* log = Reach(at->origin, at->index)) (void)log->chain.SkipTo(at->index + 1);
    };
    return txn_.Scan(Table::kRecords, {}, [&](ByteView key, ByteView value) -> Result<bool> {
      ++report_.records;
      auto at = keys::DecodePosition(key);
      LogState* log = at.ok() ? Reach(at->origin, at->index) : nullptr;
      if (!log) {
        Problem("record table: malformed key " + ToHex(key));
        return true;
      }
      const Hash origin = at->origin;
      const uint64_t index = at->index;
      std::string name = "record " + std::to_string(index) + " of " + OriginName(origin);
      // A record that cannot be decoded still occupies its leaf; its bytes are hashed as they
      // are, so the tree and checkpoint checks report the damage too.
      bool entry_missing = false;
      std::optional<Entry> entry;
      KH_ASSIGN_OR_RETURN(CheckedRecord checked, log->chain.Append(value, [&](const Record& rec) -> Result<std::optional<std::string>> {
        KH_ASSIGN_OR_RETURN(std::optional<Bytes> entry_bytes,
                            Read(Table::kObjects, rec.entry_id, name + ": entry " + ToHex(rec.entry_id)));
        entry_missing = !entry_bytes;
        if (entry_bytes) {
          auto decoded = DecodeEntry(*entry_bytes);  // if it does not decode: reported with the objects
          if (decoded.ok()) entry = std::move(*decoded);
        }
        return entry ? std::optional<std::string>(entry->case_id) : std::nullopt;
      }));
      for (const ChainProblem& p : checked.problems) Problem(name + ": " + p.what);
      for (const TreeNode& node : checked.completed) KH_RETURN_IF_ERROR(CheckTreeNode(origin, node, *log));
      auto root = roots_.find(origin);
      if (root != roots_.end()) {
        auto at_size = root->second.find(log->chain.size());
        if (at_size != root->second.end()) at_size->second = log->chain.Root();
      }
      if (!checked.record) return true;
      const Record& rec = *checked.record;
      const Hash& this_hash = checked.record_hash;
      if (entry_missing) Problem(name + ": entry " + ToHex(rec.entry_id) + " is missing");
      if (!entry) return true;
      KH_ASSIGN_OR_RETURN(auto indexed, Read(Table::kCaseIndex, keys::CaseRecord(txn_, entry->case_id, origin, index),
                                             name + ": case index entry"));
      if (!indexed || *indexed != Bytes(this_hash.begin(), this_hash.end())) {
        Problem(name + ": case index entry missing or wrong");
      }
      for (const Hash& mid : entry->manifests) {
        KH_ASSIGN_OR_RETURN(bool linked, txn_.Contains(Table::kManifestEntries,
                                                       keys::ManifestEntry(mid, rec.entry_id)));
        if (!linked) Problem(name + ": file index misses manifest " + ToHex(mid));
      }
      // The same signed entry may be logged by two origins; the index names the first.
      KH_ASSIGN_OR_RETURN(auto location, Read(Table::kEntryIndex, rec.entry_id, name + ": entry index"));
      bool located = false;
      if (location && location->size() == 40) {
        if (*location == keys::EntryLocation(origin, index)) {
          located = true;
        } else {
          KH_ASSIGN_OR_RETURN(auto there, Read(Table::kRecords, *location, name + ": entry index target"));
          auto other = there ? DecodeRecord(*there) : Result<Record>(Status::NotFound(""));
          located = other.ok() && other->entry_id == rec.entry_id;
        }
      }
      if (!located) Problem(name + ": entry index does not point to a record of this entry");
      return true;
    }, {}, unreadable);
  }

  // A perfect subtree the records complete, against the node the store persisted for it.
  Status CheckTreeNode(const Hash& origin, const TreeNode& node, LogState& log) {
    std::string name = "Merkle tree node (level " + std::to_string(node.level) + ", index " +
                       std::to_string(node.index) + ") of " + OriginName(origin);
    auto stored = txn_.Get(Table::kTree, keys::Tree(origin, node.level, node.index));
    if (!stored.ok()) {
      if (stored.status().code() != Code::kCorruption) return stored.status();
      Problem(name + kUnreadable);
    } else if (!*stored) {
      log.missing_nodes += 1;
    } else if ((*stored)->size() != 32 || HashOf(**stored) != node.hash) {
      Problem(name + ": hash does not match the records");
    }
    return Status::Ok();
  }

  // Every stored node must be one the records complete; the ones they complete were compared
  // above. Keys only: no value is read twice.
  Status CheckTreeKeys() {
    return txn_.ScanKeys(Table::kTree, {}, [&](ByteView key) -> Result<bool> {
      ++report_.tree_nodes;
      auto log = key.size() >= 32 ? logs_.find(HashOf(key.first(32))) : logs_.end();
      if (key.size() >= 32 && log == logs_.end()) {
        Problem("Merkle tree node " + ToHex(key) + ": belongs to no log with records");
        return true;
      }
      auto node = keys::DecodeTree(key);
      if (!node.ok()) {
        Problem("tree table: malformed key " + ToHex(key));
        return true;
      }
      const uint64_t size = log->second.chain.size();
      if (node->level >= 64 || node->index >= (size >> node->level)) {
        Problem("Merkle tree node (level " + std::to_string(node->level) + ", index " +
                std::to_string(node->index) + ") of " + OriginName(node->origin) +
                ": no such node in a log of " + std::to_string(size) + " records");
      }
      return true;
    });
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
      uint64_t held = it == logs_.end() ? 0 : it->second.chain.size();
      if (size > held) {
        Problem(name + ": covers " + std::to_string(size) + " records but only " +
                std::to_string(held) + " are stored");
        return true;
      }
      std::optional<Hash> root = size == 0 ? MerkleEmptyRoot() : roots_[origin][size];
      if (!root) {
        Problem(name + ": its Merkle root cannot be recomputed: records it covers are missing or unreadable");
      } else if (*root != cp->root) {
        Problem(name + ": Merkle root does not match the records");
      }
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
  std::set<Hash> chunks_of_intact_files_;  // each hashed against its id by CheckFileContent
  VerifyReport& report_;
  std::map<Hash, LogState> logs_;  // every log with a record
  // Per log, the sizes of its checkpoints and the root its records give at each (nullopt: not
  // reached, or over a record that is missing or unreadable).
  std::map<Hash, std::map<uint64_t, std::optional<Hash>>> roots_;
};

}  // namespace

Result<VerifyReport> VerifyStore(const Store& store) {
  VerifyReport report;
  KH_RETURN_IF_ERROR(store.View([&](ReadTxn& txn) { return Verifier(txn, report).Run(); }));
  return report;
}

}  // namespace khronika
