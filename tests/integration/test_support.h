// Helpers for integration tests: temporary directories and running the real khronika binary.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace khronika::testing {

// A fresh directory under $TMPDIR, removed with everything in it when destroyed.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

struct RunResult {
  int exit_code = -1;  // 128 + signal number if killed
  std::string out;
  std::string err;
  long peak_rss_kib = 0;
};

// Runs the khronika binary with `args`, capturing stdout and stderr.
RunResult RunKhronika(const std::vector<std::string>& args);
// Runs khronika with `args` and --passphrase-fd 3, descriptor 3 reading `file`, as a script
// that feeds passphrases would.
RunResult RunKhronikaWithFd3(const std::filesystem::path& file, const std::vector<std::string>& args);
// Runs any program (argv[0] looked up in PATH).
RunResult RunProgram(const std::vector<std::string>& argv);

void WriteFile(const std::filesystem::path& path, const std::string& contents);
std::string ReadFile(const std::filesystem::path& path);
// Deterministic pseudo-random bytes (xorshift), fast enough for files of gigabytes.
void WritePseudoRandomFile(const std::filesystem::path& path, uint64_t size, uint64_t seed);

// Creates a node with one registered author: DIR/node, DIR/author.key(.pub).
struct LocalNode {
  std::filesystem::path data;
  std::filesystem::path key;
};
// Encrypted (a key file DIR/node.key-file) unless `encrypted` is false.
LocalNode MakeNodeWithAuthor(const TempDir& dir, bool encrypted = true);

// Flips one bit in the middle of the value stored under `key` in `table` of the LMDB store in
// `store_dir`, through LMDB itself and without any key: what a rotting disk, or someone with the
// file, can do. False if there is no such value.
bool FlipStoredValueBit(const std::filesystem::path& store_dir, const std::string& table,
                        const std::string& key);

// `khronika id --data DATA --json`: node_id, vkey, cosigner_vkey, cert_sha256, ...
nlohmann::json IdOf(const std::filesystem::path& data);
// One JSON value per line of `text` (the output of a --json command).
std::vector<nlohmann::json> JsonLines(const std::string& text);

}  // namespace khronika::testing
