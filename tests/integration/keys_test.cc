// `khronika key export` and `init --keys`: the node's identity and archive key sealed under a
// passphrase, taken back after a raid (the rebuilt node reads its old evidence), refused with a
// wrong passphrase or a file without an archive key, without creating anything.
#include <sys/stat.h>

#include <filesystem>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "khronika/schemas/bytes.h"
#include "khronika/schemas/seal.h"
#include "test_support.h"

namespace khronika::testing {
namespace {

namespace fs = std::filesystem;

// Runs khronika with `passphrase` on file descriptor 3.
RunResult WithPassphrase(const std::string& passphrase, const std::string& args) {
  return RunProgram({"bash", "-c", std::string(KHRONIKA_BINARY) + " " + args + " --passphrase-fd 3 3<<<'" +
                                       passphrase + "'"});
}

TEST(KeyExportTest, SealedIdentityComesBackOnlyWithThePassphrase) {
  TempDir dir;
  LocalNode node = MakeNodeWithAuthor(dir);
  const fs::path sealed = dir / "node.keys";
  const std::string pass = "three words, twelve characters or more";

  RunResult exported = WithPassphrase(pass, "key export --data " + node.data.string() + " --out " + sealed.string());
  ASSERT_EQ(exported.exit_code, 0) << exported.err;
  struct stat st{};
  ASSERT_EQ(::stat(sealed.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  std::string text = ReadFile(sealed);
  EXPECT_EQ(text.find("PRIVATE KEY"), std::string::npos);  // no key in the clear
  EXPECT_EQ(text.rfind("-----BEGIN KHRONIKA SEALED NODE KEYS-----\n", 0), 0u);

  // A wrong passphrase: refused, nothing created.
  const fs::path again = dir / "rebuilt";
  RunResult wrong = WithPassphrase(pass + "x", "init --data " + again.string() + " --keys " + sealed.string());
  EXPECT_EQ(wrong.exit_code, 1);
  EXPECT_NE(wrong.err.find("wrong passphrase"), std::string::npos) << wrong.err;
  EXPECT_FALSE(fs::exists(again));

  // The right one: the same node id, witness key and TLS certificate.
  RunResult right = WithPassphrase(pass, "init --data " + again.string() + " --name rebuilt --keys " +
                                             sealed.string() + " --key-file " + (dir / "rebuilt.key-file").string());
  ASSERT_EQ(right.exit_code, 0) << right.err;
  nlohmann::json before = IdOf(node.data), after = IdOf(again);
  for (const char* field : {"node_id", "vkey", "cosigner_vkey", "cert_sha256"}) {
    EXPECT_EQ(after[field], before[field]) << field;
  }
  // Encrypted again, under its own new data key: the keys are nowhere in the clear.
  EXPECT_TRUE(fs::exists(again / "node.keyring"));
  EXPECT_FALSE(fs::exists(again / "node.key"));
  EXPECT_EQ(RunKhronika({"verify", "--data", again.string()}).exit_code, 0);

  // A short passphrase is refused at export; no file is written.
  RunResult weak = WithPassphrase("short", "key export --data " + node.data.string() + " --out " +
                                                (dir / "weak.keys").string());
  EXPECT_NE(weak.exit_code, 0);
  EXPECT_FALSE(fs::exists(dir / "weak.keys"));
  // Without a terminal or --passphrase-fd, it says how to give one.
  RunResult no_tty = RunProgram({"bash", "-c", std::string(KHRONIKA_BINARY) + " key export --data " +
                                                   node.data.string() + " --out " + (dir / "x.keys").string() +
                                                   " </dev/null"});
  EXPECT_EQ(no_tty.exit_code, 2);
  EXPECT_NE(no_tty.err.find("--passphrase-fd"), std::string::npos) << no_tty.err;
}

// The archive key travels in the key file: a node rebuilt from it opens the entries its old self
// logged. Shown with nodes in clear, whose archive key is DIR/archive.key: the rebuilt node's is
// the same, and a backup of the old node restored with the rebuilt node's keys opens every entry
// (restore refuses a backup whose entries its archive key does not open) and `cat` gives back
// the very bytes added.
TEST(KeyExportTest, RebuiltNodeReadsItsOldEvidence) {
  TempDir dir;
  LocalNode node = MakeNodeWithAuthor(dir, /*encrypted=*/false);
  WritePseudoRandomFile(dir / "video.bin", 3 * 1024 * 1024 + 17, 7);
  RunResult add = RunKhronika({"add", "--data", node.data.string(), "--key", node.key.string(),
                               "--case", "case-1", (dir / "video.bin").string()});
  ASSERT_EQ(add.exit_code, 0) << add.err;
  const std::string entry = add.out.substr(add.out.find("entry ") + 6, 64);
  const fs::path sealed = dir / "node.keys", backup = dir / "backup.mdb";
  const std::string pass = "three words, twelve characters or more";
  ASSERT_EQ(WithPassphrase(pass, "key export --data " + node.data.string() + " --out " +
                                     sealed.string()).exit_code, 0);
  EXPECT_EQ(ReadFile(sealed).find(ReadFile(node.data / "archive.key").substr(0, 64)),
            std::string::npos);  // sealed, not in clear
  ASSERT_EQ(RunKhronika({"backup", "--data", node.data.string(), "--out", backup.string()}).exit_code, 0);

  const fs::path rebuilt = dir / "rebuilt";
  RunResult init = WithPassphrase(pass, "init --data " + rebuilt.string() + " --no-encryption --keys " +
                                            sealed.string());
  ASSERT_EQ(init.exit_code, 0) << init.err;
  EXPECT_EQ(ReadFile(rebuilt / "archive.key"), ReadFile(node.data / "archive.key"));
  EXPECT_EQ(init.err.find("NEW archive key"), std::string::npos) << init.err;

  const fs::path restored = dir / "restored";
  RunResult restore = RunKhronika({"restore", "--from", backup.string(), "--data", restored.string(),
                                   "--node-key", (rebuilt / "node.key").string(), "--archive-key",
                                   (rebuilt / "archive.key").string(), "--standalone"});
  ASSERT_EQ(restore.exit_code, 0) << restore.out << restore.err;
  EXPECT_NE(restore.out.find("1 entries opened with the archive key"), std::string::npos) << restore.out;
  RunResult cat = RunKhronika({"cat", "--data", restored.string(), entry, "video.bin"});
  ASSERT_EQ(cat.exit_code, 0) << cat.err;
  EXPECT_TRUE(cat.out == ReadFile(dir / "video.bin"));

  // Another node's archive key opens none of it: the restore is refused, nothing is created.
  TempDir other_dir;
  LocalNode other = MakeNodeWithAuthor(other_dir, false);
  const fs::path wrong = dir / "wrong";
  RunResult refused = RunKhronika({"restore", "--from", backup.string(), "--data", wrong.string(),
                                   "--node-key", (rebuilt / "node.key").string(), "--archive-key",
                                   (other.data / "archive.key").string(), "--standalone"});
  EXPECT_EQ(refused.exit_code, 1) << refused.out << refused.err;
  EXPECT_NE(refused.out.find("archive key does not open"), std::string::npos) << refused.out;
  EXPECT_FALSE(fs::exists(wrong));
  // Without any archive key, restore says which one it needs.
  RunResult missing = RunKhronika({"restore", "--from", backup.string(), "--data", wrong.string(),
                                   "--node-key", (rebuilt / "node.key").string(), "--standalone"});
  EXPECT_EQ(missing.exit_code, 2) << missing.err;
  EXPECT_NE(missing.err.find("--archive-key"), std::string::npos) << missing.err;
  EXPECT_FALSE(fs::exists(wrong / "store"));

  // init --node-key takes back the identity; without --archive-key it warns that the node gets
  // a new archive key, and with it the node has the old one.
  RunResult new_key = RunKhronika({"init", "--data", (dir / "by-key").string(), "--no-encryption",
                                   "--node-key", (node.data / "node.key").string()});
  ASSERT_EQ(new_key.exit_code, 0) << new_key.err;
  EXPECT_NE(new_key.err.find("NEW archive key"), std::string::npos) << new_key.err;
  EXPECT_NE(ReadFile(dir / "by-key" / "archive.key"), ReadFile(node.data / "archive.key"));
  RunResult old_key = RunKhronika({"init", "--data", (dir / "by-keys").string(), "--no-encryption",
                                   "--node-key", (node.data / "node.key").string(), "--archive-key",
                                   (node.data / "archive.key").string()});
  ASSERT_EQ(old_key.exit_code, 0) << old_key.err;
  EXPECT_EQ(ReadFile(dir / "by-keys" / "archive.key"), ReadFile(node.data / "archive.key"));
  RunResult alone = RunKhronika({"init", "--data", (dir / "alone").string(), "--no-encryption",
                                 "--archive-key", (node.data / "archive.key").string()});
  EXPECT_EQ(alone.exit_code, 2) << alone.err;
}

// A key file of format 1 has no archive key: a node made from it could read none of its
// evidence, so init refuses it and creates nothing.
TEST(KeyExportTest, KeyFileWithoutArchiveKeyIsRefused) {
  TempDir dir;
  const std::string pass = "three words, twelve characters or more";
  for (const char* format : {"khronika-node-keys/1", "khronika-node-keys/2"}) {
    std::string plain = nlohmann::json{{"format", format}, {"node_key", ""}, {"cosigner_key", ""},
                                       {"tls_cert", ""}, {"tls_key", ""}}.dump();
    ScryptParams cheap;
    cheap.log2_n = 10;
    auto sealed = SealWithPassphrase(AsBytes(plain), pass, cheap);
    ASSERT_TRUE(sealed.ok());
    std::string b64 = Base64Encode(*sealed), text = "-----BEGIN KHRONIKA SEALED NODE KEYS-----\n";
    for (size_t i = 0; i < b64.size(); i += 64) text += b64.substr(i, 64) + "\n";
    text += "-----END KHRONIKA SEALED NODE KEYS-----\n";
    const fs::path file = dir / (std::string(format).substr(19) + ".keys");
    WriteFile(file, text);
    const fs::path target = dir / "never";
    RunResult r = WithPassphrase(pass, "init --data " + target.string() + " --no-encryption --keys " +
                                           file.string());
    EXPECT_EQ(r.exit_code, 1) << format;
    EXPECT_NE(r.err.find(std::string(format).back() == '1' ? "format 1" : "archive key"),
              std::string::npos) << r.err;
    EXPECT_FALSE(fs::exists(target)) << format;
  }
}

}  // namespace
}  // namespace khronika::testing
