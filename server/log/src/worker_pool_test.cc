#include "khronika/log/worker_pool.h"

#include <atomic>

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

}  // namespace
}  // namespace khronika
