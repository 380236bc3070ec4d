#include "khronika/replication/sync.h"

#include <openssl/crypto.h>

#include <chrono>
#include <future>
#include <map>
#include <set>

#include <nlohmann/json.hpp>

#include "khronika/log/custody.h"
#include "khronika/log/log.h"
#include "khronika/log/proofs.h"
#include "khronika/log/store_keys.h"
#include "khronika/log/worker_pool.h"
#include "khronika/replication/roster.h"
#include "khronika/replication/witness.h"
#include "khronika/schemas/chain_checker.h"
#include "khronika/schemas/merkle.h"
#include "khronika/schemas/note.h"
#include "khronika/schemas/custody.h"
#include "khronika/schemas/recovery_objects.h"
#include "khronika/schemas/sealed_objects.h"
#include "khronika/schemas/sealing.h"

namespace khronika {
namespace {

using nlohmann::json;

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Hash ToHash(ByteView b) {
  Hash h{};
  std::copy(b.begin(), b.begin() + std::min<size_t>(32, b.size()), h.begin());
  return h;
}

// One verified record with everything it needs, ready to be written.
struct VerifiedItem {
  Record record;
  Bytes record_bytes;
  Bytes object_bytes;
  std::optional<SealedEntry> sealed;  // when the object is a sealed entry
  Hash record_hash{};
  Hash leaf{};
  // This node's own log, pulled back after a restore and opened with its archive key: what
  // its own indexes need (case index, signed entries).
  std::optional<std::string> case_id;
  Hash signed_entry_hash{};
};

// Checks, without any key, the object a record names: its id, that it decodes canonically as
// the type its first bytes say, and for a sealed entry the rules a partner checks (sizes,
// chunk counts, no chunk twice; DecodeSealedEntry). Recovery objects are taken as the origin
// logged them: they hold nothing but sealed shares.
Status CheckObject(const std::string& where, const Record& record, ByteView object,
                   VerifiedItem& v) {
  if (ObjectId(object) != record.object_id) {
    return Status::Corruption(where + ": the object's bytes do not match the record's object id");
  }
  auto type = PeekObjectType(object);
  if (!type.ok()) return Status::Corruption(where + ": object: " + type.status().message());
  Status decoded;
  switch (*type) {
    case kTypeSealedEntry: {
      auto e = DecodeSealedEntry(object);
      if (e.ok()) v.sealed = std::move(*e);
      decoded = e.status();
      break;
    }
    case kTypeRecoverySet: decoded = DecodeRecoverySet(object).status(); break;
    case kTypeShareRelease: decoded = DecodeShareRelease(object).status(); break;
    case kTypeCustodyRecord: decoded = DecodeCustodyRecord(object).status(); break;
    default:
      return Status::Corruption(where + ": logs an object of type " + std::to_string(*type) +
                                ", which is not a sealed entry, a recovery object or a custody "
                                "record");
  }
  if (!decoded.ok()) return Status::Corruption(where + ": " + decoded.message());
  return Status::Ok();
}

// This node's own entry, pulled back: opened with the archive key (index, entry and
// descriptor boxes, author signature, commitments) for the indexes only the origin keeps, and
// its link box for the case chain.
// The author signature is left in `signature`, for the batch to check on every core before
// anything of it is written.
Result<CaseLink> OpenOwnEntry(const std::string& where, const SymmetricKey& archive_key,
                              VerifiedItem& v, SignatureCheck& signature) {
  const SealedEntry& sealed = *v.sealed;
  auto fail = [&](const Status& st) {
    return Status::Corruption(where + ": this node's archive key does not open its entry (" +
                              st.message() + ")");
  };
  auto case_id = OpenIndexBox(archive_key, sealed);
  if (!case_id.ok()) return fail(case_id.status());
  SymmetricKey case_key = DeriveCaseKey(archive_key, *case_id);
  SymmetricKey entry_key = DeriveEntryKey(case_key, sealed.nonce);
  SymmetricKey link_key = DeriveLinkKey(case_key, sealed.nonce);
  auto entry = OpenEntryBoxDeferringSignature(entry_key, sealed, signature);
  auto link = OpenLinkBox(link_key, sealed);
  OPENSSL_cleanse(entry_key.data(), entry_key.size());
  OPENSSL_cleanse(link_key.data(), link_key.size());
  Status st = !entry.ok() ? entry.status() : link.status();
  if (st.ok() && entry->case_id != *case_id) {
    st = Status::Corruption("its index box and its signed entry name different cases");
  }
  for (uint32_t i = 0; st.ok() && i < sealed.files.size(); ++i) {
    SymmetricKey file_key = DeriveFileKey(case_key, sealed.nonce, i);
    st = OpenDescriptorBox(file_key, sealed, *entry, i).status();
    OPENSSL_cleanse(file_key.data(), file_key.size());
  }
  OPENSSL_cleanse(case_key.data(), case_key.size());
  if (!st.ok()) return fail(st);
  v.case_id = *case_id;
  v.signed_entry_hash = ObjectId(Encode(*entry));
  return CaseLink{*case_id, *link};
}

class LogImporter {
 public:
  LogImporter(Store& store, PeerTransport& peer, const Head& head, LogSyncResult& result,
              bool own_log, const SymmetricKey* archive_key, WorkerPool& pool)
      : store_(store), peer_(peer), head_(head), result_(result), own_log_(own_log),
        archive_key_(archive_key), pool_(pool) {}

