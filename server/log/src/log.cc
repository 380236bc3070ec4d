#include "khronika/log/log.h"

#include <chrono>
#include <map>
#include <set>

#include "khronika/log/store_keys.h"
#include "khronika/schemas/note.h"

namespace khronika {
namespace {

class RealClock : public Clock {
 public:
  int64_t NowMs() override {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
};

Hash HashFromBytes(ByteView b) {
  Hash h{};
  std::copy(b.begin(), b.begin() + std::min<size_t>(b.size(), 32), h.begin());
  return h;
}

// Checks that need no store: fields, signature, and that the manifests are the ones signed.
Status CheckSubmission(const Submission& s) {
  KH_RETURN_IF_ERROR(ValidateEntryFields(s.entry));
  if (s.manifests.size() != s.entry.manifests.size()) {
    return Status::InvalidArgument("entry names " + std::to_string(s.entry.manifests.size()) +
                                   " files but " + std::to_string(s.manifests.size()) +
                                   " manifests were given");
  }
  std::set<std::string_view> names;
  for (size_t i = 0; i < s.manifests.size(); ++i) {
    KH_RETURN_IF_ERROR(ValidateManifest(s.manifests[i]));
    // A court bundle and `cat` address files by name within an entry, so names are unique.
    if (!names.insert(s.manifests[i].name).second) {
      return Status::InvalidArgument("two files in one entry are both named '" +
                                     s.manifests[i].name + "'");
    }
    if (ObjectId(Encode(s.manifests[i])) != s.entry.manifests[i]) {
      return Status::InvalidArgument("manifest " + std::to_string(i) +
                                     " does not match the id the entry signs");
    }
  }
  if (!VerifyEntrySignature(s.entry)) {
    return Status::PermissionDenied("the entry's author signature is invalid");
  }
  return Status::Ok();
}

}  // namespace

namespace {

// The checks of a submission that read the store, cheapest first: that its submitter supplied
// every chunk it names (lookups), then each file's content against its manifest (hashing every
// byte), unless the manifest is already stored, which means its content was checked when it was
// first logged or pulled. A chunk the submitter did not supply is reported exactly like one that
// does not exist, so the answer says nothing about what other cases hold.
Status CheckStoredContent(const ReadTxn& txn, const Hash& origin, const Submission& s) {
  if (s.uploader) {
    for (const FileManifest& m : s.manifests) {
      for (const Hash& chunk : m.chunks) {
        KH_ASSIGN_OR_RETURN(bool supplied, ChunkSuppliedFor(txn, origin, s.entry.case_id, *s.uploader, chunk));
        if (!supplied) {
          return Status::NotFound("chunk " + ToHex(chunk) + " of file '" + m.name +
                                  "' has not been uploaded");
        }
      }
    }
  }
  for (size_t i = 0; i < s.manifests.size(); ++i) {
    KH_ASSIGN_OR_RETURN(bool known, txn.Contains(Table::kObjects, s.entry.manifests[i]));
    if (!known) KH_RETURN_IF_ERROR(CheckFileContent(txn, s.manifests[i]));
  }
  return Status::Ok();
}

}  // namespace

Clock& SystemClock() {
  static RealClock clock;
  return clock;
}

std::string WitnessName(const Hash& node) { return OriginName(node) + "/witness"; }

std::optional<Hash> WitnessOwner(std::string_view name) {
  constexpr std::string_view kPrefix = "khronika/", kSuffix = "/witness";
  if (name.size() != kPrefix.size() + 64 + kSuffix.size() || name.substr(0, kPrefix.size()) != kPrefix ||
      name.substr(name.size() - kSuffix.size()) != kSuffix) {
    return std::nullopt;
  }
  auto node = ParseHashHex(name.substr(kPrefix.size(), 64));
  if (!node.ok() || WitnessName(*node) != name) return std::nullopt;  // lowercase hex only
  return *node;
}

std::string SignCheckpoint(const SigningKey& node_key, uint64_t size, const Hash& root) {
  std::string origin = OriginName(NodeIdFromPublicKey(node_key.public_key()));
  SignedNote note;
  note.text = FormatCheckpointBody(Checkpoint{origin, size, root, {}});
  note.signatures.push_back(SignNoteText(note.text, origin, node_key));
  return FormatSignedNote(note);
}

namespace {
constexpr uint8_t kAuthorValueVersion = 1;
constexpr uint8_t kAuthorRemoved = 1;
constexpr size_t kAuthorHeader = 3 + 32;

Status CheckAuthorName(std::string_view name) {
  if (name.empty() || name.size() > 256) {
    return Status::InvalidArgument("author name must be 1 to 256 bytes");
  }
  return Status::Ok();
}
}  // namespace

Bytes EncodeAuthorValue(const RegisteredAuthor& author) {
  Bytes v = {0x00, kAuthorValueVersion, static_cast<uint8_t>(author.removed ? kAuthorRemoved : 0)};
  v.insert(v.end(), author.key.begin(), author.key.end());
  v.insert(v.end(), author.name.begin(), author.name.end());
  return v;
}

Result<RegisteredAuthor> DecodeAuthorValue(ByteView value, const std::optional<PublicKey>& key) {
  RegisteredAuthor a;
  if (value.empty() || value[0] != 0x00) {  // an older khronika's value: the name alone
    a.name = std::string(AsChars(value));
    a.key_known = key.has_value();
    if (key) a.key = *key;
    return a;
  }
  if (value.size() <= kAuthorHeader || value[1] != kAuthorValueVersion || (value[2] & ~kAuthorRemoved)) {
    return Status::Corruption("an author record is malformed");
  }
  a.removed = value[2] & kAuthorRemoved;
  std::copy(value.begin() + 3, value.begin() + kAuthorHeader, a.key.begin());
  if (key && *key != a.key) return Status::Corruption("an author record names another key");
  a.name = std::string(AsChars(value.subspan(kAuthorHeader)));
  return a;
}

Status RegisterAuthor(Store& store, const PublicKey& key, std::string_view name) {
  return PutAuthors(store, {RegisteredAuthor{key, std::string(name), false, true}});
}

Status PutAuthors(Store& store, const std::vector<RegisteredAuthor>& authors) {
  for (const RegisteredAuthor& a : authors) KH_RETURN_IF_ERROR(CheckAuthorName(a.name));
  return store.Update([&](WriteTxn& txn) -> Status {
    for (const RegisteredAuthor& a : authors) {
      KH_RETURN_IF_ERROR(txn.Put(Table::kAuthors, keys::Author(txn, a.key), EncodeAuthorValue(a)));
    }
    return Status::Ok();
  });
}

Status RemoveAuthor(Store& store, const PublicKey& key) {
  return store.Update([&](WriteTxn& txn) -> Status {
    KH_ASSIGN_OR_RETURN(auto author, FindAuthor(txn, key));
    if (!author) return Status::NotFound("no author with key " + ToHex(key) + " is registered here");
    author->removed = true;
    return txn.Put(Table::kAuthors, keys::Author(txn, key), EncodeAuthorValue(*author));
  });
}

Result<std::vector<RegisteredAuthor>> ListAuthors(Store& store) {
  std::vector<RegisteredAuthor> out;
  KH_RETURN_IF_ERROR(store.View([&](ReadTxn& txn) {
    return txn.Scan(Table::kAuthors, {}, [&](ByteView, ByteView value) -> Result<bool> {
      KH_ASSIGN_OR_RETURN(RegisteredAuthor a, DecodeAuthorValue(value, std::nullopt));
      out.push_back(std::move(a));
      return true;
    });
  }));
  return out;
}

Result<std::optional<RegisteredAuthor>> FindAuthor(const ReadTxn& txn, const PublicKey& key) {
  KH_ASSIGN_OR_RETURN(auto value, txn.Get(Table::kAuthors, keys::Author(txn, key)));
  if (!value) return std::optional<RegisteredAuthor>();
  KH_ASSIGN_OR_RETURN(RegisteredAuthor a, DecodeAuthorValue(*value, key));
  return std::optional<RegisteredAuthor>(std::move(a));
}

Result<Hash> PutChunk(WriteTxn& txn, ByteView chunk) {
  if (chunk.size() > kChunkSize) return Status::InvalidArgument("chunk larger than 1 MiB");
  Hash id = ChunkId(chunk);
  KH_ASSIGN_OR_RETURN(bool present, txn.Contains(Table::kChunks, id));
  if (!present) KH_RETURN_IF_ERROR(txn.Put(Table::kChunks, id, chunk));
  return id;
}

Result<Bytes> ReadChunk(const Store& store, const Hash& id) {
  std::optional<Bytes> chunk;
  KH_RETURN_IF_ERROR(store.View([&](ReadTxn& txn) -> Status {
    KH_ASSIGN_OR_RETURN(chunk, txn.Get(Table::kChunks, id));
    return Status::Ok();
  }));
  if (!chunk) return Status::Corruption("chunk " + ToHex(id) + " is missing");
  if (ChunkId(*chunk) != id) return Status::Corruption("chunk " + ToHex(id) + " is damaged");
  return std::move(*chunk);
}

Result<LoggedEntry> ReadLoggedEntry(const ReadTxn& txn, const Hash& origin, uint64_t index) {
  LoggedEntry out;
  KH_ASSIGN_OR_RETURN(auto record, txn.Get(Table::kRecords, keys::Record(origin, index)));
  if (!record) return Status::NotFound("record " + std::to_string(index) + " is not held here");
  out.record_bytes = std::move(*record);
  KH_ASSIGN_OR_RETURN(out.record, DecodeRecord(out.record_bytes));
  KH_ASSIGN_OR_RETURN(auto entry, txn.Get(Table::kObjects, out.record.entry_id));
  if (!entry) return Status::Corruption("entry " + ToHex(out.record.entry_id) + " is missing");
  out.entry_bytes = std::move(*entry);
  KH_ASSIGN_OR_RETURN(out.entry, DecodeEntry(out.entry_bytes));
  return out;
}

Status CheckFileContent(const ReadTxn& txn, const FileManifest& m) {
  Sha256Stream content;
  for (uint64_t i = 0; i < m.chunks.size(); ++i) {
    KH_ASSIGN_OR_RETURN(std::optional<Bytes> chunk, txn.Get(Table::kChunks, m.chunks[i]));
    if (!chunk) {
      return Status::NotFound("chunk " + ToHex(m.chunks[i]) + " of file '" + m.name +
                              "' has not been uploaded");
    }
    if (chunk->size() != ChunkLength(m.size, i)) {
      return Status::InvalidArgument("chunk " + std::to_string(i) + " of file '" + m.name +
                                     "' has the wrong length for the declared size");
    }
    if (ChunkId(*chunk) != m.chunks[i]) {
      return Status::Corruption("stored chunk " + ToHex(m.chunks[i]) + " does not match its id");
    }
    content.Update(*chunk);
  }
  if (content.Finish() != m.content_sha256) {
    return Status::InvalidArgument("content of file '" + m.name +
                                   "' does not match the SHA-256 in its manifest");
  }
  return Status::Ok();
}

Result<bool> ChunkSuppliedFor(const ReadTxn& txn, const Hash& origin, std::string_view case_id,
                              std::string_view uploader, const Hash& chunk) {
  KH_ASSIGN_OR_RETURN(bool uploaded, txn.Contains(Table::kUploads, keys::Upload(txn, uploader, chunk)));
  if (uploaded) return true;
  return txn.Contains(Table::kCaseContent, keys::CaseContent(txn, origin, case_id, chunk));
}

Status IndexCaseContent(WriteTxn& txn, const Hash& origin, std::string_view case_id,
                        const std::vector<FileManifest>& manifests) {
  for (const FileManifest& m : manifests) {
    for (const Hash& chunk : m.chunks) {
      KH_RETURN_IF_ERROR(txn.Put(Table::kCaseContent, keys::CaseContent(txn, origin, case_id, chunk), {}));
    }
  }
  return Status::Ok();
}

SubtreeFn StoredSubtrees(const ReadTxn& txn, const Hash& origin) {
  return [&txn, origin](unsigned level, uint64_t index) -> Result<Hash> {
    KH_ASSIGN_OR_RETURN(std::optional<Bytes> v, txn.Get(Table::kTree, keys::Tree(origin, level, index)));
    if (!v || v->size() != 32) {
      return Status::Corruption("Merkle tree node level " + std::to_string(level) + " index " +
                                std::to_string(index) + " of " + OriginName(origin) +
                                " is missing or malformed");
    }
    return HashFromBytes(*v);
  };
}

Result<uint64_t> LogSize(const ReadTxn& txn, const Hash& origin) {
  KH_ASSIGN_OR_RETURN(auto last, txn.Last(Table::kRecords, origin));
  if (!last) return uint64_t{0};
  KH_ASSIGN_OR_RETURN(keys::Position at, keys::DecodePosition(last->first));
  return at.index + 1;
}

Result<std::optional<HeldCheckpoint>> LatestHeldCheckpoint(const ReadTxn& txn, const Hash& origin) {
  KH_ASSIGN_OR_RETURN(auto last, txn.Last(Table::kCheckpoints, origin));
  if (!last) return std::optional<HeldCheckpoint>();
  KH_ASSIGN_OR_RETURN(keys::Position at, keys::DecodePosition(last->first));
  return std::optional<HeldCheckpoint>(HeldCheckpoint{at.index, std::string(AsChars(last->second))});
}

Result<std::vector<uint64_t>> CosignedSizes(const ReadTxn& txn, const Hash& origin) {
  std::vector<uint64_t> sizes;
  KH_RETURN_IF_ERROR(txn.ScanKeys(Table::kCosignatures, origin, [&](ByteView key) -> Result<bool> {
    KH_ASSIGN_OR_RETURN(keys::Position at, keys::DecodeCosignature(key));
    if (sizes.empty() || sizes.back() != at.index) sizes.push_back(at.index);
    return true;
  }));
  return sizes;
}

Log::Log(Store& store, const SigningKey& node_key, Clock& clock)
    : store_(store),
      key_(node_key),
      clock_(clock),
      origin_(NodeIdFromPublicKey(node_key.public_key())),
      origin_name_(OriginName(origin_)) {}

namespace {
std::vector<const Submission*> Pointers(const std::vector<Submission>& batch) {
  std::vector<const Submission*> out;
  for (const Submission& s : batch) out.push_back(&s);
  return out;
}
}  // namespace

Result<std::vector<Receipt>> Log::Append(const std::vector<Submission>& batch) {
  Status batch_status;
  std::vector<Result<Receipt>> results = AppendImpl(Pointers(batch), true, false, &batch_status);
  if (!batch_status.ok()) return batch_status;
  std::vector<Receipt> receipts;
  for (Result<Receipt>& r : results) receipts.push_back(std::move(r).value());
  return receipts;
}

std::vector<Result<Receipt>> Log::AppendEach(const std::vector<Submission>& batch) {
  Status ignored;
  return AppendImpl(Pointers(batch), false, false, &ignored);
}

std::vector<Result<Receipt>> Log::AppendChecked(const std::vector<CheckedSubmission>& batch) {
  std::vector<const Submission*> pointers;
  for (const CheckedSubmission& c : batch) pointers.push_back(&c.submission());
  Status ignored;
  return AppendImpl(pointers, false, true, &ignored);
}

Result<CheckedSubmission> Log::Check(Submission submission) const {
  KH_RETURN_IF_ERROR(CheckSubmission(submission));
  KH_RETURN_IF_ERROR(store_.View(
      [&](ReadTxn& txn) { return CheckStoredContent(txn, origin_, submission); }));
  return CheckedSubmission(std::move(submission));
}

Result<Receipt> Log::ReceiptFor(const Hash& entry_id) const {
  Receipt r;
  KH_RETURN_IF_ERROR(store_.View([&](ReadTxn& txn) -> Status {
    KH_ASSIGN_OR_RETURN(auto location, txn.Get(Table::kEntryIndex, entry_id));
    if (!location || location->size() != 40) {
      return Status::NotFound("entry " + ToHex(entry_id) + " is not recorded");
    }
    if (!std::equal(origin_.begin(), origin_.end(), location->begin())) {
      return Status::NotFound("entry " + ToHex(entry_id) + " is recorded in another log");
    }
    r.entry_id = entry_id;
    r.origin = origin_;
    KH_ASSIGN_OR_RETURN(keys::Position at, keys::DecodePosition(*location));
    r.index = at.index;
    KH_ASSIGN_OR_RETURN(auto record, txn.Get(Table::kRecords, keys::Record(origin_, r.index)));
    if (!record) return Status::Corruption("record " + std::to_string(r.index) + " is missing");
    r.record = *record;
    r.leaf_hash = LeafHash(r.record);
    KH_ASSIGN_OR_RETURN(auto last, LatestHeldCheckpoint(txn, origin_));
    if (!last) return Status::Corruption("the log has no checkpoint");
    r.tree_size = last->size;
    r.checkpoint = std::move(last->note);
    KH_ASSIGN_OR_RETURN(r.inclusion_proof, khronika::InclusionProof(r.index, r.tree_size,
                                                                    StoredSubtrees(txn, origin_)));
    return Status::Ok();
  }));
  return r;
}

std::vector<Result<Receipt>> Log::AppendImpl(const std::vector<const Submission*>& batch_ptrs,
                                             bool all_or_nothing, bool checked,
                                             Status* batch_status) {
  std::vector<Status> verdicts(batch_ptrs.size());
  auto fail_all = [&](const Status& st) {
    *batch_status = st;
    return std::vector<Result<Receipt>>(batch_ptrs.size(), Result<Receipt>(st));
  };
  if (batch_ptrs.empty()) return fail_all(Status::InvalidArgument("nothing to append"));
  // Expensive checks first, without the writer lock: chunks are never deleted, so what is
  // verified here still holds inside the write transaction.
  if (!checked) {
    for (size_t i = 0; i < batch_ptrs.size(); ++i) {
      verdicts[i] = CheckSubmission(*batch_ptrs[i]);
      if (!verdicts[i].ok() && all_or_nothing) return fail_all(verdicts[i]);
    }
    Status read = store_.View([&](ReadTxn& txn) -> Status {
      for (size_t i = 0; i < batch_ptrs.size(); ++i) {
        if (!verdicts[i].ok()) continue;
        verdicts[i] = CheckStoredContent(txn, origin_, *batch_ptrs[i]);
        if (!verdicts[i].ok() && all_or_nothing) return verdicts[i];
      }
      return Status::Ok();
    });
    if (!read.ok()) return fail_all(read);
  }

  std::vector<std::optional<Receipt>> receipts(batch_ptrs.size());
  // Checks that depend on what the log already holds; they run inside the transaction, before
  // anything of the submission is written.
  // Returns a store error, or OK with *verdict set to whether the submission may be appended.
  auto check_in_txn = [&](WriteTxn& txn, const Submission& s, const Hash& entry_id,
                          Status* verdict) -> Status {
    KH_ASSIGN_OR_RETURN(auto author, FindAuthor(txn, s.entry.author));
    KH_ASSIGN_OR_RETURN(bool logged, txn.Contains(Table::kEntryIndex, entry_id));
    bool target = true;
    if (s.entry.corrects) {
      KH_ASSIGN_OR_RETURN(target, txn.Contains(Table::kEntryIndex, *s.entry.corrects));
    }
    if (!author) {
      *verdict = Status::PermissionDenied("author " + ToHex(s.entry.author) +
                                          " is not registered on this node");
    } else if (author->removed) {
      *verdict = Status::PermissionDenied("author " + ToHex(s.entry.author) +
                                          " was removed from this node");
    } else if (logged) {
      *verdict = Status::AlreadyExists("entry " + ToHex(entry_id) + " is already recorded");
    } else if (!target) {
      *verdict = Status::NotFound("the entry to correct, " + ToHex(*s.entry.corrects) +
                                  ", is not recorded here");
    } else {
      *verdict = Status::Ok();
    }
    return Status::Ok();
  };

  Status st = store_.Update([&](WriteTxn& txn) -> Status {
    for (auto& r : receipts) r.reset();
    KH_ASSIGN_OR_RETURN(bool restoring, txn.Contains(Table::kMeta, AsBytes(keys::kMetaRestorePending)));
    if (restoring) {
      return Status::PermissionDenied(
          "this node took back an earlier identity and has not yet pulled its own log back from "
          "a peer; run `khronika sync` first, or it would fork the log it signed before");
    }
    KH_ASSIGN_OR_RETURN(uint64_t size, LogSize(txn, origin_));
    const uint64_t first_index = size;
    Hash prev_record{};
    if (size > 0) {
      KH_ASSIGN_OR_RETURN(std::optional<Bytes> last,
                          txn.Get(Table::kRecords, keys::Record(origin_, size - 1)));
      if (!last) return Status::Corruption("last record of the local log is missing");
      prev_record = RecordHash(*last);
    }
    SubtreeFn subtrees = StoredSubtrees(txn, origin_);
    KH_ASSIGN_OR_RETURN(MerkleFrontier tree, MerkleFrontier::FromSubtrees(size, subtrees));
    for (size_t i = 0; i < batch_ptrs.size(); ++i) {
      if (!verdicts[i].ok()) continue;
      const Submission& s = *batch_ptrs[i];
      Bytes entry_bytes = Encode(s.entry);
      Hash entry_id = ObjectId(entry_bytes);
      Status verdict_in_txn;
      KH_RETURN_IF_ERROR(check_in_txn(txn, s, entry_id, &verdict_in_txn));
      if (!verdict_in_txn.ok()) {
        if (all_or_nothing) return verdict_in_txn;
        verdicts[i] = verdict_in_txn;
        continue;
      }
      for (const FileManifest& m : s.manifests) {
        Bytes mb = Encode(m);
        Hash mid = ObjectId(mb);
        KH_RETURN_IF_ERROR(txn.PutImmutable(Table::kObjects, mid, mb));
        KH_RETURN_IF_ERROR(txn.Put(Table::kManifestEntries, keys::ManifestEntry(mid, entry_id), {}));
        // Now held in the case, so the uploader's own claim to these chunks is no longer needed.
        if (s.uploader) {
          for (const Hash& chunk : m.chunks) {
            KH_RETURN_IF_ERROR(txn.Delete(Table::kUploads, keys::Upload(txn, *s.uploader, chunk)));
          }
        }
      }
      KH_RETURN_IF_ERROR(IndexCaseContent(txn, origin_, s.entry.case_id, s.manifests));
      KH_RETURN_IF_ERROR(txn.PutImmutable(Table::kObjects, entry_id, entry_bytes));

      Record rec;
      rec.origin = origin_;
      rec.index = size;
      rec.prev_record = prev_record;
      rec.entry_id = entry_id;
      const Bytes case_prefix = keys::CasePrefix(txn, s.entry.case_id, origin_);
      KH_ASSIGN_OR_RETURN(auto case_tip, txn.Last(Table::kCaseIndex, case_prefix));
      if (case_tip) rec.prev_case_record = HashFromBytes(case_tip->second);
      rec.received_at_ms = clock_.NowMs();
      Bytes record_bytes = Encode(rec);
      Hash record_hash = RecordHash(record_bytes);

      KH_RETURN_IF_ERROR(txn.PutImmutable(Table::kRecords, keys::Record(origin_, size), record_bytes));
      KH_RETURN_IF_ERROR(txn.Put(Table::kCaseIndex, keys::CaseRecord(case_prefix, size), record_hash));
      KH_RETURN_IF_ERROR(txn.Put(Table::kEntryIndex, entry_id, keys::EntryLocation(origin_, size)));
      Hash leaf = LeafHash(record_bytes);
      for (const TreeNode& n : tree.Append(leaf)) {
        KH_RETURN_IF_ERROR(txn.Put(Table::kTree, keys::Tree(origin_, n.level, n.index), n.hash));
      }
      Receipt r;
      r.entry_id = entry_id;
      r.origin = origin_;
      r.index = size;
      r.record = std::move(record_bytes);
      r.leaf_hash = leaf;
      receipts[i] = std::move(r);
      prev_record = record_hash;
      ++size;
    }
    if (size == first_index) return Status::Ok();  // nothing survived its checks
    const Hash root = tree.Root().value();  // nothing skipped
    std::string checkpoint = SignCheckpoint(key_, size, root);
    KH_RETURN_IF_ERROR(
        txn.PutImmutable(Table::kCheckpoints, keys::Checkpoint(origin_, size), AsBytes(checkpoint)));
    for (auto& r : receipts) {
      if (!r) continue;
      r->tree_size = size;
      r->checkpoint = checkpoint;
      KH_ASSIGN_OR_RETURN(r->inclusion_proof, khronika::InclusionProof(r->index, size, subtrees));
    }
    return Status::Ok();
  });
  if (!st.ok()) return fail_all(st);
  std::vector<Result<Receipt>> out;
  for (size_t i = 0; i < batch_ptrs.size(); ++i) {
    if (receipts[i]) {
      out.emplace_back(std::move(*receipts[i]));
    } else {
      out.emplace_back(verdicts[i].ok() ? Status::IOError("not appended") : verdicts[i]);
    }
  }
  return out;
}

Result<uint64_t> Log::Size() const {
  uint64_t size = 0;
  KH_RETURN_IF_ERROR(store_.View([&](ReadTxn& txn) -> Status {
    KH_ASSIGN_OR_RETURN(size, LogSize(txn, origin_));
    return Status::Ok();
  }));
  return size;
}

Result<std::string> Log::LatestCheckpoint() const {
  std::string note;
  KH_RETURN_IF_ERROR(store_.View([&](ReadTxn& txn) -> Status {
    KH_ASSIGN_OR_RETURN(auto last, LatestHeldCheckpoint(txn, origin_));
    if (!last) return Status::NotFound("the log is empty: no checkpoint yet");
    note = std::move(last->note);
    return Status::Ok();
  }));
  return note;
}

Result<std::vector<Hash>> Log::InclusionProof(uint64_t index, uint64_t size) const {
  std::vector<Hash> proof;
  KH_RETURN_IF_ERROR(store_.View([&](ReadTxn& txn) -> Status {
    KH_ASSIGN_OR_RETURN(uint64_t current, LogSize(txn, origin_));
    if (size > current) {
      return Status::InvalidArgument("size " + std::to_string(size) + " is beyond the log (" +
                                     std::to_string(current) + " records)");
    }
    KH_ASSIGN_OR_RETURN(proof, khronika::InclusionProof(index, size, StoredSubtrees(txn, origin_)));
    return Status::Ok();
  }));
  return proof;
}

Result<std::vector<Hash>> Log::ConsistencyProof(uint64_t from, uint64_t to) const {
  std::vector<Hash> proof;
  KH_RETURN_IF_ERROR(store_.View([&](ReadTxn& txn) -> Status {
    KH_ASSIGN_OR_RETURN(uint64_t current, LogSize(txn, origin_));
    if (to > current) {
      return Status::InvalidArgument("size " + std::to_string(to) + " is beyond the log (" +
                                     std::to_string(current) + " records)");
    }
    KH_ASSIGN_OR_RETURN(proof,
                        khronika::ConsistencyProof(from, to, StoredSubtrees(txn, origin_)));
    return Status::Ok();
  }));
  return proof;
}

}  // namespace khronika
