#include "khronika/log/log.h"

#include <openssl/crypto.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "khronika/log/custody.h"
#include "khronika/log/purge.h"
#include "khronika/log/store_keys.h"
#include "khronika/schemas/note.h"
#include "khronika/schemas/custody.h"
#include "khronika/schemas/recovery_objects.h"

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

// Checks that need no store: fields, unique names, each commitment against the signed entry,
// the upload chunk lists, the author signature (last: it costs the most).
Status CheckSubmission(const Submission& s, bool sealed_from_source = false) {
  KH_RETURN_IF_ERROR(ValidateSignedEntryFields(s.entry));
  if (s.files.size() != s.entry.files.size()) {
    return Status::InvalidArgument("entry commits to " + std::to_string(s.entry.files.size()) +
                                   " files but " + std::to_string(s.files.size()) +
                                   " were given");
  }
  std::set<std::string_view> names;
  for (size_t i = 0; i < s.files.size(); ++i) {
    const FileDescriptor& d = s.files[i].opening.descriptor;
    KH_RETURN_IF_ERROR(ValidateDescriptor(d).Annotate("file " + std::to_string(i)));
    // A court bundle and `cat` address files by name within an entry, so names are unique.
    if (!names.insert(d.name).second) {
      return Status::InvalidArgument("two files in one entry are both named '" + d.name + "'");
    }
    if (FileCommitment(s.files[i].opening.salt, Encode(d)) != s.entry.files[i]) {
      return Status::InvalidArgument("file " + std::to_string(i) +
                                     " does not match the commitment the entry signs");
    }
    const std::vector<Hash>& chunks = s.files[i].upload_chunks;
    if (sealed_from_source) {
      if (!chunks.empty() || s.files[i].content) {
        return Status::InvalidArgument("file '" + d.name + "' was sealed from its source but "
                                       "names upload chunks or inline content");
      }
      continue;
    }
    if (const std::optional<Bytes>& content = s.files[i].content) {
      if (!chunks.empty() || d.size > kMaxInlineContent || content->size() != d.size) {
        return Status::InvalidArgument(
            "file '" + d.name + "': inline content is at most " +
            std::to_string(kMaxInlineContent) + " bytes, the file's whole declared size, and " +
            "comes instead of upload chunks");
      }
    } else if (chunks.size() != ChunkCount(d.size)) {
      return Status::InvalidArgument("file '" + d.name + "' names " +
                                     std::to_string(chunks.size()) + " upload chunks but a file of " +
                                     std::to_string(d.size) + " bytes has " +
                                     std::to_string(ChunkCount(d.size)));
    }
    // A chunk id may repeat (a file of zeros, a disk image): every listed chunk is read, hashed
    // and sealed again, so the work stays what the declared size says, which the submitter's
    // signed size and token quota answer for; a short list cannot stand for more.
  }
  if (!VerifyEntrySignature(s.entry)) {
    return Status::PermissionDenied("the entry's author signature is invalid");
  }
  return Status::Ok();
}

// Sealed chunks are written in transactions of about this many bytes, as uploads are.
constexpr size_t kSealedChunksPerTxn = 8;

Status DeleteChunks(Store& store, const std::vector<Hash>& ids) {
  if (ids.empty()) return Status::Ok();
  return store.Update([&](WriteTxn& txn) -> Status {
    for (const Hash& id : ids) KH_RETURN_IF_ERROR(txn.Delete(Table::kChunks, id));
    return Status::Ok();
  });
}

// Writes batches of sealed chunks, one transaction each, on a thread of its own: the commits'
// writes and flushes overlap the hashing and sealing of the next batch. A batch is handed over
// only once the writer is idle, so memory stays at two batches (one sealed, one written)
// whatever the file's size.
class ChunkWriter {
 public:
  using Batch = std::vector<std::pair<Hash, Bytes>>;
  explicit ChunkWriter(Store& store) : store_(store), thread_([this] { Run(); }) {}
  ~ChunkWriter() { (void)Close(); }
  ChunkWriter(const ChunkWriter&) = delete;
  ChunkWriter& operator=(const ChunkWriter&) = delete;

  // Waits until the writer is idle; the writer's first error, if any.
  Status Push(Batch batch) {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return !queued_ && !busy_; });
    if (!error_.ok()) return error_;
    queued_ = std::move(batch);
    cv_.notify_all();
    return Status::Ok();
  }
  // Waits until everything queued is committed (or failed); the first error.
  Status Close() {
    {
      std::unique_lock lock(mu_);
      closing_ = true;
      cv_.notify_all();
    }
    if (thread_.joinable()) thread_.join();
    return error_;
  }
  // The chunks committed; complete once Close returned.
  const std::vector<Hash>& written() const { return written_; }

 private:
  void Run() {
    std::unique_lock lock(mu_);
    for (;;) {
      cv_.wait(lock, [&] { return queued_.has_value() || closing_; });
      if (!queued_) return;
      Batch batch = std::move(*queued_);
      queued_.reset();
      if (!error_.ok()) {  // drain: the sealer hears the error at its next Push
        cv_.notify_all();
        continue;
      }
      busy_ = true;
      lock.unlock();
      Status st = store_.Update([&](WriteTxn& txn) -> Status {
        for (const auto& [id, bytes] : batch) KH_RETURN_IF_ERROR(txn.Put(Table::kChunks, id, bytes));
        return Status::Ok();
      });
      std::vector<Hash> ids;
      for (const auto& chunk : batch) ids.push_back(chunk.first);
      batch = {};  // freed before the sealer may hand over the next
      lock.lock();
      if (st.ok()) {
        written_.insert(written_.end(), ids.begin(), ids.end());
      } else {
        error_ = st;
      }
      busy_ = false;
      cv_.notify_all();
    }
  }

  Store& store_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::optional<Batch> queued_;
  bool closing_ = false;
  bool busy_ = false;
  Status error_ = Status::Ok();
  std::vector<Hash> written_;
  std::thread thread_;  // last: starts once the members it uses exist
};

Status DeleteSealedChunks(Store& store, const std::vector<SealedFile>& files) {
  return store.Update([&](WriteTxn& txn) -> Status {
    for (const SealedFile& f : files) {
      for (const Hash& id : f.chunks) KH_RETURN_IF_ERROR(txn.Delete(Table::kChunks, id));
    }
    return Status::Ok();
  });
}

Bytes EncodePurge(std::string_view uploader, const std::vector<Hash>& chunks) {
  Bytes v{1};
  AppendBigEndian64(v, uploader.size());
  v.insert(v.end(), uploader.begin(), uploader.end());
  for (const Hash& c : chunks) v.insert(v.end(), c.begin(), c.end());
  return v;
}

struct Purge {
  std::string uploader;
  std::vector<Hash> chunks;
};

Result<Purge> DecodePurge(ByteView v) {
  const Status bad = Status::Corruption("a pending purge of upload chunks is malformed");
  if (v.size() < 9 || v[0] != 1) return bad;
  const uint64_t n = ReadBigEndian64(v.data() + 1);
  if (n > v.size() - 9 || (v.size() - 9 - n) % 32 != 0) return bad;
  Purge p;
  p.uploader.assign(AsChars(v.subspan(9, n)));
  for (size_t at = 9 + n; at < v.size(); at += 32) {
    p.chunks.push_back(HashFromBytes(v.subspan(at, 32)));
  }
  return p;
}

// Deletes the upload chunks one marker names, kPurgeChunksPerTxn per transaction, and the
// marker with the last of them. Deleting a chunk already gone changes nothing, so a purge cut
// short is simply run again.
Status FinishPurge(Store& store, ByteView marker_key) {
  std::optional<Bytes> value;
  KH_RETURN_IF_ERROR(store.View([&](ReadTxn& txn) -> Status {
    KH_ASSIGN_OR_RETURN(value, txn.Get(Table::kMeta, marker_key));
    return Status::Ok();
  }));
  if (!value) return Status::Ok();  // finished by someone else meanwhile
  KH_ASSIGN_OR_RETURN(Purge p, DecodePurge(*value));
  size_t next = 0;
  do {
    KH_RETURN_IF_ERROR(store.Update([&](WriteTxn& txn) -> Status {
      const size_t end = std::min(p.chunks.size(), next + kPurgeChunksPerTxn);
      for (size_t i = next; i < end; ++i) {
        KH_RETURN_IF_ERROR(
            txn.Delete(Table::kUploadChunks, keys::UploadChunk(txn, p.uploader, p.chunks[i])));
      }
      next = end;
      if (next == p.chunks.size()) KH_RETURN_IF_ERROR(txn.Delete(Table::kMeta, marker_key));
      return Status::Ok();
    }));
  } while (next < p.chunks.size());
  return Status::Ok();
}

}  // namespace