  Status Run() {
    KH_RETURN_IF_ERROR(CheckCheckpoint());
    KH_RETURN_IF_ERROR(store_.View([&](ReadTxn& txn) -> Status {
      KH_ASSIGN_OR_RETURN(local_size_, LogSize(txn, head_.origin));
      KH_ASSIGN_OR_RETURN(local_root_, MerkleRoot(local_size_, StoredSubtrees(txn, head_.origin)));
      KH_ASSIGN_OR_RETURN(auto last, txn.Last(Table::kCheckpoints, head_.origin));
      if (last) our_checkpoint_.assign(AsChars(last->second));
      return Status::Ok();
    }));
    result_.from = result_.to = local_size_;
    if (checkpoint_.size <= local_size_) return CheckNotAhead();
    if (local_size_ > 0) {
      KH_ASSIGN_OR_RETURN(std::vector<Hash> proof,
                          peer_.ConsistencyProof(head_.origin, local_size_, checkpoint_.size));
      if (!VerifyConsistency(local_size_, checkpoint_.size, local_root_, checkpoint_.root, proof)) {
        // The proof comes from the peer, not the origin: a faulty or hostile relay could send a
        // bad one for an honest checkpoint. Both signed checkpoints are kept, but marked as not
        // proven; a proven conflict needs evidence that stands on its own (CheckNotAhead).
        return RecordConflict("the peer could not prove its checkpoint consistent with the log "
                              "held here (a forked log, or a faulty peer)",
                              Hash{}, proof, /*proven=*/false);
      }
    }
    for (int raced = 0; result_.to < checkpoint_.size;) {
      Status st = ImportBatch();
      if (st.code() != Code::kAlreadyExists || ++raced > 8) KH_RETURN_IF_ERROR(st);
      if (st.ok()) continue;
      // Another pull (the server's schedule, or a second `khronika sync`) committed records of
      // this log meanwhile: carry on from what is held now.
      KH_RETURN_IF_ERROR(store_.View([&](ReadTxn& txn) -> Status {
        KH_ASSIGN_OR_RETURN(result_.to, LogSize(txn, head_.origin));
        return Status::Ok();
      }));
    }
    return result_.to > checkpoint_.size ? CheckNotAhead() : Status::Ok();
  }

 private:
  Status CheckCheckpoint() {
    std::optional<PublicKey> key;
    KH_RETURN_IF_ERROR(store_.View([&](ReadTxn& txn) -> Status {
      KH_ASSIGN_OR_RETURN(key, MemberKey(txn, head_.origin));
      return Status::Ok();
    }));
    if (!key) {
      result_.skipped = true;
      return Status::PermissionDenied("origin " + ToHex(head_.origin) + " is not a roster member");
    }
    key_ = *key;
    KH_ASSIGN_OR_RETURN(SignedNote note, ParseSignedNote(head_.checkpoint));
    KH_ASSIGN_OR_RETURN(NoteVerifier verifier,
                        ParseVerifierKey(FormatVerifierKey(OriginName(head_.origin), key_)));
    if (!NoteSignedBy(note, verifier)) {
      return Status::Corruption("the checkpoint is not signed by the origin's roster key");
    }
    origin_note_ = OriginSignedNote(note, verifier);
    KH_ASSIGN_OR_RETURN(checkpoint_, ParseCheckpointBody(note.text));
    if (checkpoint_.origin != OriginName(head_.origin) || checkpoint_.size != head_.size) {
      return Status::Corruption("the checkpoint names another log or size than announced");
    }
    return Status::Ok();
  }

