// A load generator for the server benchmark: N persistent HTTPS connections (one thread each)
// submit small random files for a fixed time, the way `khronika submit` does but without
// starting a process per file: PUT the file's plaintext upload chunks, build the descriptor,
// its salted commitment and the signed entry on the client (SignEntry), POST /v1/entries with
// the opening and the chunk ids, expect 201 and a receipt naming the sealed entry. Run by
// tests/bench/server_bench.sh (docs/performance.md). A benchmark, not a test: nothing here is
// asserted beyond counting errors.
//
//   server_load --node https://127.0.0.1:PORT --pin HEX --token T --key AUTHOR.pem
//               --case ID --clients N --seconds S [--size BYTES] [--same-content 1]
//               [--inline 1]
//
// Prints one line of key=value figures: entries completed, wall seconds, entries/s, latency
// percentiles of whole submissions (PUT + POST), of the PUT alone and of the POST alone,
// errors, and the load generator's own CPU seconds (it shares the machine with the server).
// --same-content 1 is a diagnostic: every file has the same bytes (each entry is still new,
// since names and times differ). In format 2 upload chunks are kept per token only until their
// entry is sealed, so a PUT of the same bytes may store them again; the sealing is done anew.
// --inline 1 sends the file's plaintext in the POST itself ("content", base64; files of at most
// 64 KiB): one request per submission, no PUT (put_* figures are then 0).
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "bench_args.h"
#include "khronika/http/client.h"
#include "khronika/http/tls.h"
#include "khronika/schemas/crypto.h"
#include "khronika/schemas/json_view.h"
#include "khronika/schemas/objects.h"
#include "khronika/schemas/sealed_objects.h"
#include "khronika/schemas/sealing.h"
#include "khronika/store/files.h"

namespace khronika {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

struct Options {
  ClientOptions conn;
  std::string key_pem;
  std::string case_id;
  int clients = 1;
  double seconds = 10;
  size_t size = 1024;
  bool same_content = false;
  bool inline_content = false;
};

struct ThreadResult {
  uint64_t entries = 0;
  uint64_t errors = 0;
  std::vector<double> submit_ms;  // PUT chunk + POST entry
  std::vector<double> put_ms;     // PUT chunk alone (one write transaction of its own)
  std::vector<double> post_ms;    // POST entry alone (signature check + group commit)
  std::string first_error;
};

[[noreturn]] void Usage(const std::string& why) {
  std::cerr << "server_load: " << why << "\n"
            << "usage: server_load --node URL --pin HEX --token T --key FILE --case ID\n"
            << "                   --clients N --seconds S [--size BYTES] [--same-content 1]\n"
            << "                   [--inline 1]\n";
  std::exit(2);
}

Options ParseArgs(int argc, char** argv) {
  bench::BenchArgs a(argc, argv, Usage);
  auto need = [&](const char* k) { return a.need(k); };
  Options o;
  o.conn.url = need("node");
  auto fp = NormalizeFingerprint(need("pin"));
  if (!fp.ok()) Usage("--pin: " + fp.status().message());
  o.conn.pin_sha256 = *fp;
  o.conn.token = need("token");
  auto pem = ReadSmallFile(need("key"), 16 * 1024);
  if (!pem.ok()) Usage("--key: " + pem.status().ToString());
  o.key_pem = *pem;
  o.case_id = need("case");
  o.clients = std::stoi(need("clients"));
  o.seconds = std::stod(need("seconds"));
  if (a.has("size")) o.size = std::stoul(a.need("size"));
  if (a.has("same-content")) o.same_content = a.need("same-content") == "1";
  if (a.has("inline")) o.inline_content = a.need("inline") == "1";
  if (o.inline_content && o.size > 64 * 1024) Usage("--inline 1 takes files of at most 64 KiB");
  if (o.clients < 1 || o.seconds <= 0 || o.size < 1 || o.size > kChunkSize) Usage("bad numbers");
  return o;
}

double Ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

double Percentile(std::vector<double>& v, double p) {
  if (v.empty()) return 0;
  size_t i = static_cast<size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(i), v.end());
  return v[i];
}

