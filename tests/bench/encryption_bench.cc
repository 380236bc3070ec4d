// The encryption benchmark (docs/performance.md, "Format 2: what sealing and encryption at rest
// cost"). Format 2 seals every file at its origin (Cobblestone-256 under keys derived from the
// archive key) whether the store is encrypted or not; an encrypted node adds the at-rest layer
// (its data key), which no longer re-encrypts sealed chunks. The same evidence goes through
// three nodes, each in a fresh directory on the same file system, and each is reported as a
// ratio to a clear baseline measured beside it in the same run:
//   baseline   no encryption at all, built here from the same primitives: a node in clear whose
//              plaintext chunks go into Table::kChunks under their SHA-256 (what format 1 did),
//              whose append checks the signature, the commitments and the content (each chunk
//              re-hashed against its id, the whole file against its descriptor) and writes the
//              same object, record, Merkle nodes, indexes and signed checkpoint as Log::Append,
//              and whose verify re-checks all of it (every plaintext byte, twice hashed)
//   clear      a format-2 node in clear: upload chunks, Log::Append (checks, seals, deletes the
//              uploads), VerifyStore
//   encrypted  a format-2 node with a data key (a keyring locked with a key file): the same,
//              with every value but the sealed chunks AES-256-GCM at rest
// Each node is timed on:
//   ingest, files       N files of 2.5 MiB, as `khronika add` stores them: sealed straight
//                       from the file's bytes (Log::SealLocalFile), then the entry appended
//                       alone (the baseline: plaintext chunks in one write transaction, then
//                       its append)
//   ingest, files uploaded  the same files as `khronika submit` sends them: a sealing
//                       upload, 1 MiB pieces sealed as they arrive (LocalFileSealer), then
//                       the entry appended (Log::CheckLocal)
//   ingest, statements  M short statement files, 100 to an append as group commit makes them,
//                       each sent inside its entry's POST as `khronika submit` now sends small
//                       files (the baseline: plaintext chunks, then the append, as format 1)
//   verify, origin      VerifyStore with the archive key: every entry opened, every plaintext
//                       byte decrypted and checked against what the author signed
//                       (baseline: every chunk and file re-hashed, every signature checked)
//   verify, partner     VerifyStore without a key: what a partner checks (sealed chunk ids and
//                       lengths, objects, chains, tree, checkpoints); the baseline's partner in
//                       clear checks what its origin does, so it runs the same full verify again
//   sync, partner       a partner of the same kind receiving the whole log. The format-2
//                       nodes run the replication library's own PullFromPeer against the
//                       origin's store, each request answered by the functions the server's sync
//                       routes call (no HTTP; what answering costs is timed apart and left out).
//                       The baseline, format 1's sync, no longer exists as code: it is modelled
//                       on the primitives as format 1 did it: records through the chain checker,
//                       objects against their ids and decoded, each author signature and each
//                       file's SHA-256 checked (which a format-2 partner cannot), chunks hashed
//                       against their ids and written 4 to a transaction, then records, objects,
//                       Merkle nodes and the checkpoint in one transaction per 100 records.
// Each of R repetitions runs the three nodes stage by stage, rotating which goes first, and the
// statements batch by batch, the sides taking turns, so that page-cache warmup, disk noise and
// other jobs on the machine fall on all sides; rates are
// medians, costs the median of each repetition's paired cost against the baseline. CPU time is
// reported beside wall time, since on a shared disk the flushes can hide (or swamp) the cost.
// Beside them, as floors: AES-256-GCM and SHA-256 of 1 MiB, format 2's FileSealer and its 16 KiB
// opener, the AEAD and HMAC-SHA-256 of 200-byte values, and the disk's flush rate. What a client
// does (hashing its files, signing entries) is prepared before timing. Asserts nothing; exits
// non-zero only if the benchmark itself fails (a node that does not verify clean, a sync that
// does not hold the whole log).
//   encryption_bench [FILES [STATEMENTS [REPETITIONS]]]   (defaults 200, 2000, 4)
#include <fcntl.h>
#include <openssl/crypto.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "khronika/log/keyring.h"
#include "khronika/log/log.h"
#include "khronika/log/node.h"
#include "khronika/log/store_keys.h"
#include "khronika/log/verify.h"
#include "khronika/replication/protocol.h"
#include "khronika/replication/roster.h"
#include "khronika/replication/sync.h"
#include "khronika/schemas/chain_checker.h"
#include "khronika/schemas/crypto.h"
#include "khronika/schemas/merkle.h"
#include "khronika/schemas/note.h"
#include "khronika/schemas/objects.h"
#include "khronika/schemas/seal.h"
#include "khronika/schemas/sealed_objects.h"
#include "khronika/schemas/sealing.h"

namespace {

using namespace khronika;
namespace fs = std::filesystem;

// A phone photo or a short recording: two full chunks and a partial last one, so that both
// the full-chunk path and the short tail are measured.
constexpr size_t kFileBytes = 2 * kChunkSize + kChunkSize / 2;
constexpr size_t kStatementsPerTransaction = 100;
constexpr int64_t kCreatedAtMs = 1767225600000;  // 2026-01-01
constexpr double kMB = 1e6;
// Sync's batches: records per commit, and chunks per request (one write transaction each), as
// in replication's protocol (kMaxChunksPerRequest).
constexpr uint64_t kSyncRecordsPerBatch = 100;
constexpr size_t kSyncChunksPerRequest = 4;

enum Side { kBaseline = 0, kClear = 1, kEncrypted = 2 };
constexpr int kSides = 3;
const char* SideName(int side) {
  return side == kBaseline ? "baseline" : side == kClear ? "clear" : "encrypted";
}

void Check(const Status& s, const char* what) {
  if (!s.ok()) {
    std::cerr << "encryption_bench: " << what << ": " << s.ToString() << "\n";
    std::exit(1);
  }
}

// User and system CPU time of this process so far.
struct CpuTimes {
  double user_s = 0, sys_s = 0;
};

CpuTimes CpuNow() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  auto seconds = [](const timeval& t) { return static_cast<double>(t.tv_sec) + t.tv_usec / 1e6; };
  return {seconds(u.ru_utime), seconds(u.ru_stime)};
}

double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// Wall-clock and CPU time of one step. The benchmark is single-threaded, so CPU time below wall
// time is time spent waiting: on the disk's flushes, or for a core other jobs hold. Encryption
// is user time; system time (copying pages to the kernel, flushing) moves with the state of a
// shared disk.
struct Timing {
  double wall_s = 0;
  double user_s = 0;
  double sys_s = 0;
  Timing& operator+=(const Timing& o) {
    wall_s += o.wall_s, user_s += o.user_s, sys_s += o.sys_s;
    return *this;
  }
  Timing& operator-=(const Timing& o) {
    wall_s -= o.wall_s, user_s -= o.user_s, sys_s -= o.sys_s;
    return *this;
  }
};

Result<Timing> Time(const std::function<Status()>& step) {
  const CpuTimes cpu = CpuNow();
  auto start = std::chrono::steady_clock::now();
  KH_RETURN_IF_ERROR(step());
  Timing t;
  t.wall_s = SecondsSince(start);
  const CpuTimes after = CpuNow();
  t.user_s = after.user_s - cpu.user_s;
  t.sys_s = after.sys_s - cpu.sys_s;
  return t;
}

double Median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  size_t n = values.size();
  return n % 2 == 1 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
}

Hash HashFrom(ByteView b) {
  Hash h{};
  std::copy_n(b.begin(), h.size(), h.begin());
  return h;
}

// The evidence every node receives. Every file is one shared random buffer with the file's and the
// chunk's number stamped at the start of each chunk: no chunk is deduplicated, and making a file
// while the clock runs costs 16 bytes of writes per chunk, not a file of random bytes or memory.
struct Evidence {
  Bytes file_content;
  std::vector<Submission> files;        // one entry per file, signed
  std::vector<std::string> statements;  // the content of each statement file
  std::vector<std::vector<Submission>> statement_batches;
  uint64_t file_bytes = 0;       // all files, once
  uint64_t statement_bytes = 0;  // all statements, once

  void StampFile(uint64_t file) {
    for (uint64_t chunk = 0; chunk * kChunkSize < file_content.size(); ++chunk) {
      uint8_t* at = file_content.data() + chunk * kChunkSize;
      std::memcpy(at, &file, sizeof file);
      std::memcpy(at + sizeof file, &chunk, sizeof chunk);
    }
  }
  uint64_t entries() const { return files.size() + statements.size(); }
};

