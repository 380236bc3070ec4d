// The append-only log of one origin node: records chained by hash, an RFC 6962 Merkle tree whose
// perfect subtrees are persisted, and a C2SP signed checkpoint after every transaction.
//
// Thread safety: a Log may be shared; Append serialises on LMDB's writer lock, and the checks
// that cost CPU (signatures, content hashes) run before it is taken.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "khronika/schemas/crypto.h"
#include "khronika/schemas/merkle.h"
#include "khronika/schemas/objects.h"
#include "khronika/store/store.h"

namespace khronika {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual int64_t NowMs() = 0;  // milliseconds since the Unix epoch
};
Clock& SystemClock();

// One client-signed entry and the manifests it names, in the entry's order.
struct Submission {
  Entry entry;
  std::vector<FileManifest> manifests;
  // Who sent it over the API (a token id). Such a submission may name only chunks that this
  // uploader sent itself or that are already logged in the same case of this log, so that no
  // one can adopt another case's content by naming its chunk ids. Unset for the operator's
  // local appends (`add`), which hold the store anyway.
  std::optional<std::string> uploader;
};

// A submission whose fields, author signature, manifests and file content have been checked
// (by Log::Check). Only Log can make one, so the commit path can trust it and skip the checks
// that cost CPU.
class CheckedSubmission {
 public:
  const Submission& submission() const { return submission_; }

 private:
  friend class Log;
  explicit CheckedSubmission(Submission s) : submission_(std::move(s)) {}
  Submission submission_;
};

// What a submitter keeps: enough to prove, offline, that its entry is in the log.
struct Receipt {
  Hash entry_id{};
  Hash origin{};
  uint64_t index = 0;
  Bytes record;  // canonical record bytes; the leaf hash covers exactly these
  Hash leaf_hash{};
  uint64_t tree_size = 0;
  std::string checkpoint;  // signed note for tree_size
  std::vector<Hash> inclusion_proof;
};

// "khronika/<64 hex>/witness": the key name of a node's witness (cosigner) key.
std::string WitnessName(const Hash& node);
// The node a witness key name belongs to, or nullopt if `key_name` is not one.
std::optional<Hash> WitnessOwner(std::string_view key_name);

// The C2SP checkpoint note for the node's log at `size` with Merkle `root`, signed by the node.
std::string SignCheckpoint(const SigningKey& node_key, uint64_t size, const Hash& root);

// An author registered on this node, as the `authors` table holds it (docs/format.md): the
// value is 0x00 || version 0x01 || flags (bit 0: removed) || public key (32) || name. A value
// written by an older khronika is the name alone (it never starts with 0x00): its key is then
// known only to whoever asks for it by key.
struct RegisteredAuthor {
  PublicKey key{};
  std::string name;
  bool removed = false;   // new entries by this key are refused; logged ones stay valid
  bool key_known = true;  // false: a name-only value listed by ListAuthors
};
Bytes EncodeAuthorValue(const RegisteredAuthor& author);
// `key` is the key the value was looked up by, if known (the table's keys are blinded).
Result<RegisteredAuthor> DecodeAuthorValue(ByteView value, const std::optional<PublicKey>& key);

// Registers an author's public key (again: a removed author is registered anew); entries by
// unregistered or removed authors are refused.
Status RegisterAuthor(Store& store, const PublicKey& key, std::string_view name);
// Stores each author as given, `removed` included (`init --keys` taking back a roster).
Status PutAuthors(Store& store, const std::vector<RegisteredAuthor>& authors);
// Marks the author removed, keeping its name for the entries it signed. NotFound if unknown.
Status RemoveAuthor(Store& store, const PublicKey& key);
// Every registered author, removed ones included, in the table's (blinded) order.
Result<std::vector<RegisteredAuthor>> ListAuthors(Store& store);
// The author registered under `key` (removed or not), if any.
Result<std::optional<RegisteredAuthor>> FindAuthor(const ReadTxn& txn, const PublicKey& key);

// Stores a chunk under its SHA-256 and returns the id (a no-op if already present).
Result<Hash> PutChunk(WriteTxn& txn, ByteView chunk);