void Worker(const Options& o, int id, const std::atomic<bool>& go, Clock::time_point* deadline,
            std::atomic<int>& ready, ThreadResult& out) {
  auto fail = [&](const std::string& what) {
    ++out.errors;
    if (out.first_error.empty()) out.first_error = what;
  };
  auto key = SigningKey::FromPem(o.key_pem);
  auto client = HttpsClient::Connect(o.conn);
  ++ready;
  if (!key.ok() || !client.ok()) {
    fail(!key.ok() ? key.status().ToString() : client.status().ToString());
    return;
  }
  uint64_t seed = 0;
  RandomBytes(reinterpret_cast<uint8_t*>(&seed), sizeof seed);
  std::mt19937_64 rng(o.same_content ? 1 : seed);
  Bytes data(o.size);
  while (!go.load(std::memory_order_acquire)) std::this_thread::yield();
  for (uint64_t n = 0; Clock::now() < *deadline; ++n) {
    Clock::time_point t0 = Clock::now();
    if (o.same_content) rng.seed(1);
    for (size_t i = 0; i < data.size(); i += 8) {
      uint64_t r = rng();
      for (size_t j = 0; j < 8 && i + j < data.size(); ++j) data[i + j] = static_cast<uint8_t>(r >> (8 * j));
    }
    // The file's plaintext upload chunks (1 MiB each, the last shorter), PUT one by one.
    std::vector<Hash> chunks;
    bool put_failed = false;
    for (size_t at = 0; !o.inline_content && (at < data.size() || (at == 0 && data.empty()));
         at += kChunkSize) {
      ByteView piece = ByteView(data).subspan(at, std::min(kChunkSize, data.size() - at));
      Hash chunk = ChunkId(piece);
      auto put = (*client)->Request("PUT", "/v1/chunks/" + ToHex(chunk),
                                    std::string(AsChars(piece)), "application/octet-stream");
      if (!put.ok()) { fail("PUT: " + put.status().ToString()); put_failed = true; break; }
      if (put->status != 201 && put->status != 200) { fail("PUT: " + ErrorMessage(*put)); put_failed = true; break; }
      chunks.push_back(chunk);
      if (data.empty()) break;
    }
    if (put_failed) continue;
    Clock::time_point t_put = Clock::now();

    // Format 2: the author signs a salted commitment of the descriptor; the opening (descriptor
    // and salt) and the upload chunk ids go beside the entry.
    FileDescriptor d;
    d.name = "load-" + std::to_string(id) + "-" + std::to_string(n) + ".bin";
    d.media_type = GuessMediaType(d.name);
    d.size = data.size();
    d.content_sha256 = Sha256(data);
    CommitmentSalt salt;
    RandomBytes(salt.data(), salt.size());
    SignedEntry e;
    e.case_id = o.case_id;
    e.kind = "evidence";
    e.created_at_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch()).count();
    e.files = {FileCommitment(salt, Encode(d))};
    SignEntry(e, *key);
    json file{{"descriptor", ToJson(d)}, {"salt", ToHex(salt)}};
    if (o.inline_content) {
      file["content"] = Base64Encode(data);
    } else {
      json chunk_ids = json::array();
      for (const Hash& c : chunks) chunk_ids.push_back(ToHex(c));
      file["chunks"] = chunk_ids;
    }
    std::string body = json{{"entry", ToJson(e)}, {"files", json::array({file})}}.dump();

    Clock::time_point t1 = Clock::now();
    auto post = (*client)->Request("POST", "/v1/entries", body);
    Clock::time_point t2 = Clock::now();
    if (!post.ok()) { fail("POST: " + post.status().ToString()); continue; }
    if (post->status != 201) { fail("POST: " + ErrorMessage(*post)); continue; }
    json receipt = json::parse(post->body, nullptr, false);
    // The receipt names the sealed entry, whose id the client cannot know before: it must be
    // a 64-hex id, and the record (115 bytes) must name it.
    std::string entry_id = receipt.is_object() ? receipt.value("entry_id", "") : "";
    std::string record_hex = receipt.is_object() ? receipt.value("record_hex", "") : "";
    if (entry_id.size() != 64 || record_hex.size() != 2 * kRecordBytes ||
        record_hex.find(entry_id) == std::string::npos) {
      fail("POST: the receipt does not name a sealed entry");
      continue;
    }
    ++out.entries;
    out.submit_ms.push_back(Ms(t2 - t0));
    out.put_ms.push_back(Ms(t_put - t0));
    out.post_ms.push_back(Ms(t2 - t1));
  }
}

