// RFC 3161 tokens replicate with the log (docs/replication.md, "Timestamps"): a partner takes
// the origin's tokens with the checkpoint they are over, checks both, and a hostile peer's
// altered token, token over something else, or checkpoint of another root is refused with
// nothing stored. The tokens come from OpenSSL's own TSA (`openssl ts -reply`).
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "direct_transport_for_tests.h"
#include "entries_for_tests.h"
#include "khronika/log/log.h"
#include "khronika/log/node.h"
#include "khronika/log/store_keys.h"
#include "khronika/replication/roster.h"
#include "khronika/replication/sync.h"
#include "khronika/schemas/note.h"
#include "khronika/timestamp/rfc3161.h"
#include "khronika/timestamp/timestamp_store.h"

namespace khronika {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

std::string ReadAll(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

class TimestampSyncTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "ts-sync-test-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    const std::string cmd = "bash '" KHRONIKA_SOURCE_DIR "/tests/integration/tsa/make_tsa.sh' '" +
                            (dir_ / "tsa").string() + "' >/dev/null";
    ASSERT_EQ(std::system(cmd.c_str()), 0);
    a_ = std::move(Node::Init(dir_ / "a", "ngo-a").value());
    b_ = std::move(Node::Init(dir_ / "b", "ngo-b").value());
    ASSERT_TRUE(RegisterAuthor(a_->store(), author_.public_key(), "Alice").ok());
    ASSERT_TRUE(AddMember(b_->store(), a_->verifier_key(), "").ok());
  }
  void TearDown() override {
    a_.reset();
    b_.reset();
    fs::remove_all(dir_);
  }

  void Append(int n) {
    for (int i = 0; i < n; ++i) {
      auto s = MakeTestSubmission(*a_, author_, "case-1",
                                  {{"file.bin", "statement " + std::to_string(counter_++)}});
      ASSERT_TRUE(s.ok()) << s.status().ToString();
      ASSERT_TRUE(a_->log().Append({std::move(*s)}).ok());
    }
  }

  // The body (text before the signatures) of A's checkpoint at `size`.
  std::string BodyAt(uint64_t size) {
    std::string note;
    EXPECT_TRUE(a_->store().View([&](ReadTxn& txn) -> Status {
      KH_ASSIGN_OR_RETURN(auto held, txn.Get(Table::kCheckpoints, keys::Checkpoint(a_->id(), size)));
      if (!held) return Status::NotFound("no checkpoint");
      note.assign(AsChars(*held));
      return Status::Ok();
    }).ok());
    auto parsed = ParseSignedNote(note);
    EXPECT_TRUE(parsed.ok());
    return parsed.ok() ? parsed->text : "";
  }

  // A token of the test TSA over A's checkpoint at `size`, stored at A as its timestamper does.
  TimestampToken Stamp(uint64_t size) {
    const std::string body = BodyAt(size);
    auto q = MakeTimestampQuery(body);
    EXPECT_TRUE(q.ok());
    const fs::path tsa = dir_ / "tsa";
    std::ofstream(tsa / "q.tsq", std::ios::binary)
        .write(reinterpret_cast<const char*>(q->der.data()), static_cast<std::streamsize>(q->der.size()));
    const std::string cmd = "cd '" + tsa.string() +
                            "' && openssl ts -reply -config ts.cnf -section tsa_good -queryfile "
                            "q.tsq -out r.tsr 2>/dev/null";
    EXPECT_EQ(std::system(cmd.c_str()), 0);
    const std::string reply = ReadAll(tsa / "r.tsr");
    auto token = VerifyTimestampResponse(AsBytes(reply), *q, ReadAll(tsa / "ca.pem"));
    EXPECT_TRUE(token.ok()) << token.status().ToString();
    EXPECT_TRUE(a_->store().Update([&](WriteTxn& txn) {
      return PutTimestamp(txn, {a_->id(), size, "http://tsa.test/", *token});
    }).ok());
    return *token;
  }

  std::vector<StoredTimestamp> HeldAtB(uint64_t size) {
    std::vector<StoredTimestamp> out;
    EXPECT_TRUE(b_->store().View([&](ReadTxn& txn) -> Status {
      KH_ASSIGN_OR_RETURN(out, TimestampsAt(txn, a_->id(), size));
      return Status::Ok();
    }).ok());
    return out;
  }

  fs::path dir_;
  SigningKey author_ = SigningKey::Generate();
  std::unique_ptr<Node> a_, b_;
  int counter_ = 0;
};

