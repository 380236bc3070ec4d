// HttpsClient against a TLS peer in the test that misbehaves: it reads a request's head and
// then closes the connection while the body is still being sent.
#include "khronika/http/client.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <string>
#include <thread>

#include "khronika/http/tls.h"

namespace khronika {
namespace {

// Accepts connections on 127.0.0.1, completes TLS with `cert`, reads each request's head and
// closes the connection, unanswered, while the body is still coming.
class ClosingPeer {
 public:
  ClosingPeer(const std::filesystem::path& cert, const std::filesystem::path& key) {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    socklen_t len = sizeof addr;
    ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    EXPECT_EQ(::listen(listen_fd_, 16), 0);
    ctx_ = SSL_CTX_new(TLS_server_method());
    EXPECT_EQ(SSL_CTX_use_certificate_chain_file(ctx_, cert.c_str()), 1);
    EXPECT_EQ(SSL_CTX_use_PrivateKey_file(ctx_, key.c_str(), SSL_FILETYPE_PEM), 1);
    thread_ = std::thread([this] { Serve(); });
  }
  ~ClosingPeer() {
    stop_ = true;
    ::shutdown(listen_fd_, SHUT_RDWR);
    thread_.join();
    ::close(listen_fd_);
    SSL_CTX_free(ctx_);
  }
  std::string url() const { return "https://127.0.0.1:" + std::to_string(port_); }
  // Connections cut after their request's head.
  int cut() const { return cut_; }

 private:
  void Serve() {
    while (!stop_) {
      const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) return;
      SSL* ssl = SSL_new(ctx_);
      SSL_set_fd(ssl, fd);
      if (SSL_accept(ssl) == 1) {
        std::string head;
        char buf[4096];
        while (head.find("\r\n\r\n") == std::string::npos) {
          const int n = SSL_read(ssl, buf, sizeof buf);
          if (n <= 0) break;
          head.append(buf, static_cast<size_t>(n));
        }
      }
      ERR_clear_error();
      SSL_free(ssl);
      ++cut_;  // before the FIN, which the client's failure follows
      // A FIN first, while the body keeps coming (and is thrown away) for 50 ms, then the close
      // with bytes unread: the kernel resets the connection, and the client, already told the
      // peer sends no more, gets EPIPE on its next write (ECONNRESET without the FIN).
      ::shutdown(fd, SHUT_WR);
      for (int i = 0; i < 50; ++i) {
        char sink[65536];
        while (::recv(fd, sink, sizeof sink, MSG_DONTWAIT) > 0) {
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
      ::close(fd);
    }
  }

  int listen_fd_ = -1;
  uint16_t port_ = 0;
  SSL_CTX* ctx_ = nullptr;
  std::atomic<bool> stop_{false};
  std::atomic<int> cut_{0};
  std::thread thread_;
};

// SIGPIPE keeps its default action in this process, as in any program using the client: a
// write to the closed connection that raised it would end the test binary here.
TEST(HttpsClientTest, APeerThatClosesDuringTheBodyIsAnErrorNotASignal) {
  ASSERT_EQ(std::signal(SIGPIPE, SIG_DFL), SIG_DFL);
  std::string tmpl = (std::filesystem::temp_directory_path() / "khronika-client-XXXXXX").string();
  ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
  const std::filesystem::path dir = tmpl;
  ASSERT_TRUE(CreateSelfSignedCertificate(dir / "tls.crt", dir / "tls.key").ok());
  auto pin = CertificateFingerprint(dir / "tls.crt");
  ASSERT_TRUE(pin.ok()) << pin.status().ToString();
  {
    ClosingPeer peer(dir / "tls.crt", dir / "tls.key");
    ClientOptions options;
    options.url = peer.url();
    options.pin_sha256 = *pin;
    auto client = HttpsClient::Connect(options);
    ASSERT_TRUE(client.ok()) << client.status().ToString();
    const Bytes body(64 << 20, 0x5a);  // far more than the socket buffers hold
    for (int attempt = 0; attempt < 3; ++attempt) {
      auto r = (*client)->RequestBytes("PUT", "/v1/chunks/x", body);
      ASSERT_FALSE(r.ok());
      EXPECT_EQ(r.status().code(), Code::kIOError) << r.status().ToString();
      EXPECT_NE(r.status().message().find("PUT /v1/chunks/x"), std::string::npos)
          << r.status().ToString();
    }
    // At least one cut connection a request: the first may be tried twice, since it went out on
    // the connection Connect opened, which the client takes for one the peer may have closed
    // while idle.
    EXPECT_GE(peer.cut(), 3);
  }
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace khronika
