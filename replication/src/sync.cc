#include "khronika/replication/sync.h"

#include <chrono>
#include <map>
#include <set>

#include <nlohmann/json.hpp>

#include "khronika/log/log.h"
#include "khronika/log/proofs.h"
#include "khronika/log/store_keys.h"
#include "khronika/replication/roster.h"
#include "khronika/replication/witness.h"
#include "khronika/schemas/chain_checker.h"
#include "khronika/schemas/merkle.h"
#include "khronika/schemas/note.h"

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
  Entry entry;
  Bytes entry_bytes;
  std::vector<FileManifest> manifests;
  std::vector<Bytes> manifest_bytes;
  Hash record_hash{};
  Hash leaf{};
};

class LogImporter {
 public:
  LogImporter(Store& store, PeerTransport& peer, const Head& head, LogSyncResult& result)
      : store_(store), peer_(peer), head_(head), result_(result) {}

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
    // Keep only the origin's own signature with the log; cosignatures are stored apart.
    SignedNote origin_only{note.text, {}};
    for (const NoteSignatureLine& line : note.signatures) {
      if (line.name == verifier.name && line.key_id == verifier.key_id) {
        origin_only.signatures.push_back(line);
        break;
      }
    }
    origin_note_ = FormatSignedNote(origin_only);
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
      KH_ASSIGN_OR_RETURN(std::vector<Hash> proof, peer_.ConsistencyProof(head_.origin, to, checkpoint_.size));
      if (!VerifyConsistency(to, checkpoint_.size, batch_root, checkpoint_.root, proof)) {
        return Status::Corruption("records " + std::to_string(from) + " to " + std::to_string(to - 1) +
                                  " are not a prefix of the signed log");
      }
    }
    KH_RETURN_IF_ERROR(FetchContent(verified));
    KH_RETURN_IF_ERROR(Commit(from, verified, new_nodes));
    result_.to = to;
    return Status::Ok();
  }

  using TreeKey = std::pair<unsigned, uint64_t>;

  // The entry and manifests that came with a record: what the record names, each decoding
  // canonically, the author's signature, file names unique within the entry.
  static Status CheckEntry(const std::string& where, const Record& record, const PackItem& item,
                           VerifiedItem& v) {
    if (ObjectId(item.entry) != record.entry_id) {
      return Status::Corruption(where + ": entry bytes do not match the entry id");
    }
    auto entry = DecodeEntry(item.entry);
    if (!entry.ok()) return entry.status().Annotate(where);
    v.entry = *entry;
    if (!VerifyEntrySignature(v.entry)) return Status::Corruption(where + ": author signature invalid");
    if (item.manifests.size() != v.entry.manifests.size()) {
      return Status::Corruption(where + ": wrong number of manifests");
    }
    std::set<std::string> names;
    for (size_t m = 0; m < item.manifests.size(); ++m) {
      if (ObjectId(item.manifests[m]) != v.entry.manifests[m]) {
        return Status::Corruption(where + ": manifest does not match the entry");
      }
      auto manifest = DecodeManifest(item.manifests[m]);
      if (!manifest.ok()) return manifest.status().Annotate(where);
      if (!names.insert(manifest->name).second) {
        return Status::Corruption(where + ": two files with one name");
      }
      v.manifests.push_back(std::move(*manifest));
    }
    return Status::Ok();
  }

  // Checks the pack's records on top of the log held here, as the log's chain checker resumed
  // after it: its stored Merkle frontier, its last record, and each case's last record held.
  Status VerifyItems(const ReadTxn& txn, uint64_t from, std::vector<PackItem> items,
                     std::vector<VerifiedItem>& out, std::map<TreeKey, Hash>& nodes, Hash& root) {
    // The chains below are checked against what is held; if another pull committed records of
    // this log meanwhile, that is a race to retry, not a broken chain.
    KH_ASSIGN_OR_RETURN(uint64_t held, LogSize(txn, head_.origin));
    if (held != from) return Status::AlreadyExists("the log changed during the sync; try again");
    Hash last{};
    if (from > 0) {
      KH_ASSIGN_OR_RETURN(auto bytes, txn.Get(Table::kRecords, keys::Record(head_.origin, from - 1)));
      if (!bytes) return Status::Corruption("the last record held here is missing");
      last = RecordHash(*bytes);
    }
    KH_ASSIGN_OR_RETURN(MerkleFrontier frontier,
                        MerkleFrontier::FromSubtrees(from, StoredSubtrees(txn, head_.origin)));
    ChainChecker chain = ChainChecker::Resume(
        head_.origin, std::move(frontier), last, [&](const std::string& case_id) -> Result<std::optional<Hash>> {
          KH_ASSIGN_OR_RETURN(auto tip, txn.Last(Table::kCaseIndex, keys::CasePrefix(txn, case_id, head_.origin)));
          if (!tip) return std::optional<Hash>();
          return std::optional<Hash>(ToHash(tip->second));
        });
    for (PackItem& item : items) {
      VerifiedItem v;
      Status entry_checked;
      const std::string where = "record " + std::to_string(chain.size()) + " of " + OriginName(head_.origin);
      KH_ASSIGN_OR_RETURN(CheckedRecord checked, chain.Append(item.record, [&](const Record& record) -> Result<std::optional<std::string>> {
        entry_checked = CheckEntry(where, record, item, v);
        if (!entry_checked.ok()) return std::optional<std::string>();
        return std::optional<std::string>(v.entry.case_id);
      }));
      KH_RETURN_IF_ERROR(checked.status());
      KH_RETURN_IF_ERROR(entry_checked);
      v.record = *checked.record;
      v.record_bytes = std::move(item.record);
      v.entry_bytes = std::move(item.entry);
      v.manifest_bytes = std::move(item.manifests);
      v.record_hash = checked.record_hash;
      v.leaf = checked.leaf_hash;
      for (const TreeNode& n : checked.completed) nodes[{n.level, n.index}] = n.hash;
      out.push_back(std::move(v));
    }
    root = *chain.Root();  // nothing was skipped
    return Status::Ok();
  }

  // Fetches the chunks not held here, checking each against its id, then every file against
  // its manifest, before any record that names them is written.
  Status FetchContent(const std::vector<VerifiedItem>& items) {
    std::vector<Hash> missing;
    std::set<Hash> seen;
    KH_RETURN_IF_ERROR(store_.View([&](ReadTxn& txn) -> Status {
      for (const VerifiedItem& v : items) {
        for (const FileManifest& m : v.manifests) {
          for (const Hash& id : m.chunks) {
            if (!seen.insert(id).second) continue;
            KH_ASSIGN_OR_RETURN(bool present, txn.Contains(Table::kChunks, id));
            if (!present) missing.push_back(id);
          }
        }
      }
      return Status::Ok();
    }));
    for (size_t off = 0; off < missing.size(); off += kMaxChunksPerRequest) {
      std::vector<Hash> ask(missing.begin() + static_cast<long>(off),
                            missing.begin() + static_cast<long>(std::min(missing.size(), off + kMaxChunksPerRequest)));
      KH_ASSIGN_OR_RETURN(Bytes body, peer_.Chunks(ask));
      KH_ASSIGN_OR_RETURN(auto chunks, ParseChunkBody(body));
      std::set<Hash> wanted(ask.begin(), ask.end());
      KH_RETURN_IF_ERROR(store_.Update([&](WriteTxn& txn) -> Status {
        for (const auto& [id, data] : chunks) {
          if (!wanted.count(id)) return Status::Corruption("the peer sent a chunk that was not asked for");
          KH_RETURN_IF_ERROR(PutChunk(txn, data).status());
        }
        return Status::Ok();
      }));
      result_.chunks_fetched += chunks.size();
    }
    return store_.View([&](ReadTxn& txn) -> Status {
      for (const VerifiedItem& v : items) {
        for (const FileManifest& m : v.manifests) {
          Status st = CheckFileContent(txn, m);
          if (!st.ok()) return st.Annotate("file '" + m.name + "' of entry " + ToHex(v.record.entry_id));
        }
      }
      return Status::Ok();
    });
  }

  Status Commit(uint64_t from, const std::vector<VerifiedItem>& items,
                const std::map<TreeKey, Hash>& nodes) {
    return store_.Update([&](WriteTxn& txn) -> Status {
      KH_ASSIGN_OR_RETURN(uint64_t size, LogSize(txn, head_.origin));
      if (size != from) return Status::AlreadyExists("the log changed during the sync; try again");
      for (const VerifiedItem& v : items) {
        for (size_t m = 0; m < v.manifests.size(); ++m) {
          const Hash& mid = v.entry.manifests[m];
          KH_RETURN_IF_ERROR(txn.PutImmutable(Table::kObjects, mid, v.manifest_bytes[m]));
          KH_RETURN_IF_ERROR(txn.Put(Table::kManifestEntries, keys::ManifestEntry(mid, v.record.entry_id), {}));
        }
        // A node restored from its peers gets back which chunks each of its own cases holds.
        KH_RETURN_IF_ERROR(IndexCaseContent(txn, head_.origin, v.entry.case_id, v.manifests));
        KH_RETURN_IF_ERROR(txn.PutImmutable(Table::kObjects, v.record.entry_id, v.entry_bytes));
        KH_RETURN_IF_ERROR(txn.PutImmutable(Table::kRecords, keys::Record(head_.origin, v.record.index),
                                            v.record_bytes));
        KH_RETURN_IF_ERROR(txn.Put(Table::kCaseIndex,
                                   keys::CaseRecord(txn, v.entry.case_id, head_.origin, v.record.index),
                                   v.record_hash));
        // The same signed entry may sit in two logs; the index keeps the first place it was seen.
        KH_ASSIGN_OR_RETURN(bool indexed, txn.Contains(Table::kEntryIndex, v.record.entry_id));
        if (!indexed) {
          KH_RETURN_IF_ERROR(txn.Put(Table::kEntryIndex, v.record.entry_id,
                                     keys::EntryLocation(head_.origin, v.record.index)));
        }
      }
      for (const auto& [key, hash] : nodes) {
        KH_RETURN_IF_ERROR(txn.Put(Table::kTree, keys::Tree(head_.origin, key.first, key.second), hash));
      }
      uint64_t to = from + items.size();
      if (to == checkpoint_.size) {
        KH_RETURN_IF_ERROR(txn.PutImmutable(Table::kCheckpoints, keys::Checkpoint(head_.origin, to),
                                            AsBytes(origin_note_)));
      }
      return Status::Ok();
    });
  }

  Store& store_;
  PeerTransport& peer_;
  const Head& head_;
  LogSyncResult& result_;
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