TEST_F(TimestampSyncTest, APartnerTakesTheOriginsTokensWithTheLogAndKeepsThem) {
  Append(3);
  const TimestampToken token = Stamp(3);
  DirectTransport from_a(a_->store());
  auto report = PullFromPeer(b_->store(), from_a);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  ASSERT_EQ(report->logs.size(), 1u);
  ASSERT_TRUE(report->logs[0].status.ok()) << report->logs[0].status.ToString();
  EXPECT_EQ(report->logs[0].timestamps_received, 1u);
  std::vector<StoredTimestamp> held = HeldAtB(3);
  ASSERT_EQ(held.size(), 1u);
  EXPECT_EQ(held[0].token.token, token.token);
  EXPECT_EQ(held[0].token.gen_time_s, token.gen_time_s);
  EXPECT_EQ(held[0].tsa_url, "http://tsa.test/");
  // B announces them in turn, so a third node could take them from B; a second pull asks
  // for nothing it holds.
  std::vector<Head> heads;
  ASSERT_TRUE(b_->store().View([&](ReadTxn& txn) -> Status {
    KH_ASSIGN_OR_RETURN(heads, LocalHeads(txn));
    return Status::Ok();
  }).ok());
  const Head* of_a = nullptr;  // B announces its own log too
  for (const Head& h : heads) {
    if (h.origin == a_->id()) of_a = &h;
  }
  ASSERT_NE(of_a, nullptr);
  EXPECT_EQ(of_a->timestamped, 3u);
  auto again = PullFromPeer(b_->store(), from_a);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->logs[0].timestamps_received, 0u);

  // A later checkpoint with a token of its own comes too, and the earlier stays.
  Append(2);
  Stamp(5);
  auto later = PullFromPeer(b_->store(), from_a);
  ASSERT_TRUE(later.ok());
  EXPECT_EQ(later->logs[0].timestamps_received, 1u);
  EXPECT_EQ(HeldAtB(5).size(), 1u);
  EXPECT_EQ(HeldAtB(3).size(), 1u);
  // The heads JSON round-trips the announcement; a size past the log's is malformed.
  auto parsed = HeadsFromJson(HeadsToJson(b_->id(), {*of_a}));
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ((*parsed)[0].timestamped, 3u);
  json bad = json::parse(HeadsToJson(b_->id(), {*of_a}));
  bad["logs"][0]["timestamped"] = 99;
  EXPECT_FALSE(HeadsFromJson(bad.dump()).ok());
}

TEST_F(TimestampSyncTest, AHostilePeersTokensAreRefusedAndNothingIsStored) {
  Append(2);
  Stamp(1);  // a genuine token, over another checkpoint than the one announced below
  Append(1);
  Stamp(3);
  DirectTransport from_a(a_->store());
  const std::string genuine_at_1 = [&] {
    std::string body;
    EXPECT_TRUE(a_->store().View([&](ReadTxn& txn) -> Status {
      KH_ASSIGN_OR_RETURN(body, BuildTimestampsAnswer(txn, a_->id(), 1));
      return Status::Ok();
    }).ok());
    return body;
  }();
  struct Case {
    const char* what;
    std::function<void(std::string&)> tamper;
    const char* named;
  };
  const std::vector<Case> cases = {
      {"a flipped byte in the token",
       [](std::string& body) {
         json j = json::parse(body);
         std::string t = j["timestamps"][0]["token"];
         t[t.size() / 2] = t[t.size() / 2] == 'A' ? 'B' : 'A';
         j["timestamps"][0]["token"] = t;
         body = j.dump();
       },
       "the token from http://tsa.test/"},
      {"a genuine token over another checkpoint",
       [&](std::string& body) {
         json j = json::parse(body);
         j["timestamps"][0]["token"] = json::parse(genuine_at_1)["timestamps"][0]["token"];
         body = j.dump();
       },
       "wrong message imprint"},
      {"the checkpoint of another size",
       [&](std::string& body) {
         json j = json::parse(body);
         j["checkpoint"] = json::parse(genuine_at_1)["checkpoint"];
         body = j.dump();
       },
       "another log or size"},
      {"a checkpoint not signed by the origin",
       [](std::string& body) {
         json j = json::parse(body);
         std::string note = j["checkpoint"];
         note[note.find('\n') + 1] = '9';
         j["checkpoint"] = note;
         body = j.dump();
       },
       "not signed by the origin"},
      {"no tokens at all", [](std::string& body) { body = R"({"checkpoint":"x","timestamps":[]})"; },
       "not a timestamps answer"},
  };
  for (const Case& c : cases) {
    from_a.timestamps_hook = c.tamper;
    auto report = PullFromPeer(b_->store(), from_a);
    ASSERT_TRUE(report.ok()) << c.what;
    ASSERT_EQ(report->logs.size(), 1u);
    const Status& st = report->logs[0].status;
    EXPECT_FALSE(st.ok()) << c.what;
    EXPECT_NE(st.message().find(c.named), std::string::npos) << c.what << ": " << st.ToString();
    EXPECT_TRUE(HeldAtB(3).empty()) << c.what;
    EXPECT_EQ(report->logs[0].to, 3u) << c.what;  // the log itself came whole
  }
  // The genuine answer is taken afterwards: nothing was poisoned.
  from_a.timestamps_hook = nullptr;
  auto report = PullFromPeer(b_->store(), from_a);
  ASSERT_TRUE(report.ok());
  EXPECT_TRUE(report->logs[0].status.ok()) << report->logs[0].status.ToString();
  EXPECT_EQ(HeldAtB(3).size(), 1u);
}

}  // namespace
}  // namespace khronika
