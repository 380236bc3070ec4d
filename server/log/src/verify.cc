#include "khronika/log/verify.h"

#include <openssl/crypto.h>

#include <algorithm>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>

#include "khronika/log/log.h"
#include "khronika/log/store_keys.h"
#include "khronika/log/worker_pool.h"
#include "khronika/schemas/chain_checker.h"
#include "khronika/schemas/note.h"
#include "khronika/schemas/objects.h"
#include "khronika/schemas/custody.h"
#include "khronika/schemas/recovery_objects.h"
#include "khronika/schemas/sealed_objects.h"

namespace khronika {
namespace {

constexpr size_t kMaxProblemsPerKind = 1000;
constexpr size_t kMaxProblems = 20 * kMaxProblemsPerKind;
// Own entries whose author signatures are checked together, on every core, while the records
// pass goes on: enough to keep the pool busy, little memory (a 60-byte message each).
constexpr size_t kSignatureBatch = 512;

class Verifier {
 public:
  Verifier(const ReadTxn& txn, const VerifyOptions& options, VerifyReport& report,
           WorkerPool* pool)
      : txn_(txn), options_(options), report_(report) {
    if (pool) signatures_.emplace(*pool);
  }

  Status Run() {
    // Objects first: checking a sealed entry re-hashes each of its sealed chunks, so the chunk
    // pass after it reads only the chunks no intact entry covered (each byte read once).
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
    if (report_.problems.size() < kMaxProblems) report_.problems.push_back(std::move(line));
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
      if (keys::IsObjectsEnd(key)) {
        if (!value.empty()) Problem("object table: the end mark " + ToHex(key) + " holds bytes");
        return true;
      }
      ++report_.objects;
      // Objects are kept at the place of the record that names them (keys::Object), which
      // gives their id. Without a readable record the id is the bytes' own hash: the records
      // pass names what is wrong with the record.
      auto at = keys::DecodePosition(key);
      if (!at.ok()) {
        Problem("object table: malformed key " + ToHex(key));
        return true;
      }
      const Hash object_id = ObjectId(value);
      Hash named_id = object_id;
      if (auto record_bytes = txn_.Get(Table::kRecords, key); record_bytes.ok() && *record_bytes) {
        if (auto record = DecodeRecord(**record_bytes); record.ok()) named_id = record->object_id;
      }
      std::string id = ToHex(named_id);
      auto type = PeekObjectType(value);
      const char* kind = !type.ok()                       ? "object"
                         : *type == kTypeSealedEntry      ? "sealed entry"
                         : *type == kTypeRecoverySet      ? "recovery set"
                         : *type == kTypeShareRelease     ? "share release"
                         : *type == kTypeCustodyRecord    ? "custody record"
                                                          : "object";
      if (object_id != named_id) {
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
        ++report_.sealed_entries;
        const Hash entry_id = named_id;
        KH_ASSIGN_OR_RETURN(bool by_aead, OpenedLater(at->origin, *e));
        if (by_aead) {
          for (const SealedFile& file : e->files) {
            chunks_checked_.insert(file.chunks.begin(), file.chunks.end());
          }
          intact_entries_.insert(entry_id);
          aead_pending_.insert(entry_id);
          return true;
        }
        bool intact = true;
        std::vector<Hash> checked;
        for (size_t f = 0; f < e->files.size(); ++f) {
          const SealedFile& file = e->files[f];
          // A small file's sealed bytes are in the entry, checked against its id by the decoder.
          if (!file.inline_chunk.empty()) continue;
          for (uint64_t i = 0; i < file.chunks.size(); ++i) {
            const Hash& cid = file.chunks[i];
            std::string where = "sealed entry " + id + ", file " + std::to_string(f) +
                                ", sealed chunk " + std::to_string(i) + " (" + ToHex(cid) + ")";
            KH_ASSIGN_OR_RETURN(std::optional<Bytes> chunk, Read(Table::kChunks, cid, where));
            if (!chunk) {
              Problem(where + ": missing");
              intact = false;
            } else {
              // Named here, with its entry, file and position, a damaged chunk is not named again
              // by the chunk table's pass.
              checked.push_back(cid);
              if (ChunkId(*chunk) != cid) {
                Problem(where + ": content does not match its id");
                intact = false;
              } else if (chunk->size() != SealedChunkLength(file.sealed_size, i)) {
                Problem(where + ": wrong length for the sealed size");
                intact = false;
              }
            }
          }
        }
        chunks_checked_.insert(checked.begin(), checked.end());
        if (intact) intact_entries_.insert(named_id);
      } else if (*type == kTypeRecoverySet) {
        auto k = DecodeRecoverySet(value);
        if (!k.ok()) Problem("recovery set " + id + ": " + k.status().message());
      } else if (*type == kTypeShareRelease) {
        auto x = DecodeShareRelease(value);
        if (!x.ok()) Problem("share release " + id + ": " + x.status().message());
      } else if (*type == kTypeCustodyRecord) {
        auto c = DecodeCustodyRecord(value);
        if (!c.ok()) Problem("custody record " + id + ": " + c.status().message());
      } else {
        Problem("object " + id + ": unexpected object type");
      }
      return true;
    }, {}, [this](ByteView key) {
      auto at = keys::DecodePosition(key);
      Problem(at.ok() ? "object of record " + std::to_string(at->index) + " of " + OriginName(at->origin) + kUnreadable
                      : "object table: malformed key " + ToHex(key));
    });
  }

