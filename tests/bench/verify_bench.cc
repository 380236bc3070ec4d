// Full `verify` of many small entries against the machine's Ed25519 verify rate, in one run
// (docs/performance.md, "Verify benchmark"). Fills a fresh node with N entries of one 1 KiB file
// each through Log::Append, 1,000 to an append (untimed), then times VerifyStore with the
// archive key (every entry opened, its author signature and every plaintext byte checked) and
// without it (what a partner checks), beside Ed25519 verifies on one thread and on every core.
// Usage: verify_bench [ENTRIES [REPETITIONS]]   (100000 3). Asserts nothing: numbers vary.
#include <openssl/crypto.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "khronika/log/log.h"
#include "khronika/log/node.h"
#include "khronika/log/verify.h"
#include "khronika/log/worker_pool.h"
#include "khronika/schemas/crypto.h"
#include "khronika/schemas/sealed_objects.h"

namespace khronika {
namespace {

using Steady = std::chrono::steady_clock;

[[noreturn]] void Die(const std::string& what, const Status& st) {
  std::fprintf(stderr, "verify_bench: %s: %s\n", what.c_str(), st.ToString().c_str());
  std::exit(1);
}

double Seconds(Steady::time_point since) {
  return std::chrono::duration<double>(Steady::now() - since).count();
}

// Ed25519 verifies per second on `threads` threads at once, each on its own signatures.
double Ed25519Rate(size_t threads) {
  constexpr int kPerThread = 4000;
  SigningKey key = SigningKey::Generate();
  std::vector<SignatureCheck> checks(kPerThread);
  for (int i = 0; i < kPerThread; ++i) {
    const std::string text = "khronika entry signature v2 " + std::to_string(i);
    checks[i].key = key.public_key();
    checks[i].message.assign(text.begin(), text.end());
    checks[i].signature = key.Sign(checks[i].message);
  }
  std::vector<std::thread> pool;
  auto start = Steady::now();
  for (size_t t = 0; t < threads; ++t) {
    pool.emplace_back([&] {
      for (const SignatureCheck& c : checks) {
        if (!c.Verify()) std::abort();
      }
    });
  }
  for (std::thread& t : pool) t.join();
  return static_cast<double>(threads * kPerThread) / Seconds(start);
}

}  // namespace
}  // namespace khronika

int main(int argc, char** argv) {
  using namespace khronika;
  const size_t entries = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 100000;
  const int repetitions = argc > 2 ? std::atoi(argv[2]) : 3;
  const size_t cores = std::thread::hardware_concurrency();
  std::random_device rd;
  const auto dir = std::filesystem::temp_directory_path() /
                   ("khronika-verify-bench-" + std::to_string(rd()) + std::to_string(rd()));
  auto node_or = Node::Init(dir, "bench");
  if (!node_or.ok()) Die("init", node_or.status());
  std::unique_ptr<Node> node = std::move(*node_or);
  SigningKey author = SigningKey::Generate();
  if (Status st = RegisterAuthor(node->store(), author.public_key(), "bench"); !st.ok()) {
    Die("register author", st);
  }
  std::mt19937_64 rng(rd());
  auto fill_start = Steady::now();
  for (size_t done = 0; done < entries;) {
    const size_t n = std::min<size_t>(1000, entries - done);
    std::vector<Submission> batch(n);
    std::vector<Bytes> files(n, Bytes(1024));
    Status st = node->store().Update([&](WriteTxn& txn) -> Status {
      for (size_t i = 0; i < n; ++i) {
        for (uint8_t& b : files[i]) b = static_cast<uint8_t>(rng());
        SubmittedFile f;
        f.opening.descriptor = {"f" + std::to_string(done + i), "application/octet-stream",
                                files[i].size(), Sha256(files[i])};
        RandomBytes(f.opening.salt.data(), f.opening.salt.size());
        KH_ASSIGN_OR_RETURN(Hash id, PutUploadChunk(txn, "", files[i]));
        f.upload_chunks = {id};
        batch[i].entry.case_id = "case-" + std::to_string((done + i) % 16);
        batch[i].entry.kind = "evidence";
        batch[i].entry.created_at_ms = 1767225600000;
        batch[i].entry.files = {FileCommitment(f.opening.salt, Encode(f.opening.descriptor))};
        SignEntry(batch[i].entry, author);
        batch[i].files = {std::move(f)};
      }
      return Status::Ok();
    });
    if (!st.ok()) Die("upload", st);
    auto receipts = node->log().Append(batch);
    if (!receipts.ok()) Die("append", receipts.status());
    done += n;
  }
  std::printf("Khronika verify benchmark: %zu entries of one 1 KiB file, %zu cores, %s\n", entries,
              cores, OpenSSL_version(OPENSSL_VERSION));
  std::printf("filled in %.1f s (not timed below); worker pool: %zu threads + the caller\n",
              Seconds(fill_start), WorkerPool::DefaultThreads());
  VerifyOptions with_key{&node->archive_key(), node->id()};
  for (int r = 0; r < repetitions; ++r) {
    const double one = Ed25519Rate(1), all = Ed25519Rate(cores);
    auto start = Steady::now();
    auto report = VerifyStore(node->store(), with_key);
    const double keyed = Seconds(start);
    if (!report.ok() || !report->clean() || report->entries_opened != entries) {
      Die("verify with the archive key",
          report.ok() ? Status::Corruption("not clean") : report.status());
    }
    start = Steady::now();
    auto partner = VerifyStore(node->store());
    const double keyless = Seconds(start);
    if (!partner.ok() || !partner->clean()) Die("verify without a key", partner.status());
    const double rate = static_cast<double>(entries) / keyed;
    std::printf("run %d: Ed25519 verify 1 thread %.0f/s, %zu threads %.0f/s | verify with the key "
                "%.2f s = %.0f entries/s (%.3f of %zu cores' Ed25519, %.3f of one) | without a "
                "key %.2f s = %.0f entries/s\n",
                r + 1, one, cores, all, keyed, rate, rate / all, cores, rate / one, keyless,
                static_cast<double>(entries) / keyless);
    std::fflush(stdout);
  }
  node.reset();
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  return 0;
}
