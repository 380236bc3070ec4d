// `eval "$(khronika unlock --data DIR)"` and `khronika lock`, with the real binary and real
// processes: once unlocked, commands open the node without a passphrase or a terminal; the
// agent answers only its own user and only for the keyring it was unlocked for; it keeps its
// key in locked, undumpable memory and nothing on disk; it ends on `lock`, at its time limit,
// when its keyring is replaced, or when its socket is removed; stale or foreign sockets named by
// KHRONIKA_AGENT are never used.
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <grp.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <regex>
#include <thread>

#include <gtest/gtest.h>

#include "server_fixture.h"
#include "test_support.h"

namespace khronika::testing {
namespace {

namespace fs = std::filesystem;
using std::chrono::steady_clock;

bool Has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

unsigned Mode(const fs::path& p) {
  struct stat st {};
  return ::lstat(p.c_str(), &st) == 0 ? st.st_mode : 0;
}

// False once the process has exited (a zombie waiting for a parent that does not reap counts as
// exited: it holds no memory).
bool Alive(pid_t pid) {
  std::string stat = ReadFile("/proc/" + std::to_string(pid) + "/stat");
  size_t paren = stat.rfind(')');
  return paren != std::string::npos && paren + 2 < stat.size() && stat[paren + 2] != 'Z';
}

bool EndsWithin(pid_t pid, std::chrono::milliseconds limit) {
  auto end = steady_clock::now() + limit;
  while (Alive(pid) && steady_clock::now() < end)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  return !Alive(pid);
}

struct Agent {
  std::string path;  // KHRONIKA_AGENT
  pid_t pid = -1;
};

// The socket path and the pid from what `khronika unlock` printed.
Agent Parse(const RunResult& r) {
  Agent a;
  std::smatch m;
  if (std::regex_search(r.out, m,
                        std::regex("^KHRONIKA_AGENT='([^']+)'; export KHRONIKA_AGENT;\n$"))) {
    a.path = m[1];
  }
  if (std::regex_search(r.err, m, std::regex("agent pid ([0-9]+)"))) a.pid = std::stoi(m[1]);
  return a;
}

// khronika ARGS with KHRONIKA_AGENT=path (and no terminal: stdin is /dev/null).
RunResult WithAgent(const std::string& path, const std::vector<std::string>& args) {
  std::vector<std::string> argv = {"env", "KHRONIKA_AGENT=" + path, KHRONIKA_BINARY};
  argv.insert(argv.end(), args.begin(), args.end());
  return RunProgram(argv);
}

class AgentTest : public ::testing::Test {
 protected:
  void SetUp() override {
    runtime_ = dir_ / "run";
    fs::create_directory(runtime_);
    fs::permissions(runtime_, fs::perms::owner_all);
    ::setenv("XDG_RUNTIME_DIR", runtime_.c_str(), 1);
    WriteFile(dir_ / "pw", "the node's long passphrase\n");
    WriteFile(dir_ / "pw2", "the node's long passphrase\nthe node's long passphrase\n");
  }
  void TearDown() override {
    for (const Agent& a : started_) {
      if (a.pid > 0 && Alive(a.pid)) ::kill(a.pid, SIGTERM);
    }
    ::unsetenv("XDG_RUNTIME_DIR");
  }

  // A node locked by a passphrase, with an author: DIR/NAME.
  fs::path PassphraseNode(const std::string& name, const fs::path& passphrases = {}) {
    fs::path data = dir_ / name;
    RunResult r = RunKhronikaWithFd3(passphrases.empty() ? dir_ / "pw2" : passphrases,
                                     {"init", "--data", data.string(), "--name", name});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    if (!fs::exists(dir_ / "author.key")) {
      EXPECT_EQ(RunKhronika({"keygen", "--out", (dir_ / "author.key").string()}).exit_code, 0);
    }
    return data;
  }

