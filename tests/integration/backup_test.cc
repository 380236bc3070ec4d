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
  // The keyring carries the archive key: the restored node opens what it logged, and gives
  // back each file byte for byte.
  EXPECT_NE(r.out.find(std::to_string(copy.size()) + " entries opened with the archive key"),
            std::string::npos) << r.out;
  for (size_t i = 0; i < copy.size(); i += 2) {
    ASSERT_EQ(copy[i]["files"].size(), 1u) << copy[i].dump();
    std::string name = copy[i]["files"][0]["name"];
    RunResult cat = RunKhronika({"cat", "--data", restored.string(), copy[i]["entry_id"], name});
    ASSERT_EQ(cat.exit_code, 0) << cat.err;
    EXPECT_EQ(cat.out, ReadFile(node / name));
  }
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
  // Right after what the backup held: its entry and its tokens' custody records.
  EXPECT_EQ(json::parse(add.out)["index"], LogRecordsJson(alone).size() - 1);
  EXPECT_EQ(LogJson(alone).size(), 2u);
  // An encrypted backup does not open with the node key alone (nor with an archive key).
  WriteFile(node / "some.key", "not used");
  RunResult pem_only = RunKhronika({"restore", "--from", backup.string(), "--data", (node / "t3").string(),
                                    "--node-key", (node / "some.key").string(), "--archive-key",
                                    (node / "some.key").string()});
  EXPECT_EQ(pem_only.exit_code, 1);
  // Without the key the restore cannot even check the signatures: a usage error.
  RunResult no_key = RunKhronika({"restore", "--from", backup.string(), "--data", (node / "t2").string()});
  EXPECT_EQ(no_key.exit_code, 2);
}

// A restored node is the same node to its partners: the backup carries the TLS certificate and
// key they pin (the restore once brought back the store alone, so `sync` failed and `serve`
// made a certificate every partner refused).
TEST(BackupTest, RestoredNodeRejoinsItsPeersWithTheSameCertificate) {
  ServedNode a("sync_interval_s = 0\n"), b("sync_interval_s = 0\n");
  Federate({&a, &b});
  const std::string origin_a = IdOf(a.data())["node_id"];
  const std::string fingerprint = a.server().fingerprint();
  WriteFile(a / "s.txt", "before the backup");
  ASSERT_EQ(a.Submit(a.admin().secret, "case-r", {a / "s.txt"}).exit_code, 0);
  ASSERT_EQ(RunKhronika({"sync", "--data", b.data().string()}).exit_code, 0);
  std::filesystem::path backup = a / "node.backup";
  RunResult made = RunKhronika({"backup", "--data", a.data().string(), "--out", backup.string()});
  ASSERT_EQ(made.exit_code, 0) << made.err;
  EXPECT_NE(made.out.find("tls.crt, tls.key, khronika.conf"), std::string::npos) << made.out;
  // The TLS key is inside the encrypted copy, not in clear.
  std::string tls_key = ReadFile(a.data() / "tls.key");
  std::string body = tls_key.substr(tls_key.find('\n') + 1, 40);
  EXPECT_EQ(ReadFile(backup).find(body), std::string::npos);
  a.server().Stop();

  std::filesystem::path restored = a / "restored";
  RunResult r = RunKhronika({"restore", "--from", backup.string(), "--data", restored.string(),
                             "--keyring", (a.data() / "node.keyring").string()});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(ReadFile(restored / "tls.key"), tls_key);
  EXPECT_EQ(ReadFile(restored / "khronika.conf"), ReadFile(a.data() / "khronika.conf"));
  EXPECT_EQ(std::filesystem::status(restored / "tls.key").permissions() & std::filesystem::perms::all,
            std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  EXPECT_EQ(IdOf(restored)["cert_sha256"], fingerprint);
  RunResult sync = RunKhronika({"sync", "--data", restored.string()});
  ASSERT_EQ(sync.exit_code, 0) << sync.out << sync.err;
  RunResult v = RunKhronika({"verify", "--data", restored.string()});
  EXPECT_EQ(v.exit_code, 0) << v.out;

  // It serves with the certificate B pins, so B pulls from it without changing its pin.
  {
    ServerProcess served(restored);
    ASSERT_TRUE(served.started()) << served.Stderr();
    EXPECT_EQ(served.fingerprint(), fingerprint);
    ASSERT_EQ(RunKhronika({"peer", "remove", "--data", b.data().string(), origin_a}).exit_code, 0);
    ASSERT_EQ(RunKhronika({"peer", "add", "--data", b.data().string(), "--url", served.url(), "--id",
                           origin_a, "--cert-sha256", fingerprint}).exit_code, 0);
    RunResult pulled = RunKhronika({"sync", "--data", b.data().string()});
    EXPECT_EQ(pulled.exit_code, 0) << pulled.out << pulled.err;
  }

  // Without its certificate, a node with peers does not quietly make a new one.
  std::filesystem::remove(restored / "tls.crt");
  std::filesystem::remove(restored / "tls.key");
  RunResult no_cert_sync = RunKhronika({"sync", "--data", restored.string()});
  EXPECT_EQ(no_cert_sync.exit_code, 1);
  EXPECT_NE(no_cert_sync.err.find("tls.crt is missing"), std::string::npos) << no_cert_sync.err;
  {
    ServerProcess refused(restored, {}, /*expect_start=*/false);
    EXPECT_FALSE(refused.started());
    EXPECT_NE(refused.Wait(std::chrono::seconds(30)), 0);
    EXPECT_NE(refused.Stderr().find("peer(s) that pin its certificate"), std::string::npos)
        << refused.Stderr();
    EXPECT_FALSE(std::filesystem::exists(restored / "tls.crt"));
  }
  ServerProcess renewed(restored, {"--new-certificate"});
  ASSERT_TRUE(renewed.started()) << renewed.Stderr();
  EXPECT_NE(renewed.fingerprint(), fingerprint);
}

TEST(BackupTest, RestoreFromAMissingBackupNamesItAndCreatesNothing) {
  TempDir dir;
  std::filesystem::path target = dir / "target";
  WriteFile(dir / "node.keyring", "not used");
  RunResult r = RunKhronika({"restore", "--from", (dir / "no-such.backup").string(), "--data",
                             target.string(), "--keyring", (dir / "node.keyring").string()});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find((dir / "no-such.backup").string() + " does not exist"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("Success"), std::string::npos) << r.err;
  EXPECT_FALSE(std::filesystem::exists(target));
  // A restore that fails later (here: a keyring that is not one) removes the directory it made.
  WriteFile(dir / "some.backup", "not an LMDB file");
  RunResult bad = RunKhronika({"restore", "--from", (dir / "some.backup").string(), "--data",
                               target.string(), "--keyring", (dir / "node.keyring").string()});
  EXPECT_EQ(bad.exit_code, 1) << bad.out << bad.err;
  EXPECT_FALSE(std::filesystem::exists(target));
}

}  // namespace
}  // namespace khronika::testing