  // The peer is not ahead: its checkpoint must still agree with what is held here.
  Status CheckNotAhead() {
    Hash ours;
    std::vector<Hash> proof;
    KH_RETURN_IF_ERROR(store_.View([&](ReadTxn& txn) -> Status {
      SubtreeFn subtrees = StoredSubtrees(txn, head_.origin);
      KH_ASSIGN_OR_RETURN(ours, MerkleRoot(checkpoint_.size, subtrees));
      KH_ASSIGN_OR_RETURN(proof, khronika::ConsistencyProof(checkpoint_.size, local_size_, subtrees));
      return Status::Ok();
    }));
    if (ours != checkpoint_.root) {
      // Self-contained proof: the origin signed `theirs` at this size and `ours` at a size at
      // least as large, and the consistency proof below shows that every tree with our root
      // has another root at their size.
      return RecordConflict("the peer's checkpoint at size " + std::to_string(checkpoint_.size) +
                                " has another root than the log held here",
                            ours, proof, /*proven=*/true);
    }
    // Consistent: keep the origin's signed checkpoint for that size if it is new here, so that
    // it can be cosigned and served.
    if (checkpoint_.size == 0) return Status::Ok();
    return store_.Update([&](WriteTxn& txn) -> Status {
      Bytes key = keys::Checkpoint(head_.origin, checkpoint_.size);
      KH_ASSIGN_OR_RETURN(bool have, txn.Contains(Table::kCheckpoints, key));
      if (have) return Status::Ok();
      return txn.Put(Table::kCheckpoints, key, AsBytes(origin_note_));
    });
  }

  Status RecordConflict(const std::string& why, const Hash& held_root_at_their_size,
                        const std::vector<Hash>& proof, bool proven) {
    result_.conflict = true;
    // One record per pair of checkpoints, however often the pair is seen again.
    Hash pair = Sha256(our_checkpoint_ + "\n" + origin_note_);
    Bytes key(head_.origin.begin(), head_.origin.end());
    key.insert(key.end(), pair.begin(), pair.begin() + 16);
    json proof_hex = json::array();
    for (const Hash& h : proof) proof_hex.push_back(ToHex(h));
    json evidence = {{"origin", ToHex(head_.origin)},
                     {"detected_ms", NowMs()},
                     {"ours", our_checkpoint_},
                     {"theirs", origin_note_},
                     {"proven", proven},
                     {"held_root_at_their_size", proven ? ToHex(held_root_at_their_size) : ""},
                     {"consistency_proof", proof_hex}};
    KH_RETURN_IF_ERROR(store_.Update([&](WriteTxn& txn) -> Status {
      KH_ASSIGN_OR_RETURN(bool have, txn.Contains(Table::kConflicts, key));
      if (have) return Status::Ok();
      return txn.Put(Table::kConflicts, key, AsBytes(evidence.dump()));
    }));
    if (!proven) {
      return Status::Corruption(why + "; nothing was taken, and both signed checkpoints are kept "
                                "(not proven: the failing proof came from the peer)");
    }
    return Status::Corruption("equivocation by " + OriginName(head_.origin) + ": " + why +
                              "; both signed checkpoints are kept as proof");
  }