  Agent Unlock(const fs::path& data, const std::vector<std::string>& extra = {},
               const fs::path& pw = {}) {
    std::vector<std::string> args = {"unlock", "--data", data.string()};
    args.insert(args.end(), extra.begin(), extra.end());
    RunResult r = RunKhronikaWithFd3(pw.empty() ? dir_ / "pw" : pw, args);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    Agent a = Parse(r);
    EXPECT_FALSE(a.path.empty()) << r.out;
    EXPECT_GT(a.pid, 0) << r.err;
    started_.push_back(a);
    return a;
  }

  size_t AgentDirectories() const {
    size_t n = 0;
    for (const auto& e : fs::directory_iterator(runtime_))
      n += e.path().filename().string().rfind("khronika-", 0) == 0;
    return n;
  }

  TempDir dir_;
  fs::path runtime_;
  std::vector<Agent> started_;
};

TEST_F(AgentTest, UnlockedOnceEveryCommandOpensTheNodeWithoutAsking) {
  fs::path data = PassphraseNode("node");
  Agent agent = Unlock(data, {"--for", "5m"});

  // A fresh 0700 directory under XDG_RUNTIME_DIR holding only the socket, 0600.
  fs::path socket = agent.path, where = socket.parent_path();
  EXPECT_EQ(where.parent_path(), runtime_);
  EXPECT_TRUE(S_ISDIR(Mode(where)));
  EXPECT_EQ(Mode(where) & 0777, 0700u);
  EXPECT_TRUE(S_ISSOCK(Mode(socket)));
  EXPECT_EQ(Mode(socket) & 0777, 0600u);
  EXPECT_EQ(std::distance(fs::directory_iterator(where), fs::directory_iterator()), 1);

  // The agent process: its key in locked memory, no core dumps, no environment, no secret in
  // its command line.
  const std::string proc = "/proc/" + std::to_string(agent.pid);
  EXPECT_EQ(ReadFile(proc + "/comm"), "khronika-agent\n");
  rlimit memlock{};
  ::getrlimit(RLIMIT_MEMLOCK, &memlock);
#if !defined(__SANITIZE_ADDRESS__)  // AddressSanitizer makes mlock a no-op
  if (memlock.rlim_cur >= 4096) {
    EXPECT_GT(ProcStatusKiB(agent.pid, "VmLck"), 0);
  }
#endif
  EXPECT_TRUE(
      std::regex_search(ReadFile(proc + "/limits"), std::regex("Max core file size +0 +0 ")));
  EXPECT_EQ(ReadFile(proc + "/environ"), "");
  EXPECT_FALSE(Has(ReadFile(proc + "/cmdline"), "passphrase"));
  EXPECT_EQ(fs::read_symlink(proc + "/cwd"), "/");  // holds no directory (a USB stick) busy

  // Every local command, with no terminal and no --passphrase-fd.
  ASSERT_EQ(WithAgent(agent.path, {"author", "add", "--data", data.string(), "--name", "Me",
                                   "--pubkey", (dir_ / "author.key.pub").string()})
                .exit_code,
            0);
  WriteFile(dir_ / "statement.txt", "three men in uniform\n");
  RunResult added = WithAgent(
      agent.path, {"add", "--data", data.string(), "--key", (dir_ / "author.key").string(),
                   "--case", "case-1", "--json", (dir_ / "statement.txt").string()});
  ASSERT_EQ(added.exit_code, 0) << added.err;
  const std::string entry = nlohmann::json::parse(added.out)["entry_id"];
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {"token", "create", "--data", data.string(), "--role", "reader", "--case", "case-1"},
           {"token", "list", "--data", data.string()},
           {"author", "list", "--data", data.string()},
           {"log", "--data", data.string(), "--json"},
           {"id", "--data", data.string()},
           {"access-log", "--data", data.string()},
           {"verify", "--data", data.string()},
           {"backup", "--data", data.string(), "--out", (dir_ / "b").string()}}) {
    RunResult r = WithAgent(agent.path, args);
    EXPECT_EQ(r.exit_code, 0) << args[0] << ": " << r.err;
    EXPECT_FALSE(Has(r.err, "not using the agent")) << r.err;
  }
  RunResult cat = WithAgent(agent.path, {"cat", "--data", data.string(), entry, "statement.txt"});
  EXPECT_EQ(cat.out, "three men in uniform\n");

