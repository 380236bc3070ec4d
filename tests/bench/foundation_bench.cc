// The foundation benchmark: the costs every append pays (Ed25519, SHA-256) and the append itself,
// one entry per transaction and 100 entries per transaction (group commit), on real LMDB in a
// temporary directory. Run by tests/bench/run_foundation_bench.sh, which reports the results as
// ratios against baselines measured on the same machine in the same run (docs/performance.md).
// Never asserted in tests: absolute numbers depend on the machine.
#include <benchmark/benchmark.h>
#include <lmdb.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "khronika/log/log.h"
#include "khronika/log/node.h"
#include "khronika/schemas/crypto.h"
#include "khronika/schemas/objects.h"
#include "khronika/schemas/sealed_objects.h"
#include "khronika/schemas/sealing.h"

namespace khronika {
namespace {

constexpr size_t kSmallFileBytes = 1024;
constexpr size_t kHashBufferBytes = size_t{1} << 20;

[[noreturn]] void Die(const std::string& what, const Status& st) {
  std::fprintf(stderr, "foundation_bench: %s: %s\n", what.c_str(), st.ToString().c_str());
  std::abort();
}

// What an author signs for an entry: the domain prefix and a SHA-256 (60 bytes).
Bytes EntrySizedMessage() {
  Bytes msg(kEntrySignaturePrefix.begin(), kEntrySignaturePrefix.end());
  Bytes payload(4096);
  RandomBytes(payload.data(), payload.size());
  Hash h = Sha256(payload);
  msg.insert(msg.end(), h.begin(), h.end());
  return msg;
}

void BM_Ed25519Sign(benchmark::State& state) {
  SigningKey key = SigningKey::Generate();
  Bytes msg = EntrySizedMessage();
  for (auto _ : state) {
    Signature sig = key.Sign(msg);
    benchmark::DoNotOptimize(sig);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Ed25519Sign);

void BM_Ed25519Verify(benchmark::State& state) {
  SigningKey key = SigningKey::Generate();
  Bytes msg = EntrySizedMessage();
  Signature sig = key.Sign(msg);
  for (auto _ : state) {
    bool ok = VerifySignature(key.public_key(), msg, sig);
    if (!ok) {
      state.SkipWithError("signature did not verify");
      break;
    }
    benchmark::DoNotOptimize(ok);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Ed25519Verify);

void BM_Sha256(benchmark::State& state) {
  Bytes buf(kHashBufferBytes);
  RandomBytes(buf.data(), buf.size());
  for (auto _ : state) {
    Hash h = Sha256(buf);
    benchmark::DoNotOptimize(h);
  }
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(buf.size()));
}
BENCHMARK(BM_Sha256);

// A fresh node with one registered author, in a temporary directory removed on destruction.
class TempNode {
 public:
  TempNode() : author_(SigningKey::Generate()) {
    std::random_device rd;
    uint64_t suffix = (uint64_t{rd()} << 32) | rd();
    char name[64];
    std::snprintf(name, sizeof name, "khronika-bench-%016llx",
                  static_cast<unsigned long long>(suffix));
    dir_ = std::filesystem::temp_directory_path() / name;
    auto node = Node::Init(dir_, "bench");
    if (!node.ok()) Die("init node in " + dir_.string(), node.status());
    node_ = std::move(node).value();
    Status st = RegisterAuthor(node_->store(), author_.public_key(), "bench-author");
    if (!st.ok()) Die("register author", st);
    rng_.seed((uint64_t{rd()} << 32) | rd());
  }
  ~TempNode() {
    node_.reset();  // close LMDB before removing its files
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  TempNode(const TempNode&) = delete;
  TempNode& operator=(const TempNode&) = delete;

  // Stores `count` random 1 KiB files as plaintext upload chunks in one write transaction and
  // returns, for each, a signed submission of one entry naming it: what `khronika add FILE` does,
  // `count` at a time. Log::Append then checks and seals each file and deletes its upload chunk.
  std::vector<Submission> MakeSubmissions(size_t count) {
    std::vector<Bytes> files(count, Bytes(kSmallFileBytes));
    for (Bytes& f : files) {
      for (size_t i = 0; i < f.size(); i += 8) {
        uint64_t r = rng_();
        for (size_t j = 0; j < 8 && i + j < f.size(); ++j) f[i + j] = static_cast<uint8_t>(r >> (8 * j));
      }
    }
    std::vector<Hash> chunk_ids(count);
    Status st = node_->store().Update([&](WriteTxn& txn) -> Status {
      for (size_t i = 0; i < count; ++i) {
        KH_ASSIGN_OR_RETURN(chunk_ids[i], PutUploadChunk(txn, "", files[i]));
      }
      return Status::Ok();
    });
    if (!st.ok()) Die("put upload chunks", st);

    std::vector<Submission> batch(count);
    for (size_t i = 0; i < count; ++i) {
      SubmittedFile file;
      file.opening.descriptor = {"evidence-" + std::to_string(++files_made_) + ".bin",
                                 "application/octet-stream", files[i].size(), Sha256(files[i])};
      RandomBytes(file.opening.salt.data(), file.opening.salt.size());
      file.upload_chunks = {chunk_ids[i]};
      Submission& s = batch[i];
      s.entry.case_id = "bench-case";
      s.entry.kind = "evidence";
      s.entry.created_at_ms = SystemClock().NowMs();
      s.entry.files = {FileCommitment(file.opening.salt, Encode(file.opening.descriptor))};
      s.files = {std::move(file)};
      SignEntry(s.entry, author_);
    }
    return batch;
  }

  Log& log() { return node_->log(); }
  Store& store() { return node_->store(); }

 private:
  std::filesystem::path dir_;
  SigningKey author_;
  std::unique_ptr<Node> node_;
  std::mt19937_64 rng_;
  uint64_t files_made_ = 0;
};

// Each iteration: `batch_size` 1 KiB files uploaded (one write transaction), their entries
// signed, and one Log::Append of the batch (signature, commitments and content checked, each file
// sealed and its sealed chunk written, sealed entry, record, Merkle tree, signed checkpoint, one
// commit).
void AppendEntries(benchmark::State& state, size_t batch_size) {
  TempNode node;
  for (auto _ : state) {
    std::vector<Submission> batch = node.MakeSubmissions(batch_size);
    auto receipts = node.log().Append(batch);
    if (!receipts.ok()) Die("append", receipts.status());
    benchmark::DoNotOptimize(receipts);
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(batch_size));
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(batch_size * kSmallFileBytes));
  state.counters["batch"] = static_cast<double>(batch_size);
}

void BM_AppendEntries_1KiB(benchmark::State& state) { AppendEntries(state, 1); }
// Bound by fsync: wall-clock time is what counts, not the CPU time of this thread.
BENCHMARK(BM_AppendEntries_1KiB)->UseRealTime()->Unit(benchmark::kMicrosecond)->MinTime(3.0);

void BM_AppendBatch_1KiB(benchmark::State& state) { AppendEntries(state, 100); }
BENCHMARK(BM_AppendBatch_1KiB)->UseRealTime()->Unit(benchmark::kMillisecond)->MinTime(3.0);

// ---- 1 MiB values: LMDB alone, and a local `add`'s sealing from the source ----

constexpr size_t kValueBytes = size_t{1} << 20;
constexpr size_t kValuesPerTxn = 8;  // as the log writes sealed chunks: 8 MiB a transaction

std::filesystem::path FreshDir(const char* what) {
  std::random_device rd;
  char name[80];
  std::snprintf(name, sizeof name, "khronika-bench-%s-%08x%08x", what, rd(), rd());
  std::filesystem::path dir = std::filesystem::temp_directory_path() / name;
  std::filesystem::create_directories(dir);
  return dir;
}

// The disk's ceiling for ingest, measured as the log would use it: LMDB alone (no khronika
// code), 1 MiB values under sequential 8-byte keys, 8 to a transaction, each commit synchronous
// (LMDB's defaults, as the store opens it). A local `add` of a large file writes exactly this.
void BM_LmdbSequentialWrite_1MiB(benchmark::State& state) {
  std::filesystem::path dir = FreshDir("lmdb");
  MDB_env* env = nullptr;
  auto check = [&](int rc, const char* what) {
    if (rc != 0) Die(what, Status::IOError(mdb_strerror(rc)));
  };
  check(mdb_env_create(&env), "mdb_env_create");
  check(mdb_env_set_mapsize(env, size_t{64} << 30), "mdb_env_set_mapsize");
  check(mdb_env_open(env, dir.c_str(), 0, 0600), "mdb_env_open");
  MDB_dbi dbi;
  {
    MDB_txn* txn = nullptr;
    check(mdb_txn_begin(env, nullptr, 0, &txn), "mdb_txn_begin");
    check(mdb_dbi_open(txn, nullptr, 0, &dbi), "mdb_dbi_open");
    check(mdb_txn_commit(txn), "mdb_txn_commit");
  }
  Bytes value(kValueBytes);
  RandomBytes(value.data(), value.size());
  uint64_t next = 0;
  for (auto _ : state) {
    MDB_txn* txn = nullptr;
    check(mdb_txn_begin(env, nullptr, 0, &txn), "mdb_txn_begin");
    for (size_t i = 0; i < kValuesPerTxn; ++i, ++next) {
      uint8_t key_bytes[8];
      for (int b = 0; b < 8; ++b) key_bytes[b] = static_cast<uint8_t>(next >> (56 - 8 * b));
      value[0] = static_cast<uint8_t>(next);
      MDB_val key{sizeof key_bytes, key_bytes};
      MDB_val val{value.size(), value.data()};
      check(mdb_put(txn, dbi, &key, &val, 0), "mdb_put");
    }
    check(mdb_txn_commit(txn), "mdb_txn_commit");
  }
  mdb_env_close(env);
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(kValuesPerTxn * kValueBytes));
}
BENCHMARK(BM_LmdbSequentialWrite_1MiB)->UseRealTime()->Unit(benchmark::kMillisecond)->MinTime(3.0);

// What `khronika add` does with a file, in the library: 64 MiB sealed straight from memory
// (content hashed once, sealed once, sealed chunks hashed for their ids and written 8 MiB a
// transaction by the writer thread), signed, checked and appended. Against
// BM_LmdbSequentialWrite_1MiB: the share of the disk's rate that ingest reaches.
void BM_AddFromSource_64MiB(benchmark::State& state) {
  TempNode node;
  SigningKey author = SigningKey::Generate();
  Status st = RegisterAuthor(node.store(), author.public_key(), "bench-sealer");
  if (!st.ok()) Die("register author", st);
  Bytes content(size_t{64} << 20);
  RandomBytes(content.data(), content.size());
  uint64_t n = 0;
  for (auto _ : state) {
    content[0] = static_cast<uint8_t>(++n);
    LocalSealing sealing = node.log().BeginLocal("bench-case");
    size_t at = 0;
    st = node.log().SealLocalFile(sealing, content.size(), [&](uint8_t* buf, size_t max) {
      size_t k = std::min(max, content.size() - at);
      std::memcpy(buf, content.data() + at, k);
      at += k;
      return Result<size_t>(k);
    });
    if (!st.ok()) Die("seal", st);
    Submission s;
    SubmittedFile f;
    f.opening.descriptor = {"video-" + std::to_string(n) + ".mp4", "video/mp4", content.size(),
                            sealing.files()[0].content_sha256};
    RandomBytes(f.opening.salt.data(), f.opening.salt.size());
    s.entry.case_id = "bench-case";
    s.entry.kind = "evidence";
    s.entry.created_at_ms = SystemClock().NowMs();
    s.entry.files = {FileCommitment(f.opening.salt, Encode(f.opening.descriptor))};
    s.files = {std::move(f)};
    SignEntry(s.entry, author);
    auto checked = node.log().CheckLocal(std::move(s), std::move(sealing));
    if (!checked.ok()) Die("check", checked.status());
    std::vector<CheckedSubmission> batch;
    batch.push_back(std::move(*checked));
    auto receipts = node.log().AppendChecked(batch);
    if (!receipts[0].ok()) Die("append", receipts[0].status());
  }
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(content.size()));
}
BENCHMARK(BM_AddFromSource_64MiB)->UseRealTime()->Unit(benchmark::kMillisecond)->MinTime(3.0);

}  // namespace
}  // namespace khronika

BENCHMARK_MAIN();
