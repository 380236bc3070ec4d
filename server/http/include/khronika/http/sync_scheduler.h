// Pulls every peer on a schedule while the node serves: every interval with +-20% jitter, so
// that peers do not all call at once, and with exponential backoff (up to an hour) for a peer
// that keeps failing. Runs on its own thread. Stopping cancels a pull in progress at once (its
// connection is closed), so a peer that stalls cannot hold up the node's shutdown; what a pull
// had committed stays, and the next pull goes on from there.
#pragma once

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <map>
#include <mutex>
#include <thread>

#include "khronika/http/client.h"
#include "khronika/http/metrics.h"
#include "khronika/http/peer_transport.h"
#include "khronika/log/node.h"

namespace khronika {

class SyncScheduler {
 public:
  // `peers.cancel` is ignored: the scheduler cancels its own clients.
  SyncScheduler(Node& node, Metrics& metrics, std::chrono::seconds interval,
                PeerClientOptions peers);
  ~SyncScheduler();
  SyncScheduler(const SyncScheduler&) = delete;
  SyncScheduler& operator=(const SyncScheduler&) = delete;

  void Start();
  // Cancels what the scheduler is doing and returns at once; callable from any thread.
  void RequestStop();
  // RequestStop(), then waits for the scheduler's thread to end.
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
  bool stopping();

  Node& node_;
  Metrics& metrics_;
  std::chrono::seconds interval_;
  ClientCancel cancel_;  // before peers_, which points to it
  PeerClientOptions peers_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  bool poked_ = false;
  bool notify_ = false;
  std::map<Hash, std::pair<int, std::chrono::steady_clock::time_point>> backoff_;
  std::thread thread_;
};

}  // namespace khronika
