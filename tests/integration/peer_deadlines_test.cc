// Peers that stall, from the outside. A hostile peer in the test accepts (or does not accept) a
// connection and then stops at one step: TCP never completes, TCP without TLS, TLS without an
// HTTP answer, an answer's head and then nothing, an answer trickled one byte at a time.
//  - `khronika sync` gives up on each within its deadline (peer_*_timeout_ms in khronika.conf),
//    and says which peer and which step;
//  - `khronika serve` whose scheduler is stuck on such a peer (deadlines of a minute) exits
//    promptly on SIGTERM: the pull is cancelled, not waited for;
//  - `khronika export --node` streaming a bundle from a node that stalls mid-body gives up
//    after --timeout, and leaves nothing behind.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "server_fixture.h"

namespace khronika::testing {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;


// `khronika ARGS`, killed if it runs longer than `limit` (exit code -1 then): a client without
// deadlines would otherwise hang the test for ever.
RunResult RunKhronikaWithin(const std::vector<std::string>& args, std::chrono::seconds limit) {
  TempDir logs;
  std::vector<std::string> argv{KHRONIKA_BINARY};
  argv.insert(argv.end(), args.begin(), args.end());
  pid_t pid = SpawnProgram(argv, logs / "out", logs / "err");
  RunResult r;
  auto deadline = Clock::now() + limit;
  int status = 0;
  bool killed = false;
  while (::waitpid(pid, &status, WNOHANG) == 0) {
    if (Clock::now() >= deadline) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      killed = true;
      break;
    }
    std::this_thread::sleep_for(milliseconds(10));
  }
  if (!killed) r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.out = ReadFile(logs / "out");
  r.err = ReadFile(logs / "err");
  return r;
}

enum class Stall {
  kConnect,  // the listener's accept queue is full and it never accepts: TCP never completes
  kTls,      // TCP accepted, then silence: no TLS
  kHttp,     // TLS completes and the request is read; no answer comes
  kBody,     // the answer's head and 100 bytes of its body, then silence
  kTrickle,  // an answer sent one byte every 500 ms, for ever
};

const char* Name(Stall s) {
  switch (s) {
    case Stall::kConnect:
      return "TCP never completes";
    case Stall::kTls:
      return "TCP without TLS";
    case Stall::kHttp:
      return "TLS without an answer";
    case Stall::kBody:
      return "an answer's head, then silence";
    case Stall::kTrickle:
      return "an answer trickled byte by byte";
  }
  return "?";
}

// A peer on 127.0.0.1 that stalls at one step, presenting `cert` (so that a client pinning it
// completes TLS). Every connection is held open until the peer is destroyed.
class HostilePeer {
 public:
  HostilePeer(Stall stall, const std::filesystem::path& cert, const std::filesystem::path& key)
      : stall_(stall) {
    ::signal(SIGPIPE, SIG_IGN);
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    socklen_t len = sizeof addr;
    ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    if (stall_ == Stall::kConnect) {
      // Fill the accept queue with connections nobody accepts; once it is full the kernel drops
      // further SYNs, so a client's connect neither completes nor fails.
      EXPECT_EQ(::listen(listen_fd_, 0), 0);
      for (int i = 0; i < 16 && !connect_hangs_; ++i) {
        int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
        fds_.push_back(fd);
        pollfd p{fd, POLLOUT, 0};
        connect_hangs_ = ::poll(&p, 1, 300) == 0;
      }
      return;
    }
    EXPECT_EQ(::listen(listen_fd_, 64), 0);
    ctx_ = SSL_CTX_new(TLS_server_method());
    EXPECT_EQ(SSL_CTX_use_certificate_chain_file(ctx_, cert.c_str()), 1);
    EXPECT_EQ(SSL_CTX_use_PrivateKey_file(ctx_, key.c_str(), SSL_FILETYPE_PEM), 1);
    acceptor_ = std::thread([this] { Accept(); });
  }

  ~HostilePeer() {
    stop_ = true;
    if (acceptor_.joinable()) acceptor_.join();
    for (std::thread& t : connections_) t.join();
    for (int fd : fds_) ::close(fd);
    ::close(listen_fd_);
    if (ctx_) SSL_CTX_free(ctx_);
  }

  std::string url() const { return "https://127.0.0.1:" + std::to_string(port_); }
  // False if this kernel completed or refused every connection to a full accept queue (then
  // Stall::kConnect cannot be shown here).
  bool connect_hangs() const { return connect_hangs_; }
  // Connections that have reached the stall.
  int stalled() const { return stalled_; }
  bool WaitStalled(int n, milliseconds timeout) {
    auto deadline = Clock::now() + timeout;
    while (stalled_ < n && Clock::now() < deadline) std::this_thread::sleep_for(milliseconds(20));
    return stalled_ >= n;
  }

