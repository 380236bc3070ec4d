// Flip bytes inside data.mdb, where a seized or rotting disk would, and expect `khronika verify`
// to exit 1 and name the damaged object: in a store in clear (bytes found by their content, the
// check is the hash or signature) and in an encrypted one (bytes found by their key, the check
// is the authentication tag).
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <optional>
#include <nlohmann/json.hpp>

#include "khronika/log/node.h"
#include "khronika/schemas/crypto.h"
#include "khronika/schemas/sealed_objects.h"
#include "test_support.h"

namespace khronika::testing {
namespace {

using nlohmann::json;

class TamperTest : public ::testing::TestWithParam<bool> {
 protected:
  bool encrypted() const { return GetParam(); }

  void SetUp() override {
    node_ = MakeNodeWithAuthor(dir_, encrypted());
    // Larger than 4 KiB: a sealed chunk of its own (the statement travels in its sealed entry).
    WritePseudoRandomFile(dir_ / "photo.jpg", 30000, 7);
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

  // Alters one stored value: in clear, every copy of its bytes; encrypted, the value under its
  // key (the bytes are not to be found).
  void Alter(const std::string& plain, size_t offset, const std::string& table, ByteView key) {
    if (encrypted()) {
      ASSERT_EQ(ReadFile(DataFile()).find(plain), std::string::npos);
      ASSERT_TRUE(FlipStoredValueBit(node_.data / "store", table, std::string(AsChars(key))));
    } else {
      ASSERT_GE(FlipEverywhere(plain, offset), 1);
    }
  }

  Bytes LogKey(uint64_t index, std::optional<uint8_t> level = std::nullopt) {
    Bytes k = *FromHex(IdOf(node_.data)["node_id"].get<std::string>());
    if (level) k.push_back(*level);
    AppendBigEndian64(k, index);
    return k;
  }

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

  // The object that record `index` logs: objects are kept at their record's place.
  std::string StoredObjectBytes(uint64_t index) {
    auto node = Node::Open(node_.data, StoreOptions{.read_only = true});
    EXPECT_TRUE(node.ok());
    std::string bytes;
    Status st = (*node)->store().View([&](ReadTxn& txn) -> Status {
      KH_ASSIGN_OR_RETURN(auto v, txn.Get(Table::kObjects, LogKey(index)));
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

// Sealed chunks are ciphertext already and stored as they are, in either mode: a flipped byte is
// caught by the chunk's id (and, with the archive key, by the C2SP chunk's tag). The plaintext
// upload chunks were deleted once sealed. Encrypted, they were ciphertext at rest too: nothing
// of the content is in the data file. In clear they were not, and LMDB does not wipe the pages
// it frees, so parts of the content may stay in free pages until reused (seizure_test.cc says
// the same of a store in clear); the flip below is found by the sealed bytes, not the content.
TEST_P(TamperTest, SealedChunkByteFlipIsNamed) {
  std::string content = ReadFile(dir_ / "photo.jpg");
  const std::string head = content.substr(0, 64), tail = content.substr(content.size() - 64);
  if (encrypted()) {
    std::string db = ReadFile(DataFile());
    EXPECT_EQ(db.find(head), std::string::npos);
    EXPECT_EQ(db.find(tail), std::string::npos);
  }
  {  // in either mode, no value the store holds (every key of every table) has the content
    auto node = Node::Open(node_.data, StoreOptions{.read_only = true});
    ASSERT_TRUE(node.ok()) << node.status().ToString();
    Status st = (*node)->store().View([&](ReadTxn& txn) -> Status {
      for (int t = 0; t < kTableCount; ++t) {
        const Table table = static_cast<Table>(t);
        KH_RETURN_IF_ERROR(txn.Scan(table, {}, [&](ByteView, ByteView value) -> Result<bool> {
          std::string_view v = AsChars(value);
          EXPECT_EQ(v.find(head), std::string_view::npos) << TableName(table);
          EXPECT_EQ(v.find(tail), std::string_view::npos) << TableName(table);
          return true;
        }));
      }
      return Status::Ok();
    });
    ASSERT_TRUE(st.ok()) << st.ToString();
  }
  auto sealed = DecodeSealedEntry(*FromHex(records_[0]["object_hex"].get<std::string>()));
  ASSERT_TRUE(sealed.ok()) << sealed.status().ToString();
  ASSERT_EQ(sealed->files.size(), 1u);
  ASSERT_EQ(sealed->files[0].chunks.size(), 1u);
  const Hash id = sealed->files[0].chunks[0];
  std::string bytes;
  {
    auto node = Node::Open(node_.data, StoreOptions{.read_only = true});
    ASSERT_TRUE(node.ok()) << node.status().ToString();
    auto chunk = ReadChunk((*node)->store(), id);
    ASSERT_TRUE(chunk.ok()) << chunk.status().ToString();
    bytes.assign(AsChars(*chunk));
  }
  ASSERT_GE(FlipEverywhere(bytes.substr(1000, 64), 10), 1);
  ExpectVerifyNames("(" + ToHex(id) + "): content does not match its id");
}

TEST_P(TamperTest, EntryByteFlipIsNamed) {
  std::string entry_id = records_[1]["entry_id"];
  std::string bytes = StoredObjectBytes(1);
  ASSERT_FALSE(bytes.empty());
  Alter(bytes, bytes.size() / 2, "objects", LogKey(1));
  // "sealed entry <id>" when its bytes no longer match the id, "object <id>" when the at-rest
  // tag refuses them first: either way, the entry by its id.
  ExpectVerifyNames(entry_id);
}

TEST_P(TamperTest, RecordByteFlipIsNamed) {
  auto record = FromHex(records_[0]["record_hex"].get<std::string>());
  ASSERT_TRUE(record.ok());
  std::string bytes(AsChars(*record));
  Alter(bytes, bytes.size() - 3, "records", LogKey(0));  // in clear: inside received_at
  ExpectVerifyNames("record 0 of khronika/");
}

TEST_P(TamperTest, TreeNodeByteFlipIsNamed) {
  auto leaf = FromHex(records_[1]["leaf_hash"].get<std::string>());
  ASSERT_TRUE(leaf.ok());
  Alter(std::string(AsChars(*leaf)), 5, "tree", LogKey(1, 0));
  ExpectVerifyNames("Merkle tree node (level 0, index 1)");
}

TEST_P(TamperTest, CheckpointSignatureFlipIsNamed) {
  RunResult cp = RunKhronika({"checkpoint", "--data", node_.data.string()});
  ASSERT_EQ(cp.exit_code, 0);
  std::string sig_line = cp.out.substr(cp.out.rfind(' ') + 1, 40);
  Alter(sig_line, 20, "checkpoints", LogKey(2));
  ExpectVerifyNames("checkpoint at size 2 of khronika/");
}

// An export is logged at once as a custody record (docs/format.md section 7.3). An operator who
// edits it on disk, to hide that the case was exported, is named by verify: by the record's id
// in clear (its bytes no longer hash to it), by its id again when encrypted (the at-rest tag).
TEST_P(TamperTest, CustodyRecordEditIsNamed) {
  RunResult exported = RunKhronika({"export", "--data", node_.data.string(), "--case", "case-1",
                                    "--out", (dir_ / "bundle").string()});
  ASSERT_EQ(exported.exit_code, 0) << exported.err;
  std::vector<json> log;
  {
    RunResult r = RunKhronika({"log", "--data", node_.data.string(), "--json"});
    ASSERT_EQ(r.exit_code, 0);
    std::istringstream in(r.out);
    for (std::string line; std::getline(in, line);) log.push_back(json::parse(line));
  }
  ASSERT_EQ(log.size(), 3u);
  ASSERT_EQ(log[2]["object_type"], "custody_record");
  RunResult clean = RunKhronika({"verify", "--data", node_.data.string()});
  ASSERT_EQ(clean.exit_code, 0) << clean.out;
  RunResult access = RunKhronika({"access-log", "--data", node_.data.string(), "--json"});
  ASSERT_EQ(access.exit_code, 0) << access.err;
  json event = json::parse(access.out.substr(0, access.out.find('\n')));
  EXPECT_EQ(event["action"], "export");
  EXPECT_EQ(event["case"], "case-1");
  EXPECT_EQ(event["logged"]["record"], 2);

  const std::string id = log[2]["entry_id"];
  std::string bytes = StoredObjectBytes(2);
  ASSERT_FALSE(bytes.empty());
  Alter(bytes, bytes.size() / 2, "objects", LogKey(2));  // inside an event box
  ExpectVerifyNames(id);
  // access-log no longer shows the export as logged either: it names the record instead.
  RunResult after = RunKhronika({"access-log", "--data", node_.data.string(), "--json"});
  EXPECT_NE(after.exit_code, 0) << after.out;
}

INSTANTIATE_TEST_SUITE_P(ClearAndEncrypted, TamperTest, ::testing::Bool(),
                         [](const auto& info) { return info.param ? "Encrypted" : "Clear"; });

}  // namespace
}  // namespace khronika::testing
