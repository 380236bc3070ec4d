// The git mirror through the real khronika binary and stock git: an exported mirror that
// `git clone` reads and whose sealed files open, with the origin's keys only, to the submitted
// bytes; a mirror that holds no plaintext at all (format 2: records, sealed entries and sealed
// files); `mirror verify` on a good and a forged mirror; and two nodes that never talk to each
// other syncing through a bare git repository (`sync --via-git`).
#include <sys/stat.h>

#include <cctype>
#include <sstream>
#include <string_view>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "khronika/schemas/crypto.h"
#include "khronika/schemas/note.h"
#include "khronika/schemas/sealing.h"
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

// What every holder of a log sees of each record: the record and the sealed object, byte for
// byte. The origin's own rows add what its archive key opens.
std::vector<json> SealedRows(const std::vector<json>& rows) {
  std::vector<json> out;
  for (const json& row : rows) {
    json sealed;
    for (const char* k : {"index", "origin", "object_type", "entry_id", "received_at_ms",
                          "leaf_hash", "record_hex", "object_hex"}) {
      if (row.contains(k)) sealed[k] = row[k];
    }
    out.push_back(std::move(sealed));
  }
  return out;
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
                     const std::vector<fs::path>& files,
                     const std::vector<std::string>& more = {}) {
  std::vector<std::string> args = {
      "add", "--data", node.data.string(), "--key", node.key.string(), "--case", case_id, "--json"};
  args.insert(args.end(), more.begin(), more.end());
  for (const fs::path& f : files) args.push_back(f.string());
  RunResult r = RunKhronika(args);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return r.exit_code == 0 ? json::parse(r.out)["entry_id"].get<std::string>() : "";
}

unsigned ModeOf(const fs::path& path) {
  struct stat st {};
  EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
  return st.st_mode & 07777;
}

// Everything a git host holding `repo` holds: every object decompressed (blobs, trees, commits,
// whatever is packed or loose, reachable or not), then every file of the repository's directory
// as it lies on disk (refs, config, HEAD, logs).
std::string EverythingIn(const fs::path& repo) {
  RunResult objects = Git(repo, {"cat-file", "--batch-all-objects", "--batch"});
  EXPECT_EQ(objects.exit_code, 0) << objects.err;
  std::string all = objects.out;
  for (const fs::directory_entry& e : fs::recursive_directory_iterator(repo)) {
    if (e.is_regular_file()) all += e.path().string() + "\n" + ReadFile(e.path());
  }
  return all;
}

// A secret and what it is, for the failure message.
struct Secret {
  std::string what;
  std::string bytes;
};

// The plaintext SHA-256 of `content`, of each of its 1 MiB upload chunks and of each 16 KiB
// chunk the file is sealed in (format-2.md section 4), each in lower-case hex, upper-case hex and
// binary: none of them may be anywhere a partner or a mirror can read.
void AddPlaintextHashes(const std::string& name, const std::string& content,
                        std::vector<Secret>& secrets) {
  auto add = [&](const std::string& what, std::string_view piece) {
    Hash h = Sha256(piece);
    std::string hex = ToHex(h), upper = hex;
    for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    secrets.push_back({what + " (hex)", hex});
    secrets.push_back({what + " (HEX)", upper});
    secrets.push_back({what + " (binary)", std::string(h.begin(), h.end())});
  };
  add("the SHA-256 of " + name, content);
  for (size_t chunk : {size_t{1} << 20, size_t{16} << 10}) {
    for (size_t at = 0, i = 0; at < content.size(); at += chunk, ++i) {
      add("the SHA-256 of " + name + "'s " + std::to_string(chunk >> 10) + " KiB chunk " +
              std::to_string(i),
          std::string_view(content).substr(at, chunk));
    }
  }
}

void ExpectNoSecretIn(const std::string& haystack, const std::vector<Secret>& secrets,
                      const std::string& where) {
  for (const Secret& s : secrets) {
    EXPECT_EQ(haystack.find(s.bytes), std::string::npos) << where << " holds " << s.what;
  }
}

