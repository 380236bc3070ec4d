// The node's LMDB store: one environment, one named database per Table.
//
// Thread safety: Store is safe to share between threads. A ReadTxn or WriteTxn belongs to the
// thread that opened it and lives only inside the callback given to View or Update; every value
// handed out is a copy, so nothing points into LMDB memory once the transaction ends.
// Durability: LMDB's default, fully synchronous commits (never MDB_NOSYNC, MDB_NOMETASYNC or
// MDB_WRITEMAP). A write transaction aborts unless its callback returned OK and commit succeeded.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>

#include "khronika/schemas/bytes.h"
#include "khronika/schemas/seal.h"

namespace khronika {

enum class Table : uint8_t {
  kMeta,          // store format, node name, local origin
  // Sealed chunks (docs/format-2.md section 4): SHA-256 of the ciphertext -> the ciphertext.
  // Stored as they are, without the at-rest AES pass: they are sealed under file keys already,
  // and their id checks every byte. Plaintext never goes here (see kUploadChunks).
  kChunks,
  // The object each record logs (sealed entry, custody record, recovery object), at the record's
  // place: origin (32) || index (u64 BE) -> canonical bytes (keys::Object). In log order, so an
  // append writes at the end of the table; a sealed entry is found by id through kEntryIndex.
  kObjects,
  kRecords,       // origin (32) || index (u64 BE) -> canonical record bytes
  kTree,          // origin (32) || level (u8) || index (u64 BE) -> perfect-subtree hash
  kCaseIndex,     // Blind(case id) || 0x00 || origin (32) || index (u64 BE) -> record hash
  kEntryIndex,    // sealed entry id -> origin (32) || index (u64 BE) of the record that logs it
  kCheckpoints,   // origin (32) || size (u64 BE) -> signed checkpoint note
  kCosignatures,  // reserved for the federation: origin || size || cosigner -> signature line
  kOrigins,       // origin (32) -> origin public key (32): whose checkpoints we can verify
  kPeers,         // reserved for the federation
  kAuthors,       // Blind(author public key) -> author name
  kTokens,        // token hash -> token record (server)
  kAccessLog,     // sequence (u64 BE) -> access record padded to 512 bytes (server/auth)
  kConflicts,     // origin (32) || SHA-256(ours LF theirs)[:16] -> two inconsistent signed checkpoints
  // Plaintext upload chunks, on their way from a submitter to the sealing of its entry, which
  // deletes them: Blind(uploader, plaintext chunk id) -> chunk bytes, encrypted at rest, so that
  // no key anywhere is the hash of plaintext (keys::UploadChunk).
  kUploadChunks,
  // Blind(SHA-256 of an author-signed entry) -> id of the sealed entry that logs it: a repeated
  // submission is recognised although each sealing gives a new sealed entry id.
  kSignedEntries,
  // RFC 3161 timestamp tokens over checkpoints, each verified before it was stored (#16):
  // origin (32) || size (u64 BE) || SHA-256 of the TSA's certificate (32) -> JSON
  // (server/timestamp/include/khronika/timestamp/timestamp_store.h).
  kTimestamps,
  // Cosignatures by external C2SP witnesses (khronika.conf `witness =` lines) on this node's own
  // checkpoints, apart from the partners' (kCosignatures): origin (32) || size (u64 BE) ||
  // witness key name -> JSON {"line": the signature line, "vkey": the witness's verifier key}.
  kExternalCosignatures,
};
inline constexpr int kTableCount = 19;
const char* TableName(Table table);
// The tables whose keys hold Blind forms in an encrypted store (case_index, authors,
// upload_chunks, signed_entries): a new data key gives them new keys.
bool KeysAreBlinded(Table table);

struct StoreOptions {
  // Upper bound of the memory map, and so of the data file. Sparse: costs no disk until used.
  uint64_t map_size = uint64_t{64} << 30;
  bool read_only = false;
  // The node's data key. A store created with one is encrypted at rest for good (every value
  // AES-256-GCM, docs/format.md "Encryption at rest") and opens only with the same key; a store
  // created without one opens only without one.
  std::optional<SymmetricKey> data_key = std::nullopt;
  // Every open holds a lock on the store's directory (flock(2)) until the Store is destroyed:
  // shared, or with `exclusive` exclusive, so that an exclusive open is refused while any other
  // Store has the store open, in this process or another (`khronika serve`, a command), and
  // every other open is refused while it lasts. For a data-key rotation: no process holding the
  // old key may read the store half-way or write into it afterwards.
  bool exclusive = false;
};

class ReadTxn;
class WriteTxn;

class Store {
 public:
  // Opens the store in `dir` (created if missing unless read-only) and clears stale readers
  // left by crashed processes.
  static Result<std::unique_ptr<Store>> Open(const std::filesystem::path& dir,
                                             const StoreOptions& options = {});
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // Runs `fn` in a write transaction and commits only if it returns OK. A full map or disk
  // gives StoreFull, with nothing written.
  Status Update(const std::function<Status(WriteTxn&)>& fn);
  Status View(const std::function<Status(ReadTxn&)>& fn) const;