// What the client computes before it submits: upload chunk ids, the content hash, the
// descriptor, a commitment salt, the signed entry.
Submission MakeSubmission(ByteView content, const std::string& name, const std::string& media_type,
                          const std::string& case_id, uint64_t number, const SigningKey& author) {
  SubmittedFile file;
  file.opening.descriptor = {name, media_type, content.size(), Sha256(content)};
  RandomBytes(file.opening.salt.data(), file.opening.salt.size());
  for (size_t at = 0; at < content.size(); at += kChunkSize) {
    file.upload_chunks.push_back(
        ChunkId(content.subspan(at, std::min(kChunkSize, content.size() - at))));
  }
  Submission s;
  s.entry.case_id = case_id;
  s.entry.kind = "evidence";
  s.entry.created_at_ms = kCreatedAtMs + static_cast<int64_t>(number);
  s.entry.files = {FileCommitment(file.opening.salt, Encode(file.opening.descriptor))};
  s.entry.metadata = {{"exhibit", std::to_string(number)}};
  SignEntry(s.entry, author);
  s.files = {std::move(file)};
  return s;
}

Evidence PrepareEvidence(uint64_t file_count, uint64_t statement_count, const SigningKey& author) {
  Evidence ev;
  ev.file_content.resize(kFileBytes);
  RandomBytes(ev.file_content.data(), ev.file_content.size());
  for (uint64_t i = 0; i < file_count; ++i) {
    ev.StampFile(i);
    ev.files.push_back(MakeSubmission(ev.file_content, "photo-" + std::to_string(i) + ".jpg",
                                      "image/jpeg", "case-" + std::to_string(i % 10), i, author));
    ev.file_bytes += ev.file_content.size();
  }
  for (uint64_t i = 0; i < statement_count; ++i) {
    uint64_t number = file_count + i;
    std::string text = "Statement " + std::to_string(number) +
                       ". I, the undersigned, saw the events described in case " +
                       std::to_string(i % 10) +
                       " from the north side of the square, between "
                       "14:05 and 14:40. The photographs filed under this case were taken by me "
                       "with my own phone and have not been edited.\n";
    if (ev.statement_batches.empty() ||
        ev.statement_batches.back().size() == kStatementsPerTransaction) {
      ev.statement_batches.emplace_back();
    }
    ev.statement_batches.back().push_back(
        MakeSubmission(AsBytes(text), "statement-" + std::to_string(number) + ".txt",
                       "text/plain", "case-" + std::to_string(i % 10), number, author));
    ev.statement_bytes += text.size();
    ev.statements.push_back(std::move(text));
  }
  return ev;
}

// ---- The clear baseline: format 1's work on format 2's primitives, without any encryption ----

// The object the baseline logs: the signed entry and, for each file, its opening and plaintext
// chunk ids (format 1's entry and manifests, in one object as a sealed entry holds them).
// u64 length-prefixed fields, little-endian; read back only by this benchmark.
void PutU64(Bytes& out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<uint8_t>(v >> (8 * i)));
}
void PutField(Bytes& out, ByteView v) {
  PutU64(out, v.size());
  out.insert(out.end(), v.begin(), v.end());
}

Bytes EncodeEnvelope(const Submission& s) {
  Bytes out;
  PutField(out, Encode(s.entry));
  PutU64(out, s.files.size());
  for (const SubmittedFile& f : s.files) {
    out.insert(out.end(), f.opening.salt.begin(), f.opening.salt.end());
    PutField(out, Encode(f.opening.descriptor));
    PutU64(out, f.upload_chunks.size());
    for (const Hash& id : f.upload_chunks) out.insert(out.end(), id.begin(), id.end());
  }
  return out;
}

struct Envelope {
  SignedEntry entry;
  std::vector<SubmittedFile> files;
};

Result<Envelope> DecodeEnvelope(ByteView in) {
  size_t at = 0;
  auto take = [&](size_t n) -> Result<ByteView> {
    if (in.size() - at < n) return Status::Corruption("baseline object is truncated");
    ByteView v = in.subspan(at, n);
    at += n;
    return v;
  };
  auto u64 = [&]() -> Result<uint64_t> {
    KH_ASSIGN_OR_RETURN(ByteView v, take(8));
    uint64_t x = 0;
    for (int i = 7; i >= 0; --i) x = (x << 8) | v[static_cast<size_t>(i)];
    return x;
  };
  Envelope e;
  KH_ASSIGN_OR_RETURN(uint64_t entry_len, u64());
  KH_ASSIGN_OR_RETURN(ByteView entry_bytes, take(entry_len));
  KH_ASSIGN_OR_RETURN(e.entry, DecodeSignedEntry(entry_bytes));
  KH_ASSIGN_OR_RETURN(uint64_t files, u64());
  if (files > kMaxFilesPerEntry) return Status::Corruption("baseline object: too many files");
  for (uint64_t i = 0; i < files; ++i) {
    SubmittedFile f;
    KH_ASSIGN_OR_RETURN(ByteView salt, take(f.opening.salt.size()));
    std::copy(salt.begin(), salt.end(), f.opening.salt.begin());
    KH_ASSIGN_OR_RETURN(uint64_t d_len, u64());
    KH_ASSIGN_OR_RETURN(ByteView d, take(d_len));
    KH_ASSIGN_OR_RETURN(f.opening.descriptor, DecodeDescriptor(d));
    KH_ASSIGN_OR_RETURN(uint64_t chunks, u64());
    if (chunks != ChunkCount(f.opening.descriptor.size)) {
      return Status::Corruption("baseline object: chunk count does not match the size");
    }
    for (uint64_t k = 0; k < chunks; ++k) {
      KH_ASSIGN_OR_RETURN(ByteView id, take(32));
      f.upload_chunks.push_back(HashFrom(id));
    }
    e.files.push_back(std::move(f));
  }
  if (at != in.size()) return Status::Corruption("baseline object has trailing bytes");
  return e;
}

// Fields, commitments and the author's signature: what Log::Check checks before the content.
Status CheckSigned(const SignedEntry& entry, const std::vector<SubmittedFile>& files) {
  KH_RETURN_IF_ERROR(ValidateSignedEntryFields(entry));
  if (entry.files.size() != files.size()) return Status::InvalidArgument("file count differs");
  for (size_t i = 0; i < files.size(); ++i) {
    KH_RETURN_IF_ERROR(ValidateDescriptor(files[i].opening.descriptor));
    if (FileCommitment(files[i].opening.salt, Encode(files[i].opening.descriptor)) !=
        entry.files[i]) {
      return Status::InvalidArgument("a file does not match its signed commitment");
    }
  }
  if (!VerifyEntrySignature(entry)) return Status::InvalidArgument("author signature invalid");
  return Status::Ok();
}

// Format 1's CheckFileContent: each plaintext chunk read back, its length and id re-checked, and
// the whole file hashed against its descriptor.
Status CheckPlainFile(const ReadTxn& txn, const SubmittedFile& f,
                      std::set<Hash>* checked = nullptr) {
  const FileDescriptor& d = f.opening.descriptor;
  Sha256Stream content;
  for (uint64_t k = 0; k < f.upload_chunks.size(); ++k) {
    KH_ASSIGN_OR_RETURN(std::optional<Bytes> chunk, txn.Get(Table::kChunks, f.upload_chunks[k]));
    if (!chunk) return Status::NotFound("chunk " + ToHex(f.upload_chunks[k]) + " is missing");
    if (chunk->size() != ChunkLength(d.size, k) || ChunkId(*chunk) != f.upload_chunks[k]) {
      return Status::Corruption("chunk " + ToHex(f.upload_chunks[k]) + " does not match its id");
    }
    content.Update(*chunk);
    if (checked) checked->insert(f.upload_chunks[k]);
  }
  if (content.Finish() != d.content_sha256) {
    return Status::Corruption("file '" + d.name + "' does not match its signed SHA-256");
  }
  return Status::Ok();
}

