// One scrub round of a node (docs/operator.md, "Scrub"): re-read everything, repair what is
// damaged or missing from the configured peers in turn (mutual TLS, as sync), remember the
// outcome for `khronika status` and /metrics. Used by `khronika scrub` and on `serve`'s schedule.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>

#include "khronika/log/node.h"
#include "khronika/replication/scrub.h"

namespace khronika {

// `repair`: false only checks. The node's TLS files authenticate it to its peers.
Result<ScrubReport> ScrubNode(Node& node, const std::string& tls_cert, const std::string& tls_key,
                              bool repair, const std::atomic<bool>* stop = nullptr);

// Scrubs the node every `interval` on a thread of its own, from one interval after it starts,
// until destroyed (which stops a scrub in progress at its next item).
class ScrubSchedule {
 public:
  ScrubSchedule(Node& node, std::string tls_cert, std::string tls_key, std::chrono::seconds interval);
  ~ScrubSchedule();
  ScrubSchedule(const ScrubSchedule&) = delete;
  ScrubSchedule& operator=(const ScrubSchedule&) = delete;

 private:
  void Loop();
  Node& node_;
  std::string cert_, key_;
  std::chrono::seconds interval_;
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::condition_variable wake_;
  std::thread thread_;
};

}  // namespace khronika
