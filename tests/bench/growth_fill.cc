// Fills an existing node's log with small random files through the Log API, in large batches,
// for the growth benchmark (tests/bench/growth_bench.sh) and the table's verify row
// (tests/bench/table.sh): what `khronika add FILE` does for one file (plaintext upload chunks,
// a salted commitment of the descriptor, the author's signature, Log::Check, the append), done
// for BATCH files at a time in one process. Check (signature, commitments, content, sealing)
// runs on THREADS threads, outside the writer lock, as the server does; each batch is one
// AppendChecked, so one transaction and one signed checkpoint. A benchmark, not a test: it
// counts, and fails on any error.
//
//   growth_fill --data DIR --author KEY.pem --case ID --to N
//               [--batch 1000] [--threads 2] [--size 1024]
//
// DIR is a node made by `khronika init` (encrypted or not: an encrypted one is opened with the
// key file it was sealed with, where it was) with KEY.pem's public key registered as an author
// (`khronika author add`); nothing may hold the store open meanwhile (`khronika serve` stopped).
// Appends until the node's log holds N records, then prints one line of key=value figures:
// entries appended, wall seconds, entries/s, batches, the log's size, and this process's CPU.
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <future>
#include <iostream>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "bench_args.h"
#include "khronika/log/log.h"
#include "khronika/log/node.h"
#include "khronika/schemas/crypto.h"
#include "khronika/schemas/objects.h"
#include "khronika/schemas/sealed_objects.h"
#include "khronika/schemas/sealing.h"
#include "khronika/store/files.h"