// Log::Append without sealing: checks each submission (signature, commitments, content re-read
// and hashed) outside the write transaction, then in one transaction the same writes as
// Log::AppendImpl (object, record, Merkle nodes, case index, entry index, signed-entry index),
// one signed checkpoint and each receipt's inclusion proof. What Log does once per entry (the
// entry's encoding and hash, its index keys) or per batch (tree nodes known in memory, Log::Tip)
// is done once here too: the work the two sides share is not what this bench compares.
Status BaselineAppend(Node& node, const std::vector<Submission>& batch) {
  std::vector<Bytes> signed_keys;
  for (const Submission& s : batch) {
    KH_RETURN_IF_ERROR(CheckSigned(s.entry, s.files));
    KH_RETURN_IF_ERROR(node.store().View([&](ReadTxn& txn) -> Status {
      signed_keys.push_back(keys::SignedEntry(txn, ObjectId(Encode(s.entry))));
      KH_ASSIGN_OR_RETURN(bool logged, txn.Contains(Table::kSignedEntries, signed_keys.back()));
      if (logged) return Status::AlreadyExists("the entry is already recorded");
      for (const SubmittedFile& f : s.files) KH_RETURN_IF_ERROR(CheckPlainFile(txn, f));
      return Status::Ok();
    }));
  }
  const Hash& origin = node.id();
  return node.store().Update([&](WriteTxn& txn) -> Status {
    KH_ASSIGN_OR_RETURN(uint64_t size, LogSize(txn, origin));
    Hash prev{};
    if (size > 0) {
      KH_ASSIGN_OR_RETURN(auto last, txn.Get(Table::kRecords, keys::Record(origin, size - 1)));
      if (!last) return Status::Corruption("last record missing");
      prev = RecordHash(*last);
    }
    std::map<std::pair<unsigned, uint64_t>, Hash> known;
    SubtreeFn stored = StoredSubtrees(txn, origin);
    KH_ASSIGN_OR_RETURN(MerkleFrontier tree,
                        MerkleFrontier::FromSubtrees(size, [&](unsigned level, uint64_t index)
                                                               -> Result<Hash> {
                          KH_ASSIGN_OR_RETURN(Hash h, stored(level, index));
                          known.emplace(std::make_pair(level, index), h);
                          return h;
                        }));
    std::vector<uint64_t> indexes;
    std::map<Bytes, Hash> case_tips;  // as Log::AppendImpl: each case's last record read once
    for (size_t i = 0; i < batch.size(); ++i) {
      const Submission& s = batch[i];
      KH_ASSIGN_OR_RETURN(auto author, FindAuthor(txn, s.entry.author));
      if (!author || author->removed) return Status::PermissionDenied("author not registered");
      const Bytes& signed_key = signed_keys[i];
      KH_ASSIGN_OR_RETURN(bool logged, txn.Contains(Table::kSignedEntries, signed_key));
      if (logged) return Status::AlreadyExists("the entry is already recorded");
      // The case's previous record, as format 1's record named it (format 2's link box).
      const Bytes case_prefix = keys::CasePrefix(txn, s.entry.case_id, origin);
      if (!case_tips.count(case_prefix)) {
        KH_ASSIGN_OR_RETURN(auto case_tip, txn.Last(Table::kCaseIndex, case_prefix));
        case_tips[case_prefix] = case_tip ? HashFrom(case_tip->second) : Hash{};
      }
      const Bytes object = EncodeEnvelope(s);
      const Hash id = ObjectId(object);
      // Kept at the record's place, with the log's end mark after them, as format 2's objects
      // are (keys::Object, keys::ObjectsEnd): the layout is not what this bench compares.
      if (size == 0) KH_RETURN_IF_ERROR(txn.Put(Table::kObjects, keys::ObjectsEnd(origin), {}));
      KH_RETURN_IF_ERROR(txn.PutImmutable(Table::kObjects, keys::Object(origin, size), object));
      Record rec;
      rec.origin = origin;
      rec.index = size;
      rec.prev_record = prev;
      rec.object_id = id;
      rec.received_at_ms = SystemClock().NowMs();
      const Bytes record = Encode(rec);
      KH_RETURN_IF_ERROR(txn.PutImmutable(Table::kRecords, keys::Record(origin, size), record));
      for (const TreeNode& n : tree.Append(LeafHash(record))) {
        KH_RETURN_IF_ERROR(txn.Put(Table::kTree, keys::Tree(origin, n.level, n.index), n.hash));
        known.insert_or_assign(std::make_pair(n.level, n.index), n.hash);
      }
      prev = RecordHash(record);
      KH_RETURN_IF_ERROR(txn.Put(Table::kCaseIndex, keys::CaseRecord(case_prefix, size), prev));
      case_tips[case_prefix] = prev;
      KH_RETURN_IF_ERROR(txn.Put(Table::kEntryIndex, id, keys::EntryLocation(origin, size)));
      KH_RETURN_IF_ERROR(txn.Put(Table::kSignedEntries, signed_key, id));
      indexes.push_back(size++);
    }
    const std::string checkpoint = SignCheckpoint(node.key(), size, tree.Root().value());
    KH_RETURN_IF_ERROR(
        txn.PutImmutable(Table::kCheckpoints, keys::Checkpoint(origin, size), AsBytes(checkpoint)));
    SubtreeFn subtrees = [&](unsigned level, uint64_t index) -> Result<Hash> {
      if (auto it = known.find({level, index}); it != known.end()) return it->second;
      return stored(level, index);
    };
    for (uint64_t index : indexes) {
      KH_ASSIGN_OR_RETURN(auto proof, InclusionProof(index, size, subtrees));
      if (proof.size() > 64) return Status::Corruption("proof too long");
    }
    return Status::Ok();
  });
}

// A checkpoint note of `origin`, against the origin's key held in the store and a root.
Status CheckCheckpointNote(const ReadTxn& txn, const Hash& origin, ByteView note_bytes,
                           uint64_t size, const std::optional<Hash>& root) {
  KH_ASSIGN_OR_RETURN(auto pub, txn.Get(Table::kOrigins, origin));
  if (!pub || pub->size() != 32) return Status::Corruption("origin key unknown");
  PublicKey key{};
  std::copy(pub->begin(), pub->end(), key.begin());
  KH_ASSIGN_OR_RETURN(SignedNote note, ParseSignedNote(AsChars(note_bytes)));
  KH_ASSIGN_OR_RETURN(NoteVerifier verifier,
                      ParseVerifierKey(FormatVerifierKey(OriginName(origin), key)));
  if (!NoteSignedBy(note, verifier)) return Status::Corruption("checkpoint signature invalid");
  KH_ASSIGN_OR_RETURN(Checkpoint cp, ParseCheckpointBody(note.text));
  if (cp.size != size || !root || cp.root != *root) {
    return Status::Corruption("checkpoint at " + std::to_string(size) + " does not match");
  }
  return Status::Ok();
}

// Format 1's VerifyStore on the baseline's store: each object against its id, each entry's
// signature, commitments and files (each chunk against its id, each file against its SHA-256;
// each chunk read once, the chunks no file covers afterwards), the hash chain, every stored
// Merkle node, the entry index, and every checkpoint's signature and root.
Status BaselineVerify(const Store& store, const Hash& origin, uint64_t expect_records) {
  return store.View([&](ReadTxn& txn) -> Status {
    std::set<Hash> checked;
    uint64_t objects = 0;
    KH_RETURN_IF_ERROR(txn.Scan(Table::kObjects, {}, [&](ByteView key, ByteView value) -> Result<bool> {
      if (keys::IsObjectsEnd(key)) return true;
      ++objects;
      KH_ASSIGN_OR_RETURN(auto record_bytes, txn.Get(Table::kRecords, key));
      if (!record_bytes) return Status::Corruption("an object without its record");
      KH_ASSIGN_OR_RETURN(Record record, DecodeRecord(*record_bytes));
      if (ObjectId(value) != record.object_id) return Status::Corruption("object does not match its id");
      KH_ASSIGN_OR_RETURN(Envelope e, DecodeEnvelope(value));
      KH_RETURN_IF_ERROR(CheckSigned(e.entry, e.files));
      for (const SubmittedFile& f : e.files) KH_RETURN_IF_ERROR(CheckPlainFile(txn, f, &checked));
      return true;
    }));
    KH_RETURN_IF_ERROR(txn.ScanKeys(Table::kChunks, {}, [&](ByteView key) -> Result<bool> {
      if (checked.count(HashFrom(key))) return true;
      KH_ASSIGN_OR_RETURN(auto v, txn.Get(Table::kChunks, key));
      if (!v || ChunkId(*v) != HashFrom(key)) return Status::Corruption("chunk does not match");
      return true;
    }));
    std::map<uint64_t, std::optional<Hash>> roots;  // of `origin`'s log, by size
    KH_RETURN_IF_ERROR(txn.ScanKeys(Table::kCheckpoints, {}, [&](ByteView key) -> Result<bool> {
      KH_ASSIGN_OR_RETURN(auto at, keys::DecodePosition(key));
      if (at.origin == origin) roots[at.index] = std::nullopt;
      return true;
    }));
    ChainChecker chain(origin);
    KH_RETURN_IF_ERROR(txn.Scan(Table::kRecords, {}, [&](ByteView key, ByteView value) -> Result<bool> {
      KH_ASSIGN_OR_RETURN(auto at, keys::DecodePosition(key));
      KH_ASSIGN_OR_RETURN(CheckedRecord r, chain.Append(value, nullptr));
      KH_RETURN_IF_ERROR(r.status());
      for (const TreeNode& n : r.completed) {
        KH_ASSIGN_OR_RETURN(auto stored, txn.Get(Table::kTree, keys::Tree(origin, n.level, n.index)));
        if (!stored || HashFrom(*stored) != n.hash) return Status::Corruption("Merkle node differs");
      }
      if (auto it = roots.find(chain.size()); it != roots.end()) it->second = chain.Root();
      KH_ASSIGN_OR_RETURN(auto object, txn.Get(Table::kObjects, keys::Object(origin, at.index)));
      if (!object) return Status::Corruption("object missing");
      KH_ASSIGN_OR_RETURN(auto location, txn.Get(Table::kEntryIndex, r.record->object_id));
      if (!location || *location != keys::EntryLocation(origin, at.index)) {
        return Status::Corruption("entry index does not point to its record");
      }
      return true;
    }));
    uint64_t tree_nodes = 0;
    KH_RETURN_IF_ERROR(txn.ScanKeys(Table::kTree, {}, [&](ByteView) -> Result<bool> {
      ++tree_nodes;
      return true;
    }));
    KH_RETURN_IF_ERROR(txn.Scan(Table::kCheckpoints, {}, [&](ByteView key, ByteView value) -> Result<bool> {
      KH_ASSIGN_OR_RETURN(auto at, keys::DecodePosition(key));
      std::optional<Hash> root = at.index == 0 ? MerkleEmptyRoot() : roots[at.index];
      if (at.origin != origin && at.index != 0) return Status::Corruption("a checkpoint of another log");
      KH_RETURN_IF_ERROR(CheckCheckpointNote(txn, at.origin, value, at.index, root));
      return true;
    }));
    if (chain.size() != expect_records || objects != expect_records) {
      return Status::Corruption("baseline verify found " + std::to_string(chain.size()) + " records");
    }
    return Status::Ok();
  });
}