Result<SyncReport> PullFromPeer(Store& store, PeerTransport& peer, const Witness* witness) {
  KH_ASSIGN_OR_RETURN(std::vector<Head> heads, peer.Heads());
  std::optional<Bytes> local;
  KH_RETURN_IF_ERROR(store.View([&](ReadTxn& txn) -> Status {
    KH_ASSIGN_OR_RETURN(local, txn.Get(Table::kMeta, AsBytes(keys::kMetaLocalOrigin)));
    return Status::Ok();
  }));
  SyncReport report;
  for (const Head& head : heads) {
    LogSyncResult result;
    result.origin = head.origin;
    result.peer_size = head.size;
    result.status = LogImporter(store, peer, head, result).Run();
    if (result.status.ok()) {
      // Witnessing: others' cosignatures of what is held here are learnt, and this node vouches
      // for every other member's log it has verified.
      auto ingested = IngestCosignatures(store, head.origin, head.checkpoint);
      if (ingested.ok()) result.cosignatures_received = *ingested;
      bool is_local = local && *local == Bytes(head.origin.begin(), head.origin.end());
      if (witness && !is_local) {
        KH_ASSIGN_OR_RETURN(result.cosigned, CosignLatest(store, head.origin, *witness,
                                                          static_cast<uint64_t>(NowMs() / 1000)));
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
