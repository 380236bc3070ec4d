// The foundation benchmark: the costs every append pays (Ed25519, SHA-256) and the append itself,
// one entry per transaction and 100 entries per transaction (group commit), on real LMDB in a
// temporary directory. Run by tests/bench/run_foundation_bench.sh, which reports the results as
// ratios against baselines measured on the same machine in the same run (docs/performance.md).
// Never asserted in tests: absolute numbers depend on the machine.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
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

}  // namespace
}  // namespace khronika

BENCHMARK_MAIN();
