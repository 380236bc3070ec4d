// Inclusion-proof latency over HTTPS keep-alive, for the growth benchmark and the table
// (tests/bench/growth_bench.sh, docs/performance.md): N persistent connections (one thread each)
// ask `GET /v1/proof/inclusion?index=I` for uniformly random I below the log's size, one request
// at a time per connection, first for a warm-up that is not counted, then for a fixed time.
// Each answer is checked after its time is taken: status 200, the index asked, the size given,
// the proof leading from its leaf hash to its root (RFC 9162 section 2.1.3.2), and the same root
// in every answer. A benchmark, not a test: it counts errors and fails if there was any.
//
//   proof_load --node https://127.0.0.1:PORT --pin HEX --token T --size N
//              [--clients 1] [--warmup 1] [--seconds 5]
//
// Prints one line of key=value figures: requests, seconds, requests/s, latency percentiles in
// microseconds (p50, p90, p99, p99.9, max), the warm-up's requests, errors, and the client's own
// CPU seconds.
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
#include "khronika/schemas/bytes.h"
#include "khronika/schemas/crypto.h"
#include "khronika/schemas/merkle.h"

namespace khronika {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

struct Options {
  ClientOptions conn;
  uint64_t size = 0;
  int clients = 1;
  double warmup = 1;
  double seconds = 5;
};

struct ThreadResult {
  uint64_t requests = 0;
  uint64_t warm_requests = 0;
  uint64_t errors = 0;
  std::vector<double> us;
  std::string first_error;
  std::optional<Hash> root;
};

[[noreturn]] void Usage(const std::string& why) {
  std::cerr << "proof_load: " << why << "\n"
            << "usage: proof_load --node URL --pin HEX --token T --size N\n"
            << "                  [--clients 1] [--warmup 1] [--seconds 5]\n";
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
  try {
    o.size = std::stoull(need("size"));
    if (a.has("clients")) o.clients = std::stoi(a.need("clients"));
    if (a.has("warmup")) o.warmup = std::stod(a.need("warmup"));
    if (a.has("seconds")) o.seconds = std::stod(a.need("seconds"));
  } catch (const std::exception&) {
    Usage("a number is not a number");
  }
  if (o.size < 1 || o.clients < 1 || o.clients > 256 || o.warmup < 0 || o.seconds <= 0) {
    Usage("bad numbers");
  }
  return o;
}

double Percentile(std::vector<double>& v, double p) {
  if (v.empty()) return 0;
  size_t i = static_cast<size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(i), v.end());
  return v[i];
}

std::optional<Hash> HashFromJson(const json& j) {
  if (!j.is_string()) return std::nullopt;
  auto h = ParseHashHex(j.get<std::string>());
  if (!h.ok()) return std::nullopt;
  return *h;
}

// Empty if the answer is a valid proof for `index` in a tree of `size`; else what is wrong.
std::string CheckAnswer(const HttpResult& r, uint64_t index, uint64_t size, ThreadResult& out) {
  if (r.status != 200) return "status " + std::to_string(r.status) + ": " + ErrorMessage(r);
  json j = json::parse(r.body, nullptr, false);
  if (!j.is_object()) return "the answer is not a JSON object";
  if (j.value("index", uint64_t{0}) != index || j.value("size", uint64_t{0}) != size) {
    return "the answer names another index or size";
  }
  auto leaf = HashFromJson(j.value("leaf_hash", json()));
  auto root = HashFromJson(j.value("root", json()));
  if (!leaf || !root || !j.contains("proof") || !j["proof"].is_array()) return "a field is missing";
  std::vector<Hash> proof;
  for (const json& p : j["proof"]) {
    auto h = HashFromJson(p);
    if (!h) return "a proof hash is not 64 hex";
    proof.push_back(*h);
  }
  if (!VerifyInclusion(*leaf, index, size, proof, *root)) return "the proof does not verify";
  if (out.root && *out.root != *root) return "two answers name different roots";
  out.root = *root;
  return "";
}