// ---- Ingest, verify and sync on each side ----

// A format-2 node ingests each file as `khronika add` does: sealed straight from the file's
// bytes (content hashed once, sealed once), no upload chunks. The baseline stores its plaintext
// chunks and appends as format 1 did.
Status IngestFiles(Node& node, Side side, Evidence& ev) {
  for (uint64_t i = 0; i < ev.files.size(); ++i) {
    ev.StampFile(i);
    const ByteView content(ev.file_content);
    if (side == kBaseline) {
      KH_RETURN_IF_ERROR(node.store().Update([&](WriteTxn& txn) -> Status {
        for (size_t at = 0; at < content.size(); at += kChunkSize) {
          ByteView piece = content.subspan(at, std::min(kChunkSize, content.size() - at));
          KH_RETURN_IF_ERROR(txn.Put(Table::kChunks, ChunkId(piece), piece));
        }
        return Status::Ok();
      }));
      KH_RETURN_IF_ERROR(BaselineAppend(node, {ev.files[i]}));
      continue;
    }
    LocalSealing sealing = node.log().BeginLocal(ev.files[i].entry.case_id);
    size_t at = 0;
    KH_RETURN_IF_ERROR(node.log().SealLocalFile(
        sealing, content.size(), [&](uint8_t* buf, size_t max) -> Result<size_t> {
          size_t n = std::min(max, content.size() - at);
          std::memcpy(buf, content.data() + at, n);
          at += n;
          return n;
        }));
    // The author signed this content's descriptor when the evidence was prepared.
    Submission s = ev.files[i];
    for (SubmittedFile& f : s.files) f.upload_chunks.clear();
    KH_ASSIGN_OR_RETURN(CheckedSubmission checked,
                        node.log().CheckLocal(std::move(s), std::move(sealing)));
    std::vector<CheckedSubmission> batch;
    batch.push_back(std::move(checked));
    KH_RETURN_IF_ERROR(node.log().AppendChecked(batch)[0].status());
  }
  return Status::Ok();
}

// The upload path as `khronika submit` sends a large file now: a sealing upload, whose pieces
// of 1 MiB (one PUT each) the node feeds to a LocalFileSealer as they arrive (sealed once, hashed
// once, written once), then the entry's POST naming the sealing (Log::CheckLocal). `submit
// --resumable`'s upload chunks (written in the clear, read back, sealed) are not timed here;
// they cost about +51% (docs/performance.md). The baseline ingests as in IngestFiles.
Status IngestFilesUploaded(Node& node, Side side, Evidence& ev) {
  if (side == kBaseline) return IngestFiles(node, side, ev);
  for (uint64_t i = 0; i < ev.files.size(); ++i) {
    ev.StampFile(i);
    const ByteView content(ev.file_content);
    LocalSealing sealing = node.log().BeginLocal(ev.files[i].entry.case_id);
    {
      KH_ASSIGN_OR_RETURN(std::unique_ptr<LocalFileSealer> file,
                          node.log().BeginLocalFile(sealing, content.size()));
      for (size_t at = 0; at < content.size(); at += kChunkSize) {
        // Each request's body is a buffer of its own, as the server receives it.
        ByteView piece = content.subspan(at, std::min(kChunkSize, content.size() - at));
        std::string body(AsChars(piece));
        KH_RETURN_IF_ERROR(file->Update(AsBytes(body)));
      }
      KH_RETURN_IF_ERROR(file->Finish());
    }
    Submission s = ev.files[i];
    for (SubmittedFile& f : s.files) f.upload_chunks.clear();
    KH_ASSIGN_OR_RETURN(CheckedSubmission checked,
                        node.log().CheckLocal(std::move(s), std::move(sealing)));
    std::vector<CheckedSubmission> batch;
    batch.push_back(std::move(checked));
    KH_RETURN_IF_ERROR(node.log().AppendChecked(batch)[0].status());
  }
  return Status::Ok();
}

// One batch of statements (`batch` of ev.statement_batches) as `khronika submit` sends them: a
// file of at most 64 KiB travels inside the entry's POST (SubmittedFile::content), so a format-2
// node takes it with no upload chunk. The baseline stores plaintext chunks and then appends, as
// format 1 did (it had no other way).
Status IngestStatementBatch(Node& node, Side side, const Evidence& ev, size_t batch_index) {
  const std::vector<Submission>& batch = ev.statement_batches[batch_index];
  const size_t first = batch_index * kStatementsPerTransaction;
  if (side != kBaseline) {
    std::vector<Submission> inline_batch = batch;
    for (size_t i = 0; i < inline_batch.size(); ++i) {
      ByteView text = AsBytes(ev.statements[first + i]);
      inline_batch[i].files[0].upload_chunks.clear();
      inline_batch[i].files[0].content = Bytes(text.begin(), text.end());
    }
    return node.log().Append(inline_batch).status();
  }
  KH_RETURN_IF_ERROR(node.store().Update([&](WriteTxn& txn) -> Status {
    for (size_t i = 0; i < batch.size(); ++i) {
      ByteView text = AsBytes(ev.statements[first + i]);
      KH_RETURN_IF_ERROR(txn.Put(Table::kChunks, ChunkId(text), text));
    }
    return Status::Ok();
  }));
  return BaselineAppend(node, batch);
}

Status VerifyFormat2(Node& node, bool with_archive_key, uint64_t entries) {
  VerifyOptions options;
  if (with_archive_key) options = VerifyOptions{&node.archive_key(), node.id()};
  KH_ASSIGN_OR_RETURN(VerifyReport report, VerifyStore(node.store(), options));
  if (!report.clean() || report.records != entries ||
      report.entries_opened != (with_archive_key ? entries : 0)) {
    std::string problems = report.problems.empty() ? "" : ": " + report.problems.front();
    return Status::Corruption("verify found " + std::to_string(report.records) + " records, " +
                              std::to_string(report.entries_opened) + " opened, " +
                              std::to_string(report.problems.size()) + " problems" + problems);
  }
  return Status::Ok();
}

