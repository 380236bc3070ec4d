// The append-only log of one origin node: records chained by hash, an RFC 6962 Merkle tree whose
// perfect subtrees are persisted, and a C2SP signed checkpoint after every transaction.
//
// Format 2 (docs/format-2.md): what is logged is sealed. A submission's plaintext (the upload
// chunks) is checked against the author-signed descriptors and sealed under keys derived from
// the origin's archive key; the record names the SealedEntry, whose id is the entry's public
// handle; the plaintext upload chunks are deleted when the entry is appended.
//
// Thread safety: a Log may be shared; Append serialises on LMDB's writer lock, and the work that
// costs CPU (signatures, content hashes, sealing) runs before it is taken.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "khronika/schemas/crypto.h"
#include "khronika/schemas/merkle.h"
#include "khronika/schemas/objects.h"
#include "khronika/schemas/sealed_objects.h"
#include "khronika/store/store.h"

namespace khronika {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual int64_t NowMs() = 0;  // milliseconds since the Unix epoch
};
Clock& SystemClock();

// One file of a submission: what the author committed to (descriptor and salt) and the plaintext
// upload chunks that carry its content, in order (ChunkCount(size) ids, each the SHA-256 of a
// 1 MiB piece, the last shorter).
struct SubmittedFile {
  FileOpening opening;
  std::vector<Hash> upload_chunks;
  // A small file's plaintext sent with the entry (POST /v1/entries "content", at most
  // kMaxInlineContent bytes) instead of upload chunks: then upload_chunks is empty. Check judges
  // it as it judges uploaded chunks, and wipes it once sealed.
  std::optional<Bytes> content;
};

// The largest file that may travel inline in a submission (SubmittedFile::content).
inline constexpr uint64_t kMaxInlineContent = 64 * 1024;

// One author-signed entry and, in the entry's order, its files.
struct Submission {
  SignedEntry entry;
  std::vector<SubmittedFile> files;
  // Who sent it over the API (a token id). A submission names only upload chunks that its own
  // uploader sent (keys::UploadChunk), so no one can adopt another's content by naming chunk
  // ids. Unset for the operator's local appends (`add`), whose chunks are stored without one.
  std::optional<std::string> uploader;
};

// A submission whose fields, author signature, commitments and file content have been checked
// and whose files and entry have been sealed (by Log::Check), all but the link box, which the
// append seals once it knows the case's previous record: its sealed chunks are stored already,
// or (a small one's) held here until the append writes them with the record. Only Log can make
// one, so the commit path can trust it.
class CheckedSubmission {
 public:
  const Submission& submission() const { return submission_; }
  const std::vector<SealedFile>& sealed_files() const { return presealed_.files(); }
  // Bytes of sealed chunks held in memory for the append's transaction (a small submission's).
  size_t held_bytes() const {
    size_t n = 0;
    for (const auto& chunk : unwritten_chunks_) n += chunk.second.size();
    return n;
  }

 private:
  friend class Log;
  CheckedSubmission(Submission s, Bytes signed_entry_key, Bytes case_prefix,
                    PresealedEntry presealed, std::vector<std::pair<Hash, Bytes>> unwritten)
      : submission_(std::move(s)),
        signed_entry_key_(std::move(signed_entry_key)),
        case_prefix_(std::move(case_prefix)),
        presealed_(std::move(presealed)),
        unwritten_chunks_(std::move(unwritten)) {}
  Submission submission_;
  // The entry's keys in the store (keys::SignedEntry of its signed entry's id, keys::CasePrefix),
  // made once by the check: on an encrypted store each is a keyed hash, and the append needs
  // both again.
  Bytes signed_entry_key_;
  Bytes case_prefix_;
  PresealedEntry presealed_;
  // The sealed chunks of a small submission (at most a few MiB), written by the append's
  // transaction rather than one of their own; empty when Check wrote them already.
  std::vector<std::pair<Hash, Bytes>> unwritten_chunks_;
};

// Reads the next bytes of a file's content into `buf` (at most `max`); 0 only at its end.
using ContentSource = std::function<Result<size_t>(uint8_t* buf, size_t max)>;

