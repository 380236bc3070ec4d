// The encryption-at-rest benchmark (docs/performance.md, "Encryption at rest"): the same evidence
// is ingested into, then verified in, a node in clear and an encrypted node (StoreOptions::data_key
// via a keyring locked with a key file), each in a fresh directory on the same file system, and
// the encrypted figures are reported as ratios to the clear ones measured in the same run:
//   ingest, files       N files of 2.5 MiB (three chunks, the last one partial), as `khronika add`
//                       stores them: the file's chunks in one write transaction, then Log::Append
//                       of its entry alone (signature checked, content re-read and hashed, record,
//                       tree, checkpoint)
//   ingest, statements  M short statement files, 100 to a transaction as group commit makes them:
//                       their chunks in one transaction, then one Log::Append of the 100 entries
//   verify              VerifyStore of the whole store (every chunk, object, record, tree node
//                       and checkpoint re-read and re-checked)
// Each of R repetitions (best even) runs clear and encrypted back to back, alternating which goes
// first, so that page-cache warmup, disk noise and other jobs on the machine fall on both sides;
// rates are medians, costs the median of each repetition's paired cost. CPU time is reported beside
// wall time, since on a shared disk the flushes can hide (or swamp) what encryption costs. Beside
// them, as floors: AES-256-GCM seal and open (AeadSeal, AeadOpen) and SHA-256 of 1 MiB values, the
// AEAD and HMAC-SHA-256 (index keys) of 200-byte values, and the disk's flush rate before each
// repetition. What a client does (hashing its files, signing entries) is prepared before timing.
// Asserts nothing; exits non-zero only if the benchmark itself fails.
//   encryption_bench [FILES [STATEMENTS [REPETITIONS]]]   (defaults 200, 2000, 4)
#include <fcntl.h>
#include <openssl/crypto.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "khronika/log/keyring.h"
#include "khronika/log/log.h"
#include "khronika/log/node.h"
#include "khronika/log/verify.h"
#include "khronika/schemas/crypto.h"
#include "khronika/schemas/objects.h"
#include "khronika/schemas/seal.h"
#include "khronika/schemas/sealed_objects.h"

