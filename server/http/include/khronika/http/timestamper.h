// Asks the configured time-stamping authorities for RFC 3161 tokens over this node's latest
// checkpoint (docs/operator.md, "Timestamps"), on a thread of its own: every TSA at most once per
// interval after a new checkpoint, and at once when asked (POST /v1/checkpoint/timestamp). Each
// TSA of a round is asked on its own thread with a deadline, so a TSA that is down or slow
// delays no append, no read and no other TSA. A token is stored (Table::kTimestamps) only after
// VerifyTimestampResponse accepted it. Thread-safe.
#pragma once

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "khronika/http/metrics.h"
#include "khronika/http/tsa_client.h"
#include "khronika/log/node.h"
#include "khronika/timestamp/rfc3161.h"

namespace khronika {

// One `tsa = URL CA_FILE` line of khronika.conf.
struct TsaConfig {
  std::string url;
  std::filesystem::path ca_file;
};

struct TimestamperOptions {
  std::vector<TsaConfig> tsas;
  std::chrono::seconds interval{3600};       // tsa_interval_s
  std::chrono::milliseconds deadline{10000};  // tsa_timeout_ms: one whole ask of one TSA
};

class Timestamper {
 public:
  Timestamper(Node& node, Metrics& metrics, TimestamperOptions options);
  ~Timestamper();
  Timestamper(const Timestamper&) = delete;
  Timestamper& operator=(const Timestamper&) = delete;

  // Reads every CA file and URL (an error names the bad one) and starts the thread.
  Status Start();
  // Cancels the asks in progress, answers waiting callers with an error, joins the thread.
  void Stop();
  bool configured() const { return !tsas_.empty(); }

  // An append made a new checkpoint: a TSA whose interval has run out is asked.
  void NewCheckpoint();

  struct Outcome {
    std::string url;
    std::optional<TimestampToken> token;  // stored; or
    std::string error;                     // why not
  };
  struct Round {
    uint64_t size = 0;  // the checkpoint's tree size
    std::vector<Outcome> outcomes;  // one per TSA, in configuration order
  };
  // Asks every TSA now for a token over the latest checkpoint, which must have at least
  // `min_size` records, and calls `done` (from the timestamper's thread) when all have answered
  // or run out of time. A TSA that already gave a token over that checkpoint is not asked again.
  void AskNow(uint64_t min_size, std::function<void(Result<Round>)> done);

 private:
  struct Tsa {
    TsaConfig config;
    TsaUrl url;
    std::string ca_pem;
    std::chrono::steady_clock::time_point last_attempt{};
    bool attempted = false;
    uint64_t stamped_size = 0;  // the latest checkpoint it gave a verified token over
    std::optional<TimestampToken> stamped;
  };
  struct Ask {
    uint64_t min_size;
    std::function<void(Result<Round>)> done;
  };
  void Run();
  // Asks the TSAs `which` for a token over the latest checkpoint.
  Result<Round> AskRound(const std::vector<size_t>& which);

  Node& node_;
  Metrics& metrics_;
  TimestamperOptions options_;
  std::vector<Tsa> tsas_;
  TsaCancel cancel_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  bool appended_ = true;  // ask once at start
  std::vector<Ask> asks_;
  std::thread thread_;
};

}  // namespace khronika