  Status ImportBatch() {
    if (own_log_ && !archive_key_) {
      // Its case index and signed entries can be rebuilt only by opening each entry.
      return Status::PermissionDenied(
          "this node's own log is pulled back only with its archive key, which rebuilds its "
          "case index; nothing was taken");
    }
    uint64_t from = result_.to;
    KH_ASSIGN_OR_RETURN(Bytes body, peer_.Pack(head_.origin, from, checkpoint_.size));
    KH_ASSIGN_OR_RETURN(std::vector<PackItem> items, ParsePack(body));
    if (items.empty()) return Status::Corruption("the peer sent an empty pack");
    if (from + items.size() > checkpoint_.size) {
      return Status::Corruption("the peer sent records beyond its checkpoint");
    }
    std::vector<VerifiedItem> verified;
    std::map<TreeKey, Hash> new_nodes;
    Hash batch_root;
    KH_RETURN_IF_ERROR(store_.View([&](ReadTxn& txn) -> Status {
      return VerifyItems(txn, from, std::move(items), verified, new_nodes, batch_root);
    }));
    uint64_t to = from + verified.size();
    // Tie the batch to the signed checkpoint: the root over everything held plus this batch,
    // and a consistency proof from there to the checkpoint.
    if (to == checkpoint_.size) {
      if (batch_root != checkpoint_.root) {
        return Status::Corruption("the records do not lead to the signed checkpoint's root");
      }
    } else {
      KH_ASSIGN_OR_RETURN(std::vector<Hash> proof,
                          peer_.ConsistencyProof(head_.origin, to, checkpoint_.size));
      if (!VerifyConsistency(to, checkpoint_.size, batch_root, checkpoint_.root, proof)) {
        return Status::Corruption("records " + std::to_string(from) + " to " +
                                  std::to_string(to - 1) + " are not a prefix of the signed log");
      }
    }
    std::vector<FetchedChunk> last_answer;
    KH_RETURN_IF_ERROR(FetchChunks(verified, last_answer));
    KH_RETURN_IF_ERROR(Commit(from, verified, new_nodes, last_answer));
    result_.to = to;
    return Status::Ok();
  }

  using TreeKey = std::pair<unsigned, uint64_t>;
  struct FetchedChunk {
    Hash id{};
    Bytes data;      // checked: of its length, hashing to its id
    bool damaged = false;  // held here damaged: written over
  };

  // Checks the pack's records on top of the log held here, as the log's chain checker resumed
  // after it: its stored Merkle frontier and its last record. A partner sees no case, so case
  // chains are checked only when this node pulls back its own log (its archive key opens the
  // link boxes).
  Status VerifyItems(const ReadTxn& txn, uint64_t from, std::vector<PackItem> items,
                     std::vector<VerifiedItem>& out, std::map<TreeKey, Hash>& nodes, Hash& root) {
    // The chains below are checked against what is held; if another pull committed records of
    // this log meanwhile, that is a race to retry, not a broken chain.
    KH_ASSIGN_OR_RETURN(uint64_t held, LogSize(txn, head_.origin));
    if (held != from) return Status::AlreadyExists("the log changed during the sync; try again");
    Hash last{};
    if (from > 0) {
      KH_ASSIGN_OR_RETURN(auto bytes,
                          txn.Get(Table::kRecords, keys::Record(head_.origin, from - 1)));
      if (!bytes) return Status::Corruption("the last record held here is missing");
      last = RecordHash(*bytes);
    }
    KH_ASSIGN_OR_RETURN(MerkleFrontier frontier,
                        MerkleFrontier::FromSubtrees(from, StoredSubtrees(txn, head_.origin)));
    CaseTipFn case_tip = nullptr;
    if (own_log_) {
      case_tip = [&](const std::string& case_id) -> Result<std::optional<Hash>> {
        KH_ASSIGN_OR_RETURN(auto tip, txn.Last(Table::kCaseIndex,
                                               keys::CasePrefix(txn, case_id, head_.origin)));
        if (!tip) return std::optional<Hash>();
        return std::optional<Hash>(ToHash(tip->second));
      };
    }
    ChainChecker chain =
        ChainChecker::Resume(head_.origin, std::move(frontier), last, std::move(case_tip));
    std::set<Hash> sealed_here;  // sealed entries of this batch
    SignatureBatch signatures(pool_);  // own entries' author signatures, checked meanwhile
    std::vector<std::string> signed_where;  // the record of each, in the same order
    for (PackItem& item : items) {
      VerifiedItem v;
      Status object_checked = Status::Ok();
      bool object_seen = false;
      const std::string where =
          "record " + std::to_string(chain.size()) + " of " + OriginName(head_.origin);
      CaseOfRecord case_of = nullptr;
      if (own_log_) {
        case_of = [&](const Record& record) -> Result<std::optional<CaseLink>> {
          object_seen = true;
          object_checked = CheckObject(where, record, item.object, v);
          if (!object_checked.ok() || !v.sealed) return std::optional<CaseLink>();
          SignatureCheck signature;
          auto link = OpenOwnEntry(where, *archive_key_, v, signature);
          if (!link.ok()) {
            object_checked = link.status();
            return std::optional<CaseLink>();
          }
          signatures.Add(std::move(signature));
          signed_where.push_back(where);
          return std::optional<CaseLink>(std::move(*link));
        };
      }
      KH_ASSIGN_OR_RETURN(CheckedRecord checked, chain.Append(item.record, case_of));
      KH_RETURN_IF_ERROR(checked.status());
      if (!object_seen) object_checked = CheckObject(where, *checked.record, item.object, v);
      KH_RETURN_IF_ERROR(object_checked);
      if (v.sealed) {
        // A sealed entry is logged once: its id is the entry's handle in this log.
        const Hash& id = checked.record->object_id;
        KH_ASSIGN_OR_RETURN(auto location, txn.Get(Table::kEntryIndex, id));
        auto at = location ? keys::DecodePosition(*location) : Result<keys::Position>(Status::NotFound(""));
        if (!sealed_here.insert(id).second || (at.ok() && at->origin == head_.origin)) {
          return Status::Corruption(where + ": its sealed entry is already logged in this log");
        }
      }
      v.record = *checked.record;
      v.record_bytes = std::move(item.record);
      v.object_bytes = std::move(item.object);
      v.record_hash = checked.record_hash;
      v.leaf = checked.leaf_hash;
      for (const TreeNode& n : checked.completed) nodes[{n.level, n.index}] = n.hash;
      out.push_back(std::move(v));
    }
    // One bad signature refuses the whole batch, before anything of it is written.
    std::vector<bool> verdicts = signatures.Finish();
    for (size_t i = 0; i < verdicts.size(); ++i) {
      if (!verdicts[i]) {
        return Status::Corruption(signed_where[i] +
                                  ": this node's archive key does not open its entry (" +
                                  kEntrySignatureFails + ")");
      }
    }
    root = *chain.Root();  // nothing was skipped
    return Status::Ok();
  }

