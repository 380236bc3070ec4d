#include "khronika/log/worker_pool.h"

#include <atomic>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>

#include <gtest/gtest.h>

namespace khronika {
namespace {

// Verdicts come back in the order the checks were added, whichever thread ran them, and a
// batch can be reused after Finish.
TEST(WorkerPoolTest, SignatureBatchGivesEachVerdictInOrder) {
  SigningKey key = SigningKey::Generate();
  WorkerPool pool(2);
  SignatureBatch batch(pool);
  for (int round = 0; round < 2; ++round) {
    std::vector<bool> expected;
    for (int i = 0; i < 300; ++i) {
      SignatureCheck check;
      check.key = key.public_key();
      const std::string text = "message " + std::to_string(i);
      check.message.assign(text.begin(), text.end());
      check.signature = key.Sign(check.message);
      const bool good = (i * 7 + round) % 13 != 0;
      if (!good) check.signature[i % 64] ^= 0x20;  // one bit: a forgery
      batch.Add(std::move(check));
      expected.push_back(good);
    }
    EXPECT_EQ(batch.Finish(), expected);
    EXPECT_EQ(batch.size(), 0u);
  }
}

TEST(WorkerPoolTest, DrainWaitsForEveryTaskAndTheCallerHelps) {
  WorkerPool pool(1);
  std::atomic<int> done{0};
  for (int i = 0; i < 1000; ++i) pool.Submit([&] { done.fetch_add(1); });
  pool.Drain();
  EXPECT_EQ(done.load(), 1000);
  EXPECT_GE(WorkerPool::DefaultThreads(), 1u);
}

// The threads of a node say what they are in `top -H` and `ps -L`: /proc holds their names.
std::multiset<std::string> ThreadNames() {
  std::multiset<std::string> names;
  for (const auto& task : std::filesystem::directory_iterator("/proc/self/task")) {
    std::ifstream comm(task.path() / "comm");
    std::string name;
    std::getline(comm, name);
    names.insert(name);
  }
  return names;
}

TEST(WorkerPoolTest, ThreadsAreNamed) {
  const size_t before = ThreadNames().count("kh-test-pool");
  {
    WorkerPool pool(3, "kh-test-pool");
    std::atomic<int> ran{0};
    for (int i = 0; i < 3; ++i) pool.Submit([&] { ++ran; });
    pool.Drain();
    EXPECT_EQ(ran.load(), 3);
    EXPECT_EQ(ThreadNames().count("kh-test-pool"), before + 3);
  }
  std::thread named([] {
    NameThisThread("kh-a-name-longer-than-fifteen");
    EXPECT_EQ(ThreadNames().count("kh-a-name-longe"), 1u);  // the kernel keeps 15 characters
  });
  named.join();
}

}  // namespace
}  // namespace khronika
