// The git mirror through the real khronika binary and stock git: an exported mirror that
// `git clone` reads, `mirror verify` on a good and a forged mirror, and two nodes that never talk
// to each other syncing through a bare git repository (`sync --via-git`).
#include <sys/stat.h>

#include <sstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "khronika/schemas/note.h"
#include "test_support.h"

namespace khronika::testing {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

std::vector<json> LogRows(const fs::path& data, const std::string& origin) {
  RunResult r = RunKhronika({"log", "--data", data.string(), "--origin", origin, "--json"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  std::vector<json> rows;
  std::istringstream in(r.out);
  for (std::string line; std::getline(in, line);) rows.push_back(json::parse(line));
  return rows;
}

RunResult Git(const fs::path& repo, std::vector<std::string> args) {
  args.insert(args.begin(), {"git", "--git-dir=" + repo.string()});
  return RunProgram(args);
}
std::string Line(const RunResult& r) {
  std::string s = r.out;
  while (!s.empty() && s.back() == '\n') s.pop_back();
  return s;
}

std::string AddEntry(const LocalNode& node, const std::string& case_id,
                     const std::vector<fs::path>& files) {
  std::vector<std::string> args = {"add", "--data", node.data.string(), "--key", node.key.string(),
                                   "--case", case_id, "--json"};
  for (const fs::path& f : files) args.push_back(f.string());
  RunResult r = RunKhronika(args);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return r.exit_code == 0 ? json::parse(r.out)["entry_id"].get<std::string>() : "";
}

TEST(MirrorTest, AnExportedMirrorClonesWithStockGitAndHoldsTheSubmittedBytes) {
  TempDir dir;
  LocalNode node = MakeNodeWithAuthor(dir);
  WritePseudoRandomFile(dir / "photo.jpg", 2 * 1024 * 1024 + 77, 7);
  WriteFile(dir / "statement.pdf", "%PDF-1.7 witness statement");
  WriteFile(dir / "notes.weird", "a file type Khronika does not name");
  AddEntry(node, "case-2026-001", {dir / "photo.jpg", dir / "statement.pdf"});
  AddEntry(node, "case-2026-001", {dir / "notes.weird"});
  fs::path mirror = dir / "mirror.git";
  RunResult exp = RunKhronika({"mirror", "export", "--data", node.data.string(), "--git", mirror.string()});
  ASSERT_EQ(exp.exit_code, 0) << exp.out << exp.err;
  EXPECT_NE(exp.out.find("exported records 0 to 1"), std::string::npos) << exp.out;
  std::string origin = IdOf(node.data)["node_id"];

  RunResult fsck = Git(mirror, {"fsck", "--full", "--strict", "--no-progress"});
  EXPECT_EQ(fsck.exit_code, 0) << fsck.out << fsck.err;
  EXPECT_EQ(fsck.out + fsck.err, "");

  fs::path clone = dir / "clone";
  RunResult cl = RunProgram({"git", "clone", "-q", mirror.string(), clone.string()});
  ASSERT_EQ(cl.exit_code, 0) << cl.err;
  RunResult commits = RunProgram({"git", "-C", clone.string(), "rev-list", "--reverse",
                                  "origin/logs/" + origin});
  ASSERT_EQ(commits.exit_code, 0) << commits.err;
  std::vector<std::string> ids;
  std::istringstream in(commits.out);
  for (std::string c; std::getline(in, c);) ids.push_back(c);
  ASSERT_EQ(ids.size(), 2u);
  // The clone's HEAD is the node's own log: the tip is checked out already.
  EXPECT_EQ(ReadFile(clone / "files" / "0.bin"), ReadFile(dir / "notes.weird"));
  EXPECT_FALSE(fs::exists(clone / "files" / "0.jpg"));
  ASSERT_EQ(RunProgram({"git", "-C", clone.string(), "checkout", "-q", "--detach", ids[0]}).exit_code, 0);
  EXPECT_EQ(ReadFile(clone / "files" / "0.jpg"), ReadFile(dir / "photo.jpg"));
  EXPECT_EQ(ReadFile(clone / "files" / "1.pdf"), ReadFile(dir / "statement.pdf"));
  EXPECT_TRUE(fs::exists(clone / "record.bin"));
  EXPECT_TRUE(fs::exists(clone / "manifests" / "1.bin"));
  // Submitted file names are never paths in the mirror (they are in the manifests).
  json entry = json::parse(ReadFile(clone / "entry.json"));
  EXPECT_EQ(entry["case"], "case-2026-001") << entry.dump();
  EXPECT_FALSE(fs::exists(clone / "files" / "photo.jpg"));

  // Exporting again writes nothing.
  exp = RunKhronika({"mirror", "export", "--data", node.data.string(), "--git", mirror.string()});
  ASSERT_EQ(exp.exit_code, 0) << exp.err;
  EXPECT_NE(exp.out.find("up to date at 2 records"), std::string::npos) << exp.out;
}

unsigned ModeOf(const fs::path& path) {
  struct stat st {};
  EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
  return st.st_mode & 07777;
}

// An encrypted node's store is ciphertext, its mirror is not: `mirror export` says so, and keeps
// the repository to its owner.
TEST(MirrorTest, AnEncryptedNodeWarnsThatItsMirrorHoldsTheEvidenceInClear) {
  TempDir dir;
  LocalNode node = MakeNodeWithAuthor(dir);  // encrypted
  WriteFile(dir / "statement.pdf", "%PDF-1.7 the canary statement");
  AddEntry(node, "case-canary", {dir / "statement.pdf"});
  fs::path mirror = dir / "mirror.git";
  RunResult exp = RunKhronika({"mirror", "export", "--data", node.data.string(), "--git", mirror.string()});
  ASSERT_EQ(exp.exit_code, 0) << exp.out << exp.err;
  EXPECT_EQ(ModeOf(mirror), 0700u);
  EXPECT_NE(exp.err.find("warning: the mirror holds the evidence in clear: " + mirror.string()),
            std::string::npos)
      << exp.err;
  EXPECT_NE(exp.err.find("keep it on an encrypted disk; a later format makes it ciphertext-only"),
            std::string::npos)
      << exp.err;
  // What the warning is about: the file is there, readable with stock git and no key.
  std::string origin = IdOf(node.data)["node_id"];
  RunResult shown = Git(mirror, {"show", "refs/heads/logs/" + origin + ":files/0.pdf"});
  EXPECT_EQ(shown.out, "%PDF-1.7 the canary statement");

  // Opened to other users since: closed again before anything is written, and said so.
  fs::permissions(mirror, fs::perms(0755));
  exp = RunKhronika({"mirror", "export", "--data", node.data.string(), "--git", mirror.string()});
  ASSERT_EQ(exp.exit_code, 0) << exp.out << exp.err;
  EXPECT_EQ(ModeOf(mirror), 0700u);
  EXPECT_NE(exp.err.find(mirror.string() + " was mode 0755"), std::string::npos) << exp.err;
}

// A node in clear keeps its store in clear already: its mirror adds no exposure to warn about,
// but is kept to its owner all the same.
TEST(MirrorTest, ANodeInClearExportsWithoutThatWarning) {
  TempDir dir;
  LocalNode node = MakeNodeWithAuthor(dir, /*encrypted=*/false);
  WriteFile(dir / "note.txt", "plain");
  AddEntry(node, "case-1", {dir / "note.txt"});
  fs::path mirror = dir / "mirror.git";
  RunResult exp = RunKhronika({"mirror", "export", "--data", node.data.string(), "--git", mirror.string()});
  ASSERT_EQ(exp.exit_code, 0) << exp.out << exp.err;
  EXPECT_EQ(ModeOf(mirror), 0700u);
  EXPECT_EQ(exp.err.find("in clear"), std::string::npos) << exp.err;
}

TEST(MirrorTest, VerifyIsCleanThenNamesAForgedFile) {
  TempDir dir;
  LocalNode node = MakeNodeWithAuthor(dir);
  WriteFile(dir / "first.jpg", std::string(5000, 'a'));
  WriteFile(dir / "second.jpg", std::string(7000, 'b'));
  AddEntry(node, "case-1", {dir / "first.jpg"});
  AddEntry(node, "case-1", {dir / "second.jpg"});
  fs::path mirror = dir / "mirror.git";
  ASSERT_EQ(RunKhronika({"mirror", "export", "--data", node.data.string(), "--git", mirror.string()})
                .exit_code,
            0);
  std::string origin = IdOf(node.data)["node_id"];
  RunResult clean = RunKhronika({"mirror", "verify", "--git", mirror.string()});
  EXPECT_EQ(clean.exit_code, 0) << clean.out << clean.err;
  EXPECT_NE(clean.out.find("log " + origin + ": 2 records"), std::string::npos) << clean.out;
  EXPECT_EQ(clean.err.find("problem: "), std::string::npos) << clean.err;

  // Forge with git plumbing: the tip commit, same author, committer and message, with another
  // files/0.jpg. Valid git; false evidence.
  std::string branch = "refs/heads/logs/" + origin;
  std::string tip = Line(Git(mirror, {"rev-parse", branch}));
  std::string forged = std::string(7000, 'b');
  forged[100] = 'X';
  WriteFile(dir / "forged.jpg", forged);
  std::string blob = Line(Git(mirror, {"hash-object", "-w", (dir / "forged.jpg").string()}));
  std::string index = "GIT_INDEX_FILE=" + (dir / "index").string();
  std::string git_dir = "--git-dir=" + mirror.string();
  ASSERT_EQ(RunProgram({"env", index, "git", git_dir, "read-tree", tip}).exit_code, 0);
  ASSERT_EQ(RunProgram({"env", index, "git", git_dir, "update-index", "--cacheinfo",
                        "100644," + blob + ",files/0.jpg"}).exit_code, 0);
  std::string tree = Line(RunProgram({"env", index, "git", git_dir, "write-tree"}));
  std::string commit = Git(mirror, {"cat-file", "commit", tip}).out;
  ASSERT_EQ(commit.rfind("tree ", 0), 0u);
  commit = "tree " + tree + commit.substr(commit.find('\n'));
  WriteFile(dir / "commit.txt", commit);
  std::string new_tip = Line(Git(mirror, {"hash-object", "-t", "commit", "-w", (dir / "commit.txt").string()}));
  ASSERT_EQ(Git(mirror, {"update-ref", branch, new_tip, tip}).exit_code, 0);
  EXPECT_EQ(Git(mirror, {"fsck", "--strict", "--no-progress"}).exit_code, 0);

  RunResult bad = RunKhronika({"mirror", "verify", "--git", mirror.string()});
  EXPECT_EQ(bad.exit_code, 1) << bad.out << bad.err;
  EXPECT_NE(bad.err.find("problem: logs/" + origin.substr(0, 16)), std::string::npos) << bad.err;
  EXPECT_NE(bad.err.find("(record 1): files/0.jpg does not match its manifest's sha256"),
            std::string::npos)
      << bad.err;
  EXPECT_NE(bad.err.find("commit " + new_tip.substr(0, 12)), std::string::npos) << bad.err;
  // The node itself still holds the true bytes: `verify` of the store is clean.
  EXPECT_EQ(RunKhronika({"verify", "--data", node.data.string()}).exit_code, 0);
  // A mirror that is not a repository at all is an error, not a clean report.
  EXPECT_EQ(RunKhronika({"mirror", "verify", "--git", (dir / "nothing").string()}).exit_code, 1);
}

// Two NGOs whose nodes never reach each other: a bare git repository (which could live on any
// git host, or a USB stick) relays their logs, verified on arrival like any sync.
TEST(MirrorTest, TwoNodesSyncOnlyThroughAGitRelay) {
  TempDir dir;
  fs::path a = dir / "a", b = dir / "b", key = dir / "author.key";
  ASSERT_EQ(RunKhronika({"init", "--data", a.string(), "--name", "ngo-a", "--key-file", a.string() + ".key-file"}).exit_code, 0);
  ASSERT_EQ(RunKhronika({"init", "--data", b.string(), "--name", "ngo-b", "--key-file", b.string() + ".key-file"}).exit_code, 0);
  ASSERT_EQ(RunKhronika({"keygen", "--out", key.string()}).exit_code, 0);
  for (const fs::path& n : {a, b}) {
    ASSERT_EQ(RunKhronika({"author", "add", "--data", n.string(), "--name", "Reporter", "--pubkey",
                           key.string() + ".pub"}).exit_code, 0);
  }
  json id_a = IdOf(a), id_b = IdOf(b);
  std::string origin_a = id_a["node_id"], origin_b = id_b["node_id"];
  for (auto [to, id] : {std::pair{a, id_b}, std::pair{b, id_a}}) {
    RunResult m = RunKhronika({"member", "add", "--data", to.string(), "--vkey", id["vkey"],
                               "--cosigner-vkey", id["cosigner_vkey"]});
    ASSERT_EQ(m.exit_code, 0) << m.err;
  }
  LocalNode node_a{a, key}, node_b{b, key};
  WritePseudoRandomFile(dir / "video.mp4", 1536 * 1024 + 5, 3);
  WriteFile(dir / "note.txt", "what was seen");
  std::string e0 = AddEntry(node_a, "case-a", {dir / "video.mp4", dir / "note.txt"});
  std::string e1 = AddEntry(node_a, "case-a", {dir / "note.txt"});

  fs::path relay = dir / "relay.git";
  ASSERT_EQ(RunProgram({"git", "init", "-q", "--bare", relay.string()}).exit_code, 0);
  std::string url = "file://" + relay.string();
  RunResult sa = RunKhronika({"sync", "--data", a.string(), "--via-git", url});
  ASSERT_EQ(sa.exit_code, 0) << sa.out << sa.err;
  EXPECT_NE(sa.out.find("exported records 0 to 1"), std::string::npos) << sa.out;
  // The relay and its cache in DIR/git-relay hold the evidence in clear: said, and kept 0700.
  EXPECT_NE(sa.err.find("warning: the mirror holds the evidence in clear: " +
                        (a / "git-relay").string() + " and the relay " + url),
            std::string::npos)
      << sa.err;
  EXPECT_EQ(ModeOf(a / "git-relay"), 0700u);
  EXPECT_NE(sa.out.find("pushed"), std::string::npos) << sa.out;
  RunResult sb = RunKhronika({"sync", "--data", b.string(), "--via-git", url});
  ASSERT_EQ(sb.exit_code, 0) << sb.out << sb.err;
  EXPECT_NE(sb.out.find("log " + origin_a.substr(0, 16) + ": received records 0 to 1"),
            std::string::npos)
      << sb.out;

  std::vector<json> rows_a = LogRows(a, origin_a);
  ASSERT_EQ(rows_a.size(), 2u);
  EXPECT_EQ(LogRows(b, origin_a), rows_a);  // records, entries and manifests, byte for byte
  RunResult vb = RunKhronika({"verify", "--data", b.string()});
  EXPECT_EQ(vb.exit_code, 0) << vb.out;
  RunResult cat = RunKhronika({"cat", "--data", b.string(), e0, "video.mp4"});
  ASSERT_EQ(cat.exit_code, 0) << cat.err;
  EXPECT_EQ(cat.out, ReadFile(dir / "video.mp4"));

  // B records something of its own; A learns it the same way.
  std::string eb = AddEntry(node_b, "case-b", {dir / "note.txt"});
  RunResult sb2 = RunKhronika({"sync", "--data", b.string(), "--via-git", url});
  ASSERT_EQ(sb2.exit_code, 0) << sb2.out << sb2.err;
  RunResult sa2 = RunKhronika({"sync", "--data", a.string(), "--via-git", url});
  ASSERT_EQ(sa2.exit_code, 0) << sa2.out << sa2.err;
  std::vector<json> rows_b = LogRows(a, origin_b);
  ASSERT_EQ(rows_b.size(), 1u);
  EXPECT_EQ(rows_b[0]["entry_id"], eb);
  EXPECT_EQ(rows_b, LogRows(b, origin_b));
  EXPECT_EQ(RunKhronika({"verify", "--data", a.string()}).exit_code, 0);

  // Witnessing crossed the relay too: A holds B's cosignature of A's own log.
  RunResult st = RunKhronika({"status", "--data", a.string(), "--json"});
  ASSERT_EQ(st.exit_code, 0) << st.err;
  bool cosigned_by_b = false;
  json status = json::parse(st.out);
  for (const json& log : status["logs"]) {
    if (log["origin"] != origin_a) continue;
    for (const json& c : log["cosigners"]) cosigned_by_b = cosigned_by_b || c == origin_b;
  }
  EXPECT_TRUE(cosigned_by_b) << st.out;

  // And the relay itself verifies from the repository alone.
  RunResult vr = RunKhronika({"mirror", "verify", "--git", relay.string()});
  EXPECT_EQ(vr.exit_code, 0) << vr.out << vr.err;
  EXPECT_NE(vr.out.find("log " + origin_a + ": 2 records"), std::string::npos) << vr.out;
  EXPECT_NE(vr.out.find("log " + origin_b + ": 1 records"), std::string::npos) << vr.out;
}

TEST(MirrorTest, ImportTakesOnlyRosterMembersAndPushRefusesAnotherHistory) {
  TempDir dir;
  LocalNode node = MakeNodeWithAuthor(dir);
  WriteFile(dir / "a.txt", "alpha");
  AddEntry(node, "case-1", {dir / "a.txt"});
  fs::path mirror = dir / "mirror.git";
  ASSERT_EQ(RunKhronika({"mirror", "export", "--data", node.data.string(), "--git", mirror.string()})
                .exit_code,
            0);
  json id = IdOf(node.data);
  fs::path fresh = dir / "fresh";
  ASSERT_EQ(RunKhronika({"init", "--data", fresh.string(), "--name", "fresh", "--key-file", fresh.string() + ".key-file"}).exit_code, 0);
  RunResult stranger = RunKhronika({"mirror", "import", "--data", fresh.string(), "--git", mirror.string()});
  EXPECT_EQ(stranger.exit_code, 0) << stranger.out << stranger.err;
  EXPECT_NE(stranger.out.find("skipped: not a federation member here"), std::string::npos) << stranger.out;
  EXPECT_NE(stranger.out.find("khronika member add"), std::string::npos) << stranger.out;
  EXPECT_TRUE(LogRows(fresh, id["node_id"]).empty());
  ASSERT_EQ(RunKhronika({"member", "add", "--data", fresh.string(), "--vkey", id["vkey"]}).exit_code, 0);
  RunResult imported = RunKhronika({"mirror", "import", "--data", fresh.string(), "--git", mirror.string()});
  EXPECT_EQ(imported.exit_code, 0) << imported.out << imported.err;
  EXPECT_NE(imported.out.find("received records 0 to 0"), std::string::npos) << imported.out;
  EXPECT_EQ(LogRows(fresh, id["node_id"]), LogRows(node.data, id["node_id"]));

  // Push: to an empty bare repository, then a fork of the log is refused by name.
  fs::path remote = dir / "remote.git";
  ASSERT_EQ(RunProgram({"git", "init", "-q", "--bare", remote.string()}).exit_code, 0);
  RunResult push = RunKhronika({"mirror", "push", "--git", mirror.string(), "--remote", remote.string()});
  ASSERT_EQ(push.exit_code, 0) << push.err;
  std::string branch = "refs/heads/logs/" + id["node_id"].get<std::string>();
  EXPECT_EQ(Line(Git(remote, {"rev-parse", branch})), Line(Git(mirror, {"rev-parse", branch})));
  // Another history on the remote: an orphan commit with the same branch name.
  std::string tree = Line(Git(remote, {"rev-parse", branch + "^{tree}"}));
  RunResult orphan = RunProgram({"env", "GIT_AUTHOR_NAME=x", "GIT_AUTHOR_EMAIL=x@x", "GIT_COMMITTER_NAME=x",
                                 "GIT_COMMITTER_EMAIL=x@x", "git", "--git-dir=" + remote.string(),
                                 "commit-tree", tree, "-m", "another history"});
  ASSERT_EQ(orphan.exit_code, 0) << orphan.err;
  ASSERT_EQ(Git(remote, {"update-ref", branch, Line(orphan)}).exit_code, 0);
  AddEntry(node, "case-1", {dir / "a.txt"});
  ASSERT_EQ(RunKhronika({"mirror", "export", "--data", node.data.string(), "--git", mirror.string()})
                .exit_code,
            0);
  RunResult refused = RunKhronika({"mirror", "push", "--git", mirror.string(), "--remote", remote.string()});
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_NE(refused.err.find(branch), std::string::npos) << refused.err;
  EXPECT_EQ(Line(Git(remote, {"rev-parse", branch})), Line(orphan));
}

}  // namespace
}  // namespace khronika::testing

namespace khronika::testing {
namespace {

// `mirror verify --trust FILE` (issue 17 item 11): with the keys an auditor obtained out of band,
// every origin key and every witness key the repository carries must be among them, and every
// log must be vouched for by a signed checkpoint; the keys in the repository alone no longer do.
TEST(MirrorTest, VerifyWithTrustAcceptsOnlyTheKeysInTheFile) {
  TempDir dir;
  fs::path a = dir / "a", b = dir / "b", key = dir / "author.key";
  for (const fs::path& n : {a, b}) {
    ASSERT_EQ(RunKhronika({"init", "--data", n.string(), "--key-file", n.string() + ".key-file"})
                  .exit_code,
              0);
  }
  ASSERT_EQ(RunKhronika({"keygen", "--out", key.string()}).exit_code, 0);
  json id_a = IdOf(a), id_b = IdOf(b);
  const std::string origin_a = id_a["node_id"], origin_b = id_b["node_id"];
  for (auto [to, id] : {std::pair{a, id_b}, std::pair{b, id_a}}) {
    ASSERT_EQ(RunKhronika({"author", "add", "--data", to.string(), "--name", "R", "--pubkey",
                           key.string() + ".pub"})
                  .exit_code,
              0);
    ASSERT_EQ(RunKhronika({"member", "add", "--data", to.string(), "--vkey", id["vkey"],
                           "--cosigner-vkey", id["cosigner_vkey"]})
                  .exit_code,
              0);
  }
  WriteFile(dir / "note.txt", "seen");
  AddEntry(LocalNode{a, key}, "case-a", {dir / "note.txt"});
  AddEntry(LocalNode{b, key}, "case-b", {dir / "note.txt"});
  // Through a relay, each node takes and cosigns the other's log, and learns the cosignature of
  // its own: every checkpoints branch then holds the other member's witness key.
  fs::path relay = dir / "relay.git";
  ASSERT_EQ(RunProgram({"git", "init", "-q", "--bare", relay.string()}).exit_code, 0);
  for (const fs::path& n : {a, b, a, b}) {
    RunResult s = RunKhronika({"sync", "--data", n.string(), "--via-git", relay.string()});
    ASSERT_EQ(s.exit_code, 0) << s.out << s.err;
  }
  const std::string ta = id_a["vkey"], wa = id_a["cosigner_vkey"], tb = id_b["vkey"],
                    wb = id_b["cosigner_vkey"];
  auto verify = [&](const std::string& keys) {
    WriteFile(dir / "trusted.keys", keys);
    return RunKhronika(
        {"mirror", "verify", "--git", relay.string(), "--trust", (dir / "trusted.keys").string()});
  };

  RunResult all =
      verify("# in person, 2026-12-01\n" + ta + "\n" + wa + "\n\n" + tb + "\n" + wb + "\n");
  EXPECT_EQ(all.exit_code, 0) << all.out << all.err;
  EXPECT_NE(all.out.find("log " + origin_a + ": 1 records, "), std::string::npos) << all.out;
  EXPECT_NE(all.out.find("1 cosigner; keys trusted\nlog "), std::string::npos) << all.out;
  EXPECT_NE(all.out.find("clean: 2 logs verified from the repository alone, under the keys of " +
                         (dir / "trusted.keys").string()),
            std::string::npos)
      << all.out;
  EXPECT_EQ(all.err.find("problem"), std::string::npos) << all.err;

  // A's origin key missing: A's log is not vouched for by anyone the auditor trusts.
  RunResult no_a = verify(wa + "\n" + tb + "\n" + wb + "\n");
  EXPECT_EQ(no_a.exit_code, 1) << no_a.out;
  EXPECT_NE(no_a.err.find("problem: logs/" + origin_a.substr(0, 16) +
                          "…: the origin's verifier key (khronika/" + origin_a +
                          ") is not in the trust file"),
            std::string::npos)
      << no_a.err;
  EXPECT_NE(no_a.out.find("log " + origin_a +
                          ": 1 records, 2 signed checkpoints verified (largest at 1), "
                          "1 cosigner; keys NOT trusted"),
            std::string::npos)
      << no_a.out;
  EXPECT_NE(no_a.out.find("1 problems found"), std::string::npos) << no_a.out;

  // B's witness key missing, or another key under B's witness name: the repository's
  // cosigners/<b>.vkey is not one the auditor trusts, and B's cosignatures are not counted.
  const std::string impostor = FormatCosignerVerifierKey("khronika/" + origin_b + "/witness",
                                                         SigningKey::Generate().public_key());
  for (const std::string& keys :
       {ta + "\n" + wa + "\n" + tb + "\n", ta + "\n" + wa + "\n" + tb + "\n" + impostor + "\n"}) {
    RunResult no_wb = verify(keys);
    EXPECT_EQ(no_wb.exit_code, 1) << no_wb.out;
    EXPECT_NE(no_wb.err.find("problem: checkpoints/" + origin_a.substr(0, 16) + "…: commit "),
              std::string::npos)
        << no_wb.err;
    EXPECT_NE(no_wb.err.find(": cosigners/" + origin_b +
                             ".vkey: this witness key is not in the trust file"),
              std::string::npos)
        << no_wb.err;
    EXPECT_NE(no_wb.out.find("log " + origin_a +
                             ": 1 records, 2 signed checkpoints verified (largest at 1), "
                             "0 cosigners; keys NOT trusted"),
              std::string::npos)
        << no_wb.out;
  }

  // Bad trust files: a usage error naming the file and line, nothing verified.
  RunResult garbage = verify(ta + "\nnot a key\n");
  EXPECT_EQ(garbage.exit_code, 2) << garbage.out;
  EXPECT_NE(garbage.err.find("--trust " + (dir / "trusted.keys").string() + ": " +
                             (dir / "trusted.keys").string() + " line 2: not a verifier key"),
            std::string::npos)
      << garbage.err;
  EXPECT_EQ(garbage.out, "");
  RunResult missing = RunKhronika(
      {"mirror", "verify", "--git", relay.string(), "--trust", (dir / "none").string()});
  EXPECT_EQ(missing.exit_code, 2) << missing.out << missing.err;
  EXPECT_NE(missing.err.find("--trust " + (dir / "none").string()), std::string::npos)
      << missing.err;

  // Without its checkpoints branch, B's records are vouched for by nothing: a warning without
  // --trust, a problem with it.
  ASSERT_EQ(Git(relay, {"update-ref", "-d", "refs/heads/checkpoints/" + origin_b}).exit_code, 0);
  RunResult plain = RunKhronika({"mirror", "verify", "--git", relay.string()});
  EXPECT_EQ(plain.exit_code, 0) << plain.out << plain.err;
  EXPECT_NE(plain.err.find("warning: checkpoints/" + origin_b.substr(0, 16)), std::string::npos)
      << plain.err;
  RunResult unvouched = verify(ta + "\n" + wa + "\n" + tb + "\n" + wb + "\n");
  EXPECT_EQ(unvouched.exit_code, 1) << unvouched.out;
  EXPECT_NE(
      unvouched.err.find("problem: logs/" + origin_b.substr(0, 16) +
                         "…: no signed checkpoint verifies: nothing vouches for its 1 records"),
      std::string::npos)
      << unvouched.err;
}

}  // namespace
}  // namespace khronika::testing