Result<size_t> PurgeSealedUploads(Store& store) {
  std::vector<Bytes> markers;
  const ByteView prefix = AsBytes(keys::kMetaPurgePrefix);
  KH_RETURN_IF_ERROR(store.View([&](ReadTxn& txn) {
    return txn.ScanKeys(Table::kMeta, prefix, [&](ByteView key) -> Result<bool> {
      markers.emplace_back(key.begin(), key.end());
      return true;
    });
  }));
  for (const Bytes& key : markers) KH_RETURN_IF_ERROR(FinishPurge(store, key));
  return markers.size();
}

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

Result<Hash> PutUploadChunk(WriteTxn& txn, std::string_view uploader, ByteView chunk) {
  if (chunk.size() > kChunkSize) return Status::InvalidArgument("chunk larger than 1 MiB");
  Hash id = ChunkId(chunk);
  Bytes key = keys::UploadChunk(txn, uploader, id);
  KH_ASSIGN_OR_RETURN(bool present, txn.Contains(Table::kUploadChunks, key));
  if (!present) KH_RETURN_IF_ERROR(txn.Put(Table::kUploadChunks, key, chunk));
  return id;
}

Result<bool> PutUploadChunk(WriteTxn& txn, std::string_view uploader, const Hash& id,
                            ByteView chunk) {
  if (chunk.size() > kChunkSize) return Status::InvalidArgument("chunk larger than 1 MiB");
  Bytes key = keys::UploadChunk(txn, uploader, id);
  KH_ASSIGN_OR_RETURN(bool present, txn.Contains(Table::kUploadChunks, key));
  if (!present) KH_RETURN_IF_ERROR(txn.Put(Table::kUploadChunks, key, chunk));
  return !present;
}

Result<bool> HasUploadChunk(const ReadTxn& txn, std::string_view uploader, const Hash& id) {
  return txn.Contains(Table::kUploadChunks, keys::UploadChunk(txn, uploader, id));
}

namespace {
// A sealed chunk as stored, not re-hashed against its id: what SealedFileReader reads, since it
// authenticates every byte it returns (the key commitment, then each 16 KiB chunk's tag under
// the nonce of its position), which an altered, swapped or moved chunk fails.
Result<Bytes> ReadSealedChunk(const ReadTxn& txn, const Hash& id) {
  KH_ASSIGN_OR_RETURN(std::optional<Bytes> chunk, txn.Get(Table::kChunks, id));
  if (!chunk) return Status::Corruption("sealed chunk " + ToHex(id) + " is missing");
  return std::move(*chunk);
}
}  // namespace

Result<Bytes> ReadChunk(const ReadTxn& txn, const Hash& id) {
  KH_ASSIGN_OR_RETURN(Bytes chunk, ReadSealedChunk(txn, id));
  if (ChunkId(chunk) != id) return Status::Corruption("sealed chunk " + ToHex(id) + " is damaged");
  return chunk;
}

Result<Bytes> ReadChunk(const Store& store, const Hash& id) {
  Bytes out;
  KH_RETURN_IF_ERROR(store.View([&](ReadTxn& txn) -> Status {
    KH_ASSIGN_OR_RETURN(out, ReadChunk(txn, id));
    return Status::Ok();
  }));
  return out;
}

Result<Bytes> ReadFileChunk(const ReadTxn& txn, const SealedFile& file, uint64_t k) {
  if (!file.inline_chunk.empty()) {
    if (k != 0) return Status::Corruption("read past a small sealed file");
    return file.inline_chunk;
  }
  if (k >= file.chunks.size()) return Status::Corruption("read past the sealed file");
  return ReadChunk(txn, file.chunks[k]);
}

Result<Bytes> ReadFileChunk(const Store& store, const SealedFile& file, uint64_t k) {
  Bytes out;
  KH_RETURN_IF_ERROR(store.View([&](ReadTxn& txn) -> Status {
    KH_ASSIGN_OR_RETURN(out, ReadFileChunk(txn, file, k));
    return Status::Ok();
  }));
  return out;
}

Status CheckSealedChunks(const ReadTxn& txn, const SealedEntry& sealed) {
  for (size_t f = 0; f < sealed.files.size(); ++f) {
    const SealedFile& file = sealed.files[f];
    if (!file.inline_chunk.empty()) continue;  // carried by the entry, checked as it was decoded
    for (uint64_t i = 0; i < file.chunks.size(); ++i) {
      KH_ASSIGN_OR_RETURN(Bytes chunk, ReadChunk(txn, file.chunks[i]));
      if (chunk.size() != SealedChunkLength(file.sealed_size, i)) {
        return Status::Corruption("sealed chunk " + ToHex(file.chunks[i]) + " (file " +
                                  std::to_string(f) + ", chunk " + std::to_string(i) +
                                  ") has the wrong length for the sealed size");
      }
    }
  }
  return Status::Ok();
}

LocalSealing::~LocalSealing() {
  OPENSSL_cleanse(case_key_.data(), case_key_.size());
}

size_t LocalSealing::held_bytes() const {
  size_t n = 0;
  for (const auto& chunk : pending_) n += chunk.second.size();
  return n;
}

Result<std::optional<Bytes>> SealedEntryObjectKey(const ReadTxn& txn, const Hash& entry_id) {
  KH_ASSIGN_OR_RETURN(auto location, txn.Get(Table::kEntryIndex, entry_id));
  if (!location) return std::optional<Bytes>();
  KH_ASSIGN_OR_RETURN(keys::Position at, keys::DecodePosition(*location));
  return std::optional<Bytes>(keys::Object(at.origin, at.index));
}

Status PutLoggedObject(WriteTxn& txn, const Hash& origin, uint64_t index, ByteView object_bytes) {
  if (index == 0) KH_RETURN_IF_ERROR(txn.Put(Table::kObjects, keys::ObjectsEnd(origin), {}));
  return txn.PutImmutable(Table::kObjects, keys::Object(origin, index), object_bytes);
}

Result<LoggedObject> ReadLoggedObject(const ReadTxn& txn, const Hash& origin, uint64_t index) {
  LoggedObject out;
  KH_ASSIGN_OR_RETURN(auto record, txn.Get(Table::kRecords, keys::Record(origin, index)));
  if (!record) return Status::NotFound("record " + std::to_string(index) + " is not held here");
  out.record_bytes = std::move(*record);
  KH_ASSIGN_OR_RETURN(out.record, DecodeRecord(out.record_bytes));
  KH_ASSIGN_OR_RETURN(auto object, txn.Get(Table::kObjects, keys::Object(origin, index)));
  if (!object) return Status::Corruption("object " + ToHex(out.record.object_id) + " is missing");
  out.object_bytes = std::move(*object);
  return out;
}

OpenedEntry::~OpenedEntry() { OPENSSL_cleanse(case_key.data(), case_key.size()); }

Result<OpenedEntry> OpenEntry(const ReadTxn& txn, const Hash& origin, const EntryKey& key,
                              const Hash& entry_id) {
  // One answer for "no such entry here" and "not yours to open".
  const Status not_found = Status::NotFound("entry " + ToHex(entry_id) + " not found");
  if ((key.archive_key == nullptr) == (key.case_key == nullptr)) {
    return Status::InvalidArgument("open an entry with the archive key or a case key, exactly one");
  }
  KH_ASSIGN_OR_RETURN(auto location, txn.Get(Table::kEntryIndex, entry_id));
  if (!location) return not_found;
  KH_ASSIGN_OR_RETURN(keys::Position at, keys::DecodePosition(*location));
  if (at.origin != origin) return not_found;
  KH_ASSIGN_OR_RETURN(LoggedObject logged, ReadLoggedObject(txn, origin, at.index));
  if (logged.record.object_id != entry_id) {
    return Status::Corruption("the entry index points to record " + std::to_string(at.index) +
                              ", which logs another object");
  }
  return OpenLoggedEntry(key, std::move(logged));
}

