// No acknowledged entry is ever lost: a child appends in a loop and reports each index on a pipe
// only after the commit returned; the parent SIGKILLs it at random moments, then reopens the
// store, verifies it from scratch and looks for every acknowledged entry.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <random>

#include <gtest/gtest.h>

#include "khronika/log/log.h"
#include "khronika/log/node.h"
#include "khronika/log/store_keys.h"
#include "khronika/log/verify.h"
#include "test_support.h"

namespace khronika::testing {
namespace {

struct Ack {
  uint64_t index;
  Hash entry_id;
};

// Runs in the child: never returns. The LMDB environment is opened here, after fork().
[[noreturn]] void AppendForever(const std::filesystem::path& data, const std::string& author_pem,
                                int ack_fd, uint64_t seed) {
  auto node = Node::Open(data);
  if (!node.ok()) _exit(3);
  auto author = SigningKey::FromPem(author_pem);
  if (!author.ok()) _exit(4);
  std::mt19937_64 rng(seed);
  for (uint64_t n = 0;; ++n) {
    size_t batch_size = 1 + rng() % 3;  // group commits too
    std::vector<Submission> batch;
    for (size_t b = 0; b < batch_size; ++b) {
      std::string content = "seed " + std::to_string(seed) + " entry " + std::to_string(n) +
                            "." + std::to_string(b) + " " + std::to_string(rng());
      SubmittedFile f;
      f.opening.descriptor = {"statement.txt", "text/plain", content.size(), Sha256(content)};
      RandomBytes(f.opening.salt.data(), f.opening.salt.size());
      Status st = (*node)->store().Update([&](WriteTxn& txn) -> Status {
        KH_ASSIGN_OR_RETURN(Hash id, PutUploadChunk(txn, "", AsBytes(content)));
        f.upload_chunks = {id};
        return Status::Ok();
      });
      if (!st.ok()) _exit(5);
      Submission s;
      s.entry.case_id = "case-" + std::to_string(rng() % 4);
      s.entry.author = author->public_key();
      s.entry.kind = "evidence";
      s.entry.created_at_ms = 1700000000000;
      s.entry.files = {FileCommitment(f.opening.salt, Encode(f.opening.descriptor))};
      SignEntry(s.entry, *author);
      s.files = {std::move(f)};
      batch.push_back(std::move(s));
    }
    auto receipts = (*node)->log().Append(batch);
    if (!receipts.ok()) _exit(6);
    for (const Receipt& r : *receipts) {
      Ack ack{r.index, r.entry_id};
      if (::write(ack_fd, &ack, sizeof ack) != sizeof ack) _exit(7);
    }
  }
}

TEST(DurabilityTest, SigkillNeverLosesAnAcknowledgedEntry) {
  TempDir dir;
  std::filesystem::path data = dir / "node";
  SigningKey author = SigningKey::Generate();
  {
    auto node = Node::Init(data, "durability");
    ASSERT_TRUE(node.ok()) << node.status().ToString();
    ASSERT_TRUE(RegisterAuthor((*node)->store(), author.public_key(), "author").ok());
  }  // closed before any fork
  std::string author_pem = author.ToPem();
  std::mt19937_64 rng(20261129);
  std::vector<Ack> acked;
  constexpr int kRounds = 60;
  for (int round = 0; round < kRounds; ++round) {
    int fds[2];
    ASSERT_EQ(::pipe(fds), 0);
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      ::close(fds[0]);
      AppendForever(data, author_pem, fds[1], rng());
    }
    ::close(fds[1]);
    // Random moment: from right after start-up to several dozen commits in (an append of format 2
    // is two commits at least: the sealed chunks, then the records).
    ::usleep(static_cast<useconds_t>(1000 + rng() % 150000));
    ::kill(pid, SIGKILL);
    int status = 0;
    ::waitpid(pid, &status, 0);
    ASSERT_TRUE(WIFSIGNALED(status)) << "child exited by itself with " << WEXITSTATUS(status);
    Ack ack;
    while (::read(fds[0], &ack, sizeof ack) == sizeof ack) acked.push_back(ack);
    ::close(fds[0]);

    auto node = Node::Open(data);
    ASSERT_TRUE(node.ok()) << "round " << round << ": " << node.status().ToString();
    // With the archive key: every acknowledged entry opens and its plaintext matches.
    auto report = VerifyStore((*node)->store(), {&(*node)->archive_key(), (*node)->id()});
    ASSERT_TRUE(report.ok());
    ASSERT_TRUE(report->clean()) << "round " << round << ": " << report->problems.front();
    Status st = (*node)->store().View([&](ReadTxn& txn) -> Status {
      for (const Ack& a : acked) {
        KH_ASSIGN_OR_RETURN(auto rec, txn.Get(Table::kRecords, keys::Record((*node)->id(), a.index)));
        EXPECT_TRUE(rec.has_value()) << "acknowledged index " << a.index << " lost";
        if (!rec) continue;
        KH_ASSIGN_OR_RETURN(Record r, DecodeRecord(*rec));
        EXPECT_EQ(r.object_id, a.entry_id) << "index " << a.index << " holds another entry";
      }
      return Status::Ok();
    });
    ASSERT_TRUE(st.ok()) << st.ToString();
  }
  // The kills must have landed while work was acknowledged, or the test proves nothing.
  EXPECT_GT(acked.size(), static_cast<size_t>(kRounds));
  std::cout << "acknowledged entries across " << kRounds << " kills: " << acked.size() << "\n";
}

}  // namespace
}  // namespace khronika::testing