  // What it saves: the passphrase's scrypt (about half a second) on every command.
  auto timed = [](auto run) {
    auto t0 = steady_clock::now();
    EXPECT_EQ(run().exit_code, 0);
    return Seconds(steady_clock::now() - t0);
  };
  double with_agent = timed([&] {
    return WithAgent(agent.path, {"verify", "--data", data.string()});
  });
  double with_passphrase = timed([&] {
    return RunKhronikaWithFd3(dir_ / "pw", {"verify", "--data", data.string()});
  });
  std::cout << "khronika verify: " << with_agent << " s through the agent, " << with_passphrase
            << " s with the passphrase\n";
  EXPECT_LT(with_agent * 2, with_passphrase);

  // lock: the agent ends, its directory goes, the shell is told to forget the variable.
  RunResult locked = WithAgent(agent.path, {"lock"});
  EXPECT_EQ(locked.exit_code, 0) << locked.err;
  EXPECT_EQ(locked.out, "unset KHRONIKA_AGENT;\n");
  EXPECT_TRUE(EndsWithin(agent.pid, std::chrono::seconds(2)));
  EXPECT_FALSE(fs::exists(where));
  // A shell that kept the variable: the command asks as before (and says why).
  RunResult after = WithAgent(agent.path, {"verify", "--data", data.string()});
  EXPECT_EQ(after.exit_code, 2);
  EXPECT_TRUE(Has(after.err, "no longer running")) << after.err;
  EXPECT_TRUE(Has(after.err, "--passphrase-fd")) << after.err;
  // lock again: nothing to do, not an error.
  EXPECT_EQ(WithAgent(agent.path, {"lock"}).exit_code, 0);
}

TEST_F(AgentTest, ItServesOnlyTheKeyringItWasUnlockedFor) {
  fs::path one = PassphraseNode("one");
  WriteFile(dir_ / "other2", "another node's passphrase\nanother node's passphrase\n");
  fs::path two = PassphraseNode("two", dir_ / "other2");
  Agent agent = Unlock(one);

  // Another node: asked for as without an agent.
  RunResult other = WithAgent(agent.path, {"verify", "--data", two.string()});
  EXPECT_EQ(other.exit_code, 2);
  EXPECT_TRUE(Has(other.err, "holds the key of another keyring")) << other.err;
  // The same keyring in another directory (a copy of the node) is the same key: it opens.
  fs::copy(one, dir_ / "copy", fs::copy_options::recursive);
  EXPECT_EQ(WithAgent(agent.path, {"verify", "--data", (dir_ / "copy").string()}).exit_code, 0);

  // A passphrase change replaces the keyring: the agent is locked at once, and could not have
  // opened the new keyring anyway.
  WriteFile(dir_ / "change", "the node's long passphrase\na brand new passphrase\n");
  RunResult change = RunProgram({"bash", "-c",
                                 "KHRONIKA_AGENT=" + agent.path + " exec " + KHRONIKA_BINARY +
                                     " passphrase change --data " + one.string() +
                                     " --passphrase-fd 3 3<" + (dir_ / "change").string()});
  ASSERT_EQ(change.exit_code, 0) << change.err;
  EXPECT_TRUE(Has(change.err, "locked this shell's unlock agent")) << change.err;
  EXPECT_TRUE(EndsWithin(agent.pid, std::chrono::seconds(2)));
  // The copy still has the old keyring: that agent is gone too.
  EXPECT_EQ(WithAgent(agent.path, {"verify", "--data", (dir_ / "copy").string()}).exit_code, 2);
}