  // Every sealed chunk the batch's sealed entries name, present here (re-read and re-hashed) or
  // fetched from the peer, each of the length its sealed size gives and hashing to its id,
  // before any record that names it is written. What the peer sends is checked whole before
  // any of it is written: a chunk that was not asked for, does not hash to its id or has the
  // wrong length refuses the answer.
  //
  // Another pull of the same log (the server's schedule, or a second `khronika sync`) may store
  // the same chunks meanwhile, checked the same way. A chunk that was absent here and has come
  // in since is neither asked for again nor written over: rewriting a value makes LMDB read the
  // head of the old one through its file mapping, and the kernel then maps the whole large
  // page-cache folio around it into this process, so two pulls of a big file would each grow
  // by most of the file (only a damaged chunk is written over).
  //
  // Requests are pipelined: the next is in flight while the last is checked and written, each
  // of at most kMaxChunksPerRequest ids and kMaxChunkAnswerBytes, so that a batch of small
  // entries takes one round trip and a large file keeps the peer and this node busy at once.
  // The batch's last answer is not written here but handed back in `last`, for Commit to write
  // in the batch's own transaction.
  Status FetchChunks(const std::vector<VerifiedItem>& items, std::vector<FetchedChunk>& last) {
    std::map<Hash, uint64_t> lengths;  // chunk -> the length its sealed entry gives
    for (const VerifiedItem& v : items) {
      if (!v.sealed) continue;
      for (const SealedFile& f : v.sealed->files) {
        if (!f.inline_chunk.empty()) continue;  // a small file came inside its sealed entry
        for (uint64_t i = 0; i < f.chunks.size(); ++i) {
          uint64_t length = SealedChunkLength(f.sealed_size, i);
          auto [it, added] = lengths.emplace(f.chunks[i], length);
          if (!added && it->second != length) {
            return Status::Corruption("sealed chunk " + ToHex(f.chunks[i]) +
                                      " is named with two different lengths (entry " +
                                      ToHex(v.record.object_id) + ")");
          }
        }
      }
    }
    std::vector<Hash> missing;
    std::set<Hash> damaged;  // held here but unreadable or of the wrong length: written over
    KH_RETURN_IF_ERROR(store_.View([&](ReadTxn& txn) -> Status {
      for (const auto& [id, length] : lengths) {
        auto held = txn.Get(Table::kChunks, id);
        if (held.ok() && !*held) {
          missing.push_back(id);
          continue;
        }
        if (held.ok() && (*held)->size() == length && ChunkId(**held) == id) continue;
        if (!held.ok() && held.status().code() != Code::kCorruption) return held.status();
        damaged.insert(id);
        missing.push_back(id);
      }
      return Status::Ok();
    }));
    // Stored meanwhile by another pull, and not to be written over here.
    auto stored_since = [&](const ReadTxn& txn, const Hash& id) -> Result<bool> {
      if (damaged.count(id)) return false;
      return txn.Contains(Table::kChunks, id);
    };
    size_t next = 0;
    // The next ask: ids not stored meanwhile, within both limits (one chunk at least).
    auto next_ask = [&]() -> Result<std::vector<Hash>> {
      std::vector<Hash> ask;
      uint64_t bytes = 0;
      KH_RETURN_IF_ERROR(store_.View([&](ReadTxn& txn) -> Status {
        for (; next < missing.size() && ask.size() < kMaxChunksPerRequest; ++next) {
          const uint64_t length = lengths.at(missing[next]);
          if (!ask.empty() && bytes + length > kMaxChunkAnswerBytes) break;
          KH_ASSIGN_OR_RETURN(bool held, stored_since(txn, missing[next]));
          if (held) continue;
          ask.push_back(missing[next]);
          bytes += length;
        }
        return Status::Ok();
      }));
      return ask;
    };
    struct InFlight {
      std::vector<Hash> ask;
      std::future<Result<Bytes>> body;  // its destructor waits for the request
    };
    std::optional<InFlight> in_flight;
    // Only the request's thread uses the transport while it runs: this one checks and writes.
    auto send_next = [&]() -> Status {
      in_flight.reset();
      while (next < missing.size()) {
        KH_ASSIGN_OR_RETURN(std::vector<Hash> ask, next_ask());
        if (ask.empty()) continue;
        auto body = std::async(std::launch::async, [this, ask] { return peer_.Chunks(ask); });
        in_flight.emplace(InFlight{std::move(ask), std::move(body)});
        break;
      }
      return Status::Ok();
    };
    KH_RETURN_IF_ERROR(send_next());
    while (in_flight) {
      std::vector<Hash> ask = std::move(in_flight->ask);
      Result<Bytes> body = in_flight->body.get();
      if (!body.ok()) return body.status();
      KH_RETURN_IF_ERROR(send_next());
      auto chunks = ParseChunkBody(*body);  // each chunk hashed against its id
      if (!chunks.ok()) return chunks.status().Annotate("the peer's sealed chunks");
      *body = Bytes();  // its chunks are copied out
      std::set<Hash> wanted(ask.begin(), ask.end());
      for (const auto& [id, data] : *chunks) {
        if (!wanted.erase(id)) {
          return Status::Corruption("the peer sent sealed chunk " + ToHex(id) +
                                    ", which was not asked for or came twice");
        }
        if (data.size() != lengths.at(id)) {
          return Status::Corruption("sealed chunk " + ToHex(id) + " from the peer has " +
                                    std::to_string(data.size()) + " bytes, not the " +
                                    std::to_string(lengths.at(id)) + " its sealed size gives");
        }
      }
      if (!wanted.empty()) {
        return Status::Corruption("the peer did not send sealed chunk " + ToHex(*wanted.begin()));
      }
      result_.chunks_fetched += chunks->size();
      if (!in_flight) {  // the batch's last answer: written with its records
        for (auto& [id, data] : *chunks) {
          last.push_back(FetchedChunk{id, std::move(data), damaged.count(id) > 0});
        }
        break;
      }
      KH_RETURN_IF_ERROR(store_.Update([&](WriteTxn& txn) -> Status {
        for (const auto& [id, data] : *chunks) {
          KH_ASSIGN_OR_RETURN(bool held, stored_since(txn, id));
          if (!held) KH_RETURN_IF_ERROR(txn.Put(Table::kChunks, id, data));
        }
        return Status::Ok();
      }));
    }
    return Status::Ok();
  }

