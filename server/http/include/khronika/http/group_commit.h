// Group commit: submissions and upload chunks from many connections share one LMDB write
// transaction and one fsync. Each caller gets its own result, and only after the transaction
// has committed.
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <future>
#include <mutex>
#include <string>
#include <thread>

#include "khronika/log/log.h"

namespace khronika {

class GroupCommitter {
 public:
  // Runs a completion somewhere other than the committer's thread (the server's worker pool),
  // so that building answers does not hold up the next transaction. Unset: completions run on
  // the committer's thread.
  using Post = std::function<void(std::function<void()>)>;

  // `max_batch` bounds the entries in one transaction, `max_chunks` the upload chunks (each up
  // to 1 MiB) written with them.
  explicit GroupCommitter(Log& log, size_t max_batch = 256, size_t max_chunks = 32,
                          Post post = nullptr);
  ~GroupCommitter();  // Stop()s
  GroupCommitter(const GroupCommitter&) = delete;
  GroupCommitter& operator=(const GroupCommitter&) = delete;

  // Queues a submission that Log::Check passed on the caller's thread (signatures and content
  // hashes cost CPU, so they are spread over the callers); `done` gets its receipt after the
  // commit. Nothing waits: a connection waiting for its commit holds no thread.
  // Every submission is either appended or given to Log::Discard (refused in the transaction,
  // a store error, or submitted after Stop), so no sealed chunk is left that nothing names.
  void Submit(CheckedSubmission submission, std::function<void(Result<Receipt>)> done);
  // The same, waited for with a future (tests, and callers with a thread to spare).
  std::future<Result<Receipt>> Submit(CheckedSubmission submission);

  // Queues a plaintext upload chunk of `uploader` for the next transaction (PutUploadChunk).
  // The caller has checked that `id` is the chunk's SHA-256 and keeps `chunk` alive until
  // `done` runs; `done` gets whether the chunk was new, after the commit.
  void PutChunk(std::string uploader, const Hash& id, ByteView chunk,
                std::function<void(Result<bool>)> done);

  // Commits everything queued, then stops; later submissions fail (IOError) and are discarded.
  void Stop();

  uint64_t transactions() const { return transactions_; }
  uint64_t entries() const { return entries_committed_; }  // appended
  uint64_t chunks() const { return chunks_committed_; }

 private:
  struct PendingEntry {
    CheckedSubmission submission;
    std::function<void(Result<Receipt>)> done;
  };
  struct PendingChunk {
    std::string uploader;
    Hash id;
    ByteView bytes;
    std::function<void(Result<bool>)> done;
  };
  void Run();
  void Complete(std::function<void()> fn);

  Log& log_;
  const size_t max_batch_;
  const size_t max_chunks_;
  const Post post_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<PendingEntry> entries_;
  std::deque<PendingChunk> chunks_;
  bool stopping_ = false;
  std::atomic<uint64_t> transactions_{0};
  std::atomic<uint64_t> entries_committed_{0};
  std::atomic<uint64_t> chunks_committed_{0};
  std::thread thread_;
};

}  // namespace khronika
