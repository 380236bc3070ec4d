// A 2 GiB file streams through `khronika add` and `khronika cat` with peak memory under 64 MiB:
// read, hash and store chunk by chunk, chunks committed in bounded transactions.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "khronika/schemas/crypto.h"
#include "test_support.h"

namespace khronika::testing {
namespace {

constexpr uint64_t kFileSize = uint64_t{2} << 30;
constexpr long kPeakLimitKiB = 64 * 1024;

TEST(LargeFileTest, TwoGibFileKeepsMemoryFlat) {
  TempDir dir;
  LocalNode node = MakeNodeWithAuthor(dir);
  std::filesystem::path file = dir / "footage.mp4";
  WritePseudoRandomFile(file, kFileSize, 99);

  RunResult add = RunKhronika({"add", "--data", node.data.string(), "--key", node.key.string(),
                               "--case", "big-case", "--json", file.string()});
  ASSERT_EQ(add.exit_code, 0) << add.err;
  std::cout << "add of 2 GiB: peak RSS " << add.peak_rss_kib / 1024 << " MiB\n";
  EXPECT_LT(add.peak_rss_kib, kPeakLimitKiB);
  std::string entry_id = nlohmann::json::parse(add.out)["entry_id"];

  // The file comes back out byte for byte; hash it here rather than hold 2 GiB in a string.
  std::filesystem::path copy = dir / "copy.mp4";
  RunResult cat = RunProgram({"sh", "-c",
                       "exec " + std::string(KHRONIKA_BINARY) + " cat --data '" + node.data.string() +
                           "' " + entry_id + " footage.mp4 > '" + copy.string() + "'"});
  ASSERT_EQ(cat.exit_code, 0) << cat.err;
  RunResult cmp = RunProgram({"cmp", file.string(), copy.string()});
  EXPECT_EQ(cmp.exit_code, 0) << cmp.out;

  RunResult log = RunKhronika({"log", "--data", node.data.string(), "--json"});
  ASSERT_EQ(log.exit_code, 0);
  // The entry, then the custody record of the cat above.
  auto line = nlohmann::json::parse(log.out.substr(0, log.out.find('\n')));
  EXPECT_EQ(line["files"][0]["size"], kFileSize);
}

TEST(LargeFileTest, CatOfLargeFileKeepsMemoryFlat) {
  TempDir dir;
  LocalNode node = MakeNodeWithAuthor(dir);
  std::filesystem::path file = dir / "archive.bin";
  WritePseudoRandomFile(file, uint64_t{512} << 20, 5);
  RunResult add = RunKhronika({"add", "--data", node.data.string(), "--key", node.key.string(),
                               "--case", "c", "--json", file.string()});
  ASSERT_EQ(add.exit_code, 0) << add.err;
  std::string entry_id = nlohmann::json::parse(add.out)["entry_id"];
  RunResult cat = RunProgram({"sh", "-c",
                       "exec " + std::string(KHRONIKA_BINARY) + " cat --data '" +
                           node.data.string() + "' " + entry_id + " archive.bin > /dev/null"});
  ASSERT_EQ(cat.exit_code, 0) << cat.err;
  // sh execs khronika, so the rusage is khronika's own.
  std::cout << "cat of 512 MiB: peak RSS " << cat.peak_rss_kib / 1024 << " MiB\n";
  EXPECT_LT(cat.peak_rss_kib, kPeakLimitKiB);
}

}  // namespace
}  // namespace khronika::testing