// A node that registered an author, opened elsewhere from `key export`: the origin's own keys
// (node, witness, archive) and nothing of its store.
fs::path RestoreKeysOf(const TempDir& dir, const LocalNode& node, const std::string& name) {
  WriteFile(dir / "export-passphrase", "kept apart from the sealed keys\n");
  RunResult exported = RunKhronikaWithFd3(
      dir / "export-passphrase",
      {"key", "export", "--data", node.data.string(), "--out", (dir / "offsite.keys").string()});
  EXPECT_EQ(exported.exit_code, 0) << exported.err;
  fs::path restored = dir / name;
  RunResult init = RunKhronikaWithFd3(
      dir / "export-passphrase",
      {"init", "--data", restored.string(), "--name", name, "--keys",
       (dir / "offsite.keys").string(), "--key-file", (dir / (name + ".key-file")).string()});
  EXPECT_EQ(init.exit_code, 0) << init.err;
  return restored;
}

TEST(MirrorTest, AnExportedMirrorClonesWithStockGitAndItsSealedFilesOpenToTheSubmittedBytes) {
  TempDir dir;
  LocalNode node = MakeNodeWithAuthor(dir);
  WritePseudoRandomFile(dir / "photo.jpg", 2 * 1024 * 1024 + 77, 7);
  WriteFile(dir / "statement.pdf", "%PDF-1.7 witness statement");
  WriteFile(dir / "notes.weird", "a file type Khronika does not name");
  std::string e0 = AddEntry(node, "case-2026-001", {dir / "photo.jpg", dir / "statement.pdf"});
  std::string e1 = AddEntry(node, "case-2026-001", {dir / "notes.weird"});
  fs::path mirror = dir / "mirror.git";
  RunResult exp =
      RunKhronika({"mirror", "export", "--data", node.data.string(), "--git", mirror.string()});
  ASSERT_EQ(exp.exit_code, 0) << exp.out << exp.err;
  EXPECT_NE(exp.out.find("exported records 0 to 1"), std::string::npos) << exp.out;
  EXPECT_EQ(exp.err, "");
  std::string origin = IdOf(node.data)["node_id"];

  RunResult fsck = Git(mirror, {"fsck", "--full", "--strict", "--no-progress"});
  EXPECT_EQ(fsck.exit_code, 0) << fsck.out << fsck.err;
  EXPECT_EQ(fsck.out + fsck.err, "");

  fs::path clone = dir / "clone";
  RunResult cl = RunProgram({"git", "clone", "-q", mirror.string(), clone.string()});
  ASSERT_EQ(cl.exit_code, 0) << cl.err;
  RunResult commits =
      RunProgram({"git", "-C", clone.string(), "rev-list", "--reverse", "origin/logs/" + origin});
  ASSERT_EQ(commits.exit_code, 0) << commits.err;
  std::vector<std::string> ids;
  std::istringstream in(commits.out);
  for (std::string c; std::getline(in, c);) ids.push_back(c);
  ASSERT_EQ(ids.size(), 2u);
  auto paths = [&](const std::string& rev) {
    return RunProgram({"git", "-C", clone.string(), "ls-tree", "-r", "--name-only", rev}).out;
  };
  // The clone's HEAD is the node's own log: the tip is checked out already. A commit holds the
  // record, the sealed entry and each file sealed, named by position: no name, type or case.
  EXPECT_EQ(paths("HEAD"), "files/0.sealed\nobject.bin\nrecord.bin\n");
  EXPECT_EQ(paths(ids[0]), "files/0.sealed\nfiles/1.sealed\nobject.bin\nrecord.bin\n");
  std::vector<json> rows = LogRows(node.data, origin);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(ToHex(AsBytes(ReadFile(clone / "record.bin"))), rows[1]["record_hex"]);
  EXPECT_EQ(ToHex(AsBytes(ReadFile(clone / "object.bin"))), rows[1]["object_hex"]);
  const std::string sealed_notes = ReadFile(clone / "files" / "0.sealed");
  EXPECT_GE(sealed_notes.size(), 56 + kMinPaddedFileSize + 16);  // padded, at least the floor
  EXPECT_EQ(sealed_notes.find("a file type Khronika"), std::string::npos);
  ASSERT_EQ(
      RunProgram({"git", "-C", clone.string(), "checkout", "-q", "--detach", ids[0]}).exit_code, 0);
  const std::string photo = ReadFile(dir / "photo.jpg");
  const std::string sealed_photo = ReadFile(clone / "files" / "0.sealed");
  EXPECT_GT(sealed_photo.size(), photo.size());
  EXPECT_LT(sealed_photo.size(), photo.size() + photo.size() / 8 + 64 * 1024);  // Padmé: <= 12 %
  EXPECT_EQ(sealed_photo.find(photo.substr(1000, 64)), std::string::npos);
  EXPECT_EQ(ReadFile(clone / "files" / "1.sealed").find("witness statement"), std::string::npos);

  // The sealed bytes hold the submitted ones, for whoever has the origin's archive key: the
  // origin rebuilt from its sealed key export alone takes its log back from the mirror (every
  // byte checked on the way in) and reads each file back as submitted.
  fs::path restored = RestoreKeysOf(dir, node, "restored");
  RunResult imported =
      RunKhronika({"mirror", "import", "--data", restored.string(), "--git", mirror.string()});
  ASSERT_EQ(imported.exit_code, 0) << imported.out << imported.err;
  EXPECT_NE(imported.out.find("received records 0 to 1"), std::string::npos) << imported.out;
  EXPECT_EQ(LogRows(restored, origin), rows);  // opened too: case, names, metadata, signatures
  for (const auto& [entry, name] : std::vector<std::pair<std::string, std::string>>{
           {e0, "photo.jpg"}, {e0, "statement.pdf"}, {e1, "notes.weird"}}) {
    RunResult cat = RunKhronika({"cat", "--data", restored.string(), entry, name});
    ASSERT_EQ(cat.exit_code, 0) << name << ": " << cat.err;
    EXPECT_EQ(cat.out, ReadFile(dir / name)) << name;
  }
  RunResult verified = RunKhronika({"verify", "--data", restored.string()});
  EXPECT_EQ(verified.exit_code, 0) << verified.out << verified.err;

  // Exporting again writes only what the log gained since: the custody record of the key export
  // above (RestoreKeysOf); once more, nothing.
  exp = RunKhronika({"mirror", "export", "--data", node.data.string(), "--git", mirror.string()});
  ASSERT_EQ(exp.exit_code, 0) << exp.err;
  EXPECT_NE(exp.out.find("exported records 2 to 2"), std::string::npos) << exp.out;
  exp = RunKhronika({"mirror", "export", "--data", node.data.string(), "--git", mirror.string()});
  ASSERT_EQ(exp.exit_code, 0) << exp.err;
  EXPECT_NE(exp.out.find("up to date at 3 records"), std::string::npos) << exp.out;
}

