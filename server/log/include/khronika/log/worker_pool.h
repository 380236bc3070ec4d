// A small bounded pool of threads for CPU-bound checks (Ed25519 above all), so that `verify`,
// `sync` and the server use every core. The caller stays the pool's last worker: what it waits
// for, it helps run, so a pool of N threads plus its caller keeps N + 1 cores busy.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "khronika/schemas/sealed_objects.h"

namespace khronika {

// Names the calling thread (at most 15 characters), so that `top -H`, `ps -L` and profiles say
// which of a node's threads is busy: kh-commit, kh-io, kh-worker and so on.
void NameThisThread(const char* name);

class WorkerPool {
 public:
  // One thread per core but the caller's, at least one, at most 15.
  static size_t DefaultThreads();
  explicit WorkerPool(size_t threads = DefaultThreads(), const char* thread_name = "kh-worker");
  ~WorkerPool();
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  size_t threads() const { return threads_.size(); }
  void Submit(std::function<void()> task);
  // Runs queued tasks on the calling thread too, and returns once every task submitted so far
  // has finished.
  void Drain();

 private:
  bool RunOne(std::unique_lock<std::mutex>& lock);

  std::mutex mu_;
  std::condition_variable work_;  // a task was queued, or the pool is stopping
  std::condition_variable idle_;  // a task finished
  std::deque<std::function<void()>> queue_;
  size_t running_ = 0;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

// Ed25519 checks verified on a pool as they are added. Finish() gives each one's verdict, in
// the order they were added: a caller names failures in its own order, whichever thread
// checked them.
class SignatureBatch {
 public:
  explicit SignatureBatch(WorkerPool& pool) : pool_(pool) {}
  ~SignatureBatch() { pool_.Drain(); }  // no task outlives the checks it reads
  SignatureBatch(const SignatureBatch&) = delete;
  SignatureBatch& operator=(const SignatureBatch&) = delete;

  size_t size() const { return items_.size(); }
  // Returns the check's position in the batch.
  size_t Add(SignatureCheck check);
  // Waits for every check added (helping), returns their verdicts and empties the batch.
  std::vector<bool> Finish();

 private:
  struct Item {
    SignatureCheck check;
    bool ok = false;
  };
  WorkerPool& pool_;
  std::deque<Item> items_;  // a deque: adding never moves an item a worker is reading
};

}  // namespace khronika
