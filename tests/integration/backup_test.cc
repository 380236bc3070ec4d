// khronika backup while the node serves, and khronika restore, which verifies a backup in full
// before putting anything in place.
#include <atomic>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "khronika/schemas/bytes.h"
#include "server_fixture.h"

namespace khronika::testing {
namespace {

using nlohmann::json;

TEST(BackupTest, BackupWhileServingRestoresAVerifiedPrefix) {
  ServedNode node("sync_interval_s = 0\n");
  Token submitter = MakeToken(node.data(), "submitter");
  std::atomic<bool> stop{false};
  std::atomic<int> submitted{0};
  std::thread writer([&] {
    for (int i = 0; !stop && i < 200; ++i) {
      std::filesystem::path f = node / ("w" + std::to_string(i) + ".txt");
      WriteFile(f, "statement " + std::to_string(i));
      if (node.Submit(submitter.secret, "case-b", {f}).exit_code == 0) ++submitted;
    }
  });
  while (submitted < 5) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  std::filesystem::path backup = node / "node.backup";
  RunResult b = RunKhronika({"backup", "--data", node.data().string(), "--out", backup.string()});
  stop = true;
  writer.join();
  ASSERT_EQ(b.exit_code, 0) << b.err;

  std::filesystem::path restored = node / "restored";
  RunResult r = RunKhronika({"restore", "--from", backup.string(), "--data", restored.string(),
                             "--keyring", (node.data() / "node.keyring").string()});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("backup verified"), std::string::npos);
  std::vector<json> original = LogJson(node.data());
  std::vector<json> copy = LogJson(restored);
  ASSERT_GE(copy.size(), 5u);
  ASSERT_LE(copy.size(), original.size());
  for (size_t i = 0; i < copy.size(); ++i) EXPECT_EQ(copy[i]["record_hex"], original[i]["record_hex"]);
  RunResult v = RunKhronika({"verify", "--data", restored.string()});
  EXPECT_EQ(v.exit_code, 0) << v.out;
  // The backup may be older than peers' copies of this log: no appending until a full sync.
  RunResult keypub = RunKhronika({"author", "add", "--data", restored.string(), "--name", "a",
                                  "--pubkey", node.key().string() + ".pub"});
  ASSERT_EQ(keypub.exit_code, 0);
  RunResult held = RunKhronika({"add", "--data", restored.string(), "--key", node.key().string(),
                                "--case", "case-b", (node / "w0.txt").string()});
  EXPECT_EQ(held.exit_code, 1);
  EXPECT_NE(held.err.find("khronika sync"), std::string::npos) << held.err;
  // A restore never overwrites a store.
  RunResult again = RunKhronika({"restore", "--from", backup.string(), "--data", restored.string()});
  EXPECT_EQ(again.exit_code, 1);
  EXPECT_NE(again.err.find("already holds a store"), std::string::npos);
}

TEST(BackupTest, DamagedBackupIsRefusedAndNothingIsPutInPlace) {
  ServedNode node("sync_interval_s = 0\n");
  Token submitter = MakeToken(node.data(), "submitter");
  WriteFile(node / "s.txt", "the only statement");
  ASSERT_EQ(node.Submit(submitter.secret, "case-d", {node / "s.txt"}).exit_code, 0);
  std::filesystem::path backup = node / "node.backup";
  ASSERT_EQ(RunKhronika({"backup", "--data", node.data().string(), "--out", backup.string()}).exit_code, 0);
  // The node is encrypted, so is its backup: the record's bytes are not in the file. One bit of
  // the stored record is flipped through LMDB, in a scratch copy of the backup.
  auto record_bytes = FromHex(LogJson(node.data())[0]["record_hex"].get<std::string>());
  ASSERT_TRUE(record_bytes.ok());
  EXPECT_EQ(ReadFile(backup).find(std::string(AsChars(*record_bytes))), std::string::npos);
  Bytes record_key = *FromHex(IdOf(node.data())["node_id"].get<std::string>());
  AppendBigEndian64(record_key, 0);
  auto flip_record = [&] {
    std::filesystem::path scratch = node / "scratch";
    std::filesystem::remove_all(scratch);
    std::filesystem::create_directories(scratch);
    std::filesystem::copy_file(backup, scratch / "data.mdb");
    ASSERT_TRUE(FlipStoredValueBit(scratch, "records", std::string(AsChars(record_key))));
    std::filesystem::copy_file(scratch / "data.mdb", backup, std::filesystem::copy_options::overwrite_existing);
  };
  flip_record();
  std::filesystem::path keyring = node.data() / "node.keyring";
  std::filesystem::path target = node / "target";
  RunResult r = RunKhronika({"restore", "--from", backup.string(), "--data", target.string(),
                             "--keyring", keyring.string()});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.out.find("FAIL record 0"), std::string::npos) << r.out;
  EXPECT_FALSE(std::filesystem::exists(target / "store"));
  EXPECT_FALSE(std::filesystem::exists(target / "node.keyring"));
  // A node with no federation may say so and append at once.
  std::filesystem::path alone = node / "alone";
  flip_record();  // the same bit back
  RunResult standalone = RunKhronika({"restore", "--from", backup.string(), "--data", alone.string(),
                                      "--keyring", keyring.string(), "--standalone"});
  ASSERT_EQ(standalone.exit_code, 0) << standalone.out << standalone.err;
  RunResult add = RunKhronika({"add", "--data", alone.string(), "--key", node.key().string(), "--case",
                               "case-d", "--json", (node / "s.txt").string()});
  ASSERT_EQ(add.exit_code, 0) << add.err;
  EXPECT_EQ(json::parse(add.out)["index"], 1);
  // An encrypted backup does not open with the node key alone.
  WriteFile(node / "some.key", "not used");
  RunResult pem_only = RunKhronika({"restore", "--from", backup.string(), "--data", (node / "t3").string(),
                                    "--node-key", (node / "some.key").string()});
  EXPECT_EQ(pem_only.exit_code, 1);
  // Without the key the restore cannot even check the signatures: a usage error.
  RunResult no_key = RunKhronika({"restore", "--from", backup.string(), "--data", (node / "t2").string()});
  EXPECT_EQ(no_key.exit_code, 2);
}

}  // namespace
}  // namespace khronika::testing