TEST_F(AgentTest, ItEndsAtItsTimeLimitAndBadRequestsStartNothing) {
  TempDir other;
  LocalNode node = MakeNodeWithAuthor(other);  // locked by the key file other/node.key-file
  Agent agent = Unlock(node.data, {"--for", "2s"});
  // The key file can leave (a USB stick taken away): the agent still opens the node.
  fs::rename(other / "node.key-file", other / "away.key-file");
  EXPECT_EQ(WithAgent(agent.path, {"verify", "--data", node.data.string()}).exit_code, 0);
  EXPECT_TRUE(EndsWithin(agent.pid, std::chrono::seconds(5)));
  EXPECT_FALSE(fs::exists(fs::path(agent.path).parent_path()));
  RunResult after = WithAgent(agent.path, {"verify", "--data", node.data.string()});
  EXPECT_EQ(after.exit_code, 1);
  EXPECT_TRUE(Has(after.err, "not found at")) << after.err;

  // Bad input: a clear error, exit 2 for usage, and no agent, no directory.
  fs::path data = PassphraseNode("node");
  size_t dirs = AgentDirectories();
  for (const char* bad : {"0", "25h", "soon", "15x", "-5m"}) {
    RunResult r =
        RunKhronikaWithFd3(dir_ / "pw", {"unlock", "--data", data.string(), "--for", bad});
    EXPECT_EQ(r.exit_code, 2) << bad;
    EXPECT_TRUE(Has(r.err, "--for takes")) << r.err;
  }
  WriteFile(dir_ / "wrong", "not the passphrase at all\n");
  RunResult wrong = RunKhronikaWithFd3(dir_ / "wrong", {"unlock", "--data", data.string()});
  EXPECT_EQ(wrong.exit_code, 1);
  EXPECT_TRUE(Has(wrong.err, "wrong passphrase")) << wrong.err;
  EXPECT_EQ(wrong.out, "");
  RunResult no_tty = RunKhronika({"unlock", "--data", data.string()});
  EXPECT_EQ(no_tty.exit_code, 2);
  EXPECT_TRUE(Has(no_tty.err, "--passphrase-fd")) << no_tty.err;
  TempDir clear_dir;
  LocalNode clear = MakeNodeWithAuthor(clear_dir, /*encrypted=*/false);
  RunResult in_clear = RunKhronika({"unlock", "--data", clear.data.string()});
  EXPECT_EQ(in_clear.exit_code, 1);
  EXPECT_TRUE(Has(in_clear.err, "not encrypted")) << in_clear.err;
  EXPECT_EQ(AgentDirectories(), dirs);
  EXPECT_EQ(RunKhronika({"lock"}).exit_code, 1);  // KHRONIKA_AGENT not set
}

// Unlocking again in the same shell (to get more time) replaces the agent rather than leaving a
// second one running.
TEST_F(AgentTest, UnlockingAgainReplacesTheAgent) {
  fs::path data = PassphraseNode("node");
  Agent first = Unlock(data, {"--for", "1m"});
  RunResult again =
      RunProgram({"bash", "-c",
                  "KHRONIKA_AGENT=" + first.path + " exec " + KHRONIKA_BINARY + " unlock --data " +
                      data.string() + " --for 2m --passphrase-fd 3 3<" + (dir_ / "pw").string()});
  ASSERT_EQ(again.exit_code, 0) << again.err;
  Agent second = Parse(again);
  started_.push_back(second);
  EXPECT_TRUE(Has(again.err, "ended the agent started before")) << again.err;
  EXPECT_TRUE(EndsWithin(first.pid, std::chrono::seconds(2)));
  EXPECT_NE(second.path, first.path);
  EXPECT_EQ(WithAgent(second.path, {"verify", "--data", data.string()}).exit_code, 0);
  EXPECT_EQ(WithAgent(second.path, {"lock"}).exit_code, 0);
}

// The agent also ends when its socket is removed (no one could reach it any more).
TEST_F(AgentTest, RemovingItsDirectoryEndsIt) {
  fs::path data = PassphraseNode("node");
  Agent agent = Unlock(data);
  fs::remove_all(fs::path(agent.path).parent_path());
  EXPECT_TRUE(EndsWithin(agent.pid, std::chrono::seconds(8)));
}

// A listener in the test: answers every connection with `reply` (a same-user impostor).
class FakeAgent {
 public:
  FakeAgent(const fs::path& path, std::string reply) : reply_(std::move(reply)) {
    fd_ = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    ::chmod(path.c_str(), 0600);
    EXPECT_EQ(::listen(fd_, 4), 0);
    thread_ = std::thread([this] {
      for (;;) {
        int c = ::accept(fd_, nullptr, nullptr);
        if (c < 0 || stop_) break;
        char buf[256];
        (void)!::read(c, buf, sizeof buf);
        (void)!::send(c, reply_.data(), reply_.size(), MSG_NOSIGNAL);
        ::close(c);
      }
    });
  }
  ~FakeAgent() {
    stop_ = true;
    ::shutdown(fd_, SHUT_RDWR);
    thread_.join();
    ::close(fd_);
  }