// Issue 14 item 7: the mirror is ciphertext only, so it may sit on any git host. Canaries in
// every place a submitter or an operator writes (contents, also in a file's second chunk, file
// names, metadata, case ids, kinds, the author's and the node's names) and the plaintext SHA-256
// of every file and chunk: none is in any git object or file of the mirror the origin exports,
// nor of the one a partner exports of the same log; stock `git fsck --strict` and `mirror
// verify` pass; and the two mirrors hold the same commits.
TEST(MirrorTest, TheMirrorHoldsNoPlaintextAndTwoNodesWriteTheSameCommits) {
  TempDir dir;
  fs::path a = dir / "a", b = dir / "b", key = dir / "author.key";
  std::vector<Secret> secrets;
  auto canary = [&](const std::string& what, const std::string& text) {
    secrets.push_back({what, text});
    return text;
  };
  const std::string node_name = canary("the node name", "ngo-canary-Xq81");
  ASSERT_EQ(RunKhronika({"init", "--data", a.string(), "--name", node_name, "--key-file",
                         a.string() + ".key-file"})
                .exit_code,
            0);
  ASSERT_EQ(RunKhronika({"init", "--data", b.string(), "--name", "partner", "--key-file",
                         b.string() + ".key-file"})
                .exit_code,
            0);
  ASSERT_EQ(RunKhronika({"keygen", "--out", key.string()}).exit_code, 0);
  const std::string author = canary("the author's name", "Author Canary Vw27");
  ASSERT_EQ(RunKhronika({"author", "add", "--data", a.string(), "--name", author, "--pubkey",
                         key.string() + ".pub"})
                .exit_code,
            0);
  json id_a = IdOf(a), id_b = IdOf(b);
  const std::string origin_a = id_a["node_id"];
  for (auto [to, id] : {std::pair{a, id_b}, std::pair{b, id_a}}) {
    ASSERT_EQ(RunKhronika({"member", "add", "--data", to.string(), "--vkey", id["vkey"],
                           "--cosigner-vkey", id["cosigner_vkey"]})
                  .exit_code,
              0);
  }

  // A video of two upload chunks with a canary in each, a statement, a photo.
  const std::string video_name = canary("a file name", "video-canary-Jp40") + ".mp4";
  WritePseudoRandomFile(dir / video_name, (1 << 20) + 300 * 1024, 11);
  std::string video = ReadFile(dir / video_name);
  const std::string in_first = canary("a file's content (first chunk)", "content-canary-Kd93");
  const std::string in_second = canary("a file's content (second chunk)", "content-canary-Lm55");
  video.replace(1000, in_first.size(), in_first);
  video.replace((1 << 20) + 5000, in_second.size(), in_second);
  WriteFile(dir / video_name, video);
  const std::string statement_name = canary("a file name", "statement-canary-Rt12") + ".txt";
  const std::string statement =
      "seen at the checkpoint: " + canary("a file's content", "content-canary-Hs68") + "\n";
  WriteFile(dir / statement_name, statement);
  const std::string photo_name = canary("a file name", "photo-canary-Bn07") + ".jpg";
  WritePseudoRandomFile(dir / photo_name, 70 * 1024 + 3, 12);
  const std::string photo = ReadFile(dir / photo_name);
  AddPlaintextHashes(video_name, video, secrets);
  AddPlaintextHashes(statement_name, statement, secrets);
  AddPlaintextHashes(photo_name, photo, secrets);

  LocalNode node_a{a, key};
  const std::string case1 = canary("a case id", "case-canary-Zu33");
  const std::string case2 = canary("a case id", "case-canary-Wc84");
  AddEntry(node_a, case1, {dir / video_name, dir / statement_name},
           {"--kind", canary("a kind", "kind-canary-qe19"), "--meta",
            canary("a metadata key", "meta-canary-Gy46") + "=" +
                canary("a metadata value", "value-canary-Pa71")});
  AddEntry(node_a, case2, {dir / photo_name});
  AddEntry(node_a, case1, {dir / statement_name});  // the same file again, in the same case

  // Control: the origin's own view holds every canary the entries carry, so the search below
  // looks for what was really submitted.
  std::string own_view;
  for (const json& row : LogRows(a, origin_a)) own_view += row.dump();
  for (const std::string& s :
       {case1, case2, video_name, statement_name, photo_name, std::string("meta-canary-Gy46"),
        std::string("value-canary-Pa71"), std::string("kind-canary-qe19")}) {
    EXPECT_NE(own_view.find(s), std::string::npos) << s;
  }

  fs::path mirror_a = dir / "mirror-a.git";
  RunResult exp =
      RunKhronika({"mirror", "export", "--data", a.string(), "--git", mirror_a.string()});
  ASSERT_EQ(exp.exit_code, 0) << exp.out << exp.err;
  EXPECT_NE(exp.out.find("exported records 0 to 2"), std::string::npos) << exp.out;
  EXPECT_EQ(exp.err, "");              // nothing to warn about: no "in clear"
  EXPECT_EQ(ModeOf(mirror_a), 0700u);  // sizes and times are still the federation's business
  RunResult fsck = Git(mirror_a, {"fsck", "--full", "--strict", "--no-progress"});
  EXPECT_EQ(fsck.exit_code, 0) << fsck.out << fsck.err;
  EXPECT_EQ(fsck.out + fsck.err, "");
  RunResult verified = RunKhronika({"mirror", "verify", "--git", mirror_a.string()});
  EXPECT_EQ(verified.exit_code, 0) << verified.out << verified.err;
  EXPECT_NE(verified.out.find("log " + origin_a + ": 3 records"), std::string::npos)
      << verified.out;
  ExpectNoSecretIn(EverythingIn(mirror_a), secrets, "the origin's mirror");

  // The partner takes A's log from that mirror (sealed: nothing it can open), and exports it:
  // the same commits, and no more plaintext than the mirror it came from.
  RunResult imported =
      RunKhronika({"mirror", "import", "--data", b.string(), "--git", mirror_a.string()});
  ASSERT_EQ(imported.exit_code, 0) << imported.out << imported.err;
  EXPECT_NE(imported.out.find("received records 0 to 2"), std::string::npos) << imported.out;
  fs::path mirror_b = dir / "mirror-b.git";
  exp = RunKhronika({"mirror", "export", "--data", b.string(), "--git", mirror_b.string()});
  ASSERT_EQ(exp.exit_code, 0) << exp.out << exp.err;
  const std::string branch = "refs/heads/logs/" + origin_a;
  std::string tip_a = Line(Git(mirror_a, {"rev-parse", branch}));
  EXPECT_EQ(tip_a.size(), 40u);
  EXPECT_EQ(Line(Git(mirror_b, {"rev-parse", branch})), tip_a);
  EXPECT_EQ(Git(mirror_b, {"fsck", "--full", "--strict", "--no-progress"}).exit_code, 0);
  EXPECT_EQ(RunKhronika({"mirror", "verify", "--git", mirror_b.string()}).exit_code, 0);
  ExpectNoSecretIn(EverythingIn(mirror_b), secrets, "the partner's mirror");

  // Control: the search does see inside git's compressed objects. A canary written as a blob is
  // found in a copy of the mirror.
  fs::path copy = dir / "copy.git";
  fs::copy(mirror_a, copy, fs::copy_options::recursive);
  WriteFile(dir / "planted", "planted " + in_second);
  ASSERT_EQ(Git(copy, {"hash-object", "-w", (dir / "planted").string()}).exit_code, 0);
  EXPECT_NE(EverythingIn(copy).find(in_second), std::string::npos);

  // Opened to other users since: closed again before anything is written, and said so.
  fs::permissions(mirror_a, fs::perms(0755));
  exp = RunKhronika({"mirror", "export", "--data", a.string(), "--git", mirror_a.string()});
  ASSERT_EQ(exp.exit_code, 0) << exp.out << exp.err;
  EXPECT_EQ(ModeOf(mirror_a), 0700u);
  EXPECT_NE(exp.err.find(mirror_a.string() + " was mode 0755"), std::string::npos) << exp.err;
  EXPECT_EQ(exp.err.find("in clear"), std::string::npos) << exp.err;
}

