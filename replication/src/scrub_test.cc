#include "khronika/replication/scrub.h"

#include <cstdlib>
#include <filesystem>

#include <gtest/gtest.h>

#include "direct_transport_for_tests.h"
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
      FileManifest m{"f" + std::to_string(i) + ".bin", "application/octet-stream", content.size(),
                     Sha256(content), {}};
      ASSERT_TRUE(a_->store().Update([&](WriteTxn& txn) -> Status {
        for (size_t off = 0; off < content.size(); off += kChunkSize) {
          KH_ASSIGN_OR_RETURN(Hash id, PutChunk(txn, AsBytes(content).subspan(off, std::min(kChunkSize, content.size() - off))));
          m.chunks.push_back(id);
        }
        return Status::Ok();
      }).ok());
      Submission s;
      s.entry.case_id = "case-1";
      s.entry.kind = "evidence";
      s.entry.created_at_ms = 1767225600000;
      s.entry.manifests = {ObjectId(Encode(m))};
      SignEntry(s.entry, author_);
      s.manifests = {m};
      auto r = a_->log().Append({s});
      ASSERT_TRUE(r.ok());
      receipts_.push_back((*r)[0]);
      manifests_.push_back(m);
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
  std::vector<FileManifest> manifests_;
};

TEST_F(ScrubTest, CleanStoreHasNoFindings) {
  auto report = ScrubStore(b_->store());
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_TRUE(report->findings.empty());
  EXPECT_EQ(report->records, 3u);
  EXPECT_EQ(report->chunks, 6u);
  EXPECT_EQ(report->objects, 6u);  // three entries, three manifests
}

TEST_F(ScrubTest, DamageIsFoundAndRepairedFromAPeer) {
  const Hash chunk = manifests_[1].chunks[0];
  Damage(b_->store(), Table::kChunks, chunk);
  Damage(b_->store(), Table::kObjects, receipts_[0].entry_id);
  const Hash manifest = ObjectId(Encode(manifests_[2]));
  ASSERT_TRUE(b_->store().Update([&](WriteTxn& txn) { return txn.Delete(Table::kObjects, manifest); }).ok());
  Damage(b_->store(), Table::kRecords, keys::Record(a_->id(), 2));
  ASSERT_FALSE(VerifyStore(b_->store())->clean());

  auto report = ScrubStore(b_->store());
  ASSERT_TRUE(report.ok());
  std::vector<std::string> seen;
  for (const auto& f : report->findings) seen.push_back(f.Describe());
  std::sort(seen.begin(), seen.end());
  std::vector<std::string> expected = {
      "chunk " + ToHex(chunk) + ": damaged",
      "object " + ToHex(manifest) + ": missing",
      "object " + ToHex(receipts_[0].entry_id) + ": damaged",
      "record 2 of " + ToHex(a_->id()) + ": damaged",
  };
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(seen, expected);

  DirectTransport from_a(a_->store());
  ASSERT_TRUE(RepairFromPeer(b_->store(), from_a, *report).ok());
  EXPECT_EQ(report->unrepaired(), 0u);
  auto again = ScrubStore(b_->store());
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->findings.empty());
  auto verify = VerifyStore(b_->store());
  ASSERT_TRUE(verify.ok());
  EXPECT_TRUE(verify->clean()) << verify->problems.front();

  ASSERT_TRUE(RememberScrub(b_->store(), *report, 1767225700000).ok());
  auto last = LastScrub(b_->store()).value();
  ASSERT_TRUE(last.has_value());
  EXPECT_EQ(last->damaged, 4u);
  EXPECT_EQ(last->repaired, 4u);
  EXPECT_EQ(last->unrepaired, 0u);
}

TEST_F(ScrubTest, APeerThatLacksItOrLiesLeavesItUnrepaired) {
  const Hash chunk = manifests_[0].chunks[1];
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