Result<OpenedEntry> OpenLoggedEntry(const EntryKey& key, LoggedObject logged) {
  const Hash entry_id = logged.record.object_id;
  const Status not_found = Status::NotFound("entry " + ToHex(entry_id) + " not found");
  if ((key.archive_key == nullptr) == (key.case_key == nullptr)) {
    return Status::InvalidArgument("open an entry with the archive key or a case key, exactly one");
  }
  if (ObjectId(logged.object_bytes) != entry_id) {
    return Status::Corruption("sealed entry " + ToHex(entry_id) + " does not match its id");
  }
  auto sealed = DecodeSealedEntry(logged.object_bytes);
  if (!sealed.ok()) return Status::Corruption(sealed.status().message());
  OpenedEntry out;
  out.entry_id = entry_id;
  out.record_bytes = std::move(logged.record_bytes);
  out.record = logged.record;
  out.sealed = std::move(*sealed);
  if (key.archive_key) {
    auto case_id = OpenIndexBox(*key.archive_key, out.sealed);
    if (!case_id.ok()) {
      return Status::Corruption("sealed entry " + ToHex(entry_id) +
                                ": the archive key does not open its index box");
    }
    out.case_id = std::move(*case_id);
    out.case_key = DeriveCaseKey(*key.archive_key, out.case_id);
  } else {
    out.case_id = key.case_id;
    out.case_key = *key.case_key;
  }
  SymmetricKey entry_key = DeriveEntryKey(out.case_key, out.sealed.nonce);
  // Only the box's authentication can tell a case key of another case; the entry box is the
  // first thing it opens, and a failure there reads exactly as an absent entry.
  auto box = BoxOpen(entry_key, kEntryBoxLabel, out.sealed.entry_box);
  OPENSSL_cleanse(entry_key.data(), entry_key.size());
  if (!box.ok()) {
    if (key.case_key) return not_found;
    return Status::Corruption("sealed entry " + ToHex(entry_id) +
                              ": its case key does not open its entry box");
  }
  auto signed_entry = SignedEntryFromOpenedBox(*box, out.sealed, key.defer_signature);
  OPENSSL_cleanse(box->data(), box->size());
  if (!signed_entry.ok()) return signed_entry.status().Annotate("sealed entry " + ToHex(entry_id));
  out.entry = std::move(*signed_entry);
  if (out.entry.case_id != out.case_id && key.case_key) return not_found;
  if (out.entry.case_id != out.case_id) {
    return Status::Corruption("sealed entry " + ToHex(entry_id) + " is filed under case '" +
                              out.case_id + "' but its author signed case '" +
                              out.entry.case_id + "'");
  }
  out.signed_entry_bytes = Encode(out.entry);
  for (uint32_t i = 0; i < out.sealed.files.size(); ++i) {
    SymmetricKey file_key = DeriveFileKey(out.case_key, out.sealed.nonce, i);
    auto opening = OpenDescriptorBox(file_key, out.sealed, out.entry, i);
    OPENSSL_cleanse(file_key.data(), file_key.size());
    if (!opening.ok()) return opening.status().Annotate("sealed entry " + ToHex(entry_id));
    out.files.push_back(std::move(*opening));
  }
  return out;
}

ChunkSource ChunksOf(const Store& store) {
  return [&store](const Hash& id) {
    Bytes out;
    Status st = store.View([&](ReadTxn& txn) -> Status {
      KH_ASSIGN_OR_RETURN(out, ReadSealedChunk(txn, id));
      return Status::Ok();
    });
    return st.ok() ? Result<Bytes>(std::move(out)) : Result<Bytes>(st);
  };
}

ChunkSource ChunksIn(const ReadTxn& txn) {
  return [&txn](const Hash& id) { return ReadSealedChunk(txn, id); };
}

Result<SealedFileReader> SealedFileReader::Open(ChunkSource chunks, const SealedEntry& sealed,
                                                const FileDescriptor& descriptor,
                                                const SymmetricKey& file_key,
                                                uint32_t file_index) {
  if (file_index >= sealed.files.size()) {
    return Status::NotFound("the entry has no file " + std::to_string(file_index));
  }
  const SealedFile& file = sealed.files[file_index];
  if (SealedFileSize(descriptor.size) != file.sealed_size || file.chunks.empty()) {
    return Status::Corruption("file " + std::to_string(file_index) +
                              ": the sealed size does not fit the signed size");
  }
  Bytes first;
  if (!file.inline_chunk.empty()) {
    first = file.inline_chunk;  // a small file: the entry carries its one chunk
  } else {
    KH_ASSIGN_OR_RETURN(first, chunks(file.chunks[0]));
  }
  if (first.size() != SealedChunkLength(file.sealed_size, 0) || first.size() < kChunkedHeaderBytes) {
    return Status::Corruption("file " + std::to_string(file_index) + ": sealed file too short");
  }
  KH_ASSIGN_OR_RETURN(ChunkedOpener opener,
                      ChunkedOpener::Open(file_key, ByteView(first).first(kChunkedHeaderBytes),
                                          AsBytes(kFileContentContext)));
  SealedFileReader reader(std::move(chunks), file, descriptor.size, std::move(opener));
  reader.padded_size_ = PaddedFileSize(descriptor.size);
  reader.cached_[0] = std::move(first);
  return reader;
}

// The sealed chunk `index` of the file, read once and kept while the reader moves through it.
Result<ByteView> SealedFileReader::SealedChunk(uint64_t index) {
  if (index >= file_.chunks.size()) return Status::Corruption("read past the sealed file");
  auto it = cached_.find(index);
  if (it == cached_.end()) {
    KH_ASSIGN_OR_RETURN(Bytes chunk, chunks_(file_.chunks[index]));
    if (chunk.size() != SealedChunkLength(file_.sealed_size, index)) {
      return Status::Corruption("sealed chunk " + ToHex(file_.chunks[index]) +
                                " has the wrong length");
    }
    while (cached_.size() >= 2) cached_.erase(cached_.begin());
    it = cached_.emplace(index, std::move(chunk)).first;
  }
  return ByteView(it->second);
}

// The sealed bytes [from, to) of the message: a view into the sealed chunk that holds them, or,
// for the few C2SP chunks that straddle two sealed chunks, a copy in `scratch`.
Result<ByteView> SealedFileReader::SealedBytes(uint64_t from, uint64_t to, Bytes& scratch) {
  const uint64_t first = from / kSealedChunkSize;
  if ((to - 1) / kSealedChunkSize == first) {
    KH_ASSIGN_OR_RETURN(ByteView chunk, SealedChunk(first));
    const uint64_t start = from - first * kSealedChunkSize;
    if (to - first * kSealedChunkSize > chunk.size()) {
      return Status::Corruption("read past the sealed file");
    }
    return chunk.subspan(static_cast<size_t>(start), static_cast<size_t>(to - from));
  }
  scratch.clear();
  while (from < to) {
    const uint64_t index = from / kSealedChunkSize;
    KH_ASSIGN_OR_RETURN(ByteView chunk, SealedChunk(index));
    const uint64_t start = from - index * kSealedChunkSize;
    if (start >= chunk.size()) return Status::Corruption("read past the sealed file");
    const uint64_t n = std::min<uint64_t>(to - from, chunk.size() - start);
    scratch.insert(scratch.end(), chunk.begin() + static_cast<ptrdiff_t>(start),
                   chunk.begin() + static_cast<ptrdiff_t>(start + n));
    from += n;
  }
  return ByteView(scratch);
}

// Each 16 KiB chunk is opened straight into `out` when all of its plaintext is wanted (every
// chunk of a whole-file read but the last); only the chunks at a range's ends go through a
// buffer of their own, wiped after.
Result<Bytes> SealedFileReader::Read(uint64_t offset, size_t max_bytes) {
  Bytes out;
  if (offset >= size_ || max_bytes == 0) return out;
  const uint64_t end = std::min<uint64_t>(size_, offset + max_bytes);
  out.resize(static_cast<size_t>(end - offset));
  const uint64_t last_chunk = ChunkedChunkCount(padded_size_) - 1;
  Bytes scratch, plain;
  for (uint64_t k = offset / kChunkedPlainChunk; k * kChunkedPlainChunk < end; ++k) {
    const uint64_t plain_start = k * kChunkedPlainChunk;
    const uint64_t plain_len = std::min<uint64_t>(kChunkedPlainChunk, padded_size_ - plain_start);
    const uint64_t sealed_from = kChunkedHeaderBytes + k * kChunkedSealedChunk;
    KH_ASSIGN_OR_RETURN(ByteView sealed,
                        SealedBytes(sealed_from, sealed_from + plain_len + kAeadTagBytes, scratch));
    const uint64_t from = std::max(offset, plain_start) - plain_start;
    const uint64_t to = std::min(end, plain_start + plain_len) - plain_start;
    uint8_t* dest = out.data() + (plain_start + from - offset);
    const bool whole = from == 0 && to == plain_len;
    if (!whole) plain.resize(static_cast<size_t>(plain_len));
    Status st = opener_.OpenChunkInto(k, sealed, k == last_chunk, whole ? dest : plain.data());
    if (!st.ok()) {
      OPENSSL_cleanse(out.data(), out.size());
      return st;
    }
    if (!whole) {
      std::copy(plain.begin() + static_cast<ptrdiff_t>(from),
                plain.begin() + static_cast<ptrdiff_t>(to), dest);
    }
  }
  OPENSSL_cleanse(plain.data(), plain.size());
  return out;
}

