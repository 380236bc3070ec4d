// Group commit: submissions from many connections share one LMDB write transaction and one
// fsync. Each caller gets its own result, and only after the transaction has committed.
#pragma once

#include <condition_variable>
#include <deque>
#include <future>
#include <mutex>
#include <thread>

#include "khronika/log/log.h"

namespace khronika {

class GroupCommitter {
 public:
  // `max_batch` bounds the entries in one transaction.
  explicit GroupCommitter(Log& log, size_t max_batch = 256);
  ~GroupCommitter();  // Stop()s
  GroupCommitter(const GroupCommitter&) = delete;
  GroupCommitter& operator=(const GroupCommitter&) = delete;

  // Queues a submission whose signature and content the caller has already checked (that is
  // the CPU-heavy part, and it runs on the caller's thread). The future is set after commit.
  std::future<Result<Receipt>> Submit(Submission submission);

  // Commits everything queued, then stops; later submissions fail.
  void Stop();

  uint64_t transactions() const { return transactions_; }

 private:
  struct Pending {
    Submission submission;
    std::promise<Result<Receipt>> promise;
  };
  void Run();

  Log& log_;
  const size_t max_batch_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Pending> queue_;
  bool stopping_ = false;
  std::atomic<uint64_t> transactions_{0};
  std::thread thread_;
};

}  // namespace khronika
