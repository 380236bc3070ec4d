// `khronika import` through the real binary on real LMDB stores: one entry per file in shared
// commits, refusals before anything is written, a failure that keeps what was committed, and an
// import beside a running server.
#include <sys/stat.h>

#include <filesystem>
#include <set>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "server_fixture.h"
#include "test_support.h"

namespace khronika::testing {
namespace {

namespace fs = std::filesystem;

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> out;
  size_t at = 0;
  while (at < text.size()) {
    size_t end = text.find('\n', at);
    if (end == std::string::npos) end = text.size();
    out.push_back(text.substr(at, end - at));
    at = end + 1;
  }
  return out;
}

std::string Verify(const fs::path& data) {
  RunResult v = RunKhronika({"verify", "--data", data.string()});
  EXPECT_EQ(v.exit_code, 0) << v.out;
  return v.out;
}

TEST(ImportTest, EachFileIsAnEntryCommittedInSharedTransactions) {
  TempDir dir;
  LocalNode node = MakeNodeWithAuthor(dir);
  fs::path tree = dir / "evidence";
  fs::create_directories(tree / "day1" / "camera");
  for (int i = 0; i < 30; ++i) {
    WriteFile(tree / "day1" / ("photo-" + std::to_string(100 + i) + ".jpg"),
              "jpeg bytes " + std::to_string(i));
  }
  WriteFile(tree / "day1" / "camera" / "clip.mp4", std::string(3 * (1 << 20) + 17, 'v'));
  WriteFile(dir / "statement.txt", "I saw it.\n");
  // Found while walking: skipped, with a message.
  fs::create_symlink(dir / "statement.txt", tree / "link.txt");
  ASSERT_EQ(::mkfifo((tree / "pipe").c_str(), 0600), 0);

  RunResult r = RunKhronika({"import", "--data", node.data.string(), "--key", node.key.string(),
                             "--case", "raid-2026", "--meta", "source=usb", tree.string(),
                             (dir / "statement.txt").string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("skipped " + (tree / "link.txt").string() + ": a symbolic link"),
            std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("skipped " + (tree / "pipe").string() + ": not a regular file"),
            std::string::npos);
  EXPECT_NE(r.err.find("32 of 32 files logged as 32 entries of case 'raid-2026' in 1 commits"),
            std::string::npos)
      << r.err;
  // Not a terminal: no progress bar.
  EXPECT_EQ(r.err.find('\r'), std::string::npos);
  std::vector<std::string> lines = Lines(r.out);
  ASSERT_EQ(lines.size(), 32u);
  // Walked in name order, depth first; each line: index, entry id, path.
  EXPECT_EQ(lines[0].substr(0, 2), "0 ");
  EXPECT_NE(lines[0].find("camera/clip.mp4"), std::string::npos) << lines[0];
  EXPECT_NE(lines[31].find("statement.txt"), std::string::npos);

  std::vector<nlohmann::json> log = JsonLines(RunKhronika({"log", "--data", node.data.string(),
                                                           "--json"})
                                                  .out);
  ASSERT_EQ(log.size(), 32u);
  std::set<std::string> names;
  for (const auto& e : log) {
    EXPECT_EQ(e["case"], "raid-2026");
    EXPECT_EQ(e["metadata"]["source"], "usb");
    ASSERT_EQ(e["files"].size(), 1u);
    names.insert(e["files"][0]["name"].get<std::string>());
  }
  EXPECT_EQ(names.size(), 32u);
  // One checkpoint for the whole batch: every receipt's tree size is 32.
  RunResult cp = RunKhronika({"checkpoint", "--data", node.data.string()});
  EXPECT_NE(cp.out.find("\n32\n"), std::string::npos) << cp.out;
  // The large file comes back byte for byte.
  std::string entry_id = lines[0].substr(2, 64);
  fs::path copy = dir / "copy.mp4";
  RunResult cat = RunProgram({"sh", "-c", "exec " + std::string(KHRONIKA_BINARY) + " cat --data '" +
                                              node.data.string() + "' " + entry_id +
                                              " clip.mp4 > '" + copy.string() + "'"});
  ASSERT_EQ(cat.exit_code, 0) << cat.err;
  EXPECT_EQ(ReadFile(copy), ReadFile(tree / "day1" / "camera" / "clip.mp4"));
  EXPECT_NE(Verify(node.data).find("32 entries of this node's log opened"), std::string::npos);
}

TEST(ImportTest, BadPathsAreRefusedBeforeAnythingIsWritten) {
  TempDir dir;
  LocalNode node = MakeNodeWithAuthor(dir);
  std::string data = node.data.string();
  WriteFile(dir / "ok.txt", "fine");
  fs::create_symlink(dir / "ok.txt", dir / "link.txt");
  fs::create_directories(dir / "tree");
  WriteFile(dir / "tree" / "a.txt", "a");
  WriteFile(dir / "tree" / "bad\x01name.txt", "b");
  const std::string log_before = RunKhronika({"log", "--data", data, "--json"}).out;
  auto import = [&](std::vector<std::string> paths, const std::string& key = "") {
    std::vector<std::string> args{"import", "--data", data, "--key",
                                  key.empty() ? node.key.string() : key, "--case", "c"};
    args.insert(args.end(), paths.begin(), paths.end());
    return RunKhronika(args);
  };
  struct Case {
    std::vector<std::string> paths;
    std::string says;
  };
  for (const Case& c : std::vector<Case>{
           {{(dir / "link.txt").string()}, "is a symbolic link: refused"},
           {{"/dev/null"}, "is not a regular file: refused"},
           {{(dir / "missing.txt").string()}, "missing.txt"},
           {{(dir / "ok.txt").string(), (dir / "tree").string()}, "control"},
           {{data}, "holds the node's own data directory"},
           {{dir.path().string()}, "holds the node's own data directory"},
           {{(node.data / "store" / "data.mdb").string()}, "inside the node's own data directory"},
       }) {
    RunResult r = import(c.paths);
    EXPECT_EQ(r.exit_code, 1) << c.paths[0] << "\n" << r.err;
    EXPECT_NE(r.err.find(c.says), std::string::npos) << c.paths[0] << ": " << r.err;
    EXPECT_TRUE(r.out.empty()) << r.out;
  }
  RunResult none = import({});
  EXPECT_EQ(none.exit_code, 2);
  std::string stranger = (dir / "stranger.key").string();
  ASSERT_EQ(RunKhronika({"keygen", "--out", stranger}).exit_code, 0);
  RunResult unregistered = import({(dir / "ok.txt").string()}, stranger);
  EXPECT_EQ(unregistered.exit_code, 1);
  EXPECT_NE(unregistered.err.find("not registered"), std::string::npos) << unregistered.err;

  EXPECT_EQ(RunKhronika({"log", "--data", data, "--json"}).out, log_before);
  Verify(node.data);
}

// The store fills up while a large file streams in, after a first batch was committed and while
// a second waits: the error names the file, the entries sealed before it are committed and
// listed, and the store verifies clean with no trace of the failed file.
TEST(ImportTest, AFailureNamesTheFileAndKeepsWhatWasCommitted) {
  TempDir dir;
  LocalNode node = MakeNodeWithAuthor(dir);
  fs::path tree = dir / "tree";
  fs::create_directories(tree);
  constexpr int kSmall = 1100;
  for (int i = 0; i < kSmall; ++i) {
    char name[32];
    std::snprintf(name, sizeof name, "a%05d.txt", i);
    WriteFile(tree / name, std::string(200, 'a') + std::to_string(i));
  }
  WritePseudoRandomFile(tree / "z-large.bin", uint64_t{64} << 20, 3);
  // A map a little larger than the small files need, far smaller than the large one.
  const uint64_t map = fs::file_size(node.data / "store" / "data.mdb") + (uint64_t{24} << 20);
  RunResult r = RunKhronika({"import", "--data", node.data.string(), "--key", node.key.string(),
                             "--case", "c", "--map-size", std::to_string(map), tree.string()});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find("z-large.bin"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("1100 of 1101 files logged"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("import stopped"), std::string::npos);
  EXPECT_EQ(Lines(r.out).size(), static_cast<size_t>(kSmall));
  RunResult log = RunKhronika({"log", "--data", node.data.string()});
  EXPECT_EQ(Lines(log.out).size(), static_cast<size_t>(kSmall));
  std::string report = Verify(node.data);
  // The logged entries carry their small files; nothing of the large file is held.
  EXPECT_NE(report.find("(" + std::to_string(kSmall) + " sealed entries), 0 sealed chunks"),
            std::string::npos)
      << report;
}

// Files are sealed on every core ahead of the commits: a failure in the middle still logs
// exactly the files before it, in order, and nothing of the files sealed after it stays.
TEST(ImportTest, AFailureInTheMiddleDropsWhatWasSealedAheadOfIt) {
  TempDir dir;
  LocalNode node = MakeNodeWithAuthor(dir);
  fs::path tree = dir / "tree";
  fs::create_directories(tree);
  constexpr int kBefore = 300, kAfter = 200;
  for (int i = 0; i < kBefore + kAfter; ++i) {
    char name[32];
    std::snprintf(name, sizeof name, "%c%05d.txt", i < kBefore ? 'a' : 'n', i);
    WriteFile(tree / name, std::string(300, 'b') + std::to_string(i));
  }
  WritePseudoRandomFile(tree / "m-large.bin", uint64_t{64} << 20, 4);  // between a… and n…
  const uint64_t map = fs::file_size(node.data / "store" / "data.mdb") + (uint64_t{24} << 20);
  RunResult r = RunKhronika({"import", "--data", node.data.string(), "--key", node.key.string(),
                             "--case", "c", "--map-size", std::to_string(map), tree.string()});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find("m-large.bin"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(std::to_string(kBefore) + " of " + std::to_string(kBefore + kAfter + 1) +
                       " files logged"),
            std::string::npos)
      << r.err;
  std::vector<std::string> lines = Lines(r.out);
  ASSERT_EQ(lines.size(), static_cast<size_t>(kBefore));
  for (int i = 0; i < kBefore; ++i) {  // in the order of the files, one index after another
    char name[32];
    std::snprintf(name, sizeof name, "a%05d.txt", i);
    EXPECT_NE(lines[i].find(name), std::string::npos) << lines[i];
  }
  std::string report = Verify(node.data);
  // The logged entries carry their small files; nothing sealed ahead or of the large file stays.
  EXPECT_NE(report.find("(" + std::to_string(kBefore) + " sealed entries), 0 sealed chunks"),
            std::string::npos)
      << report;
}

// LMDB serialises writers across processes and every append reads the log's tip inside its
// own transaction, so an import beside a running server (which holds the store open too)
// interleaves with the server's appends in one chain.
TEST(ImportTest, BesideARunningServerBothAppendToOneChain) {
  ServedNode served;
  fs::path tree = served / "tree";
  fs::create_directories(tree);
  for (int i = 0; i < 300; ++i) WriteFile(tree / ("f" + std::to_string(i)), std::to_string(i));
  WriteFile(served / "remote.txt", "sent over HTTPS");
  RunResult imported;
  std::thread import([&] {
    imported = RunKhronika({"import", "--data", served.data().string(), "--key",
                            served.key().string(), "--case", "local", tree.string()});
  });
  RunResult submitted = served.Submit(served.admin().secret, "remote", {served / "remote.txt"});
  import.join();
  ASSERT_EQ(imported.exit_code, 0) << imported.err;
  ASSERT_EQ(submitted.exit_code, 0) << submitted.err;
  EXPECT_EQ(LogJson(served.data()).size(), 301u);
  HttpReply cp = Get(served.server(), "/v1/checkpoint", served.admin().secret);
  // 301 entries after the custody record of the admin token's grant.
  EXPECT_NE(cp.body.find("\n" + std::to_string(LogRecordsJson(served.data()).size()) + "\n"),
            std::string::npos)
      << cp.body;
  EXPECT_EQ(LogRecordsJson(served.data()).size(), 302u);
  Verify(served.data());
}

}  // namespace
}  // namespace khronika::testing