  // Bytes used by the data file and the map limit.
  struct Usage {
    uint64_t used_bytes = 0;
    uint64_t map_size = 0;
  };
  Usage GetUsage() const;
  bool encrypted() const;

  // Writes a compacted, consistent copy of the whole store to `path` (a new file, mode 0600)
  // while readers and writers go on, as LMDB's compacting copy does: it reads one snapshot.
  Status BackupTo(const std::filesystem::path& path) const;

  // For RotateDataKey: every key of the tables whose keys are blinded (KeysAreBlinded), mapped
  // to its form under the new data key, or to nullopt to leave that entry out.
  using KeyRenames = std::map<Table, std::map<Bytes, std::optional<Bytes>>>;
  // Computes the renames from the store as it is (`current` reads with the old key) and the
  // Blind function of the new key. Runs inside the rotation's write transaction.
  using RenamePlan = std::function<Result<KeyRenames>(
      const ReadTxn& current, const std::function<Bytes(ByteView name)>& blind_next)>;
  struct Rotation {
    uint64_t values = 0;   // values sealed again under the new key
    uint64_t renamed = 0;  // of them, under a new (blinded) key
    uint64_t dropped = 0;  // entries the plan left out
  };
  // Re-encrypts the whole store under the data key `next` (docs/format.md, "Data key
  // rotation"): every value of every table, the keys of blinded tables as `plan` renames them (a
  // key it does not name stops everything), and the key check, written from one snapshot into a
  // new file beside data.mdb (DIR/data.mdb.rotating), synced, and renamed over data.mdb: so the
  // store holds no page of the old key afterwards (an in-place rewrite would leave the old
  // pages in LMDB's free space), and a crash leaves it wholly under the old key or wholly under
  // the new one. `before_commit`, if given, runs just before the rename (tests stop there); a
  // copy left by a crash is removed by the next Open. Then this Store reads and writes with
  // `next`. Nothing changes on any error: a value that fails its tag is Corruption naming it
  // (repair it first: `khronika scrub`), a full disk StoreFull (the copy needs room beside the
  // store). The store must have been opened encrypted, read-write and `exclusive`, and no other
  // transaction of this Store may run meanwhile (its environment is closed and reopened).
  Result<Rotation> RotateDataKey(const SymmetricKey& next, const RenamePlan& plan,
                                 const std::function<Status()>& before_commit = nullptr);

  struct Impl;

 private:
  explicit Store(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

class ReadTxn {
 public:
  virtual ~ReadTxn() = default;
  // Reads fail with Corruption, naming table and key, if an encrypted value fails its tag.
  Result<std::optional<Bytes>> Get(Table table, ByteView key) const;
  Result<bool> Contains(Table table, ByteView key) const;
  // Visits, in key order, the entries whose key starts with `prefix` and is >= `start` (when
  // given), until `fn` returns false. The views are valid only during the call. A value that
  // fails its authentication tag ends the scan with Corruption, unless `unreadable` is given:
  // then it is passed the key and the scan goes on (for scrub, which repairs such values).
  Status Scan(Table table, ByteView prefix,
              const std::function<Result<bool>(ByteView key, ByteView value)>& fn,
              ByteView start = {},
              const std::function<void(ByteView key)>& unreadable = nullptr) const;
  // Visits the keys only, in key order: no value is read or decrypted.
  Status ScanKeys(Table table, ByteView prefix, const std::function<Result<bool>(ByteView key)>& fn) const;
  // The entry with the greatest key that starts with `prefix`, if any.
  Result<std::optional<std::pair<Bytes, Bytes>>> Last(Table table, ByteView prefix) const;
  Result<uint64_t> Count(Table table) const;
  // How a name that would reveal a case or a person appears in an index key: in an encrypted
  // store, its HMAC-SHA-256 under a key derived from the data key (found again, never read
  // back); otherwise the name itself.
  Bytes Blind(ByteView name) const;

 protected:
  ReadTxn(const Store::Impl* store, void* txn, bool writable = false)
      : store_(store), txn_(txn), writable_(writable) {}
  const Store::Impl* store_;
  void* txn_;  // MDB_txn*, owned by Store for the duration of the callback
  // In a write transaction values may live in LMDB's own dirty buffers rather than the file
  // mapping, so mapping pages are released only after reads in read-only transactions.
  bool writable_;
  friend class Store;
};

class WriteTxn : public ReadTxn {
 public:
  Status Put(Table table, ByteView key, ByteView value);
  // Like Put, but AlreadyExists if the key is present with a different value; OK (and no write)
  // if it is present with the same value. For content-addressed and append-only tables.
  Status PutImmutable(Table table, ByteView key, ByteView value);
  Status Delete(Table table, ByteView key);

 private:
  WriteTxn(const Store::Impl* store, void* txn) : ReadTxn(store, txn, true) {}
  friend class Store;
};

}  // namespace khronika
