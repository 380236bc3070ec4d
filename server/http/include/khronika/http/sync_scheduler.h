// Pulls every peer on a schedule while the node serves: every interval with +-20% jitter, so
// that peers do not all call at once, and with exponential backoff (up to an hour) for a peer
// that keeps failing. Runs on its own thread; Stop() returns once the current pull ends.
#pragma once

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <map>
#include <mutex>
#include <thread>

#include "khronika/http/metrics.h"
#include "khronika/log/node.h"

namespace khronika {

class SyncScheduler {
 public:
  SyncScheduler(Node& node, Metrics& metrics, std::chrono::seconds interval,
                std::filesystem::path tls_cert, std::filesystem::path tls_key);
  ~SyncScheduler();
  SyncScheduler(const SyncScheduler&) = delete;
  SyncScheduler& operator=(const SyncScheduler&) = delete;

  void Start();
  void Stop();
  // A peer said it has something new: pull now rather than at the next interval.
  void Poke();
  // Something new here (an append, a cosignature): tell every peer, so that they pull at once.
  void NotifyPeers();

 private:
  void Run();
  // Returns whether anything changed here (records, cosignatures).
  bool PullAll();
  void SendNotifications();

  Node& node_;
  Metrics& metrics_;
  std::chrono::seconds interval_;
  std::filesystem::path cert_, key_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  bool poked_ = false;
  bool notify_ = false;
  std::map<Hash, std::pair<int, std::chrono::steady_clock::time_point>> backoff_;
  std::thread thread_;
};

}  // namespace khronika
