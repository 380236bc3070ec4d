// `khronika passphrase change --rotate-data-key`, with the real binary, a real server and real
// LMDB stores: a keyring copied before the rotation (kept with a backup) no longer opens the
// node, the new one opens everything (verify, logs, files, authors, tokens, the access log, an
// upload waiting for its entry), backups keep opening with the keyring of their time, and a
// rotation killed at any moment leaves a node that opens with one of the two key files.
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <filesystem>
#include <map>
#include <thread>

#include <gtest/gtest.h>

#include "server_fixture.h"
#include "test_support.h"

namespace khronika::testing {
namespace {

namespace fs = std::filesystem;

bool Has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

std::map<std::string, std::string> Snapshot(const fs::path& dir) {
  std::map<std::string, std::string> files;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    if (e.is_regular_file() && e.path().filename() != "lock.mdb") {
      files[e.path().string()] = ReadFile(e.path());
    }
  }
  return files;
}

TEST(KeyRotationTest, RotationRetiresOldKeyringsAndKeepsEverythingReadable) {
  ServedNode node;
  const fs::path data = node.data();
  Token submitter = MakeToken(data, "submitter", {"case-a"});
  Token reader = MakeToken(data, "reader", {"case-a"});
  WritePseudoRandomFile(node / "video.bin", 2 * 1024 * 1024 + 17, 7);  // three chunks
  WriteFile(node / "note.txt", "a note in another case\n");
  RunResult sent = node.Submit(submitter.secret, "case-a", {node / "video.bin"});
  ASSERT_EQ(sent.exit_code, 0) << sent.err;
  const std::string entry = nlohmann::json::parse(sent.out)["entry_id"];
  ASSERT_EQ(node.Submit(node.admin().secret, "case-b", {node / "note.txt"}).exit_code, 0);
  // Chunks sent by a token whose entry has not come yet: after the rotation it may still name them.
  BuiltSubmission pending =
      BuildSubmission(node.key(), "case-a", "later.txt", "sent before, named after\n");
  ASSERT_TRUE(UploadChunks(node.server(), submitter.secret, pending));
  RunResult got = RunKhronika({"get", "--node", node.server().url(), "--pin", node.server().pin(),
                               "--token", reader.secret, entry, "--out", (node / "got").string()});
  ASSERT_EQ(got.exit_code, 0) << got.err;

  // A backup says which keyring and unlock it needs.
  RunResult backup =
      RunKhronika({"backup", "--data", data.string(), "--out", (node / "before.backup").string()});
  ASSERT_EQ(backup.exit_code, 0) << backup.err;
  const std::string keyring_sha = HexSha256(ReadFile(data / "node.keyring"));
  EXPECT_TRUE(Has(backup.out, "sha256 " + keyring_sha)) << backup.out;
  EXPECT_TRUE(Has(backup.out, "sealed under the key file " + (node / "node.key-file").string()))
      << backup.out;
  fs::copy_file(data / "node.keyring", node / "old.keyring");

  // While the node serves, the store is not rotated: refused, nothing changed.
  auto before = Snapshot(data);
  RunResult busy =
      RunKhronika({"passphrase", "change", "--data", data.string(), "--rotate-data-key",
                   "--new-key-file", (node / "new.key-file").string()});
  EXPECT_EQ(busy.exit_code, 1);
  EXPECT_TRUE(Has(busy.err, "open in another process")) << busy.err;
  EXPECT_EQ(Snapshot(data), before);
  EXPECT_FALSE(fs::exists(data / "node.keyring.next"));
  ASSERT_EQ(node.server().Stop(), 0);

  RunResult rotated =
      RunKhronika({"passphrase", "change", "--data", data.string(), "--rotate-data-key",
                   "--new-key-file", (node / "new.key-file").string()});
  ASSERT_EQ(rotated.exit_code, 0) << rotated.err;
  EXPECT_TRUE(Has(rotated.out, "re-encrypted")) << rotated.out;
  struct stat st {};
  ASSERT_EQ(::stat((node / "new.key-file").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_EQ(::stat((data / "node.keyring").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_FALSE(fs::exists(data / "node.keyring.next"));

  // The old keyring, with its own key file, in a copy of the node: refused, saying why.
  fs::copy(data, node / "old-copy", fs::copy_options::recursive);
  fs::copy_file(node / "old.keyring", node / "old-copy" / "node.keyring",
                fs::copy_options::overwrite_existing);
  RunResult old = RunKhronika({"verify", "--data", (node / "old-copy").string(), "--key-file",
                               (node / "node.key-file").string()});
  EXPECT_EQ(old.exit_code, 1);
  EXPECT_TRUE(Has(old.err, "data key does not open the store")) << old.err;
  EXPECT_TRUE(Has(old.err, "--rotate-data-key")) << old.err;
  // Nor does the old key file open the new keyring.
  RunResult old_file = RunKhronika(
      {"log", "--data", data.string(), "--key-file", (node / "node.key-file").string()});
  EXPECT_EQ(old_file.exit_code, 1);

  // The new keyring (found where it remembers its key file) opens everything.
  RunResult verify = RunKhronika({"verify", "--data", data.string()});
  ASSERT_EQ(verify.exit_code, 0) << verify.out << verify.err;
  // The two entries, and the custody records (docs/format.md section 7.3) of the read above and
  // of the tokens' grants, re-encrypted with the rest and still opening with the archive key;
  // the rotation itself is a custody event, sealed after it.
  EXPECT_TRUE(Has(verify.out, "(2 sealed entries)")) << verify.out;
  RunResult custody = RunKhronika({"access-log", "--data", data.string(), "--action",
                                   "passphrase-change", "--json"});
  ASSERT_EQ(custody.exit_code, 0) << custody.err;
  auto changes = JsonLines(custody.out);
  ASSERT_EQ(changes.size(), 1u) << custody.out;
  EXPECT_EQ(changes[0]["object"],
            "data key rotated, store re-encrypted, keyring re-sealed under a key file");
  EXPECT_TRUE(changes[0]["logged"].is_object()) << custody.out;
  EXPECT_TRUE(Has(verify.out, "2 entries of this node's log opened")) << verify.out;
  auto log =
      JsonLines(RunKhronika({"log", "--data", data.string(), "--case", "case-a", "--json"}).out);
  ASSERT_EQ(log.size(), 1u);
  EXPECT_EQ(log[0]["entry_id"], entry);
  EXPECT_EQ(
      JsonLines(RunKhronika({"log", "--data", data.string(), "--case", "case-b", "--json"}).out)
          .size(),
      1u);
  RunResult cat = RunKhronika({"cat", "--data", data.string(), entry, "video.bin"});
  ASSERT_EQ(cat.exit_code, 0) << cat.err;
  EXPECT_EQ(cat.out, ReadFile(node / "video.bin"));
  EXPECT_TRUE(Has(RunKhronika({"author", "list", "--data", data.string()}).out, "Test Author"));
  RunResult tokens = RunKhronika({"token", "list", "--data", data.string()});
  EXPECT_TRUE(Has(tokens.out, submitter.id) && Has(tokens.out, reader.id)) << tokens.out;
  RunResult access = RunKhronika({"access-log", "--data", data.string(), "--case", "case-a"});
  EXPECT_TRUE(Has(access.out, "read-content  video.bin")) << access.out;

  // Served again: the old tokens work, the case's files are read, and the upload made before
  // the rotation is still the submitter's to name.
  ServerProcess again(data);
  ASSERT_TRUE(again.started());
  HttpRequest post;
  post.method = "POST";
  post.path = "/v1/entries";
  post.token = submitter.secret;
  post.body = pending.body.dump();
  HttpReply appended = Curl(again, post);
  EXPECT_EQ(appended.status, 201) << appended.Describe();
  RunResult got_again = RunKhronika({"get", "--node", again.url(), "--pin", again.pin(), "--token",
                                     reader.secret, entry, "--out", (node / "got-again").string()});
  EXPECT_EQ(got_again.exit_code, 0) << got_again.err;
  EXPECT_EQ(ReadFile(node / "got-again" / "video.bin"), ReadFile(node / "video.bin"));
  ASSERT_EQ(again.Stop(), 0);

  // The backup made before opens with the keyring of its time, not with the new one.
  RunResult with_new = RunKhronika({"restore", "--from", (node / "before.backup").string(),
                                    "--data", (node / "r1").string(), "--keyring",
                                    (data / "node.keyring").string(), "--standalone"});
  EXPECT_EQ(with_new.exit_code, 1);
  EXPECT_TRUE(Has(with_new.err, "does not open this backup")) << with_new.err;
  EXPECT_FALSE(fs::exists(node / "r1"));
  RunResult with_old =
      RunKhronika({"restore", "--from", (node / "before.backup").string(), "--data",
                   (node / "r2").string(), "--keyring", (node / "old.keyring").string(),
                   "--key-file", (node / "node.key-file").string(), "--standalone"});
  EXPECT_EQ(with_old.exit_code, 0) << with_old.err;
}

TEST(KeyRotationTest, ANodeInClearOrAWrongUnlockIsRefusedWithNothingChanged) {
  TempDir dir;
  LocalNode clear = MakeNodeWithAuthor(dir, /*encrypted=*/false);
  RunResult r = RunKhronika({"passphrase", "change", "--data", clear.data.string(),
                             "--rotate-data-key", "--new-key-file", (dir / "k").string()});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(Has(r.err, "not encrypted")) << r.err;
  EXPECT_FALSE(fs::exists(dir / "k"));

  TempDir dir2;
  LocalNode node = MakeNodeWithAuthor(dir2);
  ASSERT_EQ(RunKhronika({"keygen", "--out", (dir2 / "other.key").string()}).exit_code, 0);
  WriteFile(dir2 / "wrong.key-file", std::string(64, 'a') + "\n");
  auto before = Snapshot(node.data);
  r = RunKhronika({"passphrase", "change", "--data", node.data.string(), "--rotate-data-key",
                   "--key-file", (dir2 / "wrong.key-file").string(), "--new-key-file",
                   (dir2 / "new.key-file").string()});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(Has(r.err, "does not open")) << r.err;
  EXPECT_EQ(Snapshot(node.data), before);
  // Without a terminal, a new passphrase cannot be asked: usage error, nothing changed.
  r = RunKhronika({"passphrase", "change", "--data", node.data.string(), "--rotate-data-key"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(Snapshot(node.data), before);
}

// A rotation killed with SIGKILL at moments spread over its run: every time the node opens with
// exactly the key file of the keyring its store is under, `verify` is clean, the file reads back,
// and no node.keyring.next stays once it has opened.
TEST(KeyRotationTest, ARotationKilledAtAnyMomentLeavesANodeThatOpens) {
  TempDir dir;
  LocalNode node = MakeNodeWithAuthor(dir);
  WritePseudoRandomFile(dir / "big.bin", 48 * 1024 * 1024, 3);
  RunResult added = RunKhronika({"add", "--data", node.data.string(), "--key", node.key.string(),
                                 "--case", "case-1", "--json", (dir / "big.bin").string()});
  ASSERT_EQ(added.exit_code, 0) << added.err;
  const std::string entry = nlohmann::json::parse(added.out)["entry_id"];
  const std::string content = ReadFile(dir / "big.bin");
  const fs::path old_key = dir / "node.key-file", new_key = dir / "new.key-file";
  ASSERT_EQ(RunKhronika({"keygen", "--out", (dir / "unused").string()}).exit_code, 0);

  // How long an uninterrupted rotation takes here, to spread the kills over it.
  fs::copy(node.data, dir / "timing", fs::copy_options::recursive);
  auto t0 = std::chrono::steady_clock::now();
  RunResult whole =
      RunKhronika({"passphrase", "change", "--data", (dir / "timing").string(), "--rotate-data-key",
                   "--new-key-file", (dir / "timing.key-file").string()});
  ASSERT_EQ(whole.exit_code, 0) << whole.err;
  const double total_ms = Seconds(std::chrono::steady_clock::now() - t0) * 1000;
  std::cout << "an uninterrupted rotation of a 48 MiB store: " << total_ms << " ms\n";

  // From at once to half again as long as it took (a process started here may be slower).
  std::map<std::string, int> outcomes;
  for (int i = 0; i <= 10; ++i) {
    const fs::path copy = dir / ("kill-" + std::to_string(i));
    fs::copy(node.data, copy, fs::copy_options::recursive);
    fs::remove(new_key);
    pid_t pid = SpawnProgram(
        {KHRONIKA_BINARY, "passphrase", "change", "--data", copy.string(), "--rotate-data-key",
         "--key-file", old_key.string(), "--new-key-file", new_key.string()},
        dir / "out", dir / "err");
    std::this_thread::sleep_for(
        std::chrono::microseconds(static_cast<long>(total_ms * 1500 * i / 10)));
    ::kill(pid, SIGKILL);
    int code = WaitProgram(pid);
    RunResult with_old =
        RunKhronika({"verify", "--data", copy.string(), "--key-file", old_key.string()});
    RunResult with_new =
        fs::exists(new_key)
            ? RunKhronika({"verify", "--data", copy.string(), "--key-file", new_key.string()})
            : RunResult{};
    const bool old_opens = with_old.exit_code == 0, new_opens = with_new.exit_code == 0;
    EXPECT_NE(old_opens, new_opens) << "kill " << i << " (exit " << code << "): old "
                                    << with_old.err << " new " << with_new.err;
    if (!old_opens) {
      EXPECT_TRUE(Has(with_old.err, "interrupted") || Has(with_old.err, "does not open"))
          << with_old.err;
    }
    EXPECT_FALSE(fs::exists(copy / "node.keyring.next")) << "kill " << i;
    RunResult cat = RunKhronika({"cat", "--data", copy.string(), "--key-file",
                                 (old_opens ? old_key : new_key).string(), entry, "big.bin"});
    EXPECT_EQ(cat.exit_code, 0) << cat.err;
    EXPECT_TRUE(cat.out == content) << "kill " << i;
    ++outcomes[code == 0   ? "finished"
               : new_opens ? "killed after the commit"
                           : "killed before the commit"];
    fs::remove_all(copy);
  }
  for (const auto& [what, n] : outcomes) std::cout << what << ": " << n << "\n";
}

}  // namespace
}  // namespace khronika::testing
