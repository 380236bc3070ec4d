#include "test_support.h"

#include <lmdb.h>

#include <fcntl.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>

#include <gtest/gtest.h>

namespace khronika::testing {

TempDir::TempDir() {
  std::string tmpl = (std::filesystem::temp_directory_path() / "khronika-test-XXXXXX").string();
  if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
  path_ = tmpl;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

RunResult RunProgram(const std::vector<std::string>& argv) {
  int out_pipe[2], err_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0 || ::pipe2(err_pipe, O_CLOEXEC) != 0) {
    throw std::runtime_error("pipe failed");
  }
  pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    ::dup2(out_pipe[1], STDOUT_FILENO);
    ::dup2(err_pipe[1], STDERR_FILENO);
    int devnull = ::open("/dev/null", O_RDONLY);
    ::dup2(devnull, STDIN_FILENO);
    std::vector<char*> args;
    for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execvp(args[0], args.data());
    ::_exit(127);
  }
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);
  RunResult result;
  pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
  int open_fds = 2;
  char buf[65536];
  while (open_fds > 0) {
    if (::poll(fds, 2, -1) < 0) continue;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      ssize_t n = ::read(fds[i].fd, buf, sizeof buf);
      if (n > 0) {
        (i == 0 ? result.out : result.err).append(buf, static_cast<size_t>(n));
      } else {
        ::close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
      }
    }
  }
  int status = 0;
  rusage usage{};
  ::wait4(pid, &status, 0, &usage);
  result.peak_rss_kib = usage.ru_maxrss;
  if (WIFEXITED(status)) {
    result.exit_code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    result.exit_code = 128 + WTERMSIG(status);
  }
  return result;
}

RunResult RunKhronika(const std::vector<std::string>& args) {
  std::vector<std::string> argv{KHRONIKA_BINARY};
  argv.insert(argv.end(), args.begin(), args.end());
  return RunProgram(argv);
}

void WriteFile(const std::filesystem::path& path, const std::string& contents) {
  std::ofstream f(path, std::ios::binary);
  f << contents;
  if (!f) throw std::runtime_error("cannot write " + path.string());
}

std::string ReadFile(const std::filesystem::path& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

void WritePseudoRandomFile(const std::filesystem::path& path, uint64_t size, uint64_t seed) {
  std::ofstream f(path, std::ios::binary);
  std::vector<uint64_t> block(1 << 17);  // 1 MiB
  // xorshift64 needs a non-zero state; seed*2+1 keeps every seed's stream its own (seed | 1
  // gave seeds 2k and 2k+1 the same file).
  uint64_t x = seed * 2 + 1;
  uint64_t written = 0;
  while (written < size) {
    for (uint64_t& w : block) {
      x ^= x << 13;
      x ^= x >> 7;
      x ^= x << 17;
      w = x;
    }
    uint64_t n = std::min<uint64_t>(size - written, block.size() * 8);
    f.write(reinterpret_cast<const char*>(block.data()), static_cast<std::streamsize>(n));
    written += n;
  }
  if (!f) throw std::runtime_error("cannot write " + path.string());
}

RunResult RunKhronikaWithFd3(const std::filesystem::path& file, const std::vector<std::string>& args) {
  std::string cmd = "exec \"$0\"";
  for (size_t i = 0; i < args.size(); ++i) cmd += " \"${" + std::to_string(i + 1) + "}\"";
  cmd += " --passphrase-fd 3 3<\"" + file.string() + "\"";
  std::vector<std::string> argv = {"bash", "-c", cmd, KHRONIKA_BINARY};
  argv.insert(argv.end(), args.begin(), args.end());
  return RunProgram(argv);
}

LocalNode MakeNodeWithAuthor(const TempDir& dir, bool encrypted) {
  LocalNode node{dir / "node", dir / "author.key"};
  // Encrypted, as `khronika init` makes every node unless told otherwise; the key file lives
  // beside the data directory, and every later command finds it where the keyring remembers.
  std::vector<std::string> init = {"init", "--data", node.data.string(), "--name", "test-node"};
  if (encrypted) {
    init.insert(init.end(), {"--key-file", (dir / "node.key-file").string()});
  } else {
    init.push_back("--no-encryption");
  }
  RunResult r = RunKhronika(init);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  r = RunKhronika({"keygen", "--out", node.key.string()});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  r = RunKhronika({"author", "add", "--data", node.data.string(), "--name", "Test Author",
                   "--pubkey", node.key.string() + ".pub"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return node;
}

bool FlipStoredValueBit(const std::filesystem::path& store_dir, const std::string& table,
                        const std::string& key) {
  MDB_env* env = nullptr;
  if (mdb_env_create(&env) != 0) return false;
  mdb_env_set_maxdbs(env, 64);
  mdb_env_set_mapsize(env, uint64_t{1} << 30);
  bool flipped = false;
  MDB_txn* txn = nullptr;
  MDB_dbi dbi;
  MDB_val k{key.size(), const_cast<char*>(key.data())}, v;
  if (mdb_env_open(env, store_dir.c_str(), 0, 0600) == 0 && mdb_txn_begin(env, nullptr, 0, &txn) == 0) {
    if (mdb_dbi_open(txn, table.c_str(), 0, &dbi) == 0 && mdb_get(txn, dbi, &k, &v) == 0) {
      std::string bytes(static_cast<const char*>(v.mv_data), v.mv_size);
      bytes[bytes.size() / 2] = static_cast<char>(bytes[bytes.size() / 2] ^ 0x01);
      MDB_val nv{bytes.size(), bytes.data()};
      flipped = mdb_put(txn, dbi, &k, &nv, 0) == 0 && mdb_txn_commit(txn) == 0;
      txn = nullptr;
    }
    if (txn) mdb_txn_abort(txn);
  }
  mdb_env_close(env);
  return flipped;
}

std::vector<nlohmann::json> JsonLines(const std::string& text) {
  std::vector<nlohmann::json> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(nlohmann::json::parse(line));
  return out;
}

nlohmann::json IdOf(const std::filesystem::path& data) {
  RunResult r = RunKhronika({"id", "--data", data.string(), "--json"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return nlohmann::json::parse(r.out);
}

}  // namespace khronika::testing