  // With the archive key, an entry of its origin whose sealed chunks are all held, of their
  // lengths, is opened in the records pass (CheckOwnEntry): every sealed byte is then
  // authenticated by its AEAD tag under a key only this entry's file has, at its position, and
  // each chunk is not hashed against its id as well (docs/format.md section 15 says why that is
  // enough). Anything short of that takes the hash pass, which names the damaged chunk.
  Result<bool> OpenedLater(const Hash& origin, const SealedEntry& e) {
    if (!options_.archive_key || origin != options_.origin) return false;
    for (const SealedFile& file : e.files) {
      if (!file.inline_chunk.empty()) continue;  // carried by the entry
      for (uint64_t i = 0; i < file.chunks.size(); ++i) {
        auto chunk = txn_.Get(Table::kChunks, file.chunks[i]);
        if (!chunk.ok() && chunk.status().code() != Code::kCorruption) return chunk.status();
        if (!chunk.ok() || !*chunk || (*chunk)->size() != SealedChunkLength(file.sealed_size, i)) {
          return false;
        }
      }
    }
    return true;
  }

  // The hash pass over one file of an entry left to its AEAD, when opening it failed or never
  // happened: each chunk that does not hash to its id is named as the objects pass names it.
  // Returns whether every chunk matched.
  Result<bool> HashChunks(const std::string& id_hex, size_t f, const SealedFile& file) {
    if (!file.inline_chunk.empty()) return true;  // checked against its id when decoded
    bool all = true;
    for (uint64_t i = 0; i < file.chunks.size(); ++i) {
      const Hash& cid = file.chunks[i];
      const std::string where = "sealed entry " + id_hex + ", file " + std::to_string(f) +
                                ", sealed chunk " + std::to_string(i) + " (" + ToHex(cid) + ")";
      KH_ASSIGN_OR_RETURN(std::optional<Bytes> chunk, Read(Table::kChunks, cid, where));
      if (chunk && ChunkId(*chunk) == cid) continue;
      all = false;
      if (chunk) Problem(where + ": content does not match its id");
    }
    return all;
  }