Status SealedFileReader::CheckPadding() {
  const uint64_t last_chunk = ChunkedChunkCount(padded_size_) - 1;
  for (uint64_t k = size_ / kChunkedPlainChunk; k <= last_chunk; ++k) {
    const uint64_t plain_start = k * kChunkedPlainChunk;
    const uint64_t plain_len = std::min<uint64_t>(kChunkedPlainChunk, padded_size_ - plain_start);
    const uint64_t sealed_from = kChunkedHeaderBytes + k * kChunkedSealedChunk;
    Bytes scratch;
    KH_ASSIGN_OR_RETURN(ByteView sealed,
                        SealedBytes(sealed_from, sealed_from + plain_len + kAeadTagBytes, scratch));
    KH_ASSIGN_OR_RETURN(Bytes plain, opener_.OpenChunk(k, sealed, k == last_chunk));
    const uint64_t from = std::max(size_, plain_start) - plain_start;
    bool zero = true;
    for (uint64_t i = from; i < plain.size(); ++i) zero &= plain[i] == 0;
    OPENSSL_cleanse(plain.data(), plain.size());
    if (!zero) return Status::Corruption("the padding after the file's end is not zero");
  }
  return Status::Ok();
}

Result<std::vector<Hash>> OpenableOrigins(const ReadTxn& txn) {
  std::vector<Hash> out;
  KH_ASSIGN_OR_RETURN(auto local, txn.Get(Table::kMeta, AsBytes(keys::kMetaLocalOrigin)));
  if (!local || local->size() != 32) return Status::Corruption("the store has no node identity");
  out.push_back(HashFromBytes(*local));
  KH_RETURN_IF_ERROR(txn.ScanKeys(Table::kMeta, AsBytes(keys::kMetaAdoptedPrefix),
                                  [&](ByteView key) -> Result<bool> {
                                    if (key.size() != keys::kMetaAdoptedPrefix.size() + 32) {
                                      return Status::Corruption("an adopted log key is malformed");
                                    }
                                    out.push_back(HashFromBytes(key.last(32)));
                                    return true;
                                  }));
  return out;
}

Result<OpenedEntry> OpenReadableEntry(const ReadTxn& txn, const EntryKey& key,
                                      const Hash& entry_id) {
  KH_ASSIGN_OR_RETURN(std::vector<Hash> origins, OpenableOrigins(txn));
  for (const Hash& origin : origins) {
    auto opened = OpenEntry(txn, origin, key, entry_id);
    if (opened.ok() || opened.status().code() != Code::kNotFound) return opened;
  }
  return Status::NotFound("entry " + ToHex(entry_id) + " not found");
}

Result<std::optional<Hash>> LogOfCase(const ReadTxn& txn, std::string_view case_id) {
  KH_ASSIGN_OR_RETURN(std::vector<Hash> origins, OpenableOrigins(txn));
  std::rotate(origins.begin(), origins.begin() + 1, origins.end());  // this node's own log last
  for (const Hash& origin : origins) {
    bool held = false;
    KH_RETURN_IF_ERROR(txn.ScanKeys(Table::kCaseIndex, keys::CasePrefix(txn, case_id, origin),
                                    [&](ByteView) -> Result<bool> {
                                      held = true;
                                      return false;
                                    }));
    if (held) return std::optional<Hash>(origin);
  }
  return std::optional<Hash>();
}

Status CheckCaseContinuesHere(const ReadTxn& txn, std::string_view case_id, const Hash& own_log) {
  // No log adopted (the usual node): every case it can open is its own.
  bool adopted = false;
  KH_RETURN_IF_ERROR(txn.ScanKeys(Table::kMeta, AsBytes(keys::kMetaAdoptedPrefix),
                                  [&](ByteView) -> Result<bool> {
                                    adopted = true;
                                    return false;
                                  }));
  if (!adopted) return Status::Ok();
  KH_ASSIGN_OR_RETURN(std::optional<Hash> case_log, LogOfCase(txn, case_id));
  if (!case_log || *case_log == own_log) return Status::Ok();
  // A bundle proves a case complete against one log's checkpoint, and listings read the log
  // that created the case; an entry of it logged here would be in neither.
  return Status::InvalidArgument("case " + std::string(case_id) +
                                 " belongs to the log adopted from " + ToHex(*case_log) +
                                 ", which this node cannot extend; log new evidence under a new "
                                 "case id (see Recovery in docs/operator.md)");
}

