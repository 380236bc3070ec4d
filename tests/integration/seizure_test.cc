// The seizure test of issue #7: a node receives evidence whose every sensitive field carries a
// distinct canary string (1,000 in all: case ids, file names, file contents, metadata values,
// author names), is stopped, and everything that was on its disk is searched for them: each file
// of its data directory, and the raw bytes of the ext4 file system (on a loop device) that held
// it, free blocks and all, as a forensic image would be. Encrypted: not one canary. The same run
// on a node made with --no-encryption is the control that shows the search would find them: its
// author names are in clear. And since format 2 seals evidence at its origin, even that node
// holds no file name or metadata value in clear; its case ids are in clear in its own index keys
// (a store in clear blinds nothing), and file contents may remain in LMDB's free pages, where
// the plaintext upload chunks were before sealing deleted them.
#include <map>
#include <random>
#include <set>
#include <string_view>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "khronika/schemas/objects.h"
#include "server_fixture.h"
#include "small_file_system.h"
#include "test_support.h"

namespace khronika::testing {
namespace {

namespace fs = std::filesystem;

constexpr int kEntries = 100;  // each: 1 case id, 3 file names, 3 contents, 2 metadata values,
                               // 1 author name = 10 canaries
constexpr std::string_view kMarker = "CANARY-";
constexpr size_t kCanaryBytes = 7 + 2 + 24;  // "CANARY-" kind '-' 24 hex

class CanaryMaker {
 public:
  // "CANARY-c-<24 hex>": the kind letter says where it was planted.
  std::string Make(char kind) {
    static constexpr char kHex[] = "0123456789abcdef";
    std::string s(kMarker);
    s += kind;
    s += '-';
    for (int i = 0; i < 24; ++i) s += kHex[rng_() % 16];
    all_.insert(s);
    return s;
  }
  const std::set<std::string>& all() const { return all_; }