// The files of one entry of this node's own log, sealed straight from their source before the
// author signs the entry (`khronika add`, `khronika import`): each byte is read once, hashed once
// for the descriptor's SHA-256 and sealed once, with no plaintext upload chunks on the way. The
// sealed bytes are those Log::Check makes of the same content under the same nonce and salts.
// Made by Log::BeginLocal and Log::SealLocalFile; its sealed chunks are stored (a small
// entry's are held here for the append's transaction) until Log::CheckLocal takes them, or
// Log::Discard removes them.
class LocalFileSealer;
class LocalSealing {
 public:
  struct File {
    uint64_t size = 0;
    Hash content_sha256{};  // of the bytes sealed: what the author's descriptor must say
  };
  const std::string& case_id() const { return case_id_; }
  const std::vector<File>& files() const { return files_; }
  // Bytes held in memory for the append (a small entry's sealed chunks).
  size_t held_bytes() const;
  LocalSealing(LocalSealing&&) noexcept = default;
  LocalSealing& operator=(LocalSealing&&) noexcept = default;
  ~LocalSealing();

 private:
  friend class Log;
  friend class LocalFileSealer;
  LocalSealing() = default;
  std::string case_id_;
  EntryNonce nonce_{};
  SymmetricKey case_key_{};
  std::vector<File> files_;
  std::vector<SealedFile> sealed_;
  std::vector<Hash> written_;                      // sealed chunks committed to the store
  std::vector<std::pair<Hash, Bytes>> pending_;    // sealed chunks not yet written
};

// One file of a LocalSealing, sealed as its bytes arrive in pieces: SealLocalFile reads it from a
// file, and the server's sealing uploads feed it request by request (seal on arrival), so each
// byte is hashed once for the descriptor's SHA-256, sealed once and written once. Made by
// Log::BeginLocalFile; Finish adds the file to its sealing. One that fails, or is dropped
// unfinished, removes what it wrote and leaves its sealing as before it began (a large file's
// writer may have taken the entry's earlier small files with it: then the sealing is emptied,
// and says so with files().empty()). The sealing must outlive it and must not move meanwhile.
class LocalFileSealer {
 public:
  ~LocalFileSealer();
  LocalFileSealer(const LocalFileSealer&) = delete;
  LocalFileSealer& operator=(const LocalFileSealer&) = delete;

  // The next bytes of the file: InvalidArgument past the announced size, or the first error
  // (then the file is abandoned: every later call returns that error).
  Status Update(ByteView piece);
  // InvalidArgument if fewer bytes arrived than announced; otherwise waits until every sealed
  // chunk is stored (or held for the append) and adds the file to its sealing.
  Status Finish();
  uint64_t size() const;
  uint64_t received() const;
  // The SHA-256 of the content, once Finish succeeded.
  const Hash& content_sha256() const;

