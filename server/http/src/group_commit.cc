#include "khronika/http/group_commit.h"

namespace khronika {

GroupCommitter::GroupCommitter(Log& log, size_t max_batch)
    : log_(log), max_batch_(max_batch), thread_([this] { Run(); }) {}

GroupCommitter::~GroupCommitter() { Stop(); }

std::future<Result<Receipt>> GroupCommitter::Submit(CheckedSubmission submission) {
  Pending p{std::move(submission), {}};
  std::future<Result<Receipt>> f = p.promise.get_future();
  {
    std::lock_guard lock(mu_);
    if (!stopping_) {
      queue_.push_back(std::move(p));
      cv_.notify_one();
      return f;
    }
  }
  // Never appended: its sealed chunks, already stored by Log::Check, go again (its plaintext
  // upload chunks stay, for the client's retry).
  (void)log_.Discard(p.submission);
  p.promise.set_value(Status::IOError("the node is shutting down"));
  return f;
}

void GroupCommitter::Stop() {
  {
    std::lock_guard lock(mu_);
    if (stopping_ && !thread_.joinable()) return;
    stopping_ = true;
  }
  cv_.notify_one();
  if (thread_.joinable()) thread_.join();
}

void GroupCommitter::Run() {
  for (;;) {
    std::vector<Pending> batch;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping, and nothing left to commit
      while (!queue_.empty() && batch.size() < max_batch_) {
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }
    // Everything that queued while the previous transaction was committing goes in this one.
    std::vector<CheckedSubmission> submissions;
    submissions.reserve(batch.size());
    for (Pending& p : batch) submissions.push_back(std::move(p.submission));
    // AppendChecked discards the sealed chunks of every submission it does not append.
    std::vector<Result<Receipt>> results = log_.AppendChecked(submissions);
    ++transactions_;
    for (size_t i = 0; i < batch.size(); ++i) batch[i].promise.set_value(std::move(results[i]));
  }
}

}  // namespace khronika
