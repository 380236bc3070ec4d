// The node as a C2SP tlog-witness (WitnessAddCheckpoint): real stores, real signatures.
#include "khronika/replication/witness.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <thread>

#include "direct_transport_for_tests.h"
#include "entries_for_tests.h"
#include "khronika/log/log.h"
#include "khronika/log/node.h"
#include "khronika/log/store_keys.h"
#include "khronika/replication/roster.h"
#include "khronika/replication/sync.h"

namespace khronika {
namespace {

class WitnessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (std::filesystem::temp_directory_path() / "witness-test-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    a_ = std::move(Node::Init(dir_ / "a", "ngo-a").value());
    b_ = std::move(Node::Init(dir_ / "b", "ngo-b").value());
    ASSERT_TRUE(RegisterAuthor(a_->store(), author_.public_key(), "Alice").ok());
    ASSERT_TRUE(AddMember(b_->store(), a_->verifier_key(), "").ok());
  }
  void TearDown() override {
    a_.reset();
    b_.reset();
    std::filesystem::remove_all(dir_);
  }

  void Append(int n) {
    std::vector<Submission> batch;
    for (int i = 0; i < n; ++i) {
      auto s = MakeTestSubmission(*a_, author_, "case-1",
                                  {{"f.txt", "content " + std::to_string(counter_++)}});
      ASSERT_TRUE(s.ok()) << s.status().message();
      batch.push_back(std::move(*s));
    }
    ASSERT_TRUE(a_->log().Append(batch).ok());
  }
  void Pull() {
    DirectTransport from_a(a_->store());
    auto report = PullFromPeer(b_->store(), from_a);
    ASSERT_TRUE(report.ok());
  }
  std::string CheckpointOfA(uint64_t size) {
    std::string note;
    EXPECT_TRUE(a_->store()
                    .View([&](ReadTxn& txn) -> Status {
                      KH_ASSIGN_OR_RETURN(
                          auto v, txn.Get(Table::kCheckpoints, keys::Checkpoint(a_->id(), size)));
                      if (!v) return Status::NotFound("no checkpoint");
                      note = std::string(AsChars(*v));
                      return Status::Ok();
                    })
                    .ok());
    return note;
  }
  AddCheckpointAnswer Submit(uint64_t old_size, std::vector<Hash> proof, std::string note) {
    Witness witness{b_->cosigner_name(), &b_->cosigner_key()};
    auto a = WitnessAddCheckpoint(b_->store(), b_->id(), witness,
                                  {old_size, std::move(proof), std::move(note)}, 1767225600);
    EXPECT_TRUE(a.ok()) << a.status().message();
    return a.ok() ? *a : AddCheckpointAnswer{0, ""};
  }
  uint64_t Cosignatures() {
    uint64_t n = 0;
    EXPECT_TRUE(b_->store()
                    .View([&](ReadTxn& txn) -> Status {
                      KH_ASSIGN_OR_RETURN(n, txn.Count(Table::kCosignatures));
                      return Status::Ok();
                    })
                    .ok());
    return n;
  }

  std::filesystem::path dir_;
  std::unique_ptr<Node> a_, b_;
  SigningKey author_ = SigningKey::Generate();
  int counter_ = 0;
};

TEST_F(WitnessTest, CosignsWhatItHoldsAndRefusesTheRestChangingNothing) {
  Append(3);
  const std::string at3 = CheckpointOfA(3);
  // Not pulled yet: a partner vouches only for what it holds whole.
  AddCheckpointAnswer a = Submit(0, {}, at3);
  EXPECT_EQ(a.status, 503) << a.body;
  EXPECT_EQ(Cosignatures(), 0u);
  Pull();
  a = Submit(0, {}, at3);
  ASSERT_EQ(a.status, 200) << a.body;
  auto lines = ParseSignatureLines(a.body);
  ASSERT_TRUE(lines.ok());
  auto verifier = ParseCosignerVerifierKey(b_->cosigner_verifier_key());
  ASSERT_TRUE(verifier.ok());
  EXPECT_EQ(VerifyCosignature(ParseSignedNote(at3)->text, (*lines)[0], *verifier), 1767225600u);
  EXPECT_EQ(Cosignatures(), 1u);

  Append(2);
  Pull();
  const std::string at5 = CheckpointOfA(5);
  std::vector<Hash> proof = *a_->log().ConsistencyProof(3, 5);
  // Old size 0 is no longer what it cosigned: 409 with its size.
  a = Submit(0, {}, at5);
  EXPECT_EQ(a.status, 409);
  EXPECT_EQ(a.body, "3\n");
  // A rollback: old size beyond the checkpoint.
  a = Submit(5, {}, at3);
  EXPECT_EQ(a.status, 400) << a.body;
  // A proof that does not verify.
  std::vector<Hash> bad = proof;
  bad[0][0] ^= 1;
  a = Submit(3, bad, at5);
  EXPECT_EQ(a.status, 422) << a.body;
  // A signature that does not verify under the roster key.
  std::string forged = at5;
  forged[forged.size() - 10] = forged[forged.size() - 10] == 'A' ? 'B' : 'A';
  a = Submit(3, proof, forged);
  EXPECT_EQ(a.status, 403) << a.body;
  // A log not on the roster, and its own log.
  a = Submit(0, {}, *b_->log().LatestCheckpoint());
  EXPECT_EQ(a.status, 404) << a.body;
  auto c = Node::Init(dir_ / "c", "ngo-c");
  ASSERT_TRUE(c.ok());
  auto cs_note = (*c)->log().LatestCheckpoint();
  a = Submit(0, {}, *cs_note);
  EXPECT_EQ(a.status, 404) << a.body;
  a = Submit(0, {}, "not a note");
  EXPECT_EQ(a.status, 400) << a.body;
  EXPECT_EQ(Cosignatures(), 1u);

  a = Submit(3, proof, at5);
  ASSERT_EQ(a.status, 200) << a.body;
  EXPECT_EQ(Cosignatures(), 2u);
  // The same checkpoint again: the same cosignature, nothing new.
  AddCheckpointAnswer again = Submit(5, {}, at5);
  EXPECT_EQ(again.status, 200);
  EXPECT_EQ(again.body, a.body);
  EXPECT_EQ(Cosignatures(), 2u);
}

// The spec's race: checking the old size and recording the new one are one step, so requests
// sharing an old size cosign once between them, whatever their sizes.
TEST_F(WitnessTest, ConcurrentRequestsWithOneOldSizeCosignOnce) {
  Append(3);
  Pull();
  Append(2);
  Pull();
  const std::string notes[2] = {CheckpointOfA(3), CheckpointOfA(5)};
  std::atomic<int> cosigned{0}, conflicts{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&, i] {
      AddCheckpointAnswer a = Submit(0, {}, notes[i % 2]);
      if (a.status == 200) ++cosigned;
      if (a.status == 409) ++conflicts;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(cosigned.load(), 1);
  EXPECT_EQ(conflicts.load(), 7);
  EXPECT_EQ(Cosignatures(), 1u);
}

}  // namespace
}  // namespace khronika