  // Entries left to their AEAD whose opening never came (their record is missing, or the entry
  // did not open): hashed now, in entry id order.
  Status HashUnopened() {
    for (const Hash& entry_id : aead_pending_) {
      std::optional<Bytes> object;
      KH_ASSIGN_OR_RETURN(auto where, SealedEntryObjectKey(txn_, entry_id));
      if (where) {
        KH_ASSIGN_OR_RETURN(object, txn_.Get(Table::kObjects, *where));
      }
      auto sealed = object ? DecodeSealedEntry(*object) : Result<SealedEntry>(Status::NotFound(""));
      if (!sealed.ok()) continue;  // it decoded in the objects pass, in this same snapshot
      for (size_t f = 0; f < sealed->files.size(); ++f) {
        KH_RETURN_IF_ERROR(HashChunks(ToHex(entry_id), f, sealed->files[f]).status());
      }
    }
    aead_pending_.clear();
    return Status::Ok();
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
    auto check = [&](ByteView key, ByteView value) -> Result<bool> {
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
      // With the archive key, an own record's sealed entry is opened, and its link box gives the
      // checker the case chain; without it, no case chain can be seen (format 2).
      std::optional<OpenedEntry> opened;
      // The object the record names, once read (by case_of, then below).
      std::optional<std::optional<Bytes>> object_read;
      CaseOfRecord case_of;
      if (options_.archive_key && origin == options_.origin) {
        case_of = [&](const Record& rec) -> Result<std::optional<CaseLink>> {
          KH_ASSIGN_OR_RETURN(std::optional<Bytes> object,
                              Read(Table::kObjects, keys::Object(origin, index),
                                   name + ": object " + ToHex(rec.object_id)));
          object_read = object;
          if (!object) return std::optional<CaseLink>();  // named below
          auto type = PeekObjectType(*object);
          if (!type.ok() || *type != kTypeSealedEntry) return std::optional<CaseLink>();
          EntryKey key = EntryKey::Archive(*options_.archive_key);
          SignatureCheck signature;
          if (signatures_) key.defer_signature = &signature;
          // The record and object read here, not again: whether the entry index points to this
          // record is checked below, as for every sealed entry.
          auto e = OpenLoggedEntry(key, LoggedObject{Bytes(value.begin(), value.end()), rec,
                                                     std::move(*object)});
          if (!e.ok()) {
            Problem(name + ": sealed entry " + ToHex(rec.object_id) + " does not open: " +
                    e.status().message());
            return std::optional<CaseLink>();
          }
          ++report_.entries_opened;
          if (signatures_) {
            // Checked on the pool meanwhile; a failure is named where OpenEntry would have named
            // it. The link box authenticates itself, so the case chain goes on with it.
            signatures_->Add(std::move(signature));
            const std::string entry = "sealed entry " + ToHex(rec.object_id);
            deferred_.push_back(
                {report_.problems.size(),
                 name + ": " + entry + " does not open: " +
                     Status::Corruption(kEntrySignatureFails).Annotate(entry).message()});
          }
          SymmetricKey link_key = DeriveLinkKey(e->case_key, e->sealed.nonce);
          auto link = OpenLinkBox(link_key, e->sealed);
          OPENSSL_cleanse(link_key.data(), link_key.size());
          opened.emplace(std::move(*e));
          if (!link.ok()) {
            Problem(name + ": link box: " + link.status().message());
            return std::optional<CaseLink>();
          }
          return std::optional<CaseLink>(CaseLink{opened->case_id, *link});
        };
      }
      KH_ASSIGN_OR_RETURN(CheckedRecord checked, log->chain.Append(value, case_of));
      for (const ChainProblem& p : checked.problems) Problem(name + ": " + p.what);
      for (const TreeNode& node : checked.completed) KH_RETURN_IF_ERROR(CheckTreeNode(origin, node, *log));
      auto root = roots_.find(origin);
      if (root != roots_.end()) {
        auto at_size = root->second.find(log->chain.size());
        if (at_size != root->second.end()) at_size->second = log->chain.Root();
      }
      if (!checked.record) return true;
      const Hash& object_id = checked.record->object_id;
      std::optional<Bytes> object;
      if (object_read) {
        object = std::move(*object_read);
      } else {
        KH_ASSIGN_OR_RETURN(object,
                            Read(Table::kObjects, keys::Object(origin, index),
                                 name + ": object " + ToHex(object_id)));
      }
      if (!object) {
        Problem(name + ": object " + ToHex(object_id) + " is missing");
        return true;
      }
      auto type = PeekObjectType(*object);
      if (!type.ok()) return true;  // reported with the objects
      if (*type == kTypeRecoverySet || *type == kTypeShareRelease) return true;
      if (*type == kTypeCustodyRecord) {
        // With the archive key, every slot of the origin's own custody records opens: an
        // operator who rewrote one offline would have to forge the boxes, the chain and the
        // signed checkpoints at once.
        if (options_.archive_key && origin == options_.origin) {
          auto record = DecodeCustodyRecord(*object);
          if (!record.ok()) return true;  // reported with the objects
          auto events = OpenCustodyRecord(*record, *options_.archive_key);
          if (!events.ok()) {
            Problem(name + ": custody record " + ToHex(object_id) + " does not open: " +
                    events.status().message());
          } else {
            ++report_.custody_records_opened;
          }
        }
        return true;
      }
      if (*type != kTypeSealedEntry) {
        Problem(name + ": logs an object that is not a sealed entry, recovery object or custody "
                "record");
        return true;
      }
      // The entry index names the record of each sealed entry (ids are unique: each sealing
      // draws a fresh nonce).
      KH_ASSIGN_OR_RETURN(auto location, Read(Table::kEntryIndex, object_id, name + ": entry index"));
      if (!location || *location != keys::EntryLocation(origin, index)) {
        Problem(name + ": entry index does not point to this record");
      }
      if (opened) KH_RETURN_IF_ERROR(CheckOwnEntry(name, origin, index, checked.record_hash, *opened));
      if (signatures_ && signatures_->size() >= kSignatureBatch) NameBadSignatures();
      return true;
    };
    KH_RETURN_IF_ERROR(txn_.Scan(Table::kRecords, {}, check, {}, unreadable));
    NameBadSignatures();
    return HashUnopened();
  }