// The partner's side of sync, for the whole of `from`'s log (see the top of the file). What the
// origin does to serve each request is added to `serve`, for the caller to take out.
Status SyncLog(Node& from, Node& to, Side side, Timing& serve) {
  const Hash origin = from.id();
  auto served = [&](const std::function<Status()>& step) -> Status {
    KH_ASSIGN_OR_RETURN(Timing t, Time(step));
    serve += t;
    return Status::Ok();
  };
  uint64_t size = 0;
  std::string note;
  KH_RETURN_IF_ERROR(served([&] {
    return from.store().View([&](ReadTxn& txn) -> Status {
      KH_ASSIGN_OR_RETURN(size, LogSize(txn, origin));
      KH_ASSIGN_OR_RETURN(auto held, LatestHeldCheckpoint(txn, origin));
      if (!held || held->size != size) return Status::Corruption("no checkpoint at the log's size");
      note = std::move(held->note);
      return Status::Ok();
    });
  }));
  ChainChecker chain(origin);
  for (uint64_t first = 0; first < size; first += kSyncRecordsPerBatch) {
    const uint64_t end = std::min(size, first + kSyncRecordsPerBatch);
    std::vector<LoggedObject> items;
    KH_RETURN_IF_ERROR(served([&] {
      return from.store().View([&](ReadTxn& txn) -> Status {
        for (uint64_t i = first; i < end; ++i) {
          KH_ASSIGN_OR_RETURN(LoggedObject o, ReadLoggedObject(txn, origin, i));
          items.push_back(std::move(o));
        }
        return Status::Ok();
      });
    }));
    // Records through the chain checker, each object against its id and decoded.
    struct Want {
      Hash id{};
      uint64_t length = 0;
      const FileDescriptor* file = nullptr;  // baseline: the file, and whether this is its last
      bool last_of_file = false;
    };
    std::vector<Want> wants;
    std::vector<Envelope> envelopes;  // baseline
    envelopes.reserve(items.size());
    std::map<std::pair<unsigned, uint64_t>, Hash> nodes;
    for (const LoggedObject& item : items) {
      KH_ASSIGN_OR_RETURN(CheckedRecord r, chain.Append(item.record_bytes, nullptr));
      KH_RETURN_IF_ERROR(r.status());
      for (const TreeNode& n : r.completed) nodes[{n.level, n.index}] = n.hash;
      if (ObjectId(item.object_bytes) != r.record->object_id) {
        return Status::Corruption("an object does not match its record");
      }
      if (side == kBaseline) {
        KH_ASSIGN_OR_RETURN(Envelope e, DecodeEnvelope(item.object_bytes));
        KH_RETURN_IF_ERROR(CheckSigned(e.entry, e.files));
        envelopes.push_back(std::move(e));
        for (const SubmittedFile& f : envelopes.back().files) {
          const FileDescriptor& d = f.opening.descriptor;
          for (uint64_t k = 0; k < f.upload_chunks.size(); ++k) {
            wants.push_back({f.upload_chunks[k], ChunkLength(d.size, k), &d,
                             k + 1 == f.upload_chunks.size()});
          }
        }
      } else {
        KH_ASSIGN_OR_RETURN(uint8_t type, PeekObjectType(item.object_bytes));
        if (type != kTypeSealedEntry) return Status::Corruption("not a sealed entry");
        KH_ASSIGN_OR_RETURN(SealedEntry e, DecodeSealedEntry(item.object_bytes));
        for (const SealedFile& f : e.files) {
          for (uint64_t k = 0; k < f.chunks.size(); ++k) {
            wants.push_back({f.chunks[k], SealedChunkLength(f.sealed_size, k)});
          }
        }
      }
    }
    // Chunks already held are not fetched again (a fresh partner holds none).
    std::vector<Want> missing;
    KH_RETURN_IF_ERROR(to.store().View([&](ReadTxn& txn) -> Status {
      for (const Want& w : wants) {
        auto held = ReadChunk(txn, w.id);
        if (held.ok() && held->size() == w.length) continue;
        if (!held.ok() && held.status().code() != Code::kCorruption) return held.status();
        missing.push_back(w);
      }
      return Status::Ok();
    }));
    // Each request: the origin reads the chunks; the partner hashes each against its id (the
    // baseline also hashes each file whole against its descriptor) and writes them.
    std::unique_ptr<Sha256Stream> file_hash;
    for (size_t off = 0; off < missing.size(); off += kSyncChunksPerRequest) {
      const size_t n = std::min(kSyncChunksPerRequest, missing.size() - off);
      std::vector<Bytes> body(n);
      KH_RETURN_IF_ERROR(served([&] {
        return from.store().View([&](ReadTxn& txn) -> Status {
          for (size_t i = 0; i < n; ++i) {
            KH_ASSIGN_OR_RETURN(auto c, txn.Get(Table::kChunks, missing[off + i].id));
            if (!c) return Status::NotFound("the origin lacks a chunk");
            body[i] = std::move(*c);
          }
          return Status::Ok();
        });
      }));
      for (size_t i = 0; i < n; ++i) {
        const Want& w = missing[off + i];
        if (body[i].size() != w.length || ChunkId(body[i]) != w.id) {
          return Status::Corruption("chunk " + ToHex(w.id) + " from the peer does not match");
        }
        if (w.file) {
          if (!file_hash) file_hash = std::make_unique<Sha256Stream>();
          file_hash->Update(body[i]);
          if (w.last_of_file) {
            if (file_hash->Finish() != w.file->content_sha256) {
              return Status::Corruption("file '" + w.file->name + "' does not match its SHA-256");
            }
            file_hash.reset();
          }
        }
      }
      KH_RETURN_IF_ERROR(to.store().Update([&](WriteTxn& txn) -> Status {
        for (size_t i = 0; i < n; ++i) {
          KH_RETURN_IF_ERROR(txn.Put(Table::kChunks, missing[off + i].id, body[i]));
        }
        return Status::Ok();
      }));
    }
    // One transaction makes the batch visible; the last one with the verified checkpoint.
    KH_RETURN_IF_ERROR(to.store().Update([&](WriteTxn& txn) -> Status {
      KH_ASSIGN_OR_RETURN(uint64_t held, LogSize(txn, origin));
      if (held != first) return Status::AlreadyExists("the log changed during the sync");
      for (size_t i = 0; i < items.size(); ++i) {
        const Hash& id = items[i].record.object_id;
        if (first + i == 0) {
          KH_RETURN_IF_ERROR(txn.Put(Table::kObjects, keys::ObjectsEnd(origin), {}));
        }
        KH_RETURN_IF_ERROR(
            txn.PutImmutable(Table::kObjects, keys::Object(origin, first + i), items[i].object_bytes));
        KH_RETURN_IF_ERROR(txn.PutImmutable(Table::kRecords, keys::Record(origin, first + i),
                                            items[i].record_bytes));
        KH_ASSIGN_OR_RETURN(bool indexed, txn.Contains(Table::kEntryIndex, id));
        if (!indexed) {
          KH_RETURN_IF_ERROR(
              txn.Put(Table::kEntryIndex, id, keys::EntryLocation(origin, first + i)));
        }
      }
      for (const auto& [at, hash] : nodes) {
        KH_RETURN_IF_ERROR(txn.Put(Table::kTree, keys::Tree(origin, at.first, at.second), hash));
      }
      if (end == size) {
        KH_RETURN_IF_ERROR(CheckCheckpointNote(txn, origin, AsBytes(note), size, chain.Root()));
        KH_RETURN_IF_ERROR(
            txn.PutImmutable(Table::kCheckpoints, keys::Checkpoint(origin, size), AsBytes(note)));
      }
      return Status::Ok();
    }));
  }
  return Status::Ok();
}

// The origin as a format-2 partner reaches it, without HTTP: each request answered from the
// origin's store by the functions the server's sync routes call. What answering costs is added
// to `served`, for the caller to take out (the partner's side is what is measured).
class ServingTransport : public PeerTransport {
 public:
  ServingTransport(Store& origin, Timing& served) : origin_(origin), served_(served) {}
  Result<std::vector<Head>> Heads() override {
    std::vector<Head> heads;
    KH_RETURN_IF_ERROR(Serve([&](const ReadTxn& txn) -> Status {
      KH_ASSIGN_OR_RETURN(heads, LocalHeads(txn));
      return Status::Ok();
    }));
    return heads;
  }
  Result<std::vector<Hash>> ConsistencyProof(const Hash& origin, uint64_t from,
                                             uint64_t to) override {
    std::vector<Hash> proof;
    KH_RETURN_IF_ERROR(TimeServing([&]() -> Status {
      KH_ASSIGN_OR_RETURN(proof, ServeConsistencyProof(origin_, origin, from, to));
      return Status::Ok();
    }));
    return proof;
  }
  Result<Bytes> Pack(const Hash& origin, uint64_t from, uint64_t to) override {
    Bytes body;
    KH_RETURN_IF_ERROR(Serve([&](const ReadTxn& txn) -> Status {
      KH_ASSIGN_OR_RETURN(body, BuildPack(txn, origin, from, to));
      return Status::Ok();
    }));
    return body;
  }
  Result<Bytes> Chunks(const std::vector<Hash>& ids) override {
    Bytes body;
    KH_RETURN_IF_ERROR(Serve([&](const ReadTxn& txn) -> Status {
      KH_ASSIGN_OR_RETURN(body, BuildChunkBody(txn, ids));
      return Status::Ok();
    }));
    return body;
  }
  Result<std::string> Timestamps(const Hash& origin, uint64_t size) override {
    std::string body;
    KH_RETURN_IF_ERROR(Serve([&](const ReadTxn& txn) -> Status {
      KH_ASSIGN_OR_RETURN(body, BuildTimestampsAnswer(txn, origin, size));
      return Status::Ok();
    }));
    return body;
  }

 private:
  Status TimeServing(const std::function<Status()>& step) {
    KH_ASSIGN_OR_RETURN(Timing t, Time(step));
    served_ += t;
    return Status::Ok();
  }
  Status Serve(const std::function<Status(const ReadTxn&)>& answer) {
    return TimeServing([&] { return origin_.View([&](ReadTxn& txn) { return answer(txn); }); });
  }
  Store& origin_;
  Timing& served_;
};