 private:
  std::mt19937_64 rng_{std::random_device{}()};
  std::set<std::string> all_;
};

// Adds to `found` every canary that occurs in `bytes`.
void Search(std::string_view bytes, const std::set<std::string>& canaries, std::set<std::string>& found) {
  for (size_t at = bytes.find(kMarker); at != std::string_view::npos; at = bytes.find(kMarker, at + 1)) {
    std::string candidate(bytes.substr(at, kCanaryBytes));
    if (canaries.count(candidate)) found.insert(candidate);
  }
}

std::map<char, int> ByKind(const std::set<std::string>& found) {
  std::map<char, int> by_kind;
  for (const std::string& c : found) by_kind[c[kMarker.size()]]++;
  return by_kind;
}

// What the control in clear shows: every author name (the search works), and of what format 2
// seals neither file names nor metadata (case ids are in its unblinded index keys, and file
// contents may be in free pages: not counted).
void ExpectControl(const std::set<std::string>& found, const std::string& where) {
  std::map<char, int> by_kind = ByKind(found);
  EXPECT_EQ(by_kind['a'], kEntries) << "the control missed author names in " << where;
  EXPECT_EQ(by_kind['n'], 0) << "file names in clear in " << where;
  EXPECT_EQ(by_kind['m'], 0) << "metadata in clear in " << where;
}

std::string Summary(const std::set<std::string>& found) {
  std::map<char, int> by_kind = ByKind(found);
  std::string out;
  for (auto [kind, n] : by_kind) out += std::string(1, kind) + "=" + std::to_string(n) + " ";
  return out + "(c case ids, n file names, f file contents, m metadata, a author names)";
}

class SeizureTest : public ::testing::TestWithParam<bool> {};

TEST_P(SeizureTest, AnImagedDiskRevealsNoCanary) {
  const bool encrypted = GetParam();
  TempDir work;
  fs::path disk_dir = work / "disk";
  fs::create_directories(disk_dir);
  SmallFileSystem disk(disk_dir, uint64_t{128} << 20, FsKind::kExt4Loop);
  const fs::path data = disk_dir / "node";  // on the loop device when it could be mounted

  std::vector<std::string> init = {"init", "--data", data.string(), "--name", "seizure-test"};
  if (encrypted) {
    init.insert(init.end(), {"--key-file", (work / "node.key-file").string()});  // off the disk
  } else {
    init.push_back("--no-encryption");
  }
  RunResult made = RunKhronika(init);
  ASSERT_EQ(made.exit_code, 0) << made.err;

  CanaryMaker canaries;
  std::vector<fs::path> author_keys;
  for (int i = 0; i < kEntries; ++i) {
    fs::path key = work / ("author-" + std::to_string(i) + ".key");
    ASSERT_EQ(RunKhronika({"keygen", "--out", key.string()}).exit_code, 0);
    RunResult added = RunKhronika({"author", "add", "--data", data.string(), "--name", canaries.Make('a'),
                                   "--pubkey", key.string() + ".pub"});
    ASSERT_EQ(added.exit_code, 0) << added.err;
    author_keys.push_back(key);
  }
  Token submitter = MakeToken(data, "submitter");
  std::vector<std::string> token_secrets = {submitter.secret};

  ServerProcess server(data);
  ASSERT_TRUE(server.started()) << server.Stderr();
  for (int i = 0; i < kEntries; ++i) {
    std::string case_id = canaries.Make('c');
    fs::path files = work / "files" / std::to_string(i);
    fs::create_directories(files);
    std::vector<std::string> argv = {"submit", "--node", server.url(), "--pin", server.pin(),
                                     "--token", submitter.secret, "--key", author_keys[i].string(),
                                     "--case", case_id, "--json",
                                     "--meta", "place=" + canaries.Make('m'),
                                     "--meta", "witness=" + canaries.Make('m')};
    for (int f = 0; f < 3; ++f) {
      fs::path file = files / canaries.Make('n');
      std::string content = "statement: " + canaries.Make('f') + "\n";
      if (f == 0 && i % 10 == 0) {
        // Every tenth entry has a file of two chunks, its canary in the second.
        std::string padding(kChunkSize + 4096, 'x');
        content = padding + content;
      }
      WriteFile(file, content);
      argv.push_back(file.string());
    }
    RunResult sent = RunKhronika(argv);
    ASSERT_EQ(sent.exit_code, 0) << sent.err;
  }
  // A reader token limited to one of the cases: its record names the case.
  token_secrets.push_back(MakeToken(data, "reader", {*canaries.all().begin()}).secret);
  ASSERT_EQ(canaries.all().size(), 10u * kEntries);
  ASSERT_EQ(server.Stop(), 0) << server.Stderr();

  // Every file of the data directory.
  std::set<std::string> in_files;
  int files_searched = 0;
  for (const auto& e : fs::recursive_directory_iterator(data)) {
    if (!e.is_regular_file()) continue;
    std::string bytes = ReadFile(e.path());
    Search(bytes, canaries.all(), in_files);
    for (const std::string& t : token_secrets) {
      EXPECT_EQ(bytes.find(t), std::string::npos) << "a token in " << e.path();
    }
    ++files_searched;
  }
  EXPECT_GE(files_searched, 4);  // keys or keyring, TLS certificate and key, data.mdb, lock.mdb
  if (encrypted) {
    EXPECT_TRUE(in_files.empty()) << in_files.size() << " canaries in the data directory: " << Summary(in_files);
  } else {
    ExpectControl(in_files, "the data directory: " + Summary(in_files));
  }

  // The raw file system, as imaged after the node stopped.
  if (disk.image().empty()) {
    GTEST_SKIP() << "the data directory was searched, but not a raw file system: " << disk.why_not();
  }
  disk.Unmount();
  std::string image = ReadFile(disk.image());
  ASSERT_GE(image.size(), uint64_t{128} << 20);
  std::set<std::string> in_image;
  Search(image, canaries.all(), in_image);
  if (encrypted) {
    EXPECT_TRUE(in_image.empty()) << in_image.size() << " canaries in the raw file system: " << Summary(in_image);
  } else {
    ExpectControl(in_image, "the raw file system: " + Summary(in_image));
  }
}

INSTANTIATE_TEST_SUITE_P(EncryptedAndControl, SeizureTest, ::testing::Bool(),
                         [](const auto& info) { return info.param ? "Encrypted" : "ControlInClear"; });

}  // namespace
}  // namespace khronika::testing