// A stored chunk, re-hashed against its id on every read (LMDB keeps no checksums of its own):
// Corruption naming the chunk if it is missing or damaged.
Result<Bytes> ReadChunk(const Store& store, const Hash& id);

// A record of a log and the entry it logs, as stored and decoded.
struct LoggedEntry {
  Bytes record_bytes;
  Record record;
  Bytes entry_bytes;
  Entry entry;
};
// NotFound if `origin`'s log held here has no record `index`; Corruption if its entry is
// missing or either does not decode.
Result<LoggedEntry> ReadLoggedEntry(const ReadTxn& txn, const Hash& origin, uint64_t index);

// Checks that a stored file matches its manifest: every chunk present with the right length,
// and the whole content's SHA-256. Reads the content once, chunk by chunk.
Status CheckFileContent(const ReadTxn& txn, const FileManifest& manifest);

// Whether `uploader` may name `chunk` in a submission to `case_id` of `origin`'s log: it sent
// the chunk itself, or the chunk is already logged in that case.
Result<bool> ChunkSuppliedFor(const ReadTxn& txn, const Hash& origin, std::string_view case_id,
                              std::string_view uploader, const Hash& chunk);
// Notes the chunks of a logged entry's files as held in its case (keys::CaseContent).
Status IndexCaseContent(WriteTxn& txn, const Hash& origin, std::string_view case_id,
                        const std::vector<FileManifest>& manifests);

// Reads perfect-subtree hashes of `origin` from the store's tree table.
SubtreeFn StoredSubtrees(const ReadTxn& txn, const Hash& origin);

class Log {
 public:
  // `node_key` signs checkpoints; it must outlive the Log.
  Log(Store& store, const SigningKey& node_key, Clock& clock = SystemClock());

  const Hash& origin() const { return origin_; }
  const std::string& origin_name() const { return origin_name_; }

  // Validates every submission (fields, author signature, manifest ids, file content against
  // the stored chunks) outside the write lock, then appends them all in one transaction, signs
  // one checkpoint and commits. Receipts come back only after the commit; on any error nothing
  // is written.
  Result<std::vector<Receipt>> Append(const std::vector<Submission>& batch);

  // Group commit: like Append, but each submission stands or falls on its own. Submissions that
  // fail their checks get their error; the rest are appended together in one transaction with
  // one checkpoint. A store error (such as StoreFull) fails them all, with nothing written.
  std::vector<Result<Receipt>> AppendEach(const std::vector<Submission>& batch);

  // The CPU-heavy checks of Append, on the caller's thread and without the writer lock.
  Result<CheckedSubmission> Check(Submission submission) const;
  // AppendEach for submissions that Check already passed.
  std::vector<Result<Receipt>> AppendChecked(const std::vector<CheckedSubmission>& batch);

  // A receipt for an entry already in the local log, against the latest checkpoint: what a
  // client that lost its first answer gets when it submits again.
  Result<Receipt> ReceiptFor(const Hash& entry_id) const;

  Result<uint64_t> Size() const;
  // The latest signed checkpoint note, or NotFound for an empty log.
  Result<std::string> LatestCheckpoint() const;
  Result<std::vector<Hash>> InclusionProof(uint64_t index, uint64_t size) const;
  Result<std::vector<Hash>> ConsistencyProof(uint64_t from, uint64_t to) const;

 private:
  std::vector<Result<Receipt>> AppendImpl(const std::vector<const Submission*>& batch,
                                          bool all_or_nothing, bool checked,
                                          Status* batch_status);
  Store& store_;
  const SigningKey& key_;
  Clock& clock_;
  Hash origin_;
  std::string origin_name_;
};

// Size of the log of `origin` held in the store (0 if none).
Result<uint64_t> LogSize(const ReadTxn& txn, const Hash& origin);

// The latest signed checkpoint of `origin`'s log held in the store, if any.
struct HeldCheckpoint {
  uint64_t size = 0;
  std::string note;
};
Result<std::optional<HeldCheckpoint>> LatestHeldCheckpoint(const ReadTxn& txn, const Hash& origin);
// The sizes at which checkpoints of `origin`'s log have cosignatures here, ascending, each once.
Result<std::vector<uint64_t>> CosignedSizes(const ReadTxn& txn, const Hash& origin);

}  // namespace khronika
