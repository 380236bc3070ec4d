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

#include "khronika/http/client.h"
#include "khronika/http/peer_transport.h"
#include "khronika/log/node.h"
#include "khronika/replication/scrub.h"

namespace khronika {

// `repair`: false only checks. `peers` says how to reach the peers that repair from (the node's
// TLS files authenticate it to them).
Result<ScrubReport> ScrubNode(Node& node, const PeerClientOptions& peers, bool repair,
                              const std::atomic<bool>* stop = nullptr);

// Scrubs the node every `interval` on a thread of its own, from one interval after it starts,
// until destroyed (which stops a scrub in progress at its next item, and cancels a repair
// waiting on a peer at once).
class ScrubSchedule {
 public:
  // `peers.cancel` is ignored: the schedule cancels its own clients.
  ScrubSchedule(Node& node, PeerClientOptions peers, std::chrono::seconds interval);
  ~ScrubSchedule();
  ScrubSchedule(const ScrubSchedule&) = delete;
  ScrubSchedule& operator=(const ScrubSchedule&) = delete;

 private:
  void Loop();
  Node& node_;
  ClientCancel cancel_;  // before peers_, which points to it
  PeerClientOptions peers_;
  std::chrono::seconds interval_;
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::condition_variable wake_;
  std::thread thread_;
};

}  // namespace khronika