  Status Commit(uint64_t from, const std::vector<VerifiedItem>& items,
                const std::map<TreeKey, Hash>& nodes, const std::vector<FetchedChunk>& chunks) {
    return store_.Update([&](WriteTxn& txn) -> Status {
      KH_ASSIGN_OR_RETURN(uint64_t size, LogSize(txn, head_.origin));
      if (size != from) return Status::AlreadyExists("the log changed during the sync; try again");
      // Chunks first, in the same transaction as the records that name them. One stored
      // meanwhile by another pull is not written over (FetchChunks says why).
      for (const FetchedChunk& c : chunks) {
        if (!c.damaged) {
          KH_ASSIGN_OR_RETURN(bool held, txn.Contains(Table::kChunks, c.id));
          if (held) continue;
        }
        KH_RETURN_IF_ERROR(txn.Put(Table::kChunks, c.id, c.data));
      }
      for (const VerifiedItem& v : items) {
        const Hash& id = v.record.object_id;
        KH_RETURN_IF_ERROR(PutLoggedObject(txn, head_.origin, v.record.index, v.object_bytes));
        KH_RETURN_IF_ERROR(txn.PutImmutable(Table::kRecords,
                                            keys::Record(head_.origin, v.record.index),
                                            v.record_bytes));
        auto type = PeekObjectType(v.object_bytes);
        if (own_log_ && archive_key_ && type.ok() && *type == kTypeCustodyRecord) {
          // This node's own custody record, pulled back (a restored node): listed again where
          // access-log and bundles find it (docs/format.md section 7.3).
          KH_ASSIGN_OR_RETURN(CustodyRecord record, DecodeCustodyRecord(v.object_bytes));
          auto events = OpenCustodyRecord(record, *archive_key_);
          if (!events.ok()) {
            return Status::Corruption("record " + std::to_string(v.record.index) + " of " +
                                      OriginName(head_.origin) + ": this node's archive key "
                                      "does not open its custody record (" +
                                      events.status().message() + ")");
          }
          KH_RETURN_IF_ERROR(IndexCustodyRecord(txn, v.record.index, *events));
        }
        if (!v.sealed) continue;
        // Another log may have logged the same bytes first (a member copying another's
        // object); the index keeps the first place it was seen, and OpenEntry checks the
        // origin it is asked for.
        KH_ASSIGN_OR_RETURN(bool indexed, txn.Contains(Table::kEntryIndex, id));
        if (!indexed) {
          KH_RETURN_IF_ERROR(txn.Put(Table::kEntryIndex, id,
                                     keys::EntryLocation(head_.origin, v.record.index)));
        }
        if (v.case_id) {  // this node's own entry, pulled back: the origin's own indexes
          KH_RETURN_IF_ERROR(txn.Put(Table::kCaseIndex,
                                     keys::CaseRecord(txn, *v.case_id, head_.origin, v.record.index),
                                     v.record_hash));
          KH_RETURN_IF_ERROR(
              txn.Put(Table::kSignedEntries, keys::SignedEntry(txn, v.signed_entry_hash), id));
        }
      }
      for (const auto& [key, hash] : nodes) {
        KH_RETURN_IF_ERROR(
            txn.Put(Table::kTree, keys::Tree(head_.origin, key.first, key.second), hash));
      }
      uint64_t to = from + items.size();
      if (to == checkpoint_.size) {
        KH_RETURN_IF_ERROR(txn.PutImmutable(Table::kCheckpoints,
                                            keys::Checkpoint(head_.origin, to),
                                            AsBytes(origin_note_)));
      }
      return Status::Ok();
    });
  }