// A format-2 partner's sync of the whole of `from`'s log, by the replication library itself
// (PullFromPeer: the chain checker, every object and sealed chunk checked, batches committed).
Status PullWholeLog(Node& from, Node& to, Timing& serve) {
  ServingTransport peer(from.store(), serve);
  KH_ASSIGN_OR_RETURN(SyncReport report, PullFromPeer(to.store(), peer));
  if (!report.ok()) return Status::Corruption("the partner's sync failed");
  for (const LogSyncResult& log : report.logs) {
    if (log.origin != from.id()) continue;
    if (log.to != log.peer_size || log.to == 0) {
      return Status::Corruption("the partner holds " + std::to_string(log.to) + " of " +
                                std::to_string(log.peer_size) + " records");
    }
    return Status::Ok();
  }
  return Status::Corruption("the partner did not take the origin's log");
}

// One node's pass over the evidence: its timings and what it left on disk.
struct Pass {
  Timing files, statements, verify_origin, verify_partner, sync;
  Timing files_uploaded;  // the same files through upload chunks, on a node of their own
  uint64_t data_file_bytes = 0;     // the origin's DIR/store/data.mdb
  uint64_t partner_file_bytes = 0;  // the partner's
  uint64_t values = 0;              // entries in all tables of the origin
};

// A fresh node in `dir`: encrypted with a key file beside it (as an operator would keep it off
// the data directory; here on the same file system so that only the encryption differs).
Result<std::unique_ptr<Node>> MakeNode(const fs::path& dir, bool encrypted, const char* name) {
  if (!encrypted) return Node::Init(dir, name);
  const fs::path key_file = dir.string() + ".key";
  KH_RETURN_IF_ERROR(CreateKeyFile(key_file));
  NodeInitOptions options;
  options.seal_with = Unlock{.passphrase = "", .key_file = key_file};
  KH_ASSIGN_OR_RETURN(auto node, Node::Init(dir, name, std::move(options)));
  if (!node->encrypted()) return Status::InvalidArgument("the node's store is in clear");
  return node;
}

// One repetition: the three sides, each with a node of its own, run stage by stage, each
// stage taking the sides in `order`. The statements go batch by batch, the sides taking turns
// (the first one rotating from batch to batch): a statement batch takes about 20 ms, so a slow
// stretch of the machine (a flush that stalls, a core another job holds, the host's own noise)
// falls on all three sides alike instead of on whichever was running at the time. Run a side
// at a time, as the earlier rounds of this benchmark did, the statements' rounds differed by up
// to 30% from each other, more than the cost being measured.
Result<std::array<Pass, kSides>> RunRepetition(const fs::path& work,
                                               const std::array<Side, kSides>& order, Evidence& ev,
                                               const SigningKey& author, bool check_partner) {
  std::array<Pass, kSides> passes;
  std::array<std::unique_ptr<Node>, kSides> nodes;
  auto dir_of = [&](Side side) { return work / SideName(side); };
  auto partner_dir_of = [&](Side side) {
    return work / (std::string(SideName(side)) + "-partner");
  };
  const uint64_t entries = ev.entries();

  for (Side side : order) {
    const bool encrypted = side == kEncrypted;
    const fs::path uploads_dir = work / (std::string(SideName(side)) + "-uploads");
    {
      KH_ASSIGN_OR_RETURN(std::unique_ptr<Node> up, MakeNode(uploads_dir, encrypted, "bench"));
      KH_RETURN_IF_ERROR(RegisterAuthor(up->store(), author.public_key(), "Bench Author"));
      KH_ASSIGN_OR_RETURN(passes[side].files_uploaded,
                          Time([&] { return IngestFilesUploaded(*up, side, ev); }));
    }
    fs::remove_all(uploads_dir);
    fs::remove(uploads_dir.string() + ".key");
  }
  ::sync();
  for (Side side : order) {
    const bool encrypted = side == kEncrypted;
    KH_ASSIGN_OR_RETURN(nodes[side], MakeNode(dir_of(side), encrypted, "bench"));
    if (nodes[side]->encrypted() != encrypted) return Status::InvalidArgument("wrong kind of node");
    KH_RETURN_IF_ERROR(RegisterAuthor(nodes[side]->store(), author.public_key(), "Bench Author"));
  }
  for (Side side : order) {
    KH_ASSIGN_OR_RETURN(passes[side].files,
                        Time([&] { return IngestFiles(*nodes[side], side, ev); }));
  }
  for (size_t b = 0; b < ev.statement_batches.size(); ++b) {
    for (int k = 0; k < kSides; ++k) {
      const Side side = order[(b + k) % kSides];
      KH_ASSIGN_OR_RETURN(Timing t,
                          Time([&] { return IngestStatementBatch(*nodes[side], side, ev, b); }));
      passes[side].statements += t;
    }
  }
  for (Side side : order) {
    Node& node = *nodes[side];
    for (bool with_key : {true, false}) {
      KH_ASSIGN_OR_RETURN(Timing t, Time([&] {
                            return side == kBaseline
                                       ? BaselineVerify(node.store(), node.id(), entries)
                                       : VerifyFormat2(node, with_key, entries);
                          }));
      (with_key ? passes[side].verify_origin : passes[side].verify_partner) = t;
    }
  }

  for (Side side : order) {
    // The partner: a node of the same kind, which knows the origin's key from its roster.
    Node& node = *nodes[side];
    Pass& pass = passes[side];
    KH_ASSIGN_OR_RETURN(std::unique_ptr<Node> partner,
                        MakeNode(partner_dir_of(side), side == kEncrypted, "partner"));
    Timing serve;
    if (side == kBaseline) {
      KH_RETURN_IF_ERROR(partner->store().Update([&](WriteTxn& txn) {
        return txn.Put(Table::kOrigins, node.id(), node.key().public_key());
      }));
      KH_ASSIGN_OR_RETURN(pass.sync, Time([&] { return SyncLog(node, *partner, side, serve); }));
    } else {
      KH_RETURN_IF_ERROR(AddMember(partner->store(), node.verifier_key(), "").status());
      KH_ASSIGN_OR_RETURN(pass.sync, Time([&] { return PullWholeLog(node, *partner, serve); }));
    }
    pass.sync -= serve;
    if (check_partner) {
      // Once, untimed: the partner's copy verifies as its holder would verify it.
      KH_RETURN_IF_ERROR(side == kBaseline ? BaselineVerify(partner->store(), node.id(), entries)
                                           : VerifyFormat2(*partner, false, entries));
    }
  }

  for (Side side : order) {
    Pass& pass = passes[side];
    KH_RETURN_IF_ERROR(nodes[side]->store().View([&](ReadTxn& txn) -> Status {
      for (int t = 0; t < kTableCount; ++t) {
        KH_ASSIGN_OR_RETURN(uint64_t n, txn.Count(static_cast<Table>(t)));
        pass.values += n;
      }
      return Status::Ok();
    }));
    nodes[side].reset();
    pass.data_file_bytes = fs::file_size(Node::StorePath(dir_of(side)) / "data.mdb");
    pass.partner_file_bytes = fs::file_size(Node::StorePath(partner_dir_of(side)) / "data.mdb");
    for (const fs::path& d : {dir_of(side), partner_dir_of(side)}) {
      fs::remove_all(d);
      fs::remove(d.string() + ".key");
    }
  }
  // Let the file system finish with the deleted stores before the next repetition is timed.
  ::sync();
  return passes;
}

// Runs `op` at least `min_ops` times and for at least a quarter second; returns operations/s.
double OpsPerSecond(uint64_t min_ops, const std::function<void()>& op) {
  auto start = std::chrono::steady_clock::now();
  uint64_t ops = 0;
  double elapsed = 0;
  while (ops < min_ops || elapsed < 0.25) {
    op();
    ++ops;
    elapsed = SecondsSince(start);
  }
  return static_cast<double>(ops) / elapsed;
}

// Where the floors' results go, so that the compiler cannot drop the calls that made them.
volatile uint64_t g_floor_results = 0;

// The reference costs: AES-256-GCM and SHA-256 on 1 MiB values (a chunk) in MB/s, and the
// AEAD and the index key's HMAC on a 200-byte value (a record, an entry, a manifest) in
// microseconds, where what counts is the fixed cost per call rather than the bytes.
struct Floors {
  double seal_mbps = 0, open_mbps = 0, sha256_mbps = 0;
  double seal_small_us = 0, open_small_us = 0, keyed_hash_us = 0;
  double key_seal_small_us = 0, key_open_small_us = 0;  // AeadKey, as the store calls it
  // Format 2 (docs/format-2.md): sealing a file as Log::Check does (FileSealer: padding,
  // Cobblestone-256, SHA-256 of each 1 MiB sealed chunk), and opening its 16 KiB chunks as
  // SealedFileReader does.
  double file_seal_mbps = 0, chunked_open_mbps = 0;
};

