#include "khronika/http/group_commit.h"
#include "khronika/log/worker_pool.h"

#include <memory>
#include <vector>

namespace khronika {

GroupCommitter::GroupCommitter(Log& log, size_t max_batch, size_t max_chunks, Post post)
    : log_(log),
      max_batch_(max_batch),
      max_chunks_(max_chunks),
      post_(std::move(post)),
      thread_([this] {
        NameThisThread("kh-commit");
        Run();
      }) {}

GroupCommitter::~GroupCommitter() { Stop(); }

void GroupCommitter::Complete(std::function<void()> fn) {
  if (post_) {
    post_(std::move(fn));
  } else {
    fn();
  }
}

void GroupCommitter::Submit(CheckedSubmission submission,
                            std::function<void(Result<Receipt>)> done) {
  {
    std::lock_guard lock(mu_);
    if (!stopping_) {
      entries_.push_back(PendingEntry{std::move(submission), std::move(done)});
      cv_.notify_one();
      return;
    }
  }
  // Never appended: its sealed chunks, already stored by Log::Check, go again (its plaintext
  // upload chunks stay, for the client's retry).
  (void)log_.Discard(submission);
  done(Status::IOError("the node is shutting down"));
}

std::future<Result<Receipt>> GroupCommitter::Submit(CheckedSubmission submission) {
  auto promise = std::make_shared<std::promise<Result<Receipt>>>();
  std::future<Result<Receipt>> f = promise->get_future();
  Submit(std::move(submission),
         [promise](Result<Receipt> r) { promise->set_value(std::move(r)); });
  return f;
}

void GroupCommitter::PutChunk(std::string uploader, const Hash& id, ByteView chunk,
                              std::function<void(Result<bool>)> done) {
  {
    std::lock_guard lock(mu_);
    if (!stopping_) {
      chunks_.push_back(PendingChunk{std::move(uploader), id, chunk, std::move(done)});
      cv_.notify_one();
      return;
    }
  }
  done(Status::IOError("the node is shutting down"));
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
    std::vector<PendingEntry> batch;
    std::vector<PendingChunk> chunks;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return stopping_ || !entries_.empty() || !chunks_.empty(); });
      if (entries_.empty() && chunks_.empty()) return;  // stopping, and nothing left to commit
      while (!entries_.empty() && batch.size() < max_batch_) {
        batch.push_back(std::move(entries_.front()));
        entries_.pop_front();
      }
      while (!chunks_.empty() && chunks.size() < max_chunks_) {
        chunks.push_back(std::move(chunks_.front()));
        chunks_.pop_front();
      }
    }
    // Everything that queued while the previous transaction was committing goes in this one.
    std::vector<CheckedSubmission> submissions;
    submissions.reserve(batch.size());
    for (PendingEntry& p : batch) submissions.push_back(std::move(p.submission));
    std::vector<bool> created(chunks.size());
    std::function<Status(WriteTxn&)> write_chunks;
    if (!chunks.empty()) {
      write_chunks = [&](WriteTxn& txn) -> Status {
        for (size_t i = 0; i < chunks.size(); ++i) {
          const PendingChunk& c = chunks[i];
          KH_ASSIGN_OR_RETURN(bool fresh, PutUploadChunk(txn, c.uploader, c.id, c.bytes));
          created[i] = fresh;
        }
        return Status::Ok();
      };
    }
    // AppendChecked discards the sealed chunks of every submission it does not append.
    Status committed;
    std::vector<Result<Receipt>> results =
        log_.AppendChecked(submissions, write_chunks, &committed);
    ++transactions_;
    if (committed.ok()) chunks_committed_ += chunks.size();
    for (const Result<Receipt>& r : results) entries_committed_ += r.ok() ? 1 : 0;
    for (size_t i = 0; i < batch.size(); ++i) {
      Complete([done = std::move(batch[i].done), r = std::move(results[i])]() mutable {
        done(std::move(r));
      });
    }
    for (size_t i = 0; i < chunks.size(); ++i) {
      Result<bool> r = committed.ok() ? Result<bool>(static_cast<bool>(created[i]))
                                      : Result<bool>(committed);
      Complete([done = std::move(chunks[i].done), r = std::move(r)]() mutable {
        done(std::move(r));
      });
    }
  }
}

}  // namespace khronika
