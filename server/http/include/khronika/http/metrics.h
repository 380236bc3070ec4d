// Counters for /metrics, in the Prometheus text exposition format. Thread-safe.
#pragma once

#include <atomic>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace khronika {

class Metrics {
 public:
  void ObserveRequest(const std::string& route, int status, double seconds);
  void AddEntriesAppended(uint64_t n) { entries_appended_ += n; }
  void AddBytesStored(uint64_t n) { bytes_stored_ += n; }
  void ConnectionOpened() { ++open_connections_; }
  void ConnectionClosed() { --open_connections_; }
  int64_t open_connections() const { return open_connections_; }
  // Why a new connection was closed at once (docs/operator.md: max_connections, max_handshakes,
  // max_handshakes_per_address).
  enum class Refusal { kConnections, kHandshakes, kHandshakesPerAddress };
  void ConnectionRefused(Refusal why) { ++refused_[static_cast<size_t>(why)]; }
  void HandshakeTimedOut() { ++handshakes_timed_out_; }

  void AddRecordsReplicated(uint64_t n) { records_replicated_ += n; }
  void AddSyncFailure() { ++sync_failures_; }
  // An ask of a time-stamping authority (#16): a token stored, or none.
  void AddTimestampAsk(bool stored) { ++(stored ? timestamps_stored_ : timestamp_failures_); }

  // Gauges read from the store at scrape time.
  struct StoreGauges {
    uint64_t used_bytes = 0;
    uint64_t map_bytes = 0;
    uint64_t conflicts = 0;
    // The last scrub (docs/operator.md, "Scrub"); none yet: all zero.
    int64_t scrub_finished_ms = 0;
    uint64_t scrub_damaged = 0;
    uint64_t scrub_repaired = 0;
    uint64_t scrub_unrepaired = 0;
    // Each peer a pull has reached or tried (first 16 hex digits of its node id), and how many
    // records it held that this node did not after the last pull (`khronika status`).
    std::vector<std::pair<std::string, uint64_t>> peer_lag;
    // The group committer's write transactions, and the entries and upload chunks they
    // committed (entries per transaction: how well commits are shared).
    uint64_t commit_transactions = 0;
    uint64_t commit_entries = 0;
    uint64_t commit_chunks = 0;
  };
  std::string Render(const StoreGauges& store) const;

 private:
  static constexpr double kBuckets[] = {0.001, 0.005, 0.01, 0.025, 0.05, 0.1,
                                        0.25,  0.5,   1,    2.5,   5,    10};
  static constexpr size_t kBucketCount = sizeof(kBuckets) / sizeof(kBuckets[0]);
  struct Histogram {
    uint64_t counts[kBucketCount + 1] = {};
    double sum = 0;
    uint64_t count = 0;
  };
  mutable std::mutex mu_;
  std::map<std::pair<std::string, int>, uint64_t> requests_;
  std::map<std::string, Histogram> latency_;
  std::atomic<uint64_t> entries_appended_{0};
  std::atomic<uint64_t> bytes_stored_{0};
  std::atomic<int64_t> open_connections_{0};
  std::atomic<uint64_t> refused_[3] = {};
  std::atomic<uint64_t> handshakes_timed_out_{0};
  std::atomic<uint64_t> records_replicated_{0};
  std::atomic<uint64_t> sync_failures_{0};
  std::atomic<uint64_t> timestamps_stored_{0};
  std::atomic<uint64_t> timestamp_failures_{0};
};

}  // namespace khronika