void Worker(const Options& o, const std::atomic<int>& phase, std::atomic<int>& ready,
            ThreadResult& out) {
  auto fail = [&](const std::string& what) {
    ++out.errors;
    if (out.first_error.empty()) out.first_error = what;
  };
  auto client = HttpsClient::Connect(o.conn);
  ++ready;
  if (!client.ok()) {
    fail(client.status().ToString());
    return;
  }
  uint64_t seed = 0;
  RandomBytes(reinterpret_cast<uint8_t*>(&seed), sizeof seed);
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<uint64_t> pick(0, o.size - 1);
  const std::string size = "&size=" + std::to_string(o.size);
  while (phase.load(std::memory_order_acquire) == 0) std::this_thread::yield();
  int p;
  while ((p = phase.load(std::memory_order_acquire)) != 3) {
    uint64_t index = pick(rng);
    Clock::time_point t0 = Clock::now();
    auto r = (*client)->Request("GET", "/v1/proof/inclusion?index=" + std::to_string(index) + size);
    Clock::time_point t1 = Clock::now();
    if (!r.ok()) {
      fail("GET: " + r.status().ToString());
      continue;
    }
    std::string bad = CheckAnswer(*r, index, o.size, out);
    if (!bad.empty()) {
      fail("proof for " + std::to_string(index) + ": " + bad);
      continue;
    }
    if (p == 2) {  // measured
      ++out.requests;
      out.us.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
    } else {
      ++out.warm_requests;
    }
  }
}

int Main(int argc, char** argv) {
  Options o = ParseArgs(argc, argv);
  std::vector<ThreadResult> results(static_cast<size_t>(o.clients));
  std::vector<std::thread> threads;
  std::atomic<int> phase{0};  // 0 connecting, 1 warm-up, 2 measured, 3 stop
  std::atomic<int> ready{0};
  for (int i = 0; i < o.clients; ++i) {
    threads.emplace_back(Worker, std::cref(o), std::cref(phase), std::ref(ready),
                         std::ref(results[static_cast<size_t>(i)]));
  }
  while (ready.load() < o.clients) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  phase.store(1, std::memory_order_release);
  std::this_thread::sleep_for(std::chrono::duration<double>(o.warmup));
  rusage ru0{}, ru1{};
  getrusage(RUSAGE_SELF, &ru0);
  Clock::time_point start = Clock::now();
  phase.store(2, std::memory_order_release);
  std::this_thread::sleep_for(std::chrono::duration<double>(o.seconds));
  phase.store(3, std::memory_order_release);
  Clock::time_point end = Clock::now();
  for (std::thread& t : threads) t.join();
  getrusage(RUSAGE_SELF, &ru1);
  auto cpu = [](const rusage& r) {
    return static_cast<double>(r.ru_utime.tv_sec + r.ru_stime.tv_sec) +
           static_cast<double>(r.ru_utime.tv_usec + r.ru_stime.tv_usec) / 1e6;
  };

  uint64_t requests = 0, warm_requests = 0, errors = 0;
  std::vector<double> us;
  std::optional<Hash> root;
  for (ThreadResult& r : results) {
    requests += r.requests;
    warm_requests += r.warm_requests;
    errors += r.errors;
    us.insert(us.end(), r.us.begin(), r.us.end());
    if (!r.first_error.empty()) std::cerr << "proof_load: " << r.first_error << "\n";
    if (r.root && root && *r.root != *root) {
      ++errors;
      std::cerr << "proof_load: two connections saw different roots\n";
    }
    if (r.root) root = r.root;
  }
  double secs = std::chrono::duration<double>(end - start).count();
  double max_us = us.empty() ? 0 : *std::max_element(us.begin(), us.end());
  std::printf("clients=%d size=%llu requests=%llu seconds=%.3f rate=%.1f p50_us=%.1f p90_us=%.1f "
              "p99_us=%.1f p999_us=%.1f max_us=%.1f warm_requests=%llu errors=%llu client_cpu_s=%.2f\n",
              o.clients, static_cast<unsigned long long>(o.size),
              static_cast<unsigned long long>(requests), secs,
              static_cast<double>(requests) / secs, Percentile(us, 0.50), Percentile(us, 0.90),
              Percentile(us, 0.99), Percentile(us, 0.999), max_us,
              static_cast<unsigned long long>(warm_requests),
              static_cast<unsigned long long>(errors), cpu(ru1) - cpu(ru0));
  return errors == 0 && requests > 0 ? 0 : 1;
}

}  // namespace
}  // namespace khronika

int main(int argc, char** argv) { return khronika::Main(argc, argv); }
