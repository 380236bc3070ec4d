#include "khronika/replication/scrub.h"

#include <cstdlib>
#include <filesystem>

#include <gtest/gtest.h>

#include "direct_transport_for_tests.h"
#include "entries_for_tests.h"
#include "khronika/log/log.h"
#include "khronika/log/node.h"
#include "khronika/log/store_keys.h"
#include "khronika/log/verify.h"
#include "khronika/replication/protocol.h"
#include "khronika/replication/roster.h"

namespace khronika {
namespace {

class ScrubTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (std::filesystem::temp_directory_path() / "scrub-test-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    a_ = std::move(Node::Init(dir_ / "a", "ngo-a").value());
    b_ = std::move(Node::Init(dir_ / "b", "ngo-b").value());
    ASSERT_TRUE(RegisterAuthor(a_->store(), author_.public_key(), "Alice").ok());
    ASSERT_TRUE(AddMember(b_->store(), a_->verifier_key(), "").ok());
    for (int i = 0; i < 3; ++i) {
      std::string content(kChunkSize + 10 + i, static_cast<char>('a' + i));
      content[kChunkSize] = '/';  // the two upload chunks of a file differ
      auto sub = MakeTestSubmission(*a_, author_, "case-1",
                                    {{"f" + std::to_string(i) + ".bin", content}});
      ASSERT_TRUE(sub.ok()) << sub.status().ToString();
      auto r = a_->log().Append({*sub});
      ASSERT_TRUE(r.ok()) << r.status().ToString();
      receipts_.push_back((*r)[0]);
      ASSERT_TRUE(a_->store().View([&](ReadTxn& txn) -> Status {
        KH_ASSIGN_OR_RETURN(LoggedObject logged, ReadLoggedObject(txn, a_->id(), i));
        KH_ASSIGN_OR_RETURN(SealedEntry e, DecodeSealedEntry(logged.object_bytes));
        sealed_.push_back(std::move(e));
        return Status::Ok();
      }).ok());
    }
    DirectTransport from_a(a_->store());
    ASSERT_TRUE(PullFromPeer(b_->store(), from_a).ok());
  }
  void TearDown() override {
    a_.reset();
    b_.reset();
    std::filesystem::remove_all(dir_);
  }

  // Overwrites a stored value as bit rot would.
  void Damage(Store& store, Table table, ByteView key) {
    ASSERT_TRUE(store.Update([&](WriteTxn& txn) -> Status {
      KH_ASSIGN_OR_RETURN(auto v, txn.Get(table, key));
      if (!v) return Status::NotFound("nothing to damage");
      (*v)[v->size() / 2] ^= 0x10;
      return txn.Put(table, key, *v);
    }).ok());
  }

  std::filesystem::path dir_;
  SigningKey author_ = SigningKey::Generate();
  std::unique_ptr<Node> a_, b_;
  std::vector<Receipt> receipts_;
  std::vector<SealedEntry> sealed_;
};

TEST_F(ScrubTest, CleanStoreHasNoFindings) {
  auto report = ScrubStore(b_->store());
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_TRUE(report->findings.empty());
  EXPECT_EQ(report->records, 3u);
  EXPECT_EQ(report->chunks, 3 * SealedChunksOf(kChunkSize + 10));
  EXPECT_EQ(report->objects, 3u);  // three sealed entries
}

TEST_F(ScrubTest, DamageIsFoundAndRepairedFromAPeer) {
  const Hash chunk = sealed_[1].files[0].chunks[0];
  const Hash lost_chunk = sealed_[0].files[0].chunks[1];
  Damage(b_->store(), Table::kChunks, chunk);
  ASSERT_TRUE(b_->store().Update([&](WriteTxn& txn) { return txn.Delete(Table::kChunks, lost_chunk); }).ok());
  Damage(b_->store(), Table::kObjects, keys::Object(a_->id(), receipts_[0].index));
  const Hash lost = receipts_[2].entry_id;
  ASSERT_TRUE(b_->store().Update([&](WriteTxn& txn) {
    return txn.Delete(Table::kObjects, keys::Object(a_->id(), receipts_[2].index));
  }).ok());
  Damage(b_->store(), Table::kRecords, keys::Record(a_->id(), 1));
  ASSERT_FALSE(VerifyStore(b_->store())->clean());

  auto report = ScrubStore(b_->store());
  ASSERT_TRUE(report.ok());
  std::vector<std::string> seen;
  for (const auto& f : report->findings) seen.push_back(f.Describe());
  std::sort(seen.begin(), seen.end());
  std::vector<std::string> expected = {
      "chunk " + ToHex(chunk) + ": damaged",
      "object " + ToHex(lost) + ": missing",
      "object " + ToHex(receipts_[0].entry_id) + ": damaged",
      "record 1 of " + ToHex(a_->id()) + ": damaged",
  };
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(seen, expected);

  // Entry 0's chunk list was unreadable, so its lost chunk shows only once the entry is back:
  // the repair then fetches it too.
  DirectTransport from_a(a_->store());
  ASSERT_TRUE(RepairFromPeer(b_->store(), from_a, *report).ok());
  EXPECT_EQ(report->unrepaired(), 0u);
  ASSERT_EQ(report->findings.size(), 5u);
  EXPECT_EQ(report->findings.back().Describe(), "chunk " + ToHex(lost_chunk) + ": missing");
  auto again = ScrubStore(b_->store());
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->findings.empty());
  auto verify = VerifyStore(b_->store());
  ASSERT_TRUE(verify.ok());
  EXPECT_TRUE(verify->clean()) << verify->problems.front();

  ASSERT_TRUE(RememberScrub(b_->store(), *report, 1767225700000).ok());
  auto last = LastScrub(b_->store()).value();
  ASSERT_TRUE(last.has_value());
  EXPECT_EQ(last->damaged, 5u);
  EXPECT_EQ(last->repaired, 5u);
  EXPECT_EQ(last->unrepaired, 0u);
}

TEST_F(ScrubTest, APeerThatLacksItOrLiesLeavesItUnrepaired) {
  const Hash chunk = sealed_[0].files[0].chunks[1];
  Damage(b_->store(), Table::kChunks, chunk);
  auto report = ScrubStore(b_->store());
  ASSERT_TRUE(report.ok());
  ASSERT_EQ(report->findings.size(), 1u);
  // The peer's copy is damaged too: its bytes do not hash to the id, so nothing is written.
  Damage(a_->store(), Table::kChunks, chunk);
  DirectTransport from_a(a_->store());
  ASSERT_TRUE(RepairFromPeer(b_->store(), from_a, *report).ok());
  EXPECT_EQ(report->unrepaired(), 1u);
  ASSERT_TRUE(RememberScrub(b_->store(), *report, 1767225700000).ok());
  auto last = LastScrub(b_->store()).value();
  ASSERT_TRUE(last.has_value());
  EXPECT_EQ(last->unrepaired, 1u);
  EXPECT_EQ(last->unrepaired_items, std::vector<std::string>{"chunk " + ToHex(chunk) + ": damaged"});
}

}  // namespace
}  // namespace khronika
