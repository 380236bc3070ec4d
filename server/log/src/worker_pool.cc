#include "khronika/log/worker_pool.h"

#include <pthread.h>

#include <algorithm>
#include <string>

namespace khronika {

namespace {

void NameThread(pthread_t thread, const char* name) {
  const std::string shortened = std::string(name).substr(0, 15);  // the kernel keeps 15
  (void)pthread_setname_np(thread, shortened.c_str());
}

}  // namespace

void NameThisThread(const char* name) { NameThread(pthread_self(), name); }

size_t WorkerPool::DefaultThreads() {
  size_t cores = std::thread::hardware_concurrency();
  return std::clamp<size_t>(cores > 1 ? cores - 1 : 1, 1, 15);
}

WorkerPool::WorkerPool(size_t threads, const char* thread_name) {
  threads = std::clamp<size_t>(threads, 1, 15);
  threads_.reserve(threads);
  for (size_t i = 0; i < threads; ++i) {
    threads_.emplace_back([this] {
      std::unique_lock<std::mutex> lock(mu_);
      for (;;) {
        work_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
        if (queue_.empty()) return;  // stopping, and nothing left
        RunOne(lock);
      }
    });
    NameThread(threads_.back().native_handle(), thread_name);  // named before the pool returns
  }
}

WorkerPool::~WorkerPool() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  work_.notify_all();
  for (std::thread& t : threads_) t.join();
}

void WorkerPool::Submit(std::function<void()> task) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    queue_.push_back(std::move(task));
  }
  work_.notify_one();
}

bool WorkerPool::RunOne(std::unique_lock<std::mutex>& lock) {
  if (queue_.empty()) return false;
  std::function<void()> task = std::move(queue_.front());
  queue_.pop_front();
  ++running_;
  lock.unlock();
  task();
  lock.lock();
  --running_;
  idle_.notify_all();
  return true;
}

void WorkerPool::Drain() {
  std::unique_lock<std::mutex> lock(mu_);
  while (RunOne(lock)) {
  }
  idle_.wait(lock, [this] { return queue_.empty() && running_ == 0; });
}

size_t SignatureBatch::Add(SignatureCheck check) {
  Item& item = items_.emplace_back();
  item.check = std::move(check);
  pool_.Submit([&item] { item.ok = item.check.Verify(); });
  return items_.size() - 1;
}

std::vector<bool> SignatureBatch::Finish() {
  pool_.Drain();
  std::vector<bool> verdicts;
  verdicts.reserve(items_.size());
  for (const Item& item : items_) verdicts.push_back(item.ok);
  items_.clear();
  return verdicts;
}

}  // namespace khronika