 private:
  friend class Log;
  struct Impl;
  explicit LocalFileSealer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// What a submitter keeps: enough to prove, offline, that its entry is in the log.
struct Receipt {
  Hash entry_id{};  // the SealedEntry's id: the entry's public handle
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

// Stores a plaintext upload chunk (at most kChunkSize bytes) sent by `uploader` (empty for a
// local `add`) and returns its id, the SHA-256 of its bytes. The key is blinded and the value
// encrypted at rest; the chunk lives until the entry that names it is appended.
Result<Hash> PutUploadChunk(WriteTxn& txn, std::string_view uploader, ByteView chunk);
// The same for a chunk whose id the caller has just computed (ChunkId(chunk) == id), so that it
// is not hashed again inside the transaction. True if it was not held yet.
Result<bool> PutUploadChunk(WriteTxn& txn, std::string_view uploader, const Hash& id,
                            ByteView chunk);
// Whether `uploader` has sent the upload chunk `id` and it is still waiting to be sealed.
Result<bool> HasUploadChunk(const ReadTxn& txn, std::string_view uploader, const Hash& id);

// A stored sealed chunk, re-hashed against its id on every read (LMDB keeps no checksums of its
// own, and sealed chunks carry no tag at rest): Corruption naming the chunk if it is missing or
// damaged.
Result<Bytes> ReadChunk(const Store& store, const Hash& id);
Result<Bytes> ReadChunk(const ReadTxn& txn, const Hash& id);
// Sealed chunk `k` of `file`: for a small file the bytes its sealed entry carries (checked
// against the chunk id when the entry was decoded), which no table holds; otherwise ReadChunk.
Result<Bytes> ReadFileChunk(const ReadTxn& txn, const SealedFile& file, uint64_t k);
Result<Bytes> ReadFileChunk(const Store& store, const SealedFile& file, uint64_t k);

// Checks what a partner checks of a sealed entry without any key: every sealed chunk present,
// of the length the sealed size gives, hashing to its id (the sizes and counts themselves, and
// the small files' sealed bytes it carries, are checked by DecodeSealedEntry). Reads every byte
// once.
Status CheckSealedChunks(const ReadTxn& txn, const SealedEntry& sealed);

// Where the sealed entry `entry_id` is kept in Table::kObjects (its entry index names the
// record that logs it, and objects are kept at their record's place: keys::Object), or nullopt.
Result<std::optional<Bytes>> SealedEntryObjectKey(const ReadTxn& txn, const Hash& entry_id);

// A record of a log and the object it logs, as stored and decoded (no key needed).
struct LoggedObject {
  Bytes record_bytes;
  Record record;
  Bytes object_bytes;
};
// NotFound if `origin`'s log held here has no record `index`; Corruption if its object is
// missing or the record does not decode.
Result<LoggedObject> ReadLoggedObject(const ReadTxn& txn, const Hash& origin, uint64_t index);
// Writes the object of record `index` of `origin`'s log at its record's place (PutImmutable),
// and with the log's first object its end mark (keys::ObjectsEnd): every writer of a log's
// objects (an append, a sync) goes through here.
Status PutLoggedObject(WriteTxn& txn, const Hash& origin, uint64_t index, ByteView object_bytes);

// What opens a logged entry of this origin: its archive key (an admin) or the key of one case (a
// token limited to that case, which knows the case id). Reads check the key, not only a token:
// a case key opens its own case's entries and nothing else.
struct EntryKey {
  static EntryKey Archive(const SymmetricKey& archive_key) {
    return {&archive_key, nullptr, {}, nullptr};
  }
  static EntryKey Case(std::string case_id, const SymmetricKey& case_key) {
    return {nullptr, &case_key, std::move(case_id), nullptr};
  }
  const SymmetricKey* archive_key = nullptr;
  const SymmetricKey* case_key = nullptr;
  std::string case_id;  // with case_key
  // When set, OpenEntry checks everything but the author signature, which it leaves here for
  // the caller to verify (in a SignatureBatch) before it trusts the entry.
  SignatureCheck* defer_signature = nullptr;
};

// A logged entry of this origin, opened: the record, the sealed entry, and what the key reveals.
struct OpenedEntry {
  Hash entry_id{};  // the SealedEntry's id
  Bytes record_bytes;
  Record record;
  SealedEntry sealed;
  std::string case_id;
  SymmetricKey case_key{};
  Bytes signed_entry_bytes;
  SignedEntry entry;  // its author signature verified (unless the key deferred it)
  std::vector<FileOpening> files;  // each descriptor checked against the signed commitment
  ~OpenedEntry();
};
// Opens the entry `entry_id` of `origin`'s log. NotFound, with one wording whatever the reason
// ("entry <id> not found"), if there is no such entry in that log or `key` is a case key that
// does not open it, so that a key of one case learns nothing of another. Corruption if the
// archive key does not open it or a box, signature or commitment fails.
Result<OpenedEntry> OpenEntry(const ReadTxn& txn, const Hash& origin, const EntryKey& key,
                              const Hash& entry_id);
// OpenEntry of a record and object the caller has read already (verify walks the records): the
// entry is the object `logged.record` names, checked against that id. The caller has checked
// that the record is of the key's origin.
Result<OpenedEntry> OpenLoggedEntry(const EntryKey& key, LoggedObject logged);

// Where a SealedFileReader finds sealed chunks. They are not re-hashed against their ids (as
// ReadChunk does): the reader authenticates every byte it returns, which an altered, swapped or
// moved chunk fails.
using ChunkSource = std::function<Result<Bytes>(const Hash& id)>;
// Each chunk in a read transaction of its own: for streaming, no transaction held between reads.
ChunkSource ChunksOf(const Store& store);
// Chunks read in `txn`, which must outlive the source.
ChunkSource ChunksIn(const ReadTxn& txn);

// Streams the plaintext of one sealed file, by the C2SP 16 KiB chunks that cover what is asked,
// from any offset (Range downloads). The key commitment is checked at Open, and every 16 KiB
// chunk authenticated (its tag, under the nonce of its position) before a byte of it is
// returned: an altered or moved sealed chunk fails there. Holds at most two sealed chunks.
class SealedFileReader {
 public:
  // `file_key` = DeriveFileKey(case key, nonce, index). PermissionDenied if the key does not
  // match the file's key commitment.
  static Result<SealedFileReader> Open(ChunkSource chunks, const SealedEntry& sealed,
                                       const FileDescriptor& descriptor,
                                       const SymmetricKey& file_key, uint32_t file_index);
  uint64_t size() const { return size_; }
  // Up to `max_bytes` of plaintext from `offset` (fewer at the end of the file; none at or past
  // it). Corruption if a sealed chunk is missing or altered.
  Result<Bytes> Read(uint64_t offset, size_t max_bytes);
  // Opens every 16 KiB chunk past the file's size to the end of the padded file, and checks
  // that the padding is zero: with Read over the whole size, every sealed byte authenticated.
  Status CheckPadding();