// A node in clear seals what it logs all the same: its mirror is ciphertext too, and kept to
// its owner.
TEST(MirrorTest, ANodeInClearExportsCiphertextToo) {
  TempDir dir;
  LocalNode node = MakeNodeWithAuthor(dir, /*encrypted=*/false);
  WriteFile(dir / "note.txt", "plain words from a node in clear");
  AddEntry(node, "case-in-clear", {dir / "note.txt"});
  fs::path mirror = dir / "mirror.git";
  RunResult exp =
      RunKhronika({"mirror", "export", "--data", node.data.string(), "--git", mirror.string()});
  ASSERT_EQ(exp.exit_code, 0) << exp.out << exp.err;
  EXPECT_EQ(ModeOf(mirror), 0700u);
  EXPECT_EQ(exp.err, "");
  const std::string all = EverythingIn(mirror);
  EXPECT_NE(all.find("record.bin"), std::string::npos);  // the search reads the trees
  for (std::string_view s : {"plain words", "case-in-clear", "note.txt", "Test Author"}) {
    EXPECT_EQ(all.find(s), std::string::npos) << s;
  }
}

TEST(MirrorTest, VerifyIsCleanThenNamesAForgedFile) {
  TempDir dir;
  LocalNode node = MakeNodeWithAuthor(dir);
  WriteFile(dir / "first.jpg", std::string(5000, 'a'));
  WritePseudoRandomFile(dir / "second.jpg", (1 << 20) + 7000, 5);  // two sealed chunks
  AddEntry(node, "case-1", {dir / "first.jpg"});
  AddEntry(node, "case-1", {dir / "second.jpg"});
  fs::path mirror = dir / "mirror.git";
  ASSERT_EQ(
      RunKhronika({"mirror", "export", "--data", node.data.string(), "--git", mirror.string()})
          .exit_code,
      0);
  std::string origin = IdOf(node.data)["node_id"];
  RunResult clean = RunKhronika({"mirror", "verify", "--git", mirror.string()});
  EXPECT_EQ(clean.exit_code, 0) << clean.out << clean.err;
  EXPECT_NE(clean.out.find("log " + origin + ": 2 records"), std::string::npos) << clean.out;
  EXPECT_EQ(clean.err.find("problem: "), std::string::npos) << clean.err;

  // Forge with git plumbing: the tip commit, same author, committer and message, with another
  // files/0.sealed. Valid git; false evidence, which no key is needed to see.
  const std::string branch = "refs/heads/logs/" + origin;
  const std::string tip = Line(Git(mirror, {"rev-parse", branch}));
  const std::string sealed = Git(mirror, {"cat-file", "blob", tip + ":files/0.sealed"}).out;
  ASSERT_GT(sealed.size(), (1u << 20) + 7000);
  auto forge = [&](const std::string& bytes, const std::string& name) {
    WriteFile(dir / name, bytes);
    std::string blob = Line(Git(mirror, {"hash-object", "-w", (dir / name).string()}));
    std::string index = "GIT_INDEX_FILE=" + (dir / (name + ".index")).string();
    std::string git_dir = "--git-dir=" + mirror.string();
    EXPECT_EQ(RunProgram({"env", index, "git", git_dir, "read-tree", tip}).exit_code, 0);
    EXPECT_EQ(RunProgram({"env", index, "git", git_dir, "update-index", "--cacheinfo",
                          "100644," + blob + ",files/0.sealed"})
                  .exit_code,
              0);
    std::string tree = Line(RunProgram({"env", index, "git", git_dir, "write-tree"}));
    std::string commit = Git(mirror, {"cat-file", "commit", tip}).out;
    EXPECT_EQ(commit.rfind("tree ", 0), 0u);
    commit = "tree " + tree + commit.substr(commit.find('\n'));
    WriteFile(dir / (name + ".commit"), commit);
    std::string forged_tip = Line(
        Git(mirror, {"hash-object", "-t", "commit", "-w", (dir / (name + ".commit")).string()}));
    EXPECT_EQ(Git(mirror, {"update-ref", branch, forged_tip}).exit_code, 0);
    EXPECT_EQ(Git(mirror, {"fsck", "--strict", "--no-progress"}).exit_code, 0);
    return forged_tip;
  };

  // One byte changed in the second sealed chunk.
  std::string flipped = sealed;
  flipped[(1 << 20) + 100] = static_cast<char>(flipped[(1 << 20) + 100] ^ 0x01);
  std::string new_tip = forge(flipped, "flipped");
  RunResult bad = RunKhronika({"mirror", "verify", "--git", mirror.string()});
  EXPECT_EQ(bad.exit_code, 1) << bad.out << bad.err;
  EXPECT_NE(bad.err.find("problem: logs/" + origin.substr(0, 16)), std::string::npos) << bad.err;
  EXPECT_NE(bad.err.find("(record 1): files/0.sealed: sealed chunk 1 does not match its id in "
                         "the sealed entry"),
            std::string::npos)
      << bad.err;
  EXPECT_NE(bad.err.find("commit " + new_tip.substr(0, 12)), std::string::npos) << bad.err;

  // Cut short by one byte: named by its size before anything is hashed.
  new_tip = forge(sealed.substr(0, sealed.size() - 1), "truncated");
  bad = RunKhronika({"mirror", "verify", "--git", mirror.string()});
  EXPECT_EQ(bad.exit_code, 1) << bad.out << bad.err;
  EXPECT_NE(bad.err.find("(record 1): files/0.sealed has " + std::to_string(sealed.size() - 1) +
                         " bytes but its sealed entry says " + std::to_string(sealed.size())),
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
  ASSERT_EQ(RunKhronika({"init", "--data", a.string(), "--name", "ngo-a", "--key-file",
                         a.string() + ".key-file"})
                .exit_code,
            0);
  ASSERT_EQ(RunKhronika({"init", "--data", b.string(), "--name", "ngo-b", "--key-file",
                         b.string() + ".key-file"})
                .exit_code,
            0);
  ASSERT_EQ(RunKhronika({"keygen", "--out", key.string()}).exit_code, 0);
  for (const fs::path& n : {a, b}) {
    ASSERT_EQ(RunKhronika({"author", "add", "--data", n.string(), "--name", "Reporter", "--pubkey",
                           key.string() + ".pub"})
                  .exit_code,
              0);
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
  // The relay and its cache in DIR/git-relay hold ciphertext only: nothing to warn about, and
  // the cache is kept 0700 all the same.
  EXPECT_EQ(sa.err.find("warning"), std::string::npos) << sa.err;
  EXPECT_EQ(ModeOf(a / "git-relay"), 0700u);
  EXPECT_NE(sa.out.find("pushed"), std::string::npos) << sa.out;
  RunResult sb = RunKhronika({"sync", "--data", b.string(), "--via-git", url});
  ASSERT_EQ(sb.exit_code, 0) << sb.out << sb.err;
  EXPECT_NE(sb.out.find("log " + origin_a.substr(0, 16) + ": received records 0 to 1"),
            std::string::npos)
      << sb.out;

  std::vector<json> rows_a = LogRows(a, origin_a);
  ASSERT_EQ(rows_a.size(), 2u);
  // Records and sealed entries, byte for byte; B opens none of them.
  std::vector<json> rows_at_b = LogRows(b, origin_a);
  EXPECT_EQ(rows_at_b, SealedRows(rows_a));
  for (const json& row : rows_at_b) EXPECT_FALSE(row.contains("case")) << row.dump();
  // `verify` checks every sealed chunk of every file against its id: B holds them all.
  RunResult vb = RunKhronika({"verify", "--data", b.string()});
  EXPECT_EQ(vb.exit_code, 0) << vb.out;
  // What they hold opens with A's archive key only (the first test reads it back with it).
  RunResult cat = RunKhronika({"cat", "--data", b.string(), e0, "video.mp4"});
  EXPECT_NE(cat.exit_code, 0);
  EXPECT_EQ(cat.out, "");
  const std::string relayed = EverythingIn(relay);
  for (std::string_view s : {"what was seen", "case-a", "video.mp4", "Reporter"}) {
    EXPECT_EQ(relayed.find(s), std::string::npos) << s;
  }

  // B records something of its own; A learns it the same way.
  std::string eb = AddEntry(node_b, "case-b", {dir / "note.txt"});
  RunResult sb2 = RunKhronika({"sync", "--data", b.string(), "--via-git", url});
  ASSERT_EQ(sb2.exit_code, 0) << sb2.out << sb2.err;
  RunResult sa2 = RunKhronika({"sync", "--data", a.string(), "--via-git", url});
  ASSERT_EQ(sa2.exit_code, 0) << sa2.out << sa2.err;
  std::vector<json> rows_b = LogRows(a, origin_b);
  ASSERT_EQ(rows_b.size(), 1u);
  EXPECT_EQ(rows_b[0]["entry_id"], eb);
  EXPECT_EQ(rows_b, SealedRows(LogRows(b, origin_b)));
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

  // A's disk is lost; its key export is not. Rebuilt from it, A takes its own log back through
  // the relay alone, and opens what it sealed.
  fs::path restored = RestoreKeysOf(dir, node_a, "restored-a");
  RunResult back = RunKhronika({"sync", "--data", restored.string(), "--via-git", url});
  ASSERT_EQ(back.exit_code, 0) << back.out << back.err;
  EXPECT_NE(back.out.find("log " + origin_a.substr(0, 16) + ": received records 0 to 1"),
            std::string::npos)
      << back.out;
  EXPECT_EQ(LogRows(restored, origin_a), rows_a);
  RunResult opened = RunKhronika({"cat", "--data", restored.string(), e0, "video.mp4"});
  ASSERT_EQ(opened.exit_code, 0) << opened.err;
  EXPECT_EQ(opened.out, ReadFile(dir / "video.mp4"));
}

TEST(MirrorTest, ImportTakesOnlyRosterMembersAndPushRefusesAnotherHistory) {
  TempDir dir;
  LocalNode node = MakeNodeWithAuthor(dir);
  WriteFile(dir / "a.txt", "alpha");
  AddEntry(node, "case-1", {dir / "a.txt"});
  fs::path mirror = dir / "mirror.git";
  ASSERT_EQ(
      RunKhronika({"mirror", "export", "--data", node.data.string(), "--git", mirror.string()})
          .exit_code,
      0);
  json id = IdOf(node.data);
  fs::path fresh = dir / "fresh";
  ASSERT_EQ(RunKhronika({"init", "--data", fresh.string(), "--name", "fresh", "--key-file",
                         fresh.string() + ".key-file"})
                .exit_code,
            0);
  RunResult stranger =
      RunKhronika({"mirror", "import", "--data", fresh.string(), "--git", mirror.string()});
  EXPECT_EQ(stranger.exit_code, 0) << stranger.out << stranger.err;
  EXPECT_NE(stranger.out.find("skipped: not a federation member here"), std::string::npos)
      << stranger.out;
  EXPECT_NE(stranger.out.find("khronika member add"), std::string::npos) << stranger.out;
  EXPECT_TRUE(LogRows(fresh, id["node_id"]).empty());
  ASSERT_EQ(
      RunKhronika({"member", "add", "--data", fresh.string(), "--vkey", id["vkey"]}).exit_code, 0);
  RunResult imported =
      RunKhronika({"mirror", "import", "--data", fresh.string(), "--git", mirror.string()});
  EXPECT_EQ(imported.exit_code, 0) << imported.out << imported.err;
  EXPECT_NE(imported.out.find("received records 0 to 0"), std::string::npos) << imported.out;
  EXPECT_EQ(LogRows(fresh, id["node_id"]), SealedRows(LogRows(node.data, id["node_id"])));

  // Push: to an empty bare repository, then a fork of the log is refused by name.
  fs::path remote = dir / "remote.git";
  ASSERT_EQ(RunProgram({"git", "init", "-q", "--bare", remote.string()}).exit_code, 0);
  RunResult push =
      RunKhronika({"mirror", "push", "--git", mirror.string(), "--remote", remote.string()});
  ASSERT_EQ(push.exit_code, 0) << push.err;
  std::string branch = "refs/heads/logs/" + id["node_id"].get<std::string>();
  EXPECT_EQ(Line(Git(remote, {"rev-parse", branch})), Line(Git(mirror, {"rev-parse", branch})));
  // Another history on the remote: an orphan commit with the same branch name.
  std::string tree = Line(Git(remote, {"rev-parse", branch + "^{tree}"}));
  RunResult orphan =
      RunProgram({"env", "GIT_AUTHOR_NAME=x", "GIT_AUTHOR_EMAIL=x@x", "GIT_COMMITTER_NAME=x",
                  "GIT_COMMITTER_EMAIL=x@x", "git", "--git-dir=" + remote.string(), "commit-tree",
                  tree, "-m", "another history"});
  ASSERT_EQ(orphan.exit_code, 0) << orphan.err;
  ASSERT_EQ(Git(remote, {"update-ref", branch, Line(orphan)}).exit_code, 0);
  AddEntry(node, "case-1", {dir / "a.txt"});
  ASSERT_EQ(
      RunKhronika({"mirror", "export", "--data", node.data.string(), "--git", mirror.string()})
          .exit_code,
      0);
  RunResult refused =
      RunKhronika({"mirror", "push", "--git", mirror.string(), "--remote", remote.string()});
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