Status AdoptLog(WriteTxn& txn, const Hash& origin, const SymmetricKey& archive_key) {
  KH_ASSIGN_OR_RETURN(uint64_t size, LogSize(txn, origin));
  const EntryKey key = EntryKey::Archive(archive_key);
  for (uint64_t i = 0; i < size; ++i) {
    KH_ASSIGN_OR_RETURN(LoggedObject logged, ReadLoggedObject(txn, origin, i));
    KH_ASSIGN_OR_RETURN(uint8_t type, PeekObjectType(logged.object_bytes));
    if (type != kTypeSealedEntry) continue;  // recovery sets and releases: nothing to open
    auto opened = OpenEntry(txn, origin, key, logged.record.object_id);
    if (!opened.ok()) {
      return Status::Corruption("record " + std::to_string(i) + " of log " + ToHex(origin) +
                                ": " + opened.status().message());
    }
    KH_RETURN_IF_ERROR(txn.Put(Table::kCaseIndex, keys::CaseRecord(txn, opened->case_id, origin, i),
                               RecordHash(logged.record_bytes)));
    KH_RETURN_IF_ERROR(txn.Put(Table::kSignedEntries,
                               keys::SignedEntry(txn, ObjectId(opened->signed_entry_bytes)),
                               logged.record.object_id));
  }
  return txn.Put(Table::kMeta, keys::AdoptedOrigin(origin), AsBytes(std::string_view("1")));
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

Log::Log(Store& store, const SigningKey& node_key, const SymmetricKey& archive_key, Clock& clock)
    : store_(store),
      key_(node_key),
      archive_key_(archive_key),
      clock_(clock),
      origin_(NodeIdFromPublicKey(node_key.public_key())),
      origin_name_(OriginName(origin_)) {}

Result<std::vector<Receipt>> Log::Append(const std::vector<Submission>& batch) {
  if (batch.empty()) return Status::InvalidArgument("nothing to append");
  std::vector<CheckedSubmission> checked;
  for (const Submission& s : batch) {
    auto c = Check(s);
    if (!c.ok()) {
      for (const CheckedSubmission& done : checked) (void)Discard(done);
      return c.status();
    }
    checked.push_back(std::move(*c));
  }
  std::vector<const CheckedSubmission*> pointers;
  for (const CheckedSubmission& c : checked) pointers.push_back(&c);
  Status batch_status;
  std::vector<Result<Receipt>> results = AppendImpl(pointers, true, &batch_status);
  if (!batch_status.ok()) return batch_status;
  std::vector<Receipt> receipts;
  for (Result<Receipt>& r : results) receipts.push_back(std::move(r).value());
  return receipts;
}

std::vector<Result<Receipt>> Log::AppendEach(const std::vector<Submission>& batch) {
  std::vector<Result<Receipt>> out(batch.size(), Result<Receipt>(Status::IOError("not appended")));
  std::vector<CheckedSubmission> checked;
  std::vector<size_t> where;
  for (size_t i = 0; i < batch.size(); ++i) {
    auto c = Check(batch[i]);
    if (!c.ok()) {
      out[i] = c.status();
      continue;
    }
    checked.push_back(std::move(*c));
    where.push_back(i);
  }
  if (checked.empty()) return out;
  std::vector<Result<Receipt>> appended = AppendChecked(checked);
  for (size_t k = 0; k < where.size(); ++k) out[where[k]] = std::move(appended[k]);
  return out;
}

std::vector<Result<Receipt>> Log::AppendChecked(const std::vector<CheckedSubmission>& batch,
                                                const std::function<Status(WriteTxn&)>& also,
                                                Status* committed) {
  std::vector<const CheckedSubmission*> pointers;
  for (const CheckedSubmission& c : batch) pointers.push_back(&c);
  Status batch_status;
  auto out = AppendImpl(pointers, false, &batch_status, also);
  if (committed) *committed = batch_status;
  return out;
}

Result<std::optional<Hash>> Log::LoggedAs(const SignedEntry& entry) const {
  std::optional<Hash> out;
  KH_RETURN_IF_ERROR(store_.View([&](ReadTxn& txn) -> Status {
    KH_ASSIGN_OR_RETURN(auto v, txn.Get(Table::kSignedEntries,
                                        keys::SignedEntry(txn, ObjectId(Encode(entry)))));
    if (v && v->size() == 32) out = HashFromBytes(*v);
    return Status::Ok();
  }));
  return out;
}

Result<CheckedSubmission> Log::Check(Submission submission) const {
  const Submission& s = submission;
  KH_RETURN_IF_ERROR(CheckSubmission(s));
  // Cheap refusals before the expensive work: already logged, or chunks that were never sent.
  const std::string uploader = s.uploader.value_or("");
  Bytes signed_bytes = Encode(s.entry);
  const Hash signed_id = ObjectId(signed_bytes);
  Bytes signed_key, case_prefix;
  KH_RETURN_IF_ERROR(store_.View([&](ReadTxn& txn) -> Status {
    signed_key = keys::SignedEntry(txn, signed_id);
    case_prefix = keys::CasePrefix(txn, s.entry.case_id, origin_);
    KH_ASSIGN_OR_RETURN(bool logged, txn.Contains(Table::kSignedEntries, signed_key));
    if (logged) return Status::AlreadyExists("the entry is already recorded");
    KH_RETURN_IF_ERROR(CheckCaseContinuesHere(txn, s.entry.case_id, origin_));
    for (const SubmittedFile& f : s.files) {
      for (const Hash& chunk : f.upload_chunks) {
        KH_ASSIGN_OR_RETURN(bool sent, HasUploadChunk(txn, uploader, chunk));
        // Reported the same whether someone else sent it or no one did.
        if (!sent) {
          return Status::NotFound("chunk " + ToHex(chunk) + " of file '" +
                                  f.opening.descriptor.name + "' has not been uploaded");
        }
      }
    }
    return Status::Ok();
  }));

  EntryNonce nonce;
  RandomBytes(nonce.data(), nonce.size());
  SymmetricKey case_key = DeriveCaseKey(archive_key_, s.entry.case_id);
  std::vector<SealedFile> sealed_files;
  std::vector<std::pair<Hash, Bytes>> pending;  // sealed chunks not yet written
  std::vector<Hash> written;
  auto flush = [&]() -> Status {
    if (pending.empty()) return Status::Ok();
    KH_RETURN_IF_ERROR(store_.Update([&](WriteTxn& txn) -> Status {
      for (const auto& [id, bytes] : pending) KH_RETURN_IF_ERROR(txn.Put(Table::kChunks, id, bytes));
      return Status::Ok();
    }));
    for (const auto& p : pending) written.push_back(p.first);
    pending.clear();
    return Status::Ok();
  };
  auto seal_file = [&](uint32_t i, const SubmittedFile& f) -> Result<SealedFile> {
    const FileDescriptor& d = f.opening.descriptor;
    ChunkedSalt salt;
    RandomBytes(salt.data(), salt.size());
    SymmetricKey file_key = DeriveFileKey(case_key, nonce, i);
    FileSealer sealer(file_key, d.size, salt, [&](ByteView chunk, const Hash& id) -> Status {
      pending.emplace_back(id, Bytes(chunk.begin(), chunk.end()));
      if (pending.size() >= kSealedChunksPerTxn) return flush();
      return Status::Ok();
    });
    OPENSSL_cleanse(file_key.data(), file_key.size());
    Sha256Stream content;
    if (f.content) {  // sent inline; CheckSubmission bounded it and matched its length
      content.Update(*f.content);
      KH_RETURN_IF_ERROR(sealer.Update(*f.content));
    }
    for (uint64_t k = 0; k < f.upload_chunks.size(); ++k) {
      std::optional<Bytes> chunk;
      KH_RETURN_IF_ERROR(store_.View([&](ReadTxn& txn) -> Status {
        KH_ASSIGN_OR_RETURN(chunk, txn.Get(Table::kUploadChunks,
                                           keys::UploadChunk(txn, uploader, f.upload_chunks[k])));
        return Status::Ok();
      }));
      if (!chunk) {
        return Status::NotFound("chunk " + ToHex(f.upload_chunks[k]) + " of file '" + d.name +
                                "' has not been uploaded");
      }
      if (chunk->size() != ChunkLength(d.size, k)) {
        return Status::InvalidArgument("chunk " + std::to_string(k) + " of file '" + d.name +
                                       "' has the wrong length for the declared size");
      }
      // Not hashed against its id here: the whole content is hashed against the SHA-256 the
      // author signed just below, which no altered chunk passes (the id was checked on upload).
      content.Update(*chunk);
      KH_RETURN_IF_ERROR(sealer.Update(*chunk));
      OPENSSL_cleanse(chunk->data(), chunk->size());
    }
    if (content.Finish() != d.content_sha256) {
      // Rare: find out whether a stored upload chunk was damaged, to say so rather than blame
      // the submitter.
      for (const Hash& id : f.upload_chunks) {
        std::optional<Bytes> chunk;
        KH_RETURN_IF_ERROR(store_.View([&](ReadTxn& txn) -> Status {
          KH_ASSIGN_OR_RETURN(chunk, txn.Get(Table::kUploadChunks,
                                             keys::UploadChunk(txn, uploader, id)));
          return Status::Ok();
        }));
        if (chunk && ChunkId(*chunk) != id) {
          return Status::Corruption("stored upload chunk " + ToHex(id) + " does not match its id");
        }
      }
      return Status::InvalidArgument("content of file '" + d.name +
                                     "' does not match the SHA-256 its author signed");
    }
    return sealer.Finish();
  };
  Status st = Status::Ok();
  for (uint32_t i = 0; i < s.files.size() && st.ok(); ++i) {
    auto sealed = seal_file(i, s.files[i]);
    if (sealed.ok()) {
      sealed_files.push_back(std::move(*sealed));
    } else {
      st = sealed.status();
    }
  }
  // A small submission's sealed chunks (all still pending: fewer than one flush) are written by
  // the append's own transaction, so that a batch of statements costs one commit, not one each.
  std::vector<std::pair<Hash, Bytes>> unwritten;
  if (st.ok() && written.empty()) {
    unwritten = std::move(pending);
  } else if (st.ok()) {
    st = flush();
  }
  std::optional<PresealedEntry> presealed;
  if (st.ok()) {
    auto p = Preseal(s, nonce, case_key, std::move(signed_bytes), std::move(sealed_files));
    if (p.ok()) {
      presealed = std::move(*p);
    } else {
      st = p.status();
    }
  }
  OPENSSL_cleanse(case_key.data(), case_key.size());
  // Inline plaintext is sealed now (or refused): it does not wait in memory for the commit.
  for (SubmittedFile& f : submission.files) {
    if (f.content) {
      OPENSSL_cleanse(f.content->data(), f.content->size());
      f.content.reset();
    }
  }
  if (!st.ok()) {
    // Nothing of a refused submission stays: remove the sealed chunks already written.
    (void)store_.Update([&](WriteTxn& txn) -> Status {
      for (const Hash& id : written) KH_RETURN_IF_ERROR(txn.Delete(Table::kChunks, id));
      return Status::Ok();
    });
    return st;
  }
  return CheckedSubmission(std::move(submission), std::move(signed_key),
                           std::move(case_prefix), std::move(*presealed), std::move(unwritten));
}

Result<PresealedEntry> Log::Preseal(const Submission& s, const EntryNonce& nonce,
                                    const SymmetricKey& case_key, Bytes signed_bytes,
                                    std::vector<SealedFile> sealed_files) const {
  EntryToSeal in;
  in.nonce = nonce;
  in.case_id = s.entry.case_id;
  in.signed_entry = std::move(signed_bytes);  // Encode(s.entry), checked by CheckSubmission
  in.decoded_entry = &s.entry;
  for (const SubmittedFile& f : s.files) in.openings.push_back(f.opening);
  in.sealed_files = std::move(sealed_files);
  return PresealEntry(archive_key_, case_key, in);
}

LocalSealing Log::BeginLocal(std::string_view case_id) const {
  LocalSealing out;
  out.case_id_ = std::string(case_id);
  RandomBytes(out.nonce_.data(), out.nonce_.size());
  out.case_key_ = DeriveCaseKey(archive_key_, out.case_id_);
  return out;
}

struct LocalFileSealer::Impl {
  Impl(Store& store, LocalSealing& sealing, uint64_t size)
      : store(store), sealing(sealing), size(size) {}
  // Removes what this file wrote, and with a writer the entry's earlier files too (its first
  // batch took them), as SealLocalFile always did.
  void Abandon(Status why) {
    status = std::move(why);
    finished = true;
    if (!writer) {
      sealing.pending_.resize(held_before);  // a held file's chunks follow the earlier files'
      return;
    }
    (void)writer->Close();
    (void)DeleteChunks(store, writer->written());
    std::vector<Hash> earlier;
    for (const SealedFile& f : sealing.sealed_) {
      earlier.insert(earlier.end(), f.chunks.begin(), f.chunks.end());
    }
    (void)DeleteChunks(store, earlier);
    sealing.written_.clear();
    sealing.pending_.clear();
    sealing.sealed_.clear();
    sealing.files_.clear();
  }

  Store& store;
  LocalSealing& sealing;
  const uint64_t size;
  bool hold = false;
  size_t held_before = 0;
  std::optional<ChunkWriter> writer;
  ChunkWriter::Batch batch;
  std::optional<FileSealer> sealer;
  Sha256Stream content;
  uint64_t received = 0;
  Status status = Status::Ok();
  bool finished = false;
  Hash content_sha256{};
};

LocalFileSealer::LocalFileSealer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

LocalFileSealer::~LocalFileSealer() {
  if (impl_ && !impl_->finished) impl_->Abandon(Status::IOError("the file was not finished"));
}

uint64_t LocalFileSealer::size() const { return impl_->size; }
uint64_t LocalFileSealer::received() const { return impl_->received; }
const Hash& LocalFileSealer::content_sha256() const { return impl_->content_sha256; }

Status LocalFileSealer::Update(ByteView piece) {
  Impl& f = *impl_;
  if (!f.status.ok()) return f.status;
  if (f.finished) return Status::InvalidArgument("the file is finished already");
  if (piece.size() > f.size - f.received) {
    Status st = Status::InvalidArgument("more content than the " + std::to_string(f.size) +
                                        " bytes announced");
    f.Abandon(st);
    return st;
  }
  f.content.Update(piece);
  Status st = f.sealer->Update(piece);
  if (!st.ok()) {
    f.Abandon(st);
    return st;
  }
  f.received += piece.size();
  return Status::Ok();
}

Status LocalFileSealer::Finish() {
  Impl& f = *impl_;
  if (!f.status.ok()) return f.status;
  if (f.finished) return Status::InvalidArgument("the file is finished already");
  if (f.received != f.size) {
    Status st = Status::InvalidArgument("the content ended after " + std::to_string(f.received) +
                                        " of the " + std::to_string(f.size) +
                                        " bytes announced");
    f.Abandon(st);
    return st;
  }
  Result<SealedFile> sealed = f.sealer->Finish();
  Status st = sealed.status();
  if (st.ok() && f.writer && !f.batch.empty()) st = f.writer->Push(std::move(f.batch));
  if (f.writer) {
    Status closed = f.writer->Close();
    if (st.ok()) st = closed;
  }
  if (!st.ok()) {
    f.Abandon(st);
    return st;
  }
  if (f.writer) {
    f.sealing.written_.insert(f.sealing.written_.end(), f.writer->written().begin(),
                              f.writer->written().end());
  }
  f.content_sha256 = f.content.Finish();
  f.sealing.files_.push_back({f.size, f.content_sha256});
  f.sealing.sealed_.push_back(std::move(*sealed));
  f.finished = true;
  return Status::Ok();
}

Result<std::unique_ptr<LocalFileSealer>> Log::BeginLocalFile(LocalSealing& sealing,
                                                             uint64_t size) const {
  if (size > kMaxFileSize) return Status::InvalidArgument("a file is larger than 1 TiB");
  const auto index = static_cast<uint32_t>(sealing.files_.size());
  const uint64_t sealed_chunks = ChunkCount(SealedFileSize(size));
  auto impl = std::make_unique<LocalFileSealer::Impl>(store_, sealing, size);
  LocalFileSealer::Impl& f = *impl;
  // As Check does: an entry of fewer than kSealedChunksPerTxn sealed chunks in all is held for
  // the append's own transaction (one commit for a batch of small entries); a larger one
  // streams into the store through the writer.
  f.hold = sealing.written_.empty() &&
           sealing.pending_.size() + sealed_chunks < kSealedChunksPerTxn;
  f.held_before = sealing.pending_.size();
  if (!f.hold) {
    f.writer.emplace(store_);
    f.batch = std::move(sealing.pending_);  // the entry's earlier small files go first
    sealing.pending_.clear();
  }
  ChunkedSalt salt;
  RandomBytes(salt.data(), salt.size());
  SymmetricKey file_key = DeriveFileKey(sealing.case_key_, sealing.nonce_, index);
  f.sealer.emplace(file_key, size, salt, [&f](ByteView chunk, const Hash& id) -> Status {
    if (f.hold) {
      f.sealing.pending_.emplace_back(id, Bytes(chunk.begin(), chunk.end()));
      return Status::Ok();
    }
    f.batch.emplace_back(id, Bytes(chunk.begin(), chunk.end()));
    if (f.batch.size() < kSealedChunksPerTxn) return Status::Ok();
    Status st = f.writer->Push(std::move(f.batch));
    f.batch.clear();
    return st;
  });
  OPENSSL_cleanse(file_key.data(), file_key.size());
  return std::unique_ptr<LocalFileSealer>(new LocalFileSealer(std::move(impl)));
}

Status Log::SealLocalFile(LocalSealing& sealing, uint64_t size, const ContentSource& read) const {
  KH_ASSIGN_OR_RETURN(std::unique_ptr<LocalFileSealer> file, BeginLocalFile(sealing, size));
  // Pieces small enough that hashing and sealing find them still in the CPU's cache.
  constexpr size_t kPiece = 256 * 1024;
  Bytes buf(kPiece);
  uint64_t done = 0;
  Status st = Status::Ok();
  while (st.ok()) {
    const size_t want = static_cast<size_t>(std::min<uint64_t>(kPiece, size - done));
    // Past the announced size, one more byte tells a file that grew while it was read.
    auto n = read(buf.data(), want == 0 ? 1 : want);
    if (!n.ok()) {
      st = n.status();
      break;
    }
    if (*n == 0) break;
    if (*n > want) {
      st = Status::InvalidArgument("the file grew while it was read (it had " +
                                   std::to_string(size) + " bytes when opened)");
      break;
    }
    st = file->Update(ByteView(buf.data(), *n));
    done += *n;
  }
  OPENSSL_cleanse(buf.data(), buf.size());
  if (st.ok() && done != size) {
    st = Status::InvalidArgument("the file shrank while it was read (" + std::to_string(done) +
                                 " of the " + std::to_string(size) + " bytes it had when opened)");
  }
  if (!st.ok()) return st;  // `file` goes, and removes what it wrote
  return file->Finish();
}

Result<CheckedSubmission> Log::CheckLocal(Submission submission, LocalSealing sealing) const {
  const Submission& s = submission;
  auto refuse = [&](Status st) -> Status {
    (void)Discard(sealing);
    return st;
  };
  Status st = CheckSubmission(s, /*sealed_from_source=*/true);
  if (!st.ok()) return refuse(st);
  if (s.entry.case_id != sealing.case_id_) {
    return refuse(Status::InvalidArgument("the entry is signed for case '" + s.entry.case_id +
                                          "' but its files were sealed for case '" +
                                          sealing.case_id_ + "'"));
  }
  if (s.files.size() != sealing.files_.size()) {
    return refuse(Status::InvalidArgument(
        "the entry has " + std::to_string(s.files.size()) + " files but " +
        std::to_string(sealing.files_.size()) + " were sealed"));
  }
  for (size_t i = 0; i < s.files.size(); ++i) {
    const FileDescriptor& d = s.files[i].opening.descriptor;
    if (d.size != sealing.files_[i].size || d.content_sha256 != sealing.files_[i].content_sha256) {
      return refuse(Status::InvalidArgument("content of file '" + d.name +
                                            "' does not match the SHA-256 its author signed"));
    }
  }
  Bytes signed_bytes = Encode(s.entry);
  const Hash signed_id = ObjectId(signed_bytes);
  Bytes signed_key, case_prefix;
  st = store_.View([&](ReadTxn& txn) -> Status {
    signed_key = keys::SignedEntry(txn, signed_id);
    case_prefix = keys::CasePrefix(txn, s.entry.case_id, origin_);
    KH_ASSIGN_OR_RETURN(bool logged, txn.Contains(Table::kSignedEntries, signed_key));
    if (logged) return Status::AlreadyExists("the entry is already recorded");
    return CheckCaseContinuesHere(txn, s.entry.case_id, origin_);
  });
  if (!st.ok()) return refuse(st);
  if (!sealing.written_.empty() && !sealing.pending_.empty()) {
    // Cannot happen: a large file flushes what waits.
    return refuse(Status::IOError("sealed chunks left unwritten"));
  }
  // Discard (on refusal) needs only the written chunks: the sealed files can go to the entry.
  auto presealed = Preseal(s, sealing.nonce_, sealing.case_key_, std::move(signed_bytes),
                           std::move(sealing.sealed_));
  if (!presealed.ok()) return refuse(presealed.status());
  std::vector<std::pair<Hash, Bytes>> unwritten;
  if (sealing.written_.empty()) {
    unwritten = std::move(sealing.pending_);
    sealing.pending_.clear();
  }
  CheckedSubmission out(std::move(submission), std::move(signed_key),
                        std::move(case_prefix), std::move(*presealed), std::move(unwritten));
  sealing.sealed_.clear();
  sealing.written_.clear();
  return out;
}

Status Log::Discard(LocalSealing& sealing) const {
  Status st = DeleteChunks(store_, sealing.written_);
  sealing.written_.clear();
  sealing.pending_.clear();
  sealing.sealed_.clear();
  sealing.files_.clear();
  return st;
}

Status Log::Discard(const CheckedSubmission& checked) const {
  return DeleteSealedChunks(store_, checked.sealed_files());
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

// Where the next record of this log goes: what each append in a transaction extends.
struct Log::Tip {
  uint64_t size = 0;
  Hash prev_record{};
  MerkleFrontier tree;
  // The frontier's nodes when the transaction began and every node its appends completed: all
  // that an inclusion proof of an appended record against the new size needs (a node to the left
  // of such a record's path that holds none of the appended leaves has a parent that does, so it
  // is one of the frontier's), so SignTip's receipts read no tree node back (nor, on an encrypted
  // store, decrypt one).
  std::map<std::pair<unsigned, uint64_t>, Hash> known;
};

Result<Log::Tip> Log::OpenTip(const WriteTxn& txn) const {
  KH_ASSIGN_OR_RETURN(bool restoring, txn.Contains(Table::kMeta, AsBytes(keys::kMetaRestorePending)));
  if (restoring) {
    return Status::PermissionDenied(
        "this node took back an earlier identity and has not yet pulled its own log back from "
        "a peer; run `khronika sync` first, or it would fork the log it signed before");
  }
  Tip tip;
  KH_ASSIGN_OR_RETURN(tip.size, LogSize(txn, origin_));
  if (tip.size > 0) {
    KH_ASSIGN_OR_RETURN(std::optional<Bytes> last,
                        txn.Get(Table::kRecords, keys::Record(origin_, tip.size - 1)));
    if (!last) return Status::Corruption("last record of the local log is missing");
    tip.prev_record = RecordHash(*last);
  }
  SubtreeFn stored = StoredSubtrees(txn, origin_);
  KH_ASSIGN_OR_RETURN(tip.tree, MerkleFrontier::FromSubtrees(
                                    tip.size, [&](unsigned level, uint64_t index) -> Result<Hash> {
                                      KH_ASSIGN_OR_RETURN(Hash h, stored(level, index));
                                      tip.known.emplace(std::make_pair(level, index), h);
                                      return h;
                                    }));
  return tip;
}

Result<Receipt> Log::AppendRecord(WriteTxn& txn, Tip& tip, ByteView object_bytes) const {
  const Hash object_id = ObjectId(object_bytes);
  Record rec;
  rec.origin = origin_;
  rec.index = tip.size;
  rec.prev_record = tip.prev_record;
  rec.object_id = object_id;
  rec.received_at_ms = clock_.NowMs();
  Receipt r;
  r.entry_id = object_id;
  r.origin = origin_;
  r.index = tip.size;
  r.record = Encode(rec);
  r.leaf_hash = LeafHash(r.record);
  KH_RETURN_IF_ERROR(PutLoggedObject(txn, origin_, r.index, object_bytes));
  KH_RETURN_IF_ERROR(txn.PutImmutable(Table::kRecords, keys::Record(origin_, r.index), r.record));
  for (const TreeNode& n : tip.tree.Append(r.leaf_hash)) {
    KH_RETURN_IF_ERROR(txn.Put(Table::kTree, keys::Tree(origin_, n.level, n.index), n.hash));
    tip.known.insert_or_assign(std::make_pair(n.level, n.index), n.hash);
  }
  tip.prev_record = RecordHash(r.record);
  ++tip.size;
  return r;
}

Status Log::SignTip(WriteTxn& txn, const Tip& tip, const std::vector<Receipt*>& receipts) const {
  const Hash root = tip.tree.Root().value();
  std::string checkpoint = SignCheckpoint(key_, tip.size, root);
  KH_RETURN_IF_ERROR(txn.PutImmutable(Table::kCheckpoints, keys::Checkpoint(origin_, tip.size),
                                      AsBytes(checkpoint)));
  // The nodes the receipts' proofs need are in tip.known (see Tip); a node that is not (only
  // a receipt for an older record would need one) is read, and read once for the batch.
  std::map<std::pair<unsigned, uint64_t>, Hash> read;
  SubtreeFn stored = StoredSubtrees(txn, origin_);
  SubtreeFn subtrees = [&](unsigned level, uint64_t index) -> Result<Hash> {
    if (auto it = tip.known.find({level, index}); it != tip.known.end()) return it->second;
    if (auto it = read.find({level, index}); it != read.end()) return it->second;
    if (g_tree_node_read_for_test) g_tree_node_read_for_test();
    KH_ASSIGN_OR_RETURN(Hash h, stored(level, index));
    read.emplace(std::make_pair(level, index), h);
    return h;
  };
  for (Receipt* r : receipts) {
    r->tree_size = tip.size;
    r->checkpoint = checkpoint;
    KH_ASSIGN_OR_RETURN(r->inclusion_proof, khronika::InclusionProof(r->index, tip.size, subtrees));
  }
  return Status::Ok();
}

Result<Receipt> Log::AppendCustodyObject(ByteView object_bytes) {
  KH_ASSIGN_OR_RETURN(uint8_t type, PeekObjectType(object_bytes));
  if (type == kTypeRecoverySet) {
    KH_RETURN_IF_ERROR(DecodeRecoverySet(object_bytes).status());
  } else if (type == kTypeShareRelease) {
    KH_RETURN_IF_ERROR(DecodeShareRelease(object_bytes).status());
  } else {
    return Status::InvalidArgument("only recovery sets and share releases are logged this way");
  }
  std::optional<Receipt> receipt;
  KH_RETURN_IF_ERROR(store_.Update([&](WriteTxn& txn) -> Status {
    KH_ASSIGN_OR_RETURN(Tip tip, OpenTip(txn));
    KH_ASSIGN_OR_RETURN(Receipt r, AppendRecord(txn, tip, object_bytes));
    receipt = std::move(r);
    return SignTip(txn, tip, {&*receipt});
  }));
  return std::move(*receipt);
}

Result<std::vector<Receipt>> Log::LogPendingCustody() {
  std::vector<Receipt> all;
  for (;;) {
    uint64_t pending = 0;
    KH_RETURN_IF_ERROR(store_.View([&](ReadTxn& txn) -> Status {
      KH_ASSIGN_OR_RETURN(pending, PendingCustodyCount(txn));
      return Status::Ok();
    }));
    if (pending == 0) return all;
    std::vector<Receipt> receipts;
    KH_RETURN_IF_ERROR(store_.Update([&](WriteTxn& txn) -> Status {
      receipts.clear();
      std::vector<Bytes> keys;
      std::vector<CustodyEvent> events;
      const size_t most = kCustodyRecordsPerTransaction * kMaxCustodySlots;
      KH_RETURN_IF_ERROR(txn.Scan(Table::kAccessLog, {},
                                  [&](ByteView key, ByteView value) -> Result<bool> {
        auto e = DecodePendingCustody(value);
        if (!e.ok()) {
          // A row the node did not write (edited on disk): its existence goes on record rather
          // than blocking every later event.
          e = CustodyEvent{clock_.NowMs(), "", "", "unreadable",
                           "a pending custody event did not decode", ""};
        }
        keys.emplace_back(key.begin(), key.end());
        events.push_back(std::move(*e));
        return keys.size() < most;
      }, {}, [&](ByteView key) {
        keys.emplace_back(key.begin(), key.end());
        events.push_back(CustodyEvent{clock_.NowMs(), "", "", "unreadable",
                                      "a pending custody event did not decrypt", ""});
      }));
      if (keys.empty()) return Status::Ok();
      KH_ASSIGN_OR_RETURN(Tip tip, OpenTip(txn));
      for (size_t from = 0; from < events.size(); from += kMaxCustodySlots) {
        const size_t to = std::min(events.size(), from + kMaxCustodySlots);
        std::vector<CustodyEvent> batch(events.begin() + from, events.begin() + to);
        CustodyNonce nonce;
        RandomBytes(nonce.data(), nonce.size());
        KH_ASSIGN_OR_RETURN(CustodyRecord record, SealCustodyRecord(archive_key_, nonce, batch));
        const Bytes bytes = Encode(record);
        KH_ASSIGN_OR_RETURN(Receipt r, AppendRecord(txn, tip, bytes));
        KH_RETURN_IF_ERROR(IndexCustodyRecord(txn, r.index, batch));
        receipts.push_back(std::move(r));
      }
      for (const Bytes& key : keys) KH_RETURN_IF_ERROR(txn.Delete(Table::kAccessLog, key));
      std::vector<Receipt*> pointers;
      for (Receipt& r : receipts) pointers.push_back(&r);
      return SignTip(txn, tip, pointers);
    }));
    for (Receipt& r : receipts) all.push_back(std::move(r));
    if (receipts.empty()) return all;
  }
}

std::vector<Result<Receipt>> Log::AppendImpl(const std::vector<const CheckedSubmission*>& batch,
                                             bool all_or_nothing, Status* batch_status,
                                             const std::function<Status(WriteTxn&)>& also) {
  std::vector<Status> verdicts(batch.size());
  auto discard_all = [&] {
    for (const CheckedSubmission* c : batch) (void)Discard(*c);
  };
  auto fail_all = [&](const Status& st) {
    *batch_status = st;
    discard_all();
    return std::vector<Result<Receipt>>(batch.size(), Result<Receipt>(st));
  };
  if (batch.empty() && !also) return fail_all(Status::InvalidArgument("nothing to append"));

  std::vector<std::optional<Receipt>> receipts(batch.size());
  // Checks that depend on what the log already holds; they run inside the transaction, before
  // anything of the submission is written.
  // Returns a store error, or OK with *verdict set to whether the submission may be appended.
  // A batch is mostly one or a few authors: each is looked up once per transaction.
  std::map<PublicKey, std::optional<RegisteredAuthor>> authors;
  auto check_in_txn = [&](WriteTxn& txn, const Submission& s, const Bytes& signed_key,
                          Status* verdict) -> Status {
    auto found = authors.find(s.entry.author);
    if (found == authors.end()) {
      KH_ASSIGN_OR_RETURN(auto looked_up, FindAuthor(txn, s.entry.author));
      found = authors.emplace(s.entry.author, std::move(looked_up)).first;
    }
    const std::optional<RegisteredAuthor>& author = found->second;
    KH_ASSIGN_OR_RETURN(bool logged, txn.Contains(Table::kSignedEntries, signed_key));
    bool target = true;
    if (s.entry.corrects) {
      KH_ASSIGN_OR_RETURN(auto location, txn.Get(Table::kEntryIndex, *s.entry.corrects));
      // A correction names an entry of this same log: cases belong to their origin.
      target = location && location->size() == 40 &&
               std::equal(origin_.begin(), origin_.end(), location->begin());
    }
    if (!author) {
      *verdict = Status::PermissionDenied("author " + ToHex(s.entry.author) +
                                          " is not registered on this node");
    } else if (author->removed) {
      *verdict = Status::PermissionDenied("author " + ToHex(s.entry.author) +
                                          " was removed from this node");
    } else if (logged) {
      *verdict = Status::AlreadyExists("the entry is already recorded");
    } else if (!target) {
      *verdict = Status::NotFound("the entry to correct, " + ToHex(*s.entry.corrects) +
                                  ", is not recorded in this log");
    } else {
      *verdict = Status::Ok();
    }
    return Status::Ok();
  };

  std::vector<Bytes> purges;  // markers of the appended entries' upload chunks
  // The last record of each case this transaction has appended to: a batch is mostly a few
  // cases, and an entry's link box needs the one before it, which this transaction just wrote.
  std::map<Bytes, Hash> case_tips;
  Status st = store_.Update([&](WriteTxn& txn) -> Status {
    for (auto& r : receipts) r.reset();
    for (Status& v : verdicts) v = Status::Ok();
    purges.clear();
    authors.clear();
    case_tips.clear();
    if (also) KH_RETURN_IF_ERROR(also(txn));
    if (batch.empty()) return Status::Ok();
    KH_ASSIGN_OR_RETURN(Tip tip, OpenTip(txn));
    const uint64_t first_index = tip.size;
    for (size_t i = 0; i < batch.size(); ++i) {
      const CheckedSubmission& c = *batch[i];
      const Submission& s = c.submission();
      const Bytes& signed_key = c.signed_entry_key_;
      Status verdict_in_txn;
      KH_RETURN_IF_ERROR(check_in_txn(txn, s, signed_key, &verdict_in_txn));
      if (!verdict_in_txn.ok()) {
        if (all_or_nothing) return verdict_in_txn;
        verdicts[i] = verdict_in_txn;
        continue;
      }
      // The previous record of the case comes from this origin's own (blinded) case index and
      // goes into the link box: the record itself no longer shows which records share a case.
      const Bytes& case_prefix = c.case_prefix_;
      auto known_tip = case_tips.find(case_prefix);
      Hash prev_case_record{};
      if (known_tip != case_tips.end()) {
        prev_case_record = known_tip->second;
      } else {
        KH_ASSIGN_OR_RETURN(auto case_tip, txn.Last(Table::kCaseIndex, case_prefix));
        if (case_tip) prev_case_record = HashFromBytes(case_tip->second);
      }
      for (const auto& [id, bytes] : c.unwritten_chunks_) {
        KH_RETURN_IF_ERROR(txn.Put(Table::kChunks, id, bytes));
      }
      KH_ASSIGN_OR_RETURN(Receipt r,
                          AppendRecord(txn, tip, c.presealed_.FinishEncoded(prev_case_record)));
      const Hash entry_id = r.entry_id;
      const Hash record_hash = RecordHash(r.record);
      KH_RETURN_IF_ERROR(
          txn.Put(Table::kCaseIndex, keys::CaseRecord(case_prefix, r.index), record_hash));
      case_tips.insert_or_assign(case_prefix, record_hash);
      KH_RETURN_IF_ERROR(txn.Put(Table::kEntryIndex, entry_id, keys::EntryLocation(origin_, r.index)));
      KH_RETURN_IF_ERROR(txn.Put(Table::kSignedEntries, signed_key, entry_id));
      // The plaintext has been sealed: its upload chunks go. A few go in this transaction.
      // Deleting gigabytes of them here would make it free every page they held at once (the
      // list of a 1 TiB file's freed pages alone is 2 GiB); instead it records what is to go,
      // and they are deleted in small transactions once it commits (PurgeSealedUploads;
      // Node::Open finishes what a crash left).
      std::vector<Hash> uploaded;
      for (const SubmittedFile& f : s.files) {
        uploaded.insert(uploaded.end(), f.upload_chunks.begin(), f.upload_chunks.end());
      }
      std::sort(uploaded.begin(), uploaded.end());
      uploaded.erase(std::unique(uploaded.begin(), uploaded.end()), uploaded.end());
      const std::string uploader = s.uploader.value_or("");
      if (uploaded.size() <= kPurgeChunksPerTxn) {
        for (const Hash& chunk : uploaded) {
          KH_RETURN_IF_ERROR(
              txn.Delete(Table::kUploadChunks, keys::UploadChunk(txn, uploader, chunk)));
        }
      } else {
        KH_RETURN_IF_ERROR(txn.Put(Table::kMeta, keys::PendingPurge(entry_id),
                                   EncodePurge(uploader, uploaded)));
        purges.push_back(keys::PendingPurge(entry_id));
      }
      receipts[i] = std::move(r);
    }
    if (tip.size == first_index) return Status::Ok();  // nothing survived its checks
    std::vector<Receipt*> appended;
    for (auto& r : receipts) {
      if (r) appended.push_back(&*r);
    }
    return SignTip(txn, tip, appended);
  });
  if (!st.ok()) return fail_all(st);
  if (g_after_append_commit_for_test) g_after_append_commit_for_test();
  // The entries are logged: a purge that fails here (the store full, say) is finished by the
  // next Node::Open, so it does not turn their receipts into errors.
  for (const Bytes& marker : purges) (void)FinishPurge(store_, marker);
  std::vector<Result<Receipt>> out;
  for (size_t i = 0; i < batch.size(); ++i) {
    if (receipts[i]) {
      out.emplace_back(std::move(*receipts[i]));
    } else {
      // Refused inside the transaction: its sealed chunks are not needed.
      (void)Discard(*batch[i]);
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