Floors MeasureFloors() {
  const SymmetricKey key = RandomSymmetricKey();
  Bytes chunk(kChunkSize);
  RandomBytes(chunk.data(), chunk.size());
  Bytes small(200);
  RandomBytes(small.data(), small.size());
  // What the store binds each value to: its table and a 32-byte key.
  const Bytes associated(33, 1);
  const Bytes sealed_chunk = AeadSeal(key, chunk, associated);
  const Bytes sealed_small = AeadSeal(key, small, associated);
  uint64_t sink = 0;
  auto open = [&](const Bytes& sealed) {
    auto plain = AeadOpen(key, sealed, associated);
    if (!plain.ok()) std::exit(1);
    sink += (*plain)[20];
  };
  const double chunk_mb = static_cast<double>(kChunkSize) / kMB;
  Floors f;
  f.seal_mbps = chunk_mb * OpsPerSecond(256, [&] { sink += AeadSeal(key, chunk, associated)[20]; });
  f.open_mbps = chunk_mb * OpsPerSecond(256, [&] { open(sealed_chunk); });
  f.sha256_mbps = chunk_mb * OpsPerSecond(256, [&] { sink += Sha256(chunk)[0]; });
  f.seal_small_us =
      1e6 / OpsPerSecond(20000, [&] { sink += AeadSeal(key, small, associated)[20]; });
  f.open_small_us = 1e6 / OpsPerSecond(20000, [&] { open(sealed_small); });
  f.keyed_hash_us = 1e6 / OpsPerSecond(20000, [&] { sink += KeyedHash(key, small)[0]; });
  const AeadKey store_key(key);
  f.key_seal_small_us =
      1e6 / OpsPerSecond(20000, [&] { sink += store_key.Seal(small, associated)[20]; });
  f.key_open_small_us = 1e6 / OpsPerSecond(20000, [&] {
    auto plain = store_key.Open(sealed_small, associated);
    if (!plain.ok()) std::exit(1);
    sink += (*plain)[20];
  });
  {
    constexpr size_t kFileMiB = 8;
    Bytes content(kFileMiB * kChunkSize);
    RandomBytes(content.data(), content.size());
    ChunkedSalt salt{};
    f.file_seal_mbps = static_cast<double>(content.size()) / kMB * OpsPerSecond(8, [&] {
      FileSealer sealer(key, content.size(), salt, [&](ByteView c, const Hash& id) {
        sink += c[0] + id[0];
        return Status::Ok();
      });
      if (!sealer.Update(content).ok() || !sealer.Finish().ok()) std::exit(1);
    });
    Bytes sealed = ChunkedSeal(key, salt, AsBytes(kFileContentContext), chunk);
    auto opener = ChunkedOpener::Open(key, ByteView(sealed).first(kChunkedHeaderBytes),
                                      AsBytes(kFileContentContext));
    if (!opener.ok()) std::exit(1);
    const uint64_t pieces = kChunkSize / kChunkedPlainChunk;
    f.chunked_open_mbps = chunk_mb * OpsPerSecond(64, [&] {
      for (uint64_t k = 0; k < pieces; ++k) {
        ByteView piece = ByteView(sealed).subspan(kChunkedHeaderBytes + k * kChunkedSealedChunk,
                                                  kChunkedSealedChunk);
        auto plain = opener->OpenChunk(k, piece, false);
        if (!plain.ok()) std::exit(1);
        sink += (*plain)[3];
      }
    });
  }
  g_floor_results = sink;
  return f;
}

// How fast the disk under `dir` takes flushes just now (4 KiB written, then fdatasync, 200
// times): the state of the disk the passes met, since other jobs share it.
double FlushesPerSecond(const fs::path& dir) {
  const fs::path probe = dir / "flush-probe";
  int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (fd < 0) return 0;
  char block[4096];
  std::memset(block, 'k', sizeof block);
  constexpr int kFlushes = 200;
  auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < kFlushes; ++i) {
    if (::pwrite(fd, block, sizeof block, 0) != static_cast<ssize_t>(sizeof block) ||
        ::fdatasync(fd) != 0) {
      ::close(fd);
      return 0;
    }
  }
  double rate = kFlushes / SecondsSince(start);
  ::close(fd);
  fs::remove(probe);
  return rate;
}

std::string CpuModel() {
  std::ifstream in("/proc/cpuinfo");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  }
  return "unknown CPU";
}

// One figure of every repetition, on every side. The sides of one repetition ran back to back
// and met about the same disk and the same other jobs, while both move a lot between
// repetitions on a shared machine; so a cost is the median of the paired costs, and only the
// rates are medians of each side alone.
struct Sides {
  std::vector<double> v[kSides];
  // Median over the repetitions of side's figure / the baseline's - 1, in percent.
  double CostPercent(int side) const {
    std::vector<double> costs;
    for (size_t i = 0; i < v[kBaseline].size(); ++i) {
      costs.push_back((v[side][i] / v[kBaseline][i] - 1) * 100);
    }
    return Median(costs);
  }
  // The encrypted node against the node in clear: what the at-rest layer adds.
  double AtRestPercent() const {
    std::vector<double> costs;
    for (size_t i = 0; i < v[kClear].size(); ++i) costs.push_back((v[kEncrypted][i] / v[kClear][i] - 1) * 100);
    return Median(costs);
  }
};

Sides Collect(const std::vector<Pass> (&passes)[kSides], const std::function<double(const Pass&)>& field) {
  Sides s;
  for (int side = 0; side < kSides; ++side) {
    for (const Pass& pass : passes[side]) s.v[side].push_back(field(pass));
  }
  return s;
}

// `amount` done in `seconds` on each side: the median rates, and the costs in wall time.
void PrintRate(const char* what, const char* unit, double amount, const Sides& seconds) {
  std::printf("  %-26s %-9s %9.1f %9.1f %9.1f   %+8.1f%% %+8.1f%%  %+7.1f%%\n", what, unit,
              amount / Median(seconds.v[kBaseline]), amount / Median(seconds.v[kClear]),
              amount / Median(seconds.v[kEncrypted]), seconds.CostPercent(kClear),
              seconds.CostPercent(kEncrypted), seconds.AtRestPercent());
}

// Wall, user and system seconds per side, and the costs in user CPU time (which does not wait
// on the disk or for a core).
void PrintTime(const char* what, const Sides& wall, const Sides& user, const Sides& sys) {
  std::printf("  %-20s", what);
  for (int side = 0; side < kSides; ++side) {
    std::printf(" %6.2f %6.2f %5.2f |", Median(wall.v[side]), Median(user.v[side]),
                Median(sys.v[side]));
  }
  std::printf(" %+7.1f%% %+7.1f%% %+7.1f%%\n", user.CostPercent(kClear), user.CostPercent(kEncrypted),
              user.AtRestPercent());
}

double MedianOf(const std::vector<Floors>& floors, double Floors::*field) {
  std::vector<double> v;
  for (const Floors& f : floors) v.push_back(f.*field);
  return Median(v);
}

}  // namespace

