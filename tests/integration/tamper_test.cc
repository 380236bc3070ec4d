// Flip bytes inside data.mdb, where a seized or rotting disk would, and expect `khronika verify`
// to exit 1 and name the damaged object.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "khronika/log/node.h"
#include "khronika/schemas/crypto.h"
#include "test_support.h"

namespace khronika::testing {
namespace {

using nlohmann::json;

class TamperTest : public ::testing::Test {
 protected:
  void SetUp() override {
    node_ = MakeNodeWithAuthor(dir_);
    WritePseudoRandomFile(dir_ / "photo.jpg", 3000, 7);
    WriteFile(dir_ / "statement.txt", "I saw it happen.\n");
    for (const char* file : {"photo.jpg", "statement.txt"}) {
      RunResult r = RunKhronika({"add", "--data", node_.data.string(), "--key", node_.key.string(),
                                 "--case", "case-1", (dir_ / file).string()});
      ASSERT_EQ(r.exit_code, 0) << r.err;
    }
    RunResult log = RunKhronika({"log", "--data", node_.data.string(), "--json"});
    ASSERT_EQ(log.exit_code, 0);
    std::istringstream in(log.out);
    for (std::string line; std::getline(in, line);) records_.push_back(json::parse(line));
    ASSERT_EQ(records_.size(), 2u);
    RunResult clean = RunKhronika({"verify", "--data", node_.data.string()});
    ASSERT_EQ(clean.exit_code, 0) << clean.out;
  }

  std::filesystem::path DataFile() const { return node_.data / "store" / "data.mdb"; }

  // Flips one bit at `offset` within every copy of `needle` in data.mdb (LMDB's copy-on-write
  // can leave stale copies in free pages). Returns how many copies were changed.
  int FlipEverywhere(const std::string& needle, size_t offset) {
    std::string db = ReadFile(DataFile());
    int flipped = 0;
    for (size_t pos = db.find(needle); pos != std::string::npos; pos = db.find(needle, pos + 1)) {
      db[pos + offset] = static_cast<char>(db[pos + offset] ^ 0x01);
      ++flipped;
    }
    WriteFile(DataFile(), db);
    return flipped;
  }

  std::string StoredEntryBytes(const std::string& entry_hex) {
    auto node = Node::Open(node_.data, StoreOptions{.read_only = true});
    EXPECT_TRUE(node.ok());
    std::string bytes;
    Status st = (*node)->store().View([&](ReadTxn& txn) -> Status {
      KH_ASSIGN_OR_RETURN(auto v, txn.Get(Table::kObjects, *ParseHashHex(entry_hex)));
      if (v) bytes.assign(AsChars(*v));
      return Status::Ok();
    });
    EXPECT_TRUE(st.ok());
    return bytes;
  }

  void ExpectVerifyNames(const std::string& what) {
    RunResult r = RunKhronika({"verify", "--data", node_.data.string()});
    EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
    bool named = false;
    std::istringstream in(r.out);
    for (std::string line; std::getline(in, line);) {
      if (line.rfind("FAIL ", 0) == 0 && line.find(what) != std::string::npos) named = true;
    }
    EXPECT_TRUE(named) << "no FAIL line names '" << what << "' in:\n" << r.out;
  }

  TempDir dir_;
  LocalNode node_;
  std::vector<json> records_;
};

TEST_F(TamperTest, ChunkByteFlipIsNamed) {
  std::string content = ReadFile(dir_ / "photo.jpg");
  ASSERT_GE(FlipEverywhere(content.substr(0, 64), 1000 % 64), 1);
  ExpectVerifyNames("chunk " + ToHex(Sha256(content)));
}

TEST_F(TamperTest, EntryByteFlipIsNamed) {
  std::string entry_id = records_[1]["entry_id"];
  std::string bytes = StoredEntryBytes(entry_id);
  ASSERT_FALSE(bytes.empty());
  ASSERT_GE(FlipEverywhere(bytes, bytes.size() / 2), 1);
  ExpectVerifyNames("entry " + entry_id);
}

TEST_F(TamperTest, RecordByteFlipIsNamed) {
  auto record = FromHex(records_[0]["record_hex"].get<std::string>());
  ASSERT_TRUE(record.ok());
  std::string bytes(AsChars(*record));
  ASSERT_GE(FlipEverywhere(bytes, bytes.size() - 3), 1);  // inside received_at
  ExpectVerifyNames("record 0 of khronika/");
}

TEST_F(TamperTest, TreeNodeByteFlipIsNamed) {
  auto leaf = FromHex(records_[1]["leaf_hash"].get<std::string>());
  ASSERT_TRUE(leaf.ok());
  ASSERT_GE(FlipEverywhere(std::string(AsChars(*leaf)), 5), 1);
  ExpectVerifyNames("Merkle tree node (level 0, index 1)");
}

TEST_F(TamperTest, CheckpointSignatureFlipIsNamed) {
  RunResult cp = RunKhronika({"checkpoint", "--data", node_.data.string()});
  ASSERT_EQ(cp.exit_code, 0);
  std::string sig_line = cp.out.substr(cp.out.rfind(' ') + 1, 40);
  ASSERT_GE(FlipEverywhere(sig_line, 20), 1);
  ExpectVerifyNames("checkpoint at size 2 of khronika/");
}

}  // namespace
}  // namespace khronika::testing