namespace khronika {
namespace {

using Clock = std::chrono::steady_clock;

struct Options {
  std::filesystem::path data;
  std::string key_pem;
  std::string case_id;
  uint64_t to = 0;
  size_t batch = 1000;
  int threads = 2;
  size_t size = 1024;
};

[[noreturn]] void Usage(const std::string& why) {
  std::cerr << "growth_fill: " << why << "\n"
            << "usage: growth_fill --data DIR --author KEY.pem --case ID --to N\n"
            << "                   [--batch 1000] [--threads 2] [--size 1024]\n";
  std::exit(2);
}

[[noreturn]] void Die(const std::string& what, const Status& st) {
  std::cerr << "growth_fill: " << what << ": " << st.ToString() << "\n";
  std::exit(1);
}

Options ParseArgs(int argc, char** argv) {
  bench::BenchArgs a(argc, argv, Usage);
  auto need = [&](const char* k) { return a.need(k); };
  Options o;
  o.data = need("data");
  auto pem = ReadSmallFile(need("author"), 16 * 1024);
  if (!pem.ok()) Usage("--author: " + pem.status().ToString());
  o.key_pem = *pem;
  o.case_id = need("case");
  try {
    o.to = std::stoull(need("to"));
    if (a.has("batch")) o.batch = std::stoul(a.need("batch"));
    if (a.has("threads")) o.threads = std::stoi(a.need("threads"));
    if (a.has("size")) o.size = std::stoul(a.need("size"));
  } catch (const std::exception&) {
    Usage("a number is not a number");
  }
  if (o.batch < 1 || o.batch > 100000 || o.threads < 1 || o.threads > 64 || o.size < 1 ||
      o.size > kChunkSize) {
    Usage("bad numbers");
  }
  return o;
}

// The author's side of one file: random content and a signed submission naming its upload
// chunk (stored by the caller).
struct Prepared {
  Bytes content;
  Submission submission;
};

Prepared Prepare(const Options& o, const SigningKey& author, std::mt19937_64& rng, uint64_t n) {
  Prepared p;
  p.content.resize(o.size);
  for (size_t i = 0; i < p.content.size(); i += 8) {
    uint64_t r = rng();
    for (size_t j = 0; j < 8 && i + j < p.content.size(); ++j) {
      p.content[i + j] = static_cast<uint8_t>(r >> (8 * j));
    }
  }
  SubmittedFile file;
  file.opening.descriptor = {"growth-" + std::to_string(n) + ".bin", "application/octet-stream",
                             p.content.size(), Sha256(p.content)};
  RandomBytes(file.opening.salt.data(), file.opening.salt.size());
  file.upload_chunks = {ChunkId(p.content)};
  Submission& s = p.submission;
  s.entry.case_id = o.case_id;
  s.entry.kind = "evidence";
  s.entry.created_at_ms = SystemClock().NowMs();
  s.entry.files = {FileCommitment(file.opening.salt, Encode(file.opening.descriptor))};
  s.files = {std::move(file)};
  SignEntry(s.entry, author);
  return p;
}

// Runs fn(i) for i in [0, n) on `threads` threads.
template <typename Fn>
void ParallelFor(size_t n, int threads, const Fn& fn) {
  std::vector<std::thread> pool;
  size_t per = (n + static_cast<size_t>(threads) - 1) / static_cast<size_t>(threads);
  for (size_t start = 0; start < n; start += per) {
    pool.emplace_back([&, start] {
      for (size_t i = start; i < std::min(n, start + per); ++i) fn(i);
    });
  }
  for (std::thread& t : pool) t.join();
}

int Main(int argc, char** argv) {
  Options o = ParseArgs(argc, argv);
  auto author = SigningKey::FromPem(o.key_pem);
  if (!author.ok()) Die("--author", author.status());
  auto node = Node::Open(o.data);
  if (!node.ok()) Die("open " + o.data.string(), node.status());
  Log& log = (*node)->log();
  Store& store = (*node)->store();
  auto size = log.Size();
  if (!size.ok()) Die("log size", size.status());
  if (*size > o.to) Die("fill", Status::InvalidArgument("the log already holds more records"));

  std::vector<std::mt19937_64> rngs;
  for (int t = 0; t < o.threads; ++t) {
    uint64_t seed = 0;
    RandomBytes(reinterpret_cast<uint8_t*>(&seed), sizeof seed);
    rngs.emplace_back(seed);
  }
  rusage ru0{}, ru1{};
  getrusage(RUSAGE_SELF, &ru0);
  Clock::time_point start = Clock::now();
  uint64_t appended = 0, batches = 0, held = *size;
  while (held < o.to) {
    size_t count = static_cast<size_t>(std::min<uint64_t>(o.batch, o.to - held));
    std::vector<Prepared> prepared(count);
    size_t per = (count + static_cast<size_t>(o.threads) - 1) / static_cast<size_t>(o.threads);
    ParallelFor(count, o.threads, [&](size_t i) {
      prepared[i] = Prepare(o, *author, rngs[i / per], held + i);
    });
    Status st = store.Update([&](WriteTxn& txn) -> Status {
      for (const Prepared& p : prepared) {
        KH_ASSIGN_OR_RETURN(Hash id, PutUploadChunk(txn, "", p.content));
        if (id != p.submission.files[0].upload_chunks[0]) {
          return Status::Corruption("upload chunk id differs from the chunk's SHA-256");
        }
      }
      return Status::Ok();
    });
    if (!st.ok()) Die("put upload chunks", st);
    std::vector<std::optional<CheckedSubmission>> checked(count);
    std::vector<Status> errors(count, Status::Ok());
    ParallelFor(count, o.threads, [&](size_t i) {
      auto c = log.Check(std::move(prepared[i].submission));
      if (c.ok()) {
        checked[i].emplace(std::move(c).value());
      } else {
        errors[i] = c.status();
      }
    });
    for (const Status& e : errors) {
      if (!e.ok()) Die("check", e);
    }
    std::vector<CheckedSubmission> ready;
    ready.reserve(count);
    for (auto& c : checked) ready.push_back(std::move(*c));
    std::vector<Result<Receipt>> receipts = log.AppendChecked(ready);
    for (const Result<Receipt>& r : receipts) {
      if (!r.ok()) Die("append", r.status());
    }
    appended += count;
    held += count;
    ++batches;
  }
  Clock::time_point end = Clock::now();
  getrusage(RUSAGE_SELF, &ru1);
  auto cpu = [](const rusage& r) {
    return static_cast<double>(r.ru_utime.tv_sec + r.ru_stime.tv_sec) +
           static_cast<double>(r.ru_utime.tv_usec + r.ru_stime.tv_usec) / 1e6;
  };
  auto final_size = log.Size();
  if (!final_size.ok()) Die("log size", final_size.status());
  if (*final_size != o.to) Die("fill", Status::Corruption("the log does not hold --to records"));
  double secs = std::chrono::duration<double>(end - start).count();
  std::printf("entries=%llu seconds=%.3f rate=%.1f batches=%llu size=%llu cpu_s=%.2f\n",
              static_cast<unsigned long long>(appended), secs,
              secs > 0 ? static_cast<double>(appended) / secs : 0.0,
              static_cast<unsigned long long>(batches),
              static_cast<unsigned long long>(*final_size), cpu(ru1) - cpu(ru0));
  return 0;
}

}  // namespace
}  // namespace khronika

int main(int argc, char** argv) { return khronika::Main(argc, argv); }
