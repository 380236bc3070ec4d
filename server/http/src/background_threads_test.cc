// The node's background threads under load: every group commit asks them to notify peers and
// push the new checkpoint, a hundred times a second. What they send goes out at most every 100
// ms; the requests in between must not wake them either (each wake-up is a context switch on a
// machine whose two cores the handlers and the committer need).
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include "khronika/http/metrics.h"
#include "khronika/http/sync_scheduler.h"
#include "khronika/http/timestamper.h"
#include "khronika/http/tls.h"
#include "khronika/http/witness_pusher.h"
#include "khronika/log/node.h"

namespace khronika {
namespace {

namespace fs = std::filesystem;

// Voluntary context switches of this process's threads named `name` (each is one wake-up
// after a wait), from /proc.
uint64_t WakeUps(const std::string& name) {
  uint64_t total = 0;
  for (const auto& task : fs::directory_iterator("/proc/self/task")) {
    std::ifstream comm(task.path() / "comm");
    std::string comm_name;
    std::getline(comm, comm_name);
    if (comm_name != name) continue;
    std::ifstream status(task.path() / "status");
    for (std::string line; std::getline(status, line);) {
      const std::string key = "voluntary_ctxt_switches:";
      if (line.rfind(key, 0) == 0) total += std::stoull(line.substr(key.size()));
    }
  }
  return total;
}

class BackgroundThreadsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "background-threads-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    auto node = Node::Init(dir_ / "node", "background");
    ASSERT_TRUE(node.ok()) << node.status().ToString();
    node_ = std::move(node).value();
  }
  void TearDown() override {
    node_.reset();
    fs::remove_all(dir_);
  }

  // How often the thread named `thread` woke while `request` was called every millisecond for
  // 600 ms, like a node appending a thousand entries a second.
  template <typename F>
  static uint64_t WakeUpsDuringRequests(const std::string& thread, F request) {
    const uint64_t before = WakeUps(thread);
    const auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(600);
    while (std::chrono::steady_clock::now() < end) {
      request();
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return WakeUps(thread) - before;
  }

  fs::path dir_;
  std::unique_ptr<Node> node_;
  Metrics metrics_;
};

TEST_F(BackgroundThreadsTest, CommitNotificationsDoNotWakeTheSyncThreadEachTime) {
  SyncScheduler scheduler(*node_, metrics_, std::chrono::seconds(0), PeerClientOptions{});
  scheduler.Start();
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  const uint64_t woken = WakeUpsDuringRequests("kh-sync", [&] { scheduler.NotifyPeers(); });
  scheduler.Stop();
  // About 600 requests; a notification (with no peers: nothing to send) every 100 ms, each
  // after a wake for the request and one for the end of the gap.
  EXPECT_LE(woken, 30u) << "the sync thread woke " << woken << " times for 600 requests";
  EXPECT_GE(woken, 4u) << "the sync thread did not act on the requests";
}

TEST_F(BackgroundThreadsTest, CommitPokesDoNotWakeTheWitnessThreadEachTime) {
  WitnessPusher pusher(*node_, {}, PeerClientOptions{});
  pusher.Start();
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  const uint64_t woken = WakeUpsDuringRequests("kh-witness", [&] { pusher.Poke(); });
  pusher.Stop();
  EXPECT_LE(woken, 30u) << "the witness thread woke " << woken << " times for 600 pokes";
  EXPECT_GE(woken, 4u) << "the witness thread did not act on the pokes";
}

// With a time-stamping authority configured, every appended entry tells the timestamper; after
// it has asked (here: an address where nothing listens), it waits out the authority's interval,
// and the entries meanwhile must not wake it.
TEST_F(BackgroundThreadsTest, AppendsDoNotWakeTheTimestamperDuringItsInterval) {
  ASSERT_TRUE(CreateSelfSignedCertificate(dir_ / "tsa.crt", dir_ / "tsa.key").ok());
  TimestamperOptions options;
  options.tsas.push_back(TsaConfig{"https://127.0.0.1:1/", dir_ / "tsa.crt"});
  options.interval = std::chrono::seconds(3600);
  options.deadline = std::chrono::milliseconds(2000);
  // One entry, so that there is a checkpoint to ask about.
  const SigningKey author = SigningKey::Generate();
  ASSERT_TRUE(RegisterAuthor(node_->store(), author.public_key(), "Alice").ok());
  const std::string content = "a statement";
  Submission s;
  SubmittedFile f;
  f.opening.descriptor = {"statement.txt", "text/plain", content.size(), Sha256(content)};
  RandomBytes(f.opening.salt.data(), f.opening.salt.size());
  f.content = Bytes(content.begin(), content.end());
  s.entry.case_id = "case-1";
  s.entry.kind = "evidence";
  s.entry.created_at_ms = 1767225600000;
  s.entry.files = {FileCommitment(f.opening.salt, Encode(f.opening.descriptor))};
  SignEntry(s.entry, author);
  s.files = {std::move(f)};
  auto appended = node_->log().Append({s});
  ASSERT_TRUE(appended.ok()) << appended.status().ToString();
  Timestamper timestamper(*node_, metrics_, options);
  ASSERT_TRUE(timestamper.Start().ok());
  timestamper.NewCheckpoint();  // the first ask, refused at once: the interval begins
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  const uint64_t woken =
      WakeUpsDuringRequests("kh-timestamp", [&] { timestamper.NewCheckpoint(); });
  timestamper.Stop();
  EXPECT_LE(woken, 10u) << "the timestamper woke " << woken << " times for 600 appends";
}

}  // namespace
}  // namespace khronika