int main(int argc, char** argv) {
  const uint64_t file_count = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 200;
  const uint64_t statement_count = argc > 2 ? std::strtoull(argv[2], nullptr, 10) : 2000;
  const int repetitions = argc > 3 ? std::atoi(argv[3]) : 4;
  if (file_count == 0 || statement_count == 0 || repetitions < 1) {
    std::cerr << "usage: encryption_bench [FILES [STATEMENTS [REPETITIONS]]], each at least 1\n";
    return 2;
  }
  std::string tmpl = (fs::temp_directory_path() / "khronika-encryption-bench-XXXXXX").string();
  if (!::mkdtemp(tmpl.data())) return 1;
  const fs::path work = tmpl;

  const SigningKey author = SigningKey::Generate();
  auto prepare_start = std::chrono::steady_clock::now();
  Evidence ev = PrepareEvidence(file_count, statement_count, author);
  const double prepare_s = SecondsSince(prepare_start);

  std::vector<Pass> passes[kSides];
  std::vector<Floors> floors;
  std::vector<double> flushes;
  auto run_start = std::chrono::steady_clock::now();
  // The floors come first, then one untimed repetition (which also verifies each partner's
  // copy), then the timed repetitions back to back. A pass that starts a second or two
  // after the last store was deleted was slower by up to 0.9 s of system time in earlier runs:
  // on this VM, free page reporting returns freed memory to the host, and the next pass faults
  // it back in. The passes reuse each other's memory only if nothing long runs between them.
  for (int r = 0; r < repetitions; ++r) floors.push_back(MeasureFloors());
  auto order_of = [](int r) {
    std::array<Side, kSides> order;
    for (int k = 0; k < kSides; ++k) order[k] = static_cast<Side>((r + k) % kSides);
    return order;
  };
  Check(RunRepetition(work, order_of(0), ev, author, true).status(), "warm-up repetition");
  for (int r = 0; r < repetitions; ++r) {
    flushes.push_back(FlushesPerSecond(work));
    // Rotate which side goes first, so that none always inherits another's dirty pages.
    auto repetition = RunRepetition(work, order_of(r), ev, author, false);
    Check(repetition.status(), "repetition");
    for (int side = 0; side < kSides; ++side) passes[side].push_back((*repetition)[side]);
  }
  const double run_s = SecondsSince(run_start);
  fs::remove_all(work);

  auto wall = [&](Timing Pass::*step) {
    return Collect(passes, [step](const Pass& p) { return (p.*step).wall_s; });
  };
  const double file_mb = static_cast<double>(ev.file_bytes) / kMB;
  const double all_mb = static_cast<double>(ev.file_bytes + ev.statement_bytes) / kMB;

  std::printf("Khronika encryption benchmark (format 2: sealing at the origin, encryption at rest)\n");
  std::printf(
      "evidence: %llu files of %.1f MiB (%llu upload chunks each, one entry per append), %llu "
      "statements of %.0f bytes (%zu per append)\n",
      static_cast<unsigned long long>(file_count), static_cast<double>(kFileBytes) / (1 << 20),
      static_cast<unsigned long long>(ChunkCount(kFileBytes)),
      static_cast<unsigned long long>(statement_count),
      static_cast<double>(ev.statement_bytes) / static_cast<double>(statement_count),
      kStatementsPerTransaction);
  std::printf("machine: %ld cores, %s; %s; work dir %s\n", ::sysconf(_SC_NPROCESSORS_ONLN),
              CpuModel().c_str(), OpenSSL_version(OPENSSL_VERSION), work.c_str());
  std::printf(
      "%d repetitions, the three nodes stage by stage in each, rotating which goes first;\n"
      "the statements batch by batch, the three sides taking turns.\n"
      "baseline: no encryption (plaintext chunks under their SHA-256, format 1's checks);\n"
      "clear: format 2 sealing only; encrypted: format 2 sealing + the at-rest data key.\n"
      "MB = 10^6 bytes of file content. Rates: medians of each side. Costs: the median over the\n"
      "repetitions of the side's time / the baseline's - 1 (at rest: encrypted / clear - 1).\n"
      "sync: the partner's side only (the origin's serving is timed apart and left out); the\n"
      "format-2 partners run PullFromPeer, the baseline's format-1 sync is modelled.\n\n",
      repetitions);

  std::printf("  %-26s %-9s %9s %9s %9s   %9s %9s  %8s\n", "", "", "baseline", "clear",
              "encrypted", "clear", "encrypted", "at rest");
  PrintRate("ingest, files", "MB/s", file_mb, wall(&Pass::files));
  PrintRate("ingest, files uploaded", "MB/s", file_mb, wall(&Pass::files_uploaded));
  PrintRate("ingest, statements", "entries/s", static_cast<double>(statement_count),
            wall(&Pass::statements));
  const Sides ingest_s =
      Collect(passes, [](const Pass& p) { return p.files.wall_s + p.statements.wall_s; });
  PrintRate("ingest, all", "MB/s", all_mb, ingest_s);
  PrintRate("verify, origin (key)", "MB/s", all_mb, wall(&Pass::verify_origin));
  PrintRate("verify, partner (no key)", "MB/s", all_mb, wall(&Pass::verify_partner));
  PrintRate("sync, partner", "MB/s", all_mb, wall(&Pass::sync));

  std::printf("\n  %-20s %-21s| %-21s| %-21s| %8s %8s %8s\n", "seconds, median",
              "baseline: wall user sys", "clear: wall user sys", "encrypted: wall user sys",
              "clear", "encrypted", "at rest");
  std::printf("  %-20s %-21s  %-21s  %-21s  %s\n", "", "", "", "", "   (costs in user CPU time)");
  auto print_time = [&](const char* what, Timing Pass::*step) {
    PrintTime(what, wall(step), Collect(passes, [step](const Pass& p) { return (p.*step).user_s; }),
              Collect(passes, [step](const Pass& p) { return (p.*step).sys_s; }));
  };
  print_time("ingest, files", &Pass::files);
  print_time("ingest, uploaded", &Pass::files_uploaded);
  print_time("ingest, statements", &Pass::statements);
  print_time("verify, origin", &Pass::verify_origin);
  print_time("verify, partner", &Pass::verify_partner);
  print_time("sync, partner", &Pass::sync);

  const double mib = 1 << 20;
  const Sides data_bytes =
      Collect(passes, [](const Pass& p) { return static_cast<double>(p.data_file_bytes); });
  const Sides partner_bytes =
      Collect(passes, [](const Pass& p) { return static_cast<double>(p.partner_file_bytes); });
  std::printf("\n  data.mdb, origin:  baseline %.1f MiB, clear %.1f MiB, encrypted %.1f MiB\n",
              Median(data_bytes.v[kBaseline]) / mib, Median(data_bytes.v[kClear]) / mib,
              Median(data_bytes.v[kEncrypted]) / mib);
  std::printf("  data.mdb, partner: baseline %.1f MiB, clear %.1f MiB, encrypted %.1f MiB\n",
              Median(partner_bytes.v[kBaseline]) / mib, Median(partner_bytes.v[kClear]) / mib,
              Median(partner_bytes.v[kEncrypted]) / mib);

  const double seal_mbps = MedianOf(floors, &Floors::seal_mbps);
  const double open_mbps = MedianOf(floors, &Floors::open_mbps);
  const double sha_mbps = MedianOf(floors, &Floors::sha256_mbps);
  const double sealer_mbps = MedianOf(floors, &Floors::file_seal_mbps);
  const double opener_mbps = MedianOf(floors, &Floors::chunked_open_mbps);
  std::printf("\nFloors, medians of %d\n", repetitions);
  std::printf("  AES-256-GCM seal (AeadSeal), 1 MiB    %8.0f MB/s\n", seal_mbps);
  std::printf("  AES-256-GCM open (AeadOpen), 1 MiB    %8.0f MB/s\n", open_mbps);
  std::printf("  SHA-256, 1 MiB                        %8.0f MB/s\n", sha_mbps);
  std::printf("  FileSealer (pad, Cobblestone seal, SHA-256 of sealed chunks) %6.0f MB/s\n",
              sealer_mbps);
  std::printf("  ChunkedOpener, 16 KiB chunks          %8.0f MB/s\n", opener_mbps);
  std::printf("  AeadSeal / AeadOpen, 200 bytes        %8.2f / %.2f us per call\n",
              MedianOf(floors, &Floors::seal_small_us), MedianOf(floors, &Floors::open_small_us));
  std::printf("  AeadKey Seal / Open (the store's), 200 B %6.2f / %.2f us per call\n",
              MedianOf(floors, &Floors::key_seal_small_us),
              MedianOf(floors, &Floors::key_open_small_us));
  std::printf("  KeyedHash (HMAC-SHA-256), 200 bytes   %8.2f us per call\n",
              MedianOf(floors, &Floors::keyed_hash_us));
  // Where the bytes go, per content byte: the baseline hashes each byte three times on ingest
  // (chunk id on the way in, chunk id and whole file on append) and twice on verify; format 2
  // hashes it the same three times on ingest and also seals it (FileSealer: AES plus a SHA-256
  // of the sealed chunk), and on the origin's verify hashes each sealed chunk twice (the
  // objects pass, then ReadChunk under the reader), opens it, and hashes the plaintext once.
  std::printf(
      "  From these floors, on the file content alone: baseline ingest %.2f s (3 SHA-256), format 2 "
      "ingest %.2f s (3 SHA-256 + FileSealer);\n  baseline verify %.2f s (2 SHA-256), format 2 "
      "origin verify %.2f s (3 SHA-256 + open), partner verify %.2f s (1 SHA-256)\n",
      3 * all_mb / sha_mbps, 3 * all_mb / sha_mbps + all_mb / sealer_mbps, 2 * all_mb / sha_mbps,
      3 * all_mb / sha_mbps + all_mb / opener_mbps, all_mb / sha_mbps);

  std::printf(
      "\nEach repetition (wall s): ingest files, statements, verify origin, verify partner, sync; "
      "the disk's flushes/s before it\n");
  for (int r = 0; r < repetitions; ++r) {
    std::printf("  %d, %-9s first:", r + 1, SideName(r % kSides));
    for (int side = 0; side < kSides; ++side) {
      const Pass& p = passes[side][r];
      std::printf("  %s %5.2f %5.2f %5.2f %5.2f %5.2f", SideName(side), p.files.wall_s,
                  p.statements.wall_s, p.verify_origin.wall_s, p.verify_partner.wall_s,
                  p.sync.wall_s);
    }
    std::printf("  %6.0f flushes/s\n", flushes[r]);
  }
  std::printf(
      "\nPrepared the evidence (client side, not timed) in %.1f s; the passes and floors took %.1f "
      "s.\n",
      prepare_s, run_s);
  return 0;
}