 private:
  SealedFileReader(ChunkSource chunks, SealedFile file, uint64_t size, ChunkedOpener opener)
      : chunks_(std::move(chunks)), file_(std::move(file)), size_(size), opener_(std::move(opener)) {}
  Result<ByteView> SealedChunk(uint64_t index);
  Result<ByteView> SealedBytes(uint64_t from, uint64_t to, Bytes& scratch);
  ChunkSource chunks_;
  SealedFile file_;
  uint64_t size_;
  ChunkedOpener opener_;
  uint64_t padded_size_ = 0;
  std::map<uint64_t, Bytes> cached_;  // sealed chunk index -> bytes, at most two
};

// The logs whose entries this node opens with its archive key: its own, and any log it adopted
// after a recovery (AdoptLog). Reads (get, cat, case listings, bundles) look in all of them.
Result<std::vector<Hash>> OpenableOrigins(const ReadTxn& txn);
// The openable log that holds case `case_id`, nullopt if none does. A case belongs to the log
// that created it: an adopted log is older than anything this node logged itself (a log is
// adopted only while this node's own is empty), so adopted logs are looked at first.
Result<std::optional<Hash>> LogOfCase(const ReadTxn& txn, std::string_view case_id);
// InvalidArgument if case `case_id` belongs to a log this node adopted: such a log is closed
// (only its destroyed origin could sign its checkpoints), so its cases take no new entries here.
Status CheckCaseContinuesHere(const ReadTxn& txn, std::string_view case_id, const Hash& own_log);
// OpenEntry in each of the OpenableOrigins in turn: the entry `entry_id` of this node's own log
// or of a log it adopted. OpenEntry's one NotFound if `key` opens it in none of them.
Result<OpenedEntry> OpenReadableEntry(const ReadTxn& txn, const EntryKey& key,
                                      const Hash& entry_id);
// Makes the log of `origin`, held here (synced from partners), readable with `archive_key`,
// which the recovery of `origin`'s archive key gave: opens every sealed entry of it (Corruption,
// with nothing written, if one does not open or check), indexes each under its case
// (case_index) and its signed entry (signed_entries), and lists `origin` among the
// OpenableOrigins. Running it again re-indexes; entries synced later are indexed by sync.
Status AdoptLog(WriteTxn& txn, const Hash& origin, const SymmetricKey& archive_key);

// Reads perfect-subtree hashes of `origin` from the store's tree table.
SubtreeFn StoredSubtrees(const ReadTxn& txn, const Hash& origin);

class Log {
 public:
  // `node_key` signs checkpoints and `archive_key` seals what is logged; both must outlive the
  // Log.
  Log(Store& store, const SigningKey& node_key, const SymmetricKey& archive_key,
      Clock& clock = SystemClock());

  const Hash& origin() const { return origin_; }
  const std::string& origin_name() const { return origin_name_; }

  // Checks and seals every submission (Check) outside the write lock, then appends them all in
  // one transaction, signs one checkpoint and commits. Receipts come back only after the commit;
  // on any error nothing is written (sealed chunks already written are removed again).
  Result<std::vector<Receipt>> Append(const std::vector<Submission>& batch);

  // Group commit: like Append, but each submission stands or falls on its own. Submissions that
  // fail their checks get their error; the rest are appended together in one transaction with
  // one checkpoint. A store error (such as StoreFull) fails them all, with nothing written.
  std::vector<Result<Receipt>> AppendEach(const std::vector<Submission>& batch);