 private:
  void Accept() {
    while (!stop_) {
      pollfd p{listen_fd_, POLLIN, 0};
      if (::poll(&p, 1, 100) != 1) continue;
      int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) continue;
      {
        std::lock_guard lock(mu_);
        fds_.push_back(fd);
      }
      connections_.emplace_back([this, fd] { Serve(fd); });
    }
  }

  void HoldUntilStopped() {
    while (!stop_) std::this_thread::sleep_for(milliseconds(20));
  }

  void Serve(int fd) {
    if (stall_ == Stall::kTls) {
      ++stalled_;
      return HoldUntilStopped();
    }
    // Blocking reads that wake every 100 ms to see whether the test is over.
    timeval tv{0, 100000};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    SSL* ssl = SSL_new(ctx_);
    SSL_set_fd(ssl, fd);
    auto retry = [&](int r) {
      int e = SSL_get_error(ssl, r);
      return !stop_ && (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE);
    };
    int r;
    while ((r = SSL_accept(ssl)) != 1) {
      if (!retry(r)) {
        ERR_clear_error();
        SSL_free(ssl);
        return HoldUntilStopped();
      }
    }
    std::string request;
    char buf[4096];
    while (request.find("\r\n\r\n") == std::string::npos) {
      r = SSL_read(ssl, buf, sizeof buf);
      if (r > 0) {
        request.append(buf, static_cast<size_t>(r));
      } else if (!retry(r)) {
        break;
      }
    }
    if (stall_ == Stall::kBody || stall_ == Stall::kTrickle) {
      std::string head =
          "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
          "Content-Length: 10000000\r\n\r\n";
      SSL_write(ssl, head.data(), static_cast<int>(head.size()));
      if (stall_ == Stall::kBody) {
        std::string some(100, '\0');
        SSL_write(ssl, some.data(), static_cast<int>(some.size()));
      }
    }
    ++stalled_;
    while (!stop_) {
      if (stall_ == Stall::kTrickle) SSL_write(ssl, "x", 1);
      for (int i = 0; i < 25 && !stop_; ++i) std::this_thread::sleep_for(milliseconds(20));
    }
    ERR_clear_error();
    SSL_free(ssl);
  }

  const Stall stall_;
  int listen_fd_ = -1;
  uint16_t port_ = 0;
  bool connect_hangs_ = false;
  SSL_CTX* ctx_ = nullptr;
  std::atomic<bool> stop_{false};
  std::atomic<int> stalled_{0};
  std::mutex mu_;
  std::vector<int> fds_;
  std::thread acceptor_;
  std::vector<std::thread> connections_;
};

class PeerDeadlinesTest : public ::testing::Test {
 protected:
  PeerDeadlinesTest()
      : node_(MakeNodeWithAuthor(dir_)),
        other_(MakeNodeWithAuthor(other_dir_)),
        other_id_(IdOf(other_.data)) {}