namespace {

using namespace khronika;
namespace fs = std::filesystem;

// A phone photo or a short recording: two full chunks and a partial last one, so that both
// the full-chunk path and the short tail are measured.
constexpr size_t kFileBytes = 2 * kChunkSize + kChunkSize / 2;
constexpr size_t kStatementsPerTransaction = 100;
constexpr int64_t kCreatedAtMs = 1767225600000;  // 2026-01-01
constexpr double kMB = 1e6;

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
// time is time spent waiting, mostly on the disk's flushes. Encryption is user time; system time
// (copying pages to the kernel, flushing) moves with the state of a shared disk.
struct Timing {
  double wall_s = 0;
  double user_s = 0;
  double sys_s = 0;
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

// The evidence both nodes receive. Every file is one shared random buffer with the file's and the
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

// What the client computes before it submits: chunk ids, the content hash, the manifest, the
// signed entry.
Submission MakeSubmission(ByteView content, FileManifest manifest, const std::string& case_id,
                          uint64_t number, const SigningKey& author) {
  manifest.size = content.size();
  manifest.content_sha256 = Sha256(content);
  for (size_t at = 0; at < content.size(); at += kChunkSize) {
    manifest.chunks.push_back(
        ChunkId(content.subspan(at, std::min(kChunkSize, content.size() - at))));
  }
  Submission s;
  s.entry.case_id = case_id;
  s.entry.kind = "evidence";
  s.entry.created_at_ms = kCreatedAtMs + static_cast<int64_t>(number);
  s.entry.manifests = {ObjectId(Encode(manifest))};
  s.entry.metadata = {{"exhibit", std::to_string(number)}};
  SignEntry(s.entry, author);
  s.manifests = {std::move(manifest)};
  return s;
}

Evidence PrepareEvidence(uint64_t file_count, uint64_t statement_count, const SigningKey& author) {
  Evidence ev;
  ev.file_content.resize(kFileBytes);
  RandomBytes(ev.file_content.data(), ev.file_content.size());
  for (uint64_t i = 0; i < file_count; ++i) {
    ev.StampFile(i);
    ev.files.push_back(MakeSubmission(
        ev.file_content, {"photo-" + std::to_string(i) + ".jpg", "image/jpeg", 0, {}, {}},
        "case-" + std::to_string(i % 10), i, author));
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
    ev.statement_batches.back().push_back(MakeSubmission(
        AsBytes(text), {"statement-" + std::to_string(number) + ".txt", "text/plain", 0, {}, {}},
        "case-" + std::to_string(i % 10), number, author));
    ev.statement_bytes += text.size();
    ev.statements.push_back(std::move(text));
  }
  return ev;
}

// One node's pass over the evidence: its timings and what it left on disk.
struct Pass {
  Timing files, statements, verify;
  uint64_t data_file_bytes = 0;  // DIR/store/data.mdb
  uint64_t values = 0;           // entries in all tables
};

Status IngestFiles(Node& node, Evidence& ev) {
  for (uint64_t i = 0; i < ev.files.size(); ++i) {
    ev.StampFile(i);
    const ByteView content(ev.file_content);
    KH_RETURN_IF_ERROR(node.store().Update([&](WriteTxn& txn) -> Status {
      for (size_t at = 0; at < content.size(); at += kChunkSize) {
        KH_RETURN_IF_ERROR(
            PutChunk(txn, content.subspan(at, std::min(kChunkSize, content.size() - at))).status());
      }
      return Status::Ok();
    }));
    KH_RETURN_IF_ERROR(node.log().Append({ev.files[i]}).status());
  }
  return Status::Ok();
}

Status IngestStatements(Node& node, const Evidence& ev) {
  size_t next = 0;
  for (const std::vector<Submission>& batch : ev.statement_batches) {
    KH_RETURN_IF_ERROR(node.store().Update([&](WriteTxn& txn) -> Status {
      for (size_t i = 0; i < batch.size(); ++i) {
        KH_RETURN_IF_ERROR(PutChunk(txn, AsBytes(ev.statements[next + i])).status());
      }
      return Status::Ok();
    }));
    KH_RETURN_IF_ERROR(node.log().Append(batch).status());
    next += batch.size();
  }
  return Status::Ok();
}

Result<Pass> RunPass(const fs::path& work, bool encrypted, Evidence& ev, const SigningKey& author) {
  const fs::path dir = work / (encrypted ? "encrypted" : "clear");
  std::unique_ptr<Node> node;
  if (encrypted) {
    // The key file lives beside the node, not in it, as an operator would keep it off the data
    // directory; here both are on the same file system so that only the encryption differs.
    const fs::path key_file = work / "data.key";
    KH_RETURN_IF_ERROR(CreateKeyFile(key_file));
    Unlock unlock;
    unlock.key_file = key_file;
    NodeInitOptions options;
    options.seal_with = std::move(unlock);
    KH_ASSIGN_OR_RETURN(node, Node::Init(dir, "bench", std::move(options)));
  } else {
    KH_ASSIGN_OR_RETURN(node, Node::Init(dir, "bench"));
  }
  if (node->encrypted() != encrypted) {
    return Status::InvalidArgument(std::string("the node's store is ") +
                                   (encrypted ? "in clear" : "encrypted"));
  }
  KH_RETURN_IF_ERROR(RegisterAuthor(node->store(), author.public_key(), "Bench Author"));

  Pass pass;
  KH_ASSIGN_OR_RETURN(pass.files, Time([&] { return IngestFiles(*node, ev); }));
  KH_ASSIGN_OR_RETURN(pass.statements, Time([&] { return IngestStatements(*node, ev); }));
  VerifyReport report;
  KH_ASSIGN_OR_RETURN(pass.verify, Time([&]() -> Status {
                        KH_ASSIGN_OR_RETURN(report, VerifyStore(node->store()));
                        return Status::Ok();
                      }));
  if (!report.clean() || report.records != ev.entries()) {
    std::string problems = report.problems.empty() ? "" : ": " + report.problems.front();
    return Status::Corruption("verify found " + std::to_string(report.records) + " records, " +
                              std::to_string(report.problems.size()) + " problems" + problems);
  }
  KH_RETURN_IF_ERROR(node->store().View([&](ReadTxn& txn) -> Status {
    for (int t = 0; t < kTableCount; ++t) {
      KH_ASSIGN_OR_RETURN(uint64_t n, txn.Count(static_cast<Table>(t)));
      pass.values += n;
    }
    return Status::Ok();
  }));
  node.reset();
  pass.data_file_bytes = fs::file_size(Node::StorePath(dir) / "data.mdb");
  fs::remove_all(dir);
  fs::remove(work / "data.key");
  // Let the file system finish with the deleted store before the next pass is timed.
  ::sync();
  return pass;
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
  // Format 2 (docs/format-2.md): sealing a file as the origin will (Cobblestone-256, padding and
  // SHA-256 of each 1 MiB sealed chunk), and opening its 16 KiB chunks, beside the SHA-256 pass
  // a node makes over clear content today.
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

// One figure of every repetition, on both sides. Clear and encrypted of the same repetition ran
// back to back and met about the same disk, while the disk's flush rate moves by an order of
// magnitude between repetitions when other jobs write; so the cost is the median of the paired
// costs, and only the rates are medians of each side alone.
struct Paired {
  std::vector<double> clear, encrypted;

  double CostPercent() const {
    std::vector<double> costs;
    for (size_t i = 0; i < clear.size(); ++i) costs.push_back((encrypted[i] / clear[i] - 1) * 100);
    return Median(costs);
  }
};

Paired Collect(const std::vector<Pass> (&passes)[2],
               const std::function<double(const Pass&)>& field) {
  Paired p;
  for (const Pass& pass : passes[0]) p.clear.push_back(field(pass));
  for (const Pass& pass : passes[1]) p.encrypted.push_back(field(pass));
  return p;
}

// `amount` done in `seconds` on each side: the median rates and the cost in time.
void PrintRate(const char* what, const char* unit, double amount, const Paired& seconds) {
  double clear = amount / Median(seconds.clear), encrypted = amount / Median(seconds.encrypted);
  double cost = seconds.CostPercent();
  std::printf("  %-32s %-9s %11.1f %11.1f %8.3f %+8.1f%%\n", what, unit, clear, encrypted,
              1 / (1 + cost / 100), cost);
}

void PrintTime(const char* what, const Paired& wall, const Paired& user, const Paired& sys) {
  std::printf("  %-24s %6.2f %6.2f %6.2f   %6.2f %6.2f %6.2f   %+7.1f%% %+7.1f%%\n", what,
              Median(wall.clear), Median(user.clear), Median(sys.clear), Median(wall.encrypted),
              Median(user.encrypted), Median(sys.encrypted), wall.CostPercent(),
              user.CostPercent());
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

  std::vector<Pass> passes[2];  // [0] clear, [1] encrypted
  std::vector<Floors> floors;
  std::vector<double> flushes;
  auto run_start = std::chrono::steady_clock::now();
  // The floors come first, then one untimed pass on each side, then the timed passes back to
  // back. In trial runs a pass that started a second or two after the last store was deleted (the
  // process's first, or one right after the floors) was slower than its partner by 0.4 to 0.9 s
  // of 1.5 s, all of it system time: on this VM, free page reporting (virtio-balloon) returns
  // freed memory to the host, and the next pass faults it back in. The passes reuse each
  // other's memory only if nothing long runs between them.
  for (int r = 0; r < repetitions; ++r) floors.push_back(MeasureFloors());
  for (bool encrypted : {false, true})
    Check(RunPass(work, encrypted, ev, author).status(), "warm-up pass");
  for (int r = 0; r < repetitions; ++r) {
    flushes.push_back(FlushesPerSecond(work));
    // Alternate which side goes first, so that neither always inherits the other's dirty pages.
    for (bool encrypted : {r % 2 == 1, r % 2 == 0}) {
      auto pass = RunPass(work, encrypted, ev, author);
      Check(pass.status(), encrypted ? "encrypted node" : "clear node");
      passes[encrypted].push_back(*pass);
    }
  }
  const double run_s = SecondsSince(run_start);
  fs::remove_all(work);

  const Paired files_s = Collect(passes, [](const Pass& p) { return p.files.wall_s; });
  const Paired statements_s = Collect(passes, [](const Pass& p) { return p.statements.wall_s; });
  const Paired ingest_s =
      Collect(passes, [](const Pass& p) { return p.files.wall_s + p.statements.wall_s; });
  const Paired verify_s = Collect(passes, [](const Pass& p) { return p.verify.wall_s; });
  const double file_mb = static_cast<double>(ev.file_bytes) / kMB;
  const double all_mb = static_cast<double>(ev.file_bytes + ev.statement_bytes) / kMB;

  std::printf("Khronika encryption-at-rest benchmark\n");
  std::printf(
      "evidence: %llu files of %.1f MiB (%llu chunks each, one entry per append), %llu statements "
      "of "
      "%.0f bytes (%zu per append)\n",
      static_cast<unsigned long long>(file_count), static_cast<double>(kFileBytes) / (1 << 20),
      static_cast<unsigned long long>(ChunkCount(kFileBytes)),
      static_cast<unsigned long long>(statement_count),
      static_cast<double>(ev.statement_bytes) / static_cast<double>(statement_count),
      kStatementsPerTransaction);
  std::printf("machine: %ld cores, %s; %s; work dir %s\n", ::sysconf(_SC_NPROCESSORS_ONLN),
              CpuModel().c_str(), OpenSSL_version(OPENSSL_VERSION), work.c_str());
  std::printf(
      "%d repetitions, clear and encrypted back to back in each, alternating which goes first.\n"
      "MB = 10^6 bytes of file content. Rates: medians of each side. cost: the median over the\n"
      "repetitions of encrypted time / clear time - 1; ratio = 1 / (1 + cost).\n\n",
      repetitions);

  std::printf("  %-32s %-9s %11s %11s %8s %9s\n", "", "", "clear", "encrypted", "ratio", "cost");
  PrintRate("ingest, files", "MB/s", file_mb, files_s);
  PrintRate("ingest, files", "entries/s", static_cast<double>(file_count), files_s);
  PrintRate("ingest, statements", "entries/s", static_cast<double>(statement_count), statements_s);
  PrintRate("ingest, all", "MB/s", all_mb, ingest_s);
  PrintRate("ingest, all", "entries/s", static_cast<double>(ev.entries()), ingest_s);
  PrintRate("verify (VerifyStore)", "MB/s", all_mb, verify_s);

  // User CPU time does not wait on the disk, so its cost is what encryption costs wherever the
  // disk is not the bottleneck.
  std::printf("\n  %-24s %20s   %20s   %8s %8s\n", "seconds, median", "clear: wall user sys",
              "encrypted: wall user sys", "cost", "user");
  auto print_time = [&](const char* what, const std::function<const Timing&(const Pass&)>& step) {
    PrintTime(what, Collect(passes, [&](const Pass& p) { return step(p).wall_s; }),
              Collect(passes, [&](const Pass& p) { return step(p).user_s; }),
              Collect(passes, [&](const Pass& p) { return step(p).sys_s; }));
  };
  print_time("ingest, files", [](const Pass& p) -> const Timing& { return p.files; });
  print_time("ingest, statements", [](const Pass& p) -> const Timing& { return p.statements; });
  print_time("verify", [](const Pass& p) -> const Timing& { return p.verify; });

  const double mib = 1 << 20;
  const Paired data_bytes =
      Collect(passes, [](const Pass& p) { return static_cast<double>(p.data_file_bytes); });
  const double values = Median(
      Collect(passes, [](const Pass& p) { return static_cast<double>(p.values); }).encrypted);
  std::printf(
      "\n  data.mdb: clear %.1f MiB, encrypted %.1f MiB (+%.2f MiB; %.0f values, at 28 bytes each "
      "%.2f MiB "
      "before LMDB's page rounding)\n",
      Median(data_bytes.clear) / mib, Median(data_bytes.encrypted) / mib,
      (Median(data_bytes.encrypted) - Median(data_bytes.clear)) / mib, values,
      values * kAeadOverhead / mib);

  const double seal_mbps = MedianOf(floors, &Floors::seal_mbps);
  const double open_mbps = MedianOf(floors, &Floors::open_mbps);
  std::printf("\nFloors, medians of %d\n", repetitions);
  std::printf("  AES-256-GCM seal (AeadSeal), 1 MiB    %8.0f MB/s\n", seal_mbps);
  std::printf("  AES-256-GCM open (AeadOpen), 1 MiB    %8.0f MB/s\n", open_mbps);
  std::printf("  SHA-256, 1 MiB                        %8.0f MB/s\n",
              MedianOf(floors, &Floors::sha256_mbps));
  std::printf("  Format 2 FileSealer (seal, pad, SHA-256 of sealed chunks) %6.0f MB/s\n",
              MedianOf(floors, &Floors::file_seal_mbps));
  std::printf("  Format 2 open of 16 KiB chunks        %8.0f MB/s\n",
              MedianOf(floors, &Floors::chunked_open_mbps));
  std::printf("  AeadSeal / AeadOpen, 200 bytes        %8.2f / %.2f us per call\n",
              MedianOf(floors, &Floors::seal_small_us), MedianOf(floors, &Floors::open_small_us));
  std::printf("  AeadKey Seal / Open (the store's), 200 B %6.2f / %.2f us per call\n",
              MedianOf(floors, &Floors::key_seal_small_us),
              MedianOf(floors, &Floors::key_open_small_us));
  std::printf("  KeyedHash (HMAC-SHA-256), 200 bytes   %8.2f us per call\n",
              MedianOf(floors, &Floors::keyed_hash_us));
  // Every content byte is sealed once when its chunk is written and opened once when
  // Log::Append re-reads the file to check it; VerifyStore opens every chunk once (each
  // manifest's content check; the chunk pass then skips the chunks it covered).
  std::printf(
      "  AES on the file content alone, from these floors: ingest %.2f s (seal + open), verify "
      "%.2f s (open)\n",
      all_mb / seal_mbps + all_mb / open_mbps, all_mb / open_mbps);

  std::printf(
      "\nEach repetition (s): ingest files, ingest statements, verify; the disk's flushes/s before "
      "it\n");
  for (int r = 0; r < repetitions; ++r) {
    const Pass& c = passes[0][r];
    const Pass& e = passes[1][r];
    std::printf(
        "  %d, %-9s first: clear %6.2f %6.2f %6.2f   encrypted %6.2f %6.2f %6.2f   %6.0f "
        "flushes/s\n",
        r + 1, r % 2 == 1 ? "encrypted" : "clear", c.files.wall_s, c.statements.wall_s,
        c.verify.wall_s, e.files.wall_s, e.statements.wall_s, e.verify.wall_s, flushes[r]);
  }
  std::printf(
      "\nPrepared the evidence (client side, not timed) in %.1f s; the passes and floors took %.1f "
      "s.\n",
      prepare_s, run_s);
  return 0;
}