  // The verdicts of the deferred author signatures, each failure inserted among the problems
  // where the record that holds it would have named it had it been checked at once: the report
  // reads the same whichever thread checked what.
  void NameBadSignatures() {
    if (!signatures_) return;
    std::vector<bool> verdicts = signatures_->Finish();
    for (size_t i = verdicts.size(); i-- > 0;) {
      if (verdicts[i]) continue;
      --report_.entries_opened;
      auto& problems = report_.problems;
      problems.insert(problems.begin() + static_cast<ptrdiff_t>(deferred_[i].at),
                      std::move(deferred_[i].problem));
      if (problems.size() > kMaxProblems) problems.pop_back();
    }
    deferred_.clear();
  }

  // With the archive key: what the origin can check of one of its own entries beyond what
  // OpenEntry checked (boxes, author signature, descriptors against commitments).
  Status CheckOwnEntry(const std::string& name, const Hash& origin, uint64_t index,
                       const Hash& record_hash, const OpenedEntry& opened) {
    const Hash& entry_id = opened.entry_id;
    KH_ASSIGN_OR_RETURN(auto indexed, Read(Table::kCaseIndex,
                                           keys::CaseRecord(txn_, opened.case_id, origin, index),
                                           name + ": case index entry"));
    if (!indexed || *indexed != Bytes(record_hash.begin(), record_hash.end())) {
      Problem(name + ": case index entry missing or wrong");
    }
    KH_ASSIGN_OR_RETURN(auto logged_as, Read(Table::kSignedEntries,
                                             keys::SignedEntry(txn_, ObjectId(opened.signed_entry_bytes)),
                                             name + ": signed entry index"));
    if (!logged_as || *logged_as != Bytes(entry_id.begin(), entry_id.end())) {
      Problem(name + ": signed entry index missing or wrong");
    }
    std::set<std::string> names;
    auto pending = aead_pending_.find(entry_id);
    for (uint32_t i = 0; i < opened.files.size(); ++i) {
      const FileDescriptor& d = opened.files[i].descriptor;
      if (!names.insert(d.name).second) Problem(name + ": two files are named '" + d.name + "'");
      if (!intact_entries_.count(entry_id)) continue;  // its sealed chunks were named above
      SymmetricKey file_key = DeriveFileKey(opened.case_key, opened.sealed.nonce, i);
      // Every chunk of an intact entry was hashed against its id above, in this same snapshot,
      // or was left to its AEAD tags (OpenedLater), which check it as it is opened here.
      ChunkSource hashed_already = [this](const Hash& id) -> Result<Bytes> {
        KH_ASSIGN_OR_RETURN(std::optional<Bytes> chunk, txn_.Get(Table::kChunks, id));
        if (!chunk) return Status::Corruption("sealed chunk " + ToHex(id) + " is missing");
        return std::move(*chunk);
      };
      auto reader = SealedFileReader::Open(hashed_already, opened.sealed, d, file_key, i);
      OPENSSL_cleanse(file_key.data(), file_key.size());
      std::string file_name = name + ", file " + std::to_string(i) + " ('" + d.name + "')";
      // A file left to its AEAD that does not open is hashed: a chunk that does not match its
      // id is named as such (as if hashed first); only if all match is the opening the problem.
      auto named_by_hash = [&]() -> Result<bool> {
        if (pending == aead_pending_.end()) return false;
        KH_ASSIGN_OR_RETURN(bool all, HashChunks(ToHex(entry_id), i, opened.sealed.files[i]));
        return !all;
      };
      if (!reader.ok()) {
        KH_ASSIGN_OR_RETURN(bool named, named_by_hash());
        if (!named) Problem(file_name + ": " + reader.status().message());
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
      if (st.ok() && pending != aead_pending_.end()) st = reader->CheckPadding();
      if (!st.ok()) {
        KH_ASSIGN_OR_RETURN(bool named, named_by_hash());
        if (!named) Problem(file_name + ": " + st.message());
      } else if (content.Finish() != d.content_sha256) {
        Problem(file_name + ": plaintext does not match the SHA-256 its author signed");
      }
    }
    // Every file opened to its last padded byte, or hashed where it did not.
    if (pending != aead_pending_.end()) aead_pending_.erase(pending);
    return Status::Ok();
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
  const VerifyOptions& options_;
  std::optional<SignatureBatch> signatures_;  // with the archive key and a pool
  struct Deferred {
    size_t at;  // where among the problems its failure goes
    std::string problem;
  };
  std::vector<Deferred> deferred_;  // one per signature in signatures_, in the same order
  std::set<Hash> chunks_checked_;  // hashed (damage named) by CheckObjects, or left to the AEAD
  std::set<Hash> intact_entries_;  // sealed entries all of whose sealed chunks are held intact
  // Own entries whose sealed chunks are left to their AEAD tags (OpenedLater), until opened.
  std::set<Hash> aead_pending_;
  VerifyReport& report_;
  std::map<Hash, LogState> logs_;  // every log with a record
  // Per log, the sizes of its checkpoints and the root its records give at each (nullopt: not
  // reached, or over a record that is missing or unreadable).
  std::map<Hash, std::map<uint64_t, std::optional<Hash>>> roots_;
};

}  // namespace

Result<VerifyReport> VerifyStore(const Store& store, const VerifyOptions& options) {
  VerifyReport report;
  // Only the archive key's opening checks signatures per entry; without it a pool would idle.
  std::optional<WorkerPool> pool;
  if (options.archive_key) pool.emplace();
  KH_RETURN_IF_ERROR(store.View([&](ReadTxn& txn) {
    return Verifier(txn, options, report, pool ? &*pool : nullptr).Run();
  }));
  return report;
}

}  // namespace khronika