  Store& store_;
  PeerTransport& peer_;
  const Head& head_;
  LogSyncResult& result_;
  const bool own_log_;
  const SymmetricKey* archive_key_;
  WorkerPool& pool_;
  PublicKey key_{};
  Checkpoint checkpoint_;
  uint64_t local_size_ = 0;
  Hash local_root_{};
  std::string our_checkpoint_;
  std::string origin_note_;
};

}  // namespace

Result<std::vector<Hash>> ServeConsistencyProof(const Store& store, const Hash& origin,
                                                uint64_t from, uint64_t to) {
  std::vector<Hash> proof;
  KH_RETURN_IF_ERROR(store.View([&](ReadTxn& txn) -> Status {
    KH_ASSIGN_OR_RETURN(ConsistencyProofResult p, ProveConsistency(txn, origin, from, to));
    proof = std::move(p.proof);
    return Status::Ok();
  }));
  return proof;
}

Result<SyncReport> PullFromPeer(Store& store, PeerTransport& peer, const Witness* witness,
                                const SymmetricKey* archive_key) {
  KH_ASSIGN_OR_RETURN(std::vector<Head> heads, peer.Heads());
  std::optional<Bytes> local;
  KH_RETURN_IF_ERROR(store.View([&](ReadTxn& txn) -> Status {
    KH_ASSIGN_OR_RETURN(local, txn.Get(Table::kMeta, AsBytes(keys::kMetaLocalOrigin)));
    return Status::Ok();
  }));
  SyncReport report;
  // Author signatures are checked only when this node pulls back its own log, on every core.
  WorkerPool pool(archive_key ? WorkerPool::DefaultThreads() : 1);
  for (const Head& head : heads) {
    LogSyncResult result;
    result.origin = head.origin;
    result.peer_size = head.size;
    const bool is_local = local && *local == Bytes(head.origin.begin(), head.origin.end());
    result.status = LogImporter(store, peer, head, result, is_local, archive_key, pool).Run();
    if (result.status.ok()) {
      // Witnessing: others' cosignatures of what is held here are learnt, and this node vouches
      // for every other member's log it has verified and holds whole.
      auto ingested = IngestCosignatures(store, head.origin, head.checkpoint);
      if (ingested.ok()) result.cosignatures_received = *ingested;
      // Timestamps travel like the log: a partner keeps the origin's tokens through a raid.
      if (head.timestamped > 0 && head.timestamped <= result.to) {
        auto stamped = PullTimestamps(store, peer, head.origin, head.timestamped);
        if (stamped.ok()) {
          result.timestamps_received = *stamped;
        } else {
          result.status = stamped.status().Annotate("timestamps of checkpoint " +
                                                    std::to_string(head.timestamped));
        }
      }
      if (witness && !is_local) {
        KH_ASSIGN_OR_RETURN(result.cosigned,
                            CosignLatest(store, head.origin, *witness,
                                         static_cast<uint64_t>(NowMs() / 1000),
                                         &result.cosign_withheld));
      }
    }
    report.logs.push_back(std::move(result));
  }
  return report;
}

Status RememberPull(Store& store, const Hash& peer, const Result<SyncReport>& outcome,
                    int64_t now_ms) {
  PeerStatus status;
  KH_ASSIGN_OR_RETURN(auto previous, GetPeerStatus(store, peer));
  if (previous) status = *previous;
  status.last_attempt_ms = now_ms;
  status.last_error.clear();
  if (!outcome.ok()) {
    status.last_error = outcome.status().message();
  } else {
    status.lag_records = 0;
    for (const LogSyncResult& l : outcome->logs) {
      if (l.peer_size > l.to) status.lag_records += l.peer_size - l.to;
      if (!l.status.ok() && !l.skipped && status.last_error.empty()) {
        status.last_error = ToHex(l.origin).substr(0, 16) + ": " + l.status.message();
      }
    }
    if (status.last_error.empty()) status.last_success_ms = now_ms;
  }
  return RecordPeerStatus(store, peer, status);
}

Result<bool> RestorePending(Store& store) {
  bool pending = false;
  KH_RETURN_IF_ERROR(store.View([&](ReadTxn& txn) -> Status {
    KH_ASSIGN_OR_RETURN(pending, txn.Contains(Table::kMeta, AsBytes(keys::kMetaRestorePending)));
    return Status::Ok();
  }));
  return pending;
}

Status FinishRestore(Store& store) {
  return store.Update([&](WriteTxn& txn) {
    return txn.Delete(Table::kMeta, AsBytes(keys::kMetaRestorePending));
  });
}

Result<std::vector<Conflict>> ListConflicts(Store& store) {
  std::vector<Conflict> out;
  KH_RETURN_IF_ERROR(store.View([&](ReadTxn& txn) {
    return txn.Scan(Table::kConflicts, {}, [&](ByteView, ByteView value) -> Result<bool> {
      json j = json::parse(AsChars(value), nullptr, false);
      if (j.is_discarded()) return Status::Corruption("conflict record is not JSON");
      Conflict c;
      KH_ASSIGN_OR_RETURN(c.origin, ParseHashHex(j.value("origin", "")));
      c.detected_ms = j.value("detected_ms", int64_t{0});
      c.ours = j.value("ours", "");
      c.theirs = j.value("theirs", "");
      c.proven = j.value("proven", true);
      out.push_back(std::move(c));
      return true;
    });
  }));
  return out;
}

}  // namespace khronika