 private:
  std::string reply_;
  int fd_ = -1;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

TEST_F(AgentTest, StaleForeignAndLyingSocketsAreNotUsed) {
  TempDir other;
  LocalNode node = MakeNodeWithAuthor(other);  // opens with its key file when the agent is not used
  fs::path priv = dir_ / "priv", open_dir = dir_ / "open";
  fs::create_directory(priv);
  fs::permissions(priv, fs::perms::owner_all);
  fs::create_directory(open_dir);
  fs::permissions(open_dir, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                                fs::perms::others_read | fs::perms::others_exec);
  WriteFile(priv / "file", "not a socket");
  {
    // A socket whose listener has gone.
    int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, (priv / "stale").c_str(), sizeof addr.sun_path - 1);
    ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    ::close(fd);
  }
  FakeAgent in_open_dir(open_dir / "agent", "ok " + std::string(64, '0') + "\n");
  FakeAgent liar(priv / "liar", "ok " + std::string(64, '1') + "\n");
  FakeAgent mumbler(priv / "mumbler", "what?\n");
  const std::vector<std::pair<std::string, std::string>> cases = {
      {(dir_ / "nothing-here").string(), "no longer running"},
      {(priv / "stale").string(), "no longer running (a socket left behind)"},
      {(priv / "file").string(), "not a socket of this user"},
      {(open_dir / "agent").string(), "not this user's alone"},
      {(priv / "liar").string(), "does not open"},
      {(priv / "mumbler").string(), "holds the key of another keyring"},
      {"relative/agent", "not an absolute path"},
  };
  for (const auto& [path, why] : cases) {
    RunResult r = WithAgent(path, {"verify", "--data", node.data.string()});
    EXPECT_EQ(r.exit_code, 0) << path << ": " << r.err;  // the key file, as without an agent
    EXPECT_TRUE(Has(r.err, "not using the agent at " + path + ": ")) << r.err;
    EXPECT_TRUE(Has(r.err, why)) << path << ": " << r.err;
  }
  // An explicit secret wins: no agent is asked.
  RunResult explicit_key = WithAgent(
      (priv / "liar").string(),
      {"verify", "--data", node.data.string(), "--key-file", (other / "node.key-file").string()});
  EXPECT_EQ(explicit_key.exit_code, 0);
  EXPECT_FALSE(Has(explicit_key.err, "agent")) << explicit_key.err;
}

// Connects to `path` as user nobody (a forked child that drops to uid 65534), sends `request`
// and returns what happened: "connect: errno N", or "answer: " and the bytes received.
std::string AskAsNobody(const std::string& path, const std::string& request) {
  int out[2];
  if (::pipe(out) != 0) return "pipe";
  pid_t pid = ::fork();
  if (pid == 0) {
    ::close(out[0]);
    std::string result;
    if (::setgroups(0, nullptr) != 0 || ::setresgid(65534, 65534, 65534) != 0 ||
        ::setresuid(65534, 65534, 65534) != 0) {
      result = "setuid failed";
    } else {
      int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
      sockaddr_un addr{};
      addr.sun_family = AF_UNIX;
      std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
      if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        result = "connect: errno " + std::to_string(errno);
      } else {
        timeval tv{3, 0};
        ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        // The agent may have closed the connection already: no SIGPIPE for that.
        (void)!::send(fd, request.data(), request.size(), MSG_NOSIGNAL);
        char buf[256];
        ssize_t n = ::read(fd, buf, sizeof buf);
        result = "answer: " + std::string(buf, n > 0 ? static_cast<size_t>(n) : 0);
      }
    }
    (void)!::write(out[1], result.data(), result.size());
    ::_exit(0);
  }
  ::close(out[1]);
  std::string result;
  char buf[512];
  for (ssize_t n; (n = ::read(out[0], buf, sizeof buf)) > 0;)
    result.append(buf, static_cast<size_t>(n));
  ::close(out[0]);
  ::waitpid(pid, nullptr, 0);
  return result;
}

