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

  // Queues a submission that Log::Check passed on the caller's thread (signatures and content
  // hashes cost CPU, so they are spread over the callers). The future is set after commit.
  // Every submission is either appended or given to Log::Discard (refused in the transaction,
  // a store error, or submitted after Stop), so no sealed chunk is left that nothing names.
  std::future<Result<Receipt>> Submit(CheckedSubmission submission);

  // Commits everything queued, then stops; later submissions fail (IOError) and are discarded.
  void Stop();

  uint64_t transactions() const { return transactions_; }

 private:
  struct Pending {
    CheckedSubmission submission;
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
