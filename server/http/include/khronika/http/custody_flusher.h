// Moves custody events from the pending table into the node's log while it serves
// (Log::LogPendingCustody, docs/format.md section 7.3): every `interval`, at once when Poke says
// a burst is waiting, and a last time when it stops, so a clean shutdown leaves nothing
// pending. Runs on its own thread; a failed round (a full disk, a node that must first pull its
// own log back) leaves the events pending for the next one.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

#include "khronika/log/node.h"

namespace khronika {

class CustodyFlusher {
 public:
  // `appended` runs after a round that appended records (to tell peers).
  CustodyFlusher(Node& node, std::chrono::milliseconds interval,
                 std::function<void()> appended = nullptr);
  ~CustodyFlusher();
  CustodyFlusher(const CustodyFlusher&) = delete;
  CustodyFlusher& operator=(const CustodyFlusher&) = delete;

  void Start();
  // A last round, then the thread ends.
  void Stop();
  // Seal what is pending now rather than at the next interval.
  void Poke();

 private:
  void Run();
  void Round();
  Node& node_;
  std::chrono::milliseconds interval_;
  std::function<void()> appended_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  bool poked_ = false;
  std::thread thread_;
};

}  // namespace khronika
