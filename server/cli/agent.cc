#include "agent.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <new>
#include <thread>
#include <vector>

#include <openssl/crypto.h>

#include "passphrase.h"
#include "khronika/log/keyring.h"
#include "khronika/log/node.h"
#include "khronika/schemas/crypto.h"
#include "khronika/schemas/objects.h"
#include "khronika/schemas/text.h"
#include "khronika/store/files.h"

namespace khronika::cli {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view kProtocol = "khronika-agent/1";
constexpr std::string_view kSetupMagic = "KHRAGNT1";
constexpr int kSetupFd = 3, kListenFd = 4;
constexpr uint64_t kDefaultSeconds = 15 * 60, kMaxSeconds = 24 * 3600;
constexpr size_t kMaxLine = 256;
constexpr const char* kSocketName = "agent";

// "90s", "15m", "2h" or a number of seconds; 1 s to 24 h.
Result<uint64_t> ParseDuration(std::string_view text) {
  uint64_t unit = 1;
  if (!text.empty() && (text.back() == 's' || text.back() == 'm' || text.back() == 'h')) {
    unit = text.back() == 's' ? 1 : text.back() == 'm' ? 60 : 3600;
    text.remove_suffix(1);
  }
  uint64_t n = 0;
  bool digits = !text.empty() && text.size() <= 6;
  for (char c : text) {
    if (c < '0' || c > '9') digits = false;
    if (digits) n = n * 10 + static_cast<uint64_t>(c - '0');
  }
  if (!digits || n == 0 || n * unit > kMaxSeconds) {
    return UsageError("--for takes a time from 1s to 24h, such as 90s, 15m or 2h");
  }
  return n * unit;
}

std::string FormatDuration(uint64_t s) {
  if (s % 3600 == 0) return std::to_string(s / 3600) + "h";
  if (s % 60 == 0) return std::to_string(s / 60) + "m";
  return std::to_string(s) + "s";
}

// A shell word that stays one word, whatever the path holds.
std::string ShellQuote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

bool SendAll(int fd, const char* data, size_t n) {
  while (n > 0) {
    ssize_t w = ::send(fd, data, n, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    data += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}
bool SendAll(int fd, std::string_view s) { return SendAll(fd, s.data(), s.size()); }

// One line (without its newline), at most kMaxLine bytes; empty on a timeout, an error or EOF.
std::string ReadLine(int fd) {
  std::string line;
  char c;
  while (line.size() < kMaxLine) {
    ssize_t n = ::read(fd, &c, 1);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return {};
    if (c == '\n') return line;
    line.push_back(c);
  }
  return {};
}

void SetTimeouts(int fd, int seconds) {
  timeval tv{seconds, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

bool PeerIsThisUser(int fd) {
  ucred cred{};
  socklen_t len = sizeof cred;
  return ::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0 && len == sizeof cred &&
         cred.uid == ::geteuid();
}

bool FillAddress(const fs::path& path, sockaddr_un* addr) {
  std::memset(addr, 0, sizeof *addr);
  addr->sun_family = AF_UNIX;
  if (path.string().size() >= sizeof addr->sun_path) return false;
  std::memcpy(addr->sun_path, path.c_str(), path.string().size());
  return true;
}

uint64_t BootTimeMs() {
  timespec ts{};
  ::clock_gettime(CLOCK_BOOTTIME, &ts);  // counts time asleep: a suspended laptop's agent ends too
  return static_cast<uint64_t>(ts.tv_sec) * 1000 + static_cast<uint64_t>(ts.tv_nsec) / 1000000;
}

// ---- the agent process ----

// Everything secret the agent has, in one page that is locked in memory and left out of dumps.
struct Held {
  SymmetricKey key;
  Hash keyring_sha256;
  char reply[3 + 64 + 1];  // "ok " hex "\n"
};

bool ReadExactly(int fd, void* out, size_t n) {
  auto* p = static_cast<uint8_t*>(out);
  while (n > 0) {
    ssize_t r = ::read(fd, p, n);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    p += r;
    n -= static_cast<size_t>(r);
  }
  return true;
}

// Answers one connection; true if the agent is to end.
bool Serve(int fd, Held& held) {
  if (!PeerIsThisUser(fd)) return false;  // another user: not a word
  SetTimeouts(fd, 1);
  std::string line = ReadLine(fd);
  std::vector<std::string> words;
  for (size_t at = 0; at < line.size();) {
    size_t space = line.find(' ', at);
    if (space == std::string::npos) space = line.size();
    words.push_back(line.substr(at, space - at));
    at = space + 1;
  }
  if (words.size() < 2 || words[0] != kProtocol) {
    SendAll(fd, "no not a khronika agent request\n");
    return false;
  }
  auto names_this_keyring = [&](const std::string& hex) {
    auto sha = FromHex(hex);
    return sha.ok() && sha->size() == 32 && ConstantTimeEqual(*sha, held.keyring_sha256);
  };
  if (words[1] == "key" && words.size() == 3) {
    if (!names_this_keyring(words[2])) {
      SendAll(fd, "no this agent holds the key of another keyring\n");
      return false;
    }
    static constexpr char kHex[] = "0123456789abcdef";
    std::memcpy(held.reply, "ok ", 3);
    for (size_t i = 0; i < held.key.size(); ++i) {
      held.reply[3 + 2 * i] = kHex[held.key[i] >> 4];
      held.reply[4 + 2 * i] = kHex[held.key[i] & 15];
    }
    held.reply[sizeof held.reply - 1] = '\n';
    SendAll(fd, held.reply, sizeof held.reply);
    OPENSSL_cleanse(held.reply, sizeof held.reply);
    return false;
  }
  if (words[1] == "lock" && (words.size() == 2 || words.size() == 3)) {
    if (words.size() == 3 && !names_this_keyring(words[2])) {
      SendAll(fd, "no this agent holds the key of another keyring\n");
      return false;
    }
    SendAll(fd, "ok locked\n");
    return true;
  }
  SendAll(fd, "no unknown request\n");
  return false;
}

[[noreturn]] void EndAgent(void* mem, size_t page, int code) {
  OPENSSL_cleanse(mem, page);
  ::munlock(mem, page);
  ::_exit(code);
}

// ---- the socket's directory ----

// A new directory, mode 0700, for the socket: under $XDG_RUNTIME_DIR when it is this user's
// alone (as systemd-logind makes it), else under /tmp.
Result<fs::path> MakeAgentDirectory() {
  std::string base = "/tmp";
  if (const char* xdg = std::getenv("XDG_RUNTIME_DIR"); xdg && xdg[0] == '/') {
    struct stat st {};
    if (::lstat(xdg, &st) == 0 && S_ISDIR(st.st_mode) && st.st_uid == ::geteuid() &&
        (st.st_mode & 077) == 0) {
      base = xdg;
    }
  }
  std::string dir = base + "/khronika-XXXXXX";
  if (!::mkdtemp(dir.data())) return ErrnoStatus("create the agent's directory in " + base);
  sockaddr_un addr;
  if (::chmod(dir.c_str(), 0700) != 0 || !FillAddress(fs::path(dir) / kSocketName, &addr)) {
    ::rmdir(dir.c_str());
    return Status::InvalidArgument("cannot make the agent's socket in " + dir +
                                   " (path too long? set XDG_RUNTIME_DIR to a shorter directory)");
  }
  return fs::path(dir);
}

// Connects to the agent at `path` after checking that it is this user's: the directory 0700
// and this uid's, the socket this uid's, and the process listening this uid's.
Result<UniqueFd> ConnectAgent(const fs::path& path) {
  sockaddr_un addr;
  if (!path.is_absolute() || !FillAddress(path, &addr)) {
    return Status::InvalidArgument("it is not an absolute path to a socket");
  }
  const uid_t me = ::geteuid();
  struct stat dir {
  }, sock{};
  if (::lstat(path.parent_path().c_str(), &dir) != 0 || ::lstat(path.c_str(), &sock) != 0) {
    return Status::NotFound("it is no longer running (locked, or its time ran out)");
  }
  if (!S_ISDIR(dir.st_mode) || dir.st_uid != me || (dir.st_mode & 077) != 0) {
    return Status::PermissionDenied("its directory is not this user's alone (owner and mode 0700)");
  }
  if (!S_ISSOCK(sock.st_mode) || sock.st_uid != me) {
    return Status::PermissionDenied("it is not a socket of this user");
  }
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (fd.get() < 0) return ErrnoStatus("socket");
  if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
    if (errno == ECONNREFUSED || errno == ENOENT) {
      return Status::NotFound("it is no longer running (a socket left behind)");
    }
    return ErrnoStatus("connect");
  }
  if (!PeerIsThisUser(fd.get())) {
    return Status::PermissionDenied("the process listening there is not this user's");
  }
  SetTimeouts(fd.get(), 5);
  return fd;
}

const char* AgentPath() {
  const char* env = std::getenv("KHRONIKA_AGENT");
  return env && env[0] ? env : nullptr;
}

// ---- unlock, lock ----

Status RunUnlock(const Args& args) {
  KH_ASSIGN_OR_RETURN(std::string dir, args.Require("data"));
  uint64_t seconds = kDefaultSeconds;
  if (auto f = args.Get("for")) {
    KH_ASSIGN_OR_RETURN(seconds, ParseDuration(*f));
  }
  if (!Node::IsEncrypted(dir)) {
    if (!Node::Exists(dir)) return Status::NotFound("no node in " + dir);
    return Status::InvalidArgument("the node in " + dir +
                                   " is not encrypted: there is nothing to unlock");
  }
  if (fs::exists(Node::NextKeyringPath(dir))) {
    return Status::InvalidArgument("a data-key rotation of " + dir +
                                   " was cut short: open the node once (`khronika verify --data " +
                                   dir + "`) to finish it, then unlock");
  }
  const fs::path keyring = Node::KeyringPath(dir);
  KH_ASSIGN_OR_RETURN(KeyringInfo info, Node::LockOf(dir));
  Unlock unlock;
  if (auto key_file = args.Get("key-file")) {
    unlock.key_file = *key_file;
  } else if (info.lock == LockKind::kKeyFile) {
    if (info.key_file_hint.empty() || !fs::exists(info.key_file_hint)) {
      return Status::PermissionDenied(
          "the node is locked with a key file" +
          (info.key_file_hint.empty() ? std::string()
                                      : " (not found at " + info.key_file_hint.string() + ")") +
          ": give --key-file FILE");
    }
    unlock.key_file = info.key_file_hint;
  } else {
    KH_ASSIGN_OR_RETURN(unlock.passphrase,
                        ReadPassphrase(args, "passphrase of the node in " + dir, false));
  }
  KH_ASSIGN_OR_RETURN(std::string keyring_bytes, ReadSmallFile(keyring, 64 * 1024));
  const Hash keyring_sha256 = Sha256(keyring_bytes);
  auto key = KeyringKey(keyring, unlock);
  OPENSSL_cleanse(unlock.passphrase.data(), unlock.passphrase.size());
  if (!key.ok()) return key.status();
  // The key is checked before any agent starts: a wrong passphrase starts nothing.
  Hash node_id{};
  {
    Unlock check;
    check.keyring_key = *key;
    auto secrets = OpenKeyring(keyring, check);
    OPENSSL_cleanse(check.keyring_key->data(), check.keyring_key->size());
    if (!secrets.ok()) {
      OPENSSL_cleanse(key->data(), key->size());
      if (secrets.status().code() != Code::kPermissionDenied) return secrets.status();
      return Status::PermissionDenied(unlock.key_file.empty()
                                          ? "wrong passphrase for " + keyring.string()
                                          : "the key file " + unlock.key_file.string() +
                                                " does not open " + keyring.string());
    }
    OPENSSL_cleanse(secrets->data_key.data(), secrets->data_key.size());
    node_id = NodeIdFromPublicKey(secrets->node_key.public_key());
  }

  auto made = MakeAgentDirectory();
  if (!made.ok()) {
    OPENSSL_cleanse(key->data(), key->size());
    return made.status();
  }
  const fs::path agent_dir = *made, socket_path = agent_dir / kSocketName;
  auto fail = [&](Status st) {
    OPENSSL_cleanse(key->data(), key->size());
    ::unlink(socket_path.c_str());
    ::rmdir(agent_dir.c_str());
    return st;
  };
  UniqueFd listener(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (listener.get() < 0) return fail(ErrnoStatus("socket"));
  sockaddr_un addr;
  FillAddress(socket_path, &addr);
  mode_t old_mask = ::umask(0177);  // the socket is made 0600, never wider for an instant
  int bound = ::bind(listener.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr);
  ::umask(old_mask);
  if (bound != 0) return fail(ErrnoStatus("bind " + socket_path.string()));
  if (::chmod(socket_path.c_str(), 0600) != 0 || ::listen(listener.get(), 16) != 0) {
    return fail(ErrnoStatus("listen on " + socket_path.string()));
  }
  int setup[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, setup) != 0) {
    return fail(ErrnoStatus("socketpair"));
  }
  UniqueFd ours(setup[0]);
  // The child moves these to descriptors 3 and 4: from above 4, so that no dup2 lands on the
  // other (or on itself, which would keep close-on-exec).
  const int child_setup = ::fcntl(setup[1], F_DUPFD_CLOEXEC, 10);
  const int child_listener = ::fcntl(listener.get(), F_DUPFD_CLOEXEC, 10);
  ::close(setup[1]);
  auto close_child_ends = [&] {
    if (child_setup >= 0) ::close(child_setup);
    if (child_listener >= 0) ::close(child_listener);
  };
  if (child_setup < 0 || child_listener < 0) {
    close_child_ends();
    return fail(ErrnoStatus("fcntl"));
  }

  char arg0[] = "khronika";
  std::string arg1(kAgentProcessArg);
  char* child_argv[] = {arg0, arg1.data(), nullptr};
  char* child_envp[] = {nullptr};
  pid_t pid = ::fork();
  if (pid < 0) {
    close_child_ends();
    return fail(ErrnoStatus("fork"));
  }
  if (pid == 0) {
    // The agent: a session of its own, nothing of the shell's output held open (so that
    // `$(khronika unlock ...)` ends), no hold on the directory it was started from (a USB
    // stick with the key file must unmount), a fresh image of this binary with an empty
    // environment.
    ::setsid();
    if (::chdir("/") != 0) ::_exit(127);
    int devnull = ::open("/dev/null", O_RDWR);
    if (devnull < 0 || ::dup2(devnull, 0) < 0 || ::dup2(devnull, 1) < 0 || ::dup2(devnull, 2) < 0 ||
        ::dup2(child_setup, kSetupFd) < 0 || ::dup2(child_listener, kListenFd) < 0) {
      ::_exit(127);
    }
    ::close_range(kListenFd + 1, ~0U, 0);
    ::execve("/proc/self/exe", child_argv, child_envp);
    ::_exit(127);
  }
  close_child_ends();  // the child has them; ours would keep a dead child's end open
  Bytes setup_message(kSetupMagic.begin(), kSetupMagic.end());
  setup_message.insert(setup_message.end(), key->begin(), key->end());
  setup_message.insert(setup_message.end(), keyring_sha256.begin(), keyring_sha256.end());
  AppendBigEndian64(setup_message, seconds);
  const std::string dir_text = agent_dir.string();
  setup_message.push_back(static_cast<uint8_t>(dir_text.size() >> 8));
  setup_message.push_back(static_cast<uint8_t>(dir_text.size() & 0xff));
  setup_message.insert(setup_message.end(), dir_text.begin(), dir_text.end());
  bool sent = SendAll(ours.get(), reinterpret_cast<const char*>(setup_message.data()),
                      setup_message.size());
  OPENSSL_cleanse(setup_message.data(), setup_message.size());
  OPENSSL_cleanse(key->data(), key->size());
  SetTimeouts(ours.get(), 10);
  std::string ready = sent ? ReadLine(ours.get()) : std::string();
  if (ready.rfind("ok ", 0) != 0) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    return fail(Status::IOError("the agent did not start"));
  }
  // An agent this shell started before for the same keyring is replaced, not left running.
  if (LockAgentHolding(keyring_sha256)) {
    std::cerr << "ended the agent started before for this keyring (" << AgentPath() << ")\n";
  }
  const uint64_t until_ms =
      static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                std::chrono::system_clock::now().time_since_epoch())
                                .count()) +
      seconds * 1000;
  std::cout << "KHRONIKA_AGENT=" << ShellQuote(socket_path.string()) << "; export KHRONIKA_AGENT;\n"
            << std::flush;
  std::cerr << "unlocked node " << ToHex(node_id).substr(0, 16) << " (" << dir << ") for "
            << FormatDuration(seconds) << ", until " << UtcTime(static_cast<int64_t>(until_ms))
            << "; agent pid " << pid << ". `eval \"$(khronika lock)\"` locks it sooner\n";
  if (ready != "ok locked") {
    std::cerr << "warning: the agent could not lock its memory (ulimit -l): the key may be "
                 "swapped to disk\n";
  }
  if (::isatty(STDOUT_FILENO)) {
    std::cerr << "(the line above is for the shell: run `eval \"$(khronika unlock --data " << dir
              << ")\"` so that the commands that follow use the agent)\n";
  }
  return Status::Ok();
}

Status RunLock(const Args&) {
  const char* path = AgentPath();
  if (!path) return Status::NotFound("KHRONIKA_AGENT is not set: this shell has no agent to lock");
  auto fd = ConnectAgent(path);
  if (fd.ok() && SendAll(fd->get(), std::string(kProtocol) + " lock\n") &&
      ReadLine(fd->get()) == "ok locked") {
    // The agent removes its socket and directory as it ends; wait for that (briefly).
    for (int i = 0; i < 200 && fs::exists(fs::path(path).parent_path()); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    std::cerr << "locked: the agent at " << path << " has forgotten the key and ended\n";
  } else if (!fd.ok() && fd.status().code() == Code::kNotFound) {
    std::cerr << "the agent at " << path << ": " << fd.status().message() << "\n";
  } else {
    return Status::PermissionDenied("the agent at " + std::string(path) + " was not locked: " +
                                    (fd.ok() ? "it did not answer" : fd.status().message()));
  }
  std::cout << "unset KHRONIKA_AGENT;\n";
  return Status::Ok();
}

}  // namespace

[[noreturn]] void RunAgentProcess() {
  ::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  ::prctl(PR_SET_NAME, "khronika-agent", 0, 0, 0);
  rlimit no_core{0, 0};
  ::setrlimit(RLIMIT_CORE, &no_core);
  const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  void* mem = ::mmap(nullptr, page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) ::_exit(1);
  ::madvise(mem, page, MADV_DONTDUMP);
  ::madvise(mem, page, MADV_WIPEONFORK);
  const bool locked = ::mlock(mem, page) == 0;
  Held* held = new (mem) Held{};
  auto end = [&](int code) { EndAgent(mem, page, code); };

  char magic[8];
  uint8_t seconds_be[8], len_be[2];
  if (!ReadExactly(kSetupFd, magic, sizeof magic) || std::string_view(magic, 8) != kSetupMagic ||
      !ReadExactly(kSetupFd, held->key.data(), held->key.size()) ||
      !ReadExactly(kSetupFd, held->keyring_sha256.data(), held->keyring_sha256.size()) ||
      !ReadExactly(kSetupFd, seconds_be, sizeof seconds_be) ||
      !ReadExactly(kSetupFd, len_be, sizeof len_be)) {
    std::cerr << "khronika: this is the agent process of `khronika unlock`, not a command\n";
    end(2);
  }
  std::string dir((size_t{len_be[0]} << 8) | len_be[1], '\0');
  if (!ReadExactly(kSetupFd, dir.data(), dir.size())) end(2);
  const uint64_t seconds = ReadBigEndian64(seconds_be);
  const fs::path socket_path = fs::path(dir) / kSocketName;
  struct stat own {};
  if (::lstat(socket_path.c_str(), &own) != 0 || seconds == 0 || seconds > kMaxSeconds) end(2);
  SendAll(kSetupFd, locked ? "ok locked\n" : "ok unlocked\n");
  ::close(kSetupFd);

  sigset_t stop;
  sigemptyset(&stop);
  for (int s : {SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2}) sigaddset(&stop, s);
  ::sigprocmask(SIG_BLOCK, &stop, nullptr);
  int signals = ::signalfd(-1, &stop, SFD_CLOEXEC);
  ::signal(SIGPIPE, SIG_IGN);
  ::fcntl(kListenFd, F_SETFL, ::fcntl(kListenFd, F_GETFL) | O_NONBLOCK);

  const uint64_t deadline = BootTimeMs() + seconds * 1000;
  bool reachable = true;
  for (;;) {
    const uint64_t now = BootTimeMs();
    if (now >= deadline) break;
    pollfd fds[2] = {{kListenFd, POLLIN, 0}, {signals, POLLIN, 0}};
    int n = ::poll(fds, signals >= 0 ? 2 : 1,
                   static_cast<int>(std::min<uint64_t>(deadline - now, 5000)));
    if (n < 0 && errno != EINTR) break;
    if (n > 0 && signals >= 0 && (fds[1].revents & POLLIN)) break;
    // Its socket removed or replaced: no one can reach the agent any more, so it ends.
    struct stat st {};
    if (::lstat(socket_path.c_str(), &st) != 0 || st.st_ino != own.st_ino ||
        st.st_dev != own.st_dev) {
      reachable = false;
      break;
    }
    if (n <= 0 || !(fds[0].revents & POLLIN)) continue;
    int c = ::accept4(kListenFd, nullptr, nullptr, SOCK_CLOEXEC);
    if (c < 0) continue;
    bool lock = Serve(c, *held);
    ::close(c);
    if (lock) break;
  }
  OPENSSL_cleanse(mem, page);
  if (reachable) {
    ::unlink(socket_path.c_str());
    ::rmdir(dir.c_str());
  }
  EndAgent(mem, page, 0);
}

std::optional<SymmetricKey> KeyFromAgent(const fs::path& keyring) {
  const char* path = AgentPath();
  if (!path) return std::nullopt;
  auto skip = [&](const std::string& why) {
    std::cerr << "khronika: not using the agent at " << path << ": " << why << "\n";
    return std::nullopt;
  };
  auto bytes = ReadSmallFile(keyring, 64 * 1024);
  if (!bytes.ok()) return std::nullopt;  // the caller's own open says what is wrong
  auto fd = ConnectAgent(path);
  if (!fd.ok()) return skip(fd.status().message());
  if (!SendAll(fd->get(), std::string(kProtocol) + " key " + ToHex(Sha256(*bytes)) + "\n")) {
    return skip("it does not answer");
  }
  std::string line = ReadLine(fd->get());
  std::optional<SymmetricKey> key;
  if (line.size() == 3 + 64 && line.rfind("ok ", 0) == 0) {
    auto hex = FromHex(std::string_view(line).substr(3));
    if (hex.ok() && hex->size() == 32) {
      key.emplace();
      std::copy(hex->begin(), hex->end(), key->begin());
      OPENSSL_cleanse(hex->data(), hex->size());
    }
  }
  OPENSSL_cleanse(line.data(), line.size());
  if (!key) {
    return skip(
        "it holds the key of another keyring (another node's, or this node's before a "
        "passphrase change)");
  }
  // Whatever answers there, a key that does not open this keyring is not used.
  Unlock check;
  check.keyring_key = key;
  auto opened = OpenKeyring(keyring, check);
  OPENSSL_cleanse(check.keyring_key->data(), check.keyring_key->size());
  if (!opened.ok()) {
    OPENSSL_cleanse(key->data(), key->size());
    return skip("the key it gave does not open " + keyring.string());
  }
  OPENSSL_cleanse(opened->data_key.data(), opened->data_key.size());
  return key;
}

bool LockAgentHolding(const Hash& keyring_sha256) {
  const char* path = AgentPath();
  if (!path) return false;
  auto fd = ConnectAgent(path);
  if (!fd.ok()) return false;
  return SendAll(fd->get(), std::string(kProtocol) + " lock " + ToHex(keyring_sha256) + "\n") &&
         ReadLine(fd->get()) == "ok locked";
}

std::vector<Command> AgentCommands() {
  return {
      {"unlock",
       "keep a node unlocked for this shell: asks the passphrase once",
       "eval \"$(khronika unlock --data DIR [--for 15m] [--key-file FILE | --passphrase-fd N])\"\n"
       "Opens DIR's keyring once (passphrase on the terminal or from --passphrase-fd N, or its\n"
       "key file) and starts an agent that keeps the keyring's key, and only that, in locked\n"
       "memory for --for (90s, 15m, 2h; 15m by default, at most 24h). It prints\n"
       "KHRONIKA_AGENT=...; export KHRONIKA_AGENT; for the shell: every later command on a node\n"
       "with this same keyring then opens it through the agent, without asking; any other\n"
       "node, or this one after a passphrase change, is asked as before. The socket is in a new\n"
       "0700 directory under $XDG_RUNTIME_DIR (or /tmp) and answers only this user; nothing is\n"
       "written to disk. `eval \"$(khronika lock)\"` ends it sooner.",
       {{"data"}, {"for"}, {"key-file"}, kPassphraseFd},
       RunUnlock},
      {"lock",
       "end this shell's unlock agent (KHRONIKA_AGENT): the key is forgotten",
       "eval \"$(khronika lock)\"\n"
       "Tells the agent that KHRONIKA_AGENT names to wipe its key and end, and prints\n"
       "`unset KHRONIKA_AGENT;` for the shell. An agent that has already ended is not an error.",
       {},
       RunLock},
  };
}

}  // namespace khronika::cli