// Another local user: cannot reach the socket, and even given a way in (a directory and a socket
// made open by mistake) gets not one byte. A process of the agent's own user cannot read its
// memory through /proc or ptrace, as it could any other process of that user.
TEST_F(AgentTest, OtherUsersAndDebuggersGetNothing) {
  if (::geteuid() != 0) {
    GTEST_SKIP() << "needs root to act as another user (ops/test.sh runs as root)";
  }
  TempDir other;
  LocalNode node = MakeNodeWithAuthor(other);
  Agent agent = Unlock(node.data);
  const std::string sha = HexSha256(ReadFile(node.data / "node.keyring"));
  auto as_nobody = [&](const std::vector<std::string>& argv) {
    std::vector<std::string> full = {"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"};
    full.insert(full.end(), argv.begin(), argv.end());
    return RunProgram(full);
  };
  std::string blocked = AskAsNobody(agent.path, "khronika-agent/1 key " + sha + "\n");
  EXPECT_EQ(blocked, "connect: errno 13");  // EACCES: the directory is the agent user's alone
  // Opened by mistake: the agent checks the peer's uid and says nothing.
  fs::path where = fs::path(agent.path).parent_path();
  for (const fs::path& up : {dir_.path(), runtime_}) ::chmod(up.c_str(), 0711);
  ::chmod(where.c_str(), 0755);
  ::chmod(agent.path.c_str(), 0666);
  EXPECT_EQ(AskAsNobody(agent.path, "khronika-agent/1 key " + sha + "\n"), "answer: ");
  // And this user's commands no longer trust a socket in a directory others can enter.
  RunResult careful = WithAgent(agent.path, {"verify", "--data", node.data.string()});
  EXPECT_TRUE(Has(careful.err, "not this user's alone")) << careful.err;
  ::chmod(where.c_str(), 0700);
  ::chmod(agent.path.c_str(), 0600);
  EXPECT_EQ(WithAgent(agent.path, {"lock"}).exit_code, 0);

  // An agent run by nobody, and a plain process of nobody for comparison: nobody reads the
  // plain one's memory map, not the agent's.
  TempDir home;
  fs::permissions(home.path(), fs::perms::all);
  ASSERT_EQ(::chown(home.path().c_str(), 65534, 65534), 0);
  // nobody runs its own copy: the checkout may be in a directory only root can enter (a clean
  // clone in `mktemp -d` is), and setpriv, which keeps root's capabilities up to its own exec,
  // would hide that for a direct call but not for one through `env`.
  const std::string khronika = (home / "khronika").string();
  fs::copy_file(KHRONIKA_BINARY, khronika);
  fs::permissions(khronika, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                                fs::perms::others_read | fs::perms::others_exec);
  fs::path data = home / "node";
  RunResult init = as_nobody({khronika, "init", "--data", data.string(), "--key-file",
                              (home / "node.key-file").string()});
  ASSERT_EQ(init.exit_code, 0) << init.err;
  RunResult unlocked =
      as_nobody({"env", "XDG_RUNTIME_DIR=", khronika, "unlock", "--data", data.string()});
  ASSERT_EQ(unlocked.exit_code, 0) << unlocked.err;
  Agent theirs = Parse(unlocked);
  started_.push_back(theirs);
  ASSERT_GT(theirs.pid, 0);
  EXPECT_EQ(fs::path(theirs.path).parent_path().parent_path(), "/tmp");  // no runtime dir: /tmp
  pid_t plain =
      SpawnProgram({"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "sleep", "30"},
                   dir_ / "sleep.out", dir_ / "sleep.err");
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  auto read_maps = [&](pid_t pid) {
    return as_nobody({"cat", "/proc/" + std::to_string(pid) + "/maps"});
  };
  EXPECT_EQ(read_maps(plain).exit_code, 0);  // the control: same user, readable
  RunResult agent_maps = read_maps(theirs.pid);
  EXPECT_NE(agent_maps.exit_code, 0);  // undumpable: refused
  EXPECT_TRUE(agent_maps.out.empty()) << agent_maps.out.substr(0, 200);
  ::kill(plain, SIGKILL);
  WaitProgram(plain);
  RunResult theirs_locked =
      as_nobody({"env", "KHRONIKA_AGENT=" + theirs.path, khronika, "lock"});
  EXPECT_EQ(theirs_locked.exit_code, 0) << theirs_locked.err;
  EXPECT_TRUE(EndsWithin(theirs.pid, std::chrono::seconds(2)));
}

// Without a terminal and without an agent: the passphrase from a descriptor or from the systemd
// credential `khronika-passphrase`, for any command and for `unlock` itself.
TEST_F(AgentTest, NoTerminalNeededWithADescriptorOrASystemdCredential) {
  fs::path data = PassphraseNode("node");
  fs::path creds = dir_ / "credentials";
  fs::create_directory(creds);
  WriteFile(creds / "khronika-passphrase", "the node's long passphrase\n");
  auto with_credential = [&](const std::vector<std::string>& args) {
    std::vector<std::string> argv = {"env", "-u", "KHRONIKA_AGENT",
                                     "CREDENTIALS_DIRECTORY=" + creds.string(), KHRONIKA_BINARY};
    argv.insert(argv.end(), args.begin(), args.end());
    return RunProgram(argv);
  };
  EXPECT_EQ(with_credential({"verify", "--data", data.string()}).exit_code, 0);
  EXPECT_EQ(
      with_credential({"token", "create", "--data", data.string(), "--role", "auditor"}).exit_code,
      0);
  RunResult piped = RunProgram({"bash", "-c",
                                "printf '%s\\n' \"the node's long passphrase\" | " +
                                    std::string(KHRONIKA_BINARY) + " log --data " + data.string() +
                                    " --passphrase-fd 0"});
  EXPECT_EQ(piped.exit_code, 0) << piped.err;
  RunResult unlocked = with_credential({"unlock", "--data", data.string(), "--for", "30s"});
  ASSERT_EQ(unlocked.exit_code, 0) << unlocked.err;
  Agent agent = Parse(unlocked);
  started_.push_back(agent);
  EXPECT_EQ(WithAgent(agent.path, {"verify", "--data", data.string()}).exit_code, 0);
  WriteFile(creds / "khronika-passphrase", "not the passphrase\n");
  RunResult wrong = with_credential({"verify", "--data", data.string()});
  EXPECT_EQ(wrong.exit_code, 1);
  EXPECT_TRUE(Has(wrong.err, "wrong passphrase")) << wrong.err;
  EXPECT_EQ(WithAgent(agent.path, {"lock"}).exit_code, 0);
}

// As README and docs/operator.md show it, in a real shell: `eval "$(...)"` returns at once (the
// agent keeps nothing of the shell's output open), and `eval "$(khronika lock)"` unsets it.
TEST_F(AgentTest, EvalInAShell) {
  fs::path data = PassphraseNode("node");
  const std::string k = KHRONIKA_BINARY;
  const std::string script =
      "set -e\n"
      "eval \"$(" +
      k + " unlock --data " + data.string() + " --for 1m --passphrase-fd 3 3<" +
      (dir_ / "pw").string() +
      ")\"\n"
      "test -S \"$KHRONIKA_AGENT\"\n" +
      k + " verify --data " + data.string() +
      " </dev/null\n"
      "eval \"$(" +
      k +
      " lock)\"\n"
      "test -z \"${KHRONIKA_AGENT:-}\" && echo unset\n";
  auto t0 = steady_clock::now();
  RunResult r = RunProgram({"bash", "-c", script});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_TRUE(Has(r.out, "clean: checked")) << r.out;
  EXPECT_TRUE(Has(r.out, "unset")) << r.out;
  EXPECT_LT(Seconds(steady_clock::now() - t0), 20);
  EXPECT_EQ(AgentDirectories(), 0u);
}

}  // namespace
}  // namespace khronika::testing