  // The node knows one peer: `peer`'s URL, under the identity and certificate of another node
  // (whose tls.crt the hostile peer presents).
  void SetPeer(const HostilePeer& peer) {
    (void)RunKhronika({"peer", "remove", "--data", node_.data.string(), other_id_["node_id"]});
    RunResult r =
        RunKhronika({"peer", "add", "--data", node_.data.string(), "--url", peer.url(), "--id",
                     other_id_["node_id"], "--cert-sha256", other_id_["cert_sha256"]});
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  std::unique_ptr<HostilePeer> Hostile(Stall stall) {
    return std::make_unique<HostilePeer>(stall, other_.data / "tls.crt", other_.data / "tls.key");
  }
  std::string peer_name() const { return other_id_["node_id"].get<std::string>().substr(0, 16); }

  TempDir dir_, other_dir_;
  LocalNode node_, other_;
  json other_id_;
};

TEST_F(PeerDeadlinesTest, SyncGivesUpOnAStalledPeerWithinItsDeadlineAndNamesIt) {
  WriteFile(node_.data / "khronika.conf",
            "peer_connect_timeout_ms = 2000\npeer_idle_timeout_ms = 2000\npeer_request_timeout_ms "
            "= 3000\n");
  struct Case {
    Stall stall;
    std::string step;    // the start of the error: which step, and from where
    std::string reason;  // which deadline
    double deadline_s;
  };
  const std::vector<Case> cases = {
      {Stall::kConnect, "connect to ", "no answer within 2 s", 2},
      {Stall::kTls, "TLS handshake with ", "no answer within 2 s", 2},
      {Stall::kHttp, "GET /v1/sync/heads from ", "nothing received or sent for 2 s", 2},
      {Stall::kBody, "GET /v1/sync/heads from ", "nothing received or sent for 2 s", 2},
      {Stall::kTrickle, "GET /v1/sync/heads from ", "the whole request took longer than 3 s", 3},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(Name(c.stall));
    auto peer = Hostile(c.stall);
    if (c.stall == Stall::kConnect && !peer->connect_hangs()) {
      std::cout << "skipped '" << Name(c.stall)
                << "': this kernel does not leave a connect hanging\n";
      continue;
    }
    SetPeer(*peer);
    auto t0 = Clock::now();
    RunResult r =
        RunKhronikaWithin({"sync", "--data", node_.data.string()}, std::chrono::seconds(30));
    double took = Seconds(Clock::now() - t0);
    std::cout << Name(c.stall) << ": sync failed after " << took << " s: " << r.out;
    EXPECT_NE(r.exit_code, 0) << r.out << r.err;
    EXPECT_LT(took, 3 * c.deadline_s) << r.out << r.err;
    if (c.stall != Stall::kConnect) {
      EXPECT_GE(peer->stalled(), 1);
    }
    // One line naming the peer, its URL, the step and the deadline.
    EXPECT_NE(r.out.find("peer " + peer_name() + ": "), std::string::npos) << r.out;
    EXPECT_NE(r.out.find(c.step + peer->url() + ": " + c.reason), std::string::npos) << r.out;
  }
  // `khronika status` keeps the reason as the peer's last error.
  RunResult status = RunKhronika({"status", "--data", node_.data.string(), "--json"});
  ASSERT_EQ(status.exit_code, 0) << status.err;
  EXPECT_NE(status.out.find("the whole request took longer than 3 s"), std::string::npos)
      << status.out;
}

TEST_F(PeerDeadlinesTest, ServeExitsPromptlyOnSigtermWhileItsSchedulerIsStuckOnAPeer) {
  // Deadlines of a minute: a prompt exit can only come from cancelling the pull.
  WriteFile(node_.data / "khronika.conf",
            "sync_interval_s = 1\nscrub_interval_h = 0\npeer_connect_timeout_ms = 60000\n"
            "peer_idle_timeout_ms = 60000\n");
  for (Stall stall : {Stall::kConnect, Stall::kTls, Stall::kHttp, Stall::kBody}) {
    SCOPED_TRACE(Name(stall));
    auto peer = Hostile(stall);
    if (stall == Stall::kConnect && !peer->connect_hangs()) {
      std::cout << "skipped '" << Name(stall)
                << "': this kernel does not leave a connect hanging\n";
      continue;
    }
    SetPeer(*peer);
    ServerProcess server(node_.data);
    ASSERT_TRUE(server.started());
    if (stall == Stall::kConnect) {
      // Nothing to see from here: the first pull starts within 1.2 s.
      std::this_thread::sleep_for(milliseconds(2500));
    } else {
      ASSERT_TRUE(peer->WaitStalled(1, milliseconds(15000)))
          << "the scheduler never reached the peer\n"
          << server.Stderr();
    }
    auto t0 = Clock::now();
    int code = server.Stop(SIGTERM, std::chrono::seconds(30));
    double took = Seconds(Clock::now() - t0);
    std::cout << Name(stall) << ": serve exited " << took << " s after SIGTERM\n";
    EXPECT_EQ(code, 0) << server.Stderr();
    EXPECT_LT(took, 10.0) << "the peer deadlines are 60 s; the pull was not cancelled\n"
                          << server.Stderr();
    EXPECT_NE(server.Stdout().find("stopped"), std::string::npos) << server.Stdout();
  }
}

TEST_F(PeerDeadlinesTest, StreamedDownloadGivesUpWhenTheNodeStallsMidBody) {
  auto peer = Hostile(Stall::kBody);
  std::filesystem::path out = dir_ / "bundle.tar";
  auto t0 = Clock::now();
  RunResult r =
      RunKhronikaWithin({"export", "--case", "case-1", "--out", out.string(), "--tar", "--node",
                         peer->url(), "--token", "khr_" + std::string(64, '0'), "--pin",
                         "sha256:" + other_id_["cert_sha256"].get<std::string>(), "--timeout", "2"},
                        std::chrono::seconds(30));
  double took = Seconds(Clock::now() - t0);
  std::cout << "export failed after " << took << " s: " << r.err;
  EXPECT_NE(r.exit_code, 0);
  EXPECT_GE(peer->stalled(), 1);
  EXPECT_LT(took, 6.0) << r.err;
  EXPECT_NE(r.err.find("GET /v1/cases/case-1/bundle from " + peer->url() +
                       ": nothing received or sent for 2 s"),
            std::string::npos)
      << r.err;
  EXPECT_FALSE(std::filesystem::exists(out));
}

}  // namespace
}  // namespace khronika::testing
