// `khronika key export` and `init --keys`: the node's identity sealed under a passphrase, taken
// back after a raid, refused with a wrong passphrase without creating anything.
#include <sys/stat.h>

#include <filesystem>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

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

}  // namespace
}  // namespace khronika::testing