int Main(int argc, char** argv) {
  Options o = ParseArgs(argc, argv);
  std::vector<ThreadResult> results(static_cast<size_t>(o.clients));
  std::vector<std::thread> threads;
  std::atomic<bool> go{false};
  std::atomic<int> ready{0};
  Clock::time_point deadline{};
  // Connections (TCP + TLS handshake) are made before the clock starts.
  for (int i = 0; i < o.clients; ++i) {
    threads.emplace_back(Worker, std::cref(o), i, std::cref(go), &deadline, std::ref(ready),
                         std::ref(results[static_cast<size_t>(i)]));
  }
  while (ready.load() < o.clients) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  rusage ru0{}, ru1{};
  getrusage(RUSAGE_SELF, &ru0);
  Clock::time_point start = Clock::now();
  deadline = start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o.seconds));
  go.store(true, std::memory_order_release);
  for (std::thread& t : threads) t.join();
  Clock::time_point end = Clock::now();
  getrusage(RUSAGE_SELF, &ru1);
  auto cpu = [](const rusage& r) {
    return static_cast<double>(r.ru_utime.tv_sec + r.ru_stime.tv_sec) +
           static_cast<double>(r.ru_utime.tv_usec + r.ru_stime.tv_usec) / 1e6;
  };

  uint64_t entries = 0, errors = 0;
  std::vector<double> submit_ms, put_ms, post_ms;
  for (ThreadResult& r : results) {
    entries += r.entries;
    errors += r.errors;
    submit_ms.insert(submit_ms.end(), r.submit_ms.begin(), r.submit_ms.end());
    put_ms.insert(put_ms.end(), r.put_ms.begin(), r.put_ms.end());
    post_ms.insert(post_ms.end(), r.post_ms.begin(), r.post_ms.end());
    if (!r.first_error.empty()) std::cerr << "server_load: " << r.first_error << "\n";
  }
  double secs = std::chrono::duration<double>(end - start).count();
  double max_ms = submit_ms.empty() ? 0 : *std::max_element(submit_ms.begin(), submit_ms.end());
  std::printf("clients=%d entries=%llu seconds=%.3f rate=%.1f p50_ms=%.2f p99_ms=%.2f max_ms=%.2f "
              "put_p50_ms=%.2f put_p99_ms=%.2f post_p50_ms=%.2f post_p99_ms=%.2f errors=%llu "
              "client_cpu_s=%.2f\n",
              o.clients, static_cast<unsigned long long>(entries), secs,
              static_cast<double>(entries) / secs, Percentile(submit_ms, 0.50),
              Percentile(submit_ms, 0.99), max_ms, Percentile(put_ms, 0.50),
              Percentile(put_ms, 0.99), Percentile(post_ms, 0.50),
              Percentile(post_ms, 0.99), static_cast<unsigned long long>(errors),
              cpu(ru1) - cpu(ru0));
  return errors == 0 ? 0 : 1;
}

}  // namespace
}  // namespace khronika

int main(int argc, char** argv) { return khronika::Main(argc, argv); }