  // The CPU-heavy work of Append, on the caller's thread and without the writer lock: fields,
  // unique names, each commitment against the signed entry, the author signature, that the
  // entry is not logged yet, then each file's plaintext against its descriptor (length,
  // SHA-256) while sealing it under a fresh entry nonce and file salt. A large submission's
  // sealed chunks are written in small transactions of their own, as uploads are; a small one's
  // (under 8 sealed chunks) wait for the append's transaction. On an error nothing stays.
  Result<CheckedSubmission> Check(Submission submission) const;
  // Removes the sealed chunks of a checked submission that will not be appended.
  Status Discard(const CheckedSubmission& checked) const;
  // Sealing from the source (LocalSealing): a fresh entry nonce for an entry of `case_id`.
  LocalSealing BeginLocal(std::string_view case_id) const;
  // Seals the next file of the entry from `read`, which must yield exactly `size` bytes
  // (InvalidArgument naming what changed otherwise: the file grew or shrank while read). A
  // large file's sealed chunks are written in bounded transactions by a second thread while
  // this one reads and seals, so memory stays a few MiB whatever the size. On an error, what
  // this file wrote is removed; the files sealed before stay until Discard.
  Status SealLocalFile(LocalSealing& sealing, uint64_t size, const ContentSource& read) const;
  // The same, fed piece by piece by the caller (LocalFileSealer): the next file of `sealing`,
  // which must come to exactly `size` bytes.
  Result<std::unique_ptr<LocalFileSealer>> BeginLocalFile(LocalSealing& sealing,
                                                          uint64_t size) const;
  // Check for a submission whose files were sealed from the source: every check of Check
  // (fields, names, commitments, author signature, not logged yet), then each descriptor's size
  // and SHA-256 against what was sealed and the signed case against the sealing's. The
  // submission names no upload chunks. On an error the sealing's chunks are removed.
  Result<CheckedSubmission> CheckLocal(Submission submission, LocalSealing sealing) const;
  // Removes what a sealing wrote, for an entry that will not be signed or appended.
  Status Discard(LocalSealing& sealing) const;
  // AppendEach for submissions that Check already passed. `also`, if given, writes in the same
  // transaction first (the group committer's upload chunks), so that they share its commit; it
  // may be called again should the transaction be retried. *committed, if given, says whether
  // the transaction committed (`also`'s writes with it). An empty batch with `also` commits
  // only what `also` writes.
  std::vector<Result<Receipt>> AppendChecked(
      const std::vector<CheckedSubmission>& batch,
      const std::function<Status(WriteTxn&)>& also = nullptr, Status* committed = nullptr);

  // Logs a recovery object (a RecoverySet or a ShareRelease, canonical bytes, checked here) as
  // the next record of this log: custody events that every partner holds with the log. The
  // receipt's entry_id is the object's id.
  Result<Receipt> AppendCustodyObject(ByteView object_bytes);

  // Seals the custody events waiting in the pending table (custody.h) into custody records
  // (docs/format.md section 7.3; at most 256 events each) appended to this log, with one
  // checkpoint per transaction that also deletes the pending rows it sealed; goes on until none
  // is pending. The receipts of the records appended; none if nothing was pending.
  Result<std::vector<Receipt>> LogPendingCustody();

  // A receipt for an entry already in the local log, against the latest checkpoint: what a
  // client that lost its first answer gets when it submits again.
  Result<Receipt> ReceiptFor(const Hash& entry_id) const;
  // The id of the sealed entry that logs this signed entry here, if it is logged.
  Result<std::optional<Hash>> LoggedAs(const SignedEntry& entry) const;

  Result<uint64_t> Size() const;
  // The latest signed checkpoint note, or NotFound for an empty log.
  Result<std::string> LatestCheckpoint() const;
  Result<std::vector<Hash>> InclusionProof(uint64_t index, uint64_t size) const;
  Result<std::vector<Hash>> ConsistencyProof(uint64_t from, uint64_t to) const;

 private:
  std::vector<Result<Receipt>> AppendImpl(const std::vector<const CheckedSubmission*>& batch,
                                          bool all_or_nothing, Status* batch_status,
                                          const std::function<Status(WriteTxn&)>& also = nullptr);
  // Seals a checked submission's entry but for its link box (Check, CheckLocal).
  Result<PresealedEntry> Preseal(const Submission& s, const EntryNonce& nonce,
                                 const SymmetricKey& case_key, Bytes signed_bytes,
                                 std::vector<SealedFile> sealed_files) const;
  // The end of this log inside a write transaction, extended record by record (AppendRecord)
  // and then signed (SignTip: one checkpoint, and each receipt's proof against it).
  struct Tip;
  Result<Tip> OpenTip(const WriteTxn& txn) const;
  // Writes the object and the record that names it by its id (ObjectId of the bytes).
  Result<Receipt> AppendRecord(WriteTxn& txn, Tip& tip, ByteView object_bytes) const;
  Status SignTip(WriteTxn& txn, const Tip& tip, const std::vector<Receipt*>& receipts) const;
  Store& store_;
  const SigningKey& key_;
  const SymmetricKey& archive_key_;
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

// Test seam: when set, called each time an append reads a tree node back from the store to prove
// a receipt (none should need one: Log::Tip). Null in production.
inline void (*g_tree_node_read_for_test)() = nullptr;

}  // namespace khronika
