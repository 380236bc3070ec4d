// The server's limits, from the outside: an oversized request head gets 431, a body over the
// route's limit gets 413 before it is read, clients too slow to send a request head (or a TLS
// handshake) are cut off at the configured deadline, and the connection cap holds. The node runs
// with `head_timeout_ms = 2000` (DIR/khronika.conf) so that the deadlines take seconds.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "server_fixture.h"

namespace khronika::testing {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

struct RawResponse {
  int status = 0;
  std::string head, body;
  bool closed = false;
  double seconds = 0;
};

RawResponse ParseRaw(const std::string& text) {
  RawResponse r;
  size_t end = text.find("\r\n\r\n");
  r.head = text.substr(0, end);
  r.body = end == std::string::npos ? "" : text.substr(end + 4);
  if (text.rfind("HTTP/1.1 ", 0) == 0) r.status = std::atoi(text.c_str() + 9);
  return r;
}

bool IsJsonError(const std::string& body) {
  json j = json::parse(body, nullptr, false);
  return j.is_object() && j.contains("error") && j["error"].is_string() && j.contains("message") &&
         j["message"].is_string();
}

class ServerLimitsTest : public ::testing::Test {
 protected:
  ServerLimitsTest() : node_("head_timeout_ms = 2000\n") {}
  void SetUp() override { ASSERT_TRUE(server().started()); }
  void TearDown() override {
    EXPECT_EQ(Get(server(), "/healthz").status, 200) << server().Stderr();
    EXPECT_TRUE(server().Running());
  }
  ServerProcess& server() { return node_.server(); }

  // Sends `request` on a fresh TLS connection and reads until the server closes it or
  // `timeout` passes.
  RawResponse SendRaw(const std::string& request, milliseconds timeout = milliseconds(10000)) {
    std::string error;
    auto tls = RawTls::Connect(server().port(), 0, &error);
    EXPECT_TRUE(tls) << error;
    if (!tls) return {};
    auto t0 = Clock::now();
    EXPECT_TRUE(tls->Write(request));
    std::string text;
    bool closed = tls->ReadUntilClosed(&text, timeout);
    RawResponse r = ParseRaw(text);
    r.closed = closed;
    r.seconds = Seconds(Clock::now() - t0);
    return r;
  }

  ServedNode node_;
};

TEST_F(ServerLimitsTest, HugeHeaderGets431) {
  // 100 KiB in one header line, sent by curl (headers read from a file).
  WriteFile(node_ / "big-header", "X-Padding: " + std::string(100 * 1024, 'a') + "\n");
  HttpRequest r;
  r.path = "/healthz";
  r.extra_args = {"-H", "@" + (node_ / "big-header").string()};
  HttpReply reply = Curl(server(), r);
  EXPECT_EQ(reply.status, 431) << reply.Describe();
  EXPECT_TRUE(reply.IsJsonError()) << reply.body;
  // With a token on an API route the answer is the same.
  r.path = "/v1/checkpoint";
  r.token = node_.admin().secret;
  EXPECT_EQ(Curl(server(), r).status, 431);

  // Many small headers adding up to 100 KiB.
  std::string many = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n";
  for (int i = 0; i < 2000; ++i) many += "X-H" + std::to_string(i) + ": " + std::string(45, 'b') + "\r\n";
  many += "\r\n";
  RawResponse raw = SendRaw(many);
  EXPECT_EQ(raw.status, 431) << raw.head;
  EXPECT_TRUE(raw.closed);
  EXPECT_TRUE(IsJsonError(raw.body)) << raw.body;
  // A long request target counts too.
  RawResponse target = SendRaw("GET /v1/entries/" + std::string(20000, 'a') +
                               " HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(target.status, 431) << target.head;

  // Just under the limit is fine.
  HttpRequest ok;
  ok.path = "/healthz";
  ok.headers = {"X-Padding: " + std::string(15 * 1024, 'c')};
  EXPECT_EQ(Curl(server(), ok).status, 200);
}

TEST_F(ServerLimitsTest, OversizedChunkIsRefusedBeforeTheBodyIsRead) {
  std::string id = HexSha256("x");
  // Content-Length of 2 GB and three bytes sent: the answer comes at once, not after a wait for
  // the body, and the connection is closed.
  for (const std::string& token : {node_.admin().secret, std::string("")}) {
    std::string request = "PUT /v1/chunks/" + id + " HTTP/1.1\r\nHost: 127.0.0.1\r\n" +
                          (token.empty() ? "" : "Authorization: Bearer " + token + "\r\n") +
                          "Content-Type: application/octet-stream\r\n"
                          "Content-Length: 2000000000\r\n\r\nabc";
    RawResponse r = SendRaw(request);
    EXPECT_EQ(r.status, 413) << r.head;
    EXPECT_TRUE(IsJsonError(r.body)) << r.body;
    EXPECT_TRUE(r.closed) << "the server kept the connection open, waiting for the body";
    EXPECT_LT(r.seconds, 3.0);
    std::cout << "413 for Content-Length 2000000000 in " << r.seconds << " s\n";
  }
  // A chunk of 1 MiB + 1 byte, really sent by curl, is refused too...
  HttpRequest put;
  put.method = "PUT";
  put.path = "/v1/chunks/" + id;
  put.token = node_.admin().secret;
  put.body = std::string((1 << 20) + 1, 'x');
  HttpReply reply = Curl(server(), put);
  EXPECT_EQ(reply.status, 413) << reply.Describe();
  EXPECT_TRUE(reply.IsJsonError()) << reply.body;
  // ...and so is one sent chunked, without a Content-Length to refuse it by.
  put.headers = {"Transfer-Encoding: chunked"};
  HttpReply chunked = Curl(server(), put);
  EXPECT_EQ(chunked.status, 413) << chunked.Describe();
  // A body on a route that takes none.
  RawResponse get_body = SendRaw("GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n");
  EXPECT_EQ(get_body.status, 413) << get_body.head;
  EXPECT_LT(get_body.seconds, 3.0);
  // Exactly 1 MiB is a chunk.
  std::string full((1 << 20), 'y');
  put.headers = {};
  put.path = "/v1/chunks/" + HexSha256(full);
  put.body = full;
  EXPECT_EQ(Curl(server(), put).status, 201);
}

TEST_F(ServerLimitsTest, OversizedJsonIsRefused) {
  // 8 MiB is the default limit for JSON bodies.
  std::string request_head = "POST /v1/entries HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " +
                             node_.admin().secret +
                             "\r\nContent-Type: application/json\r\nContent-Length: " +
                             std::to_string((8 << 20) + 1) + "\r\n\r\n{\"entry\": ";
  RawResponse r = SendRaw(request_head);
  EXPECT_EQ(r.status, 413) << r.head;
  EXPECT_TRUE(IsJsonError(r.body)) << r.body;
  EXPECT_TRUE(r.closed);
  EXPECT_LT(r.seconds, 3.0);
  // A real 9 MiB body through curl (which waits for 100 Continue and gets 413 instead).
  std::string big = "{\"entry\": \"" + std::string(9 << 20, 'a') + "\", \"manifests\": []}";
  WriteFile(node_ / "big.json", big);
  HttpRequest post;
  post.method = "POST";
  post.path = "/v1/entries";
  post.token = node_.admin().secret;
  post.body_file = node_ / "big.json";
  HttpReply reply = Curl(server(), post);
  EXPECT_EQ(reply.status, 413) << reply.Describe();
  EXPECT_TRUE(reply.IsJsonError()) << reply.body;
  post.path = "/v1/chunks/missing";
  EXPECT_EQ(Curl(server(), post).status, 413);
  // Just under the limit is read and judged on its content.
  std::string under = "{\"entry\": \"" + std::string((8 << 20) - 100, 'a') + "\", \"manifests\": []}";
  WriteFile(node_ / "under.json", under);
  post.path = "/v1/entries";
  post.body_file = node_ / "under.json";
  HttpReply judged = Curl(server(), post);
  EXPECT_EQ(judged.status, 400) << judged.Describe();
  EXPECT_TRUE(LogJson(node_.data()).empty());
}

TEST(ServerLimitsConfigTest, JsonLimitIsConfigurable) {
  ServedNode node("max_json_body_bytes = 65536\n");
  ASSERT_TRUE(node.server().started());
  HttpRequest post;
  post.method = "POST";
  post.path = "/v1/chunks/missing";
  post.token = node.admin().secret;
  post.body = "{\"ids\": [\"" + std::string(70000, 'a') + "\"]}";
  HttpReply big = Curl(node.server(), post);
  EXPECT_EQ(big.status, 413) << big.Describe();
  post.body = "{\"ids\": [\"" + std::string(60000, 'a') + "\"]}";
  HttpReply under = Curl(node.server(), post);
  EXPECT_EQ(under.status, 400) << under.Describe();
  // A config file with an unknown key stops the server from starting, naming the key.
  WriteFile(node / "bad.conf", "head_timeout = 5\n");
  ServerProcess refused(node.data(), {"--config", (node / "bad.conf").string()}, false);
  EXPECT_FALSE(refused.started());
  EXPECT_NE(refused.Stderr().find("head_timeout"), std::string::npos) << refused.Stderr();
  EXPECT_NE(refused.Wait(std::chrono::seconds(5)), 0);
}

TEST_F(ServerLimitsTest, SlowClientIsCutOff) {
  std::string error;
  auto tls = RawTls::Connect(server().port(), 0, &error);
  ASSERT_TRUE(tls) << error;
  auto t0 = Clock::now();
  const std::string request = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " +
                              std::string(100, 's') + "\r\n\r\n";
  // One byte every 500 ms: never idle for long, but the whole head takes far longer than the
  // 2 s deadline. A server that only times out silence would wait for ever.
  bool closed = false;
  std::string received;
  size_t sent = 0;
  for (; sent < request.size() && Clock::now() - t0 < std::chrono::seconds(15); ++sent) {
    if (!tls->Write(request.substr(sent, 1))) {
      closed = true;
      break;
    }
    if (tls->ReadUntilClosed(&received, milliseconds(500))) {
      closed = true;
      break;
    }
  }
  double elapsed = Seconds(Clock::now() - t0);
  std::cout << "slow client cut off after " << elapsed << " s, " << sent << " bytes sent\n";
  EXPECT_TRUE(closed) << "still connected after " << elapsed << " s";
  EXPECT_GE(elapsed, 1.5);
  EXPECT_LE(elapsed, 6.0);
  EXPECT_EQ(received.find("200 OK"), std::string::npos) << received;

  // Meanwhile, and afterwards, everyone else is served.
  EXPECT_EQ(Get(server(), "/healthz").status, 200);
}

TEST_F(ServerLimitsTest, SilentAndIdleConnectionsAreClosed) {
  // Three kinds at once, each on its own thread: TCP only (no TLS handshake), TLS with no
  // request, and a keep-alive connection left idle after one request.
  std::vector<double> closed_after(3, -1);
  std::vector<std::thread> threads;
  threads.emplace_back([&] {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(server().port());
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) return;
    auto t0 = Clock::now();
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 10000) == 1) {
      char buf[256];
      if (::read(fd, buf, sizeof buf) <= 0) closed_after[0] = Seconds(Clock::now() - t0);
    }
    ::close(fd);
  });
  threads.emplace_back([&] {
    auto tls = RawTls::Connect(server().port());
    if (!tls) return;
    auto t0 = Clock::now();
    std::string ignored;
    if (tls->ReadUntilClosed(&ignored, milliseconds(10000))) closed_after[1] = Seconds(Clock::now() - t0);
  });
  threads.emplace_back([&] {
    auto tls = RawTls::Connect(server().port());
    if (!tls) return;
    if (!tls->Write("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")) return;
    // The response arrives; the connection then idles until the server closes it.
    auto t0 = Clock::now();
    std::string text;
    if (tls->ReadUntilClosed(&text, milliseconds(10000))) closed_after[2] = Seconds(Clock::now() - t0);
    EXPECT_NE(text.find("200 OK"), std::string::npos) << text;
  });
  for (std::thread& t : threads) t.join();
  const char* names[] = {"TCP without TLS", "TLS without a request", "idle keep-alive"};
  for (int i = 0; i < 3; ++i) {
    std::cout << names[i] << ": closed after " << closed_after[i] << " s\n";
    EXPECT_GE(closed_after[i], 1.5) << names[i];
    EXPECT_LE(closed_after[i], 6.0) << names[i];
  }
}

TEST(ServerLimitsConfigTest, ConnectionCap) {
  ServedNode node("max_connections = 4\nhead_timeout_ms = 4000\n");
  ServerProcess& server = node.server();
  ASSERT_TRUE(server.started());
  std::vector<std::unique_ptr<RawTls>> held;
  for (int i = 0; i < 4; ++i) {
    std::string error;
    held.push_back(RawTls::Connect(server.port(), 0, &error));
    ASSERT_TRUE(held.back()) << i << ": " << error;
  }
  // The fifth is turned away at once rather than queued.
  auto t0 = Clock::now();
  std::string error;
  auto fifth = RawTls::Connect(server.port(), 0, &error);
  EXPECT_FALSE(fifth) << "a fifth connection was accepted with max_connections = 4";
  EXPECT_LT(Seconds(Clock::now() - t0), 2.0);
  // Once they are gone, connections are accepted again.
  held.clear();
  bool served = false;
  for (int i = 0; i < 50 && !served; ++i) {
    served = Get(server, "/healthz").status == 200;
    if (!served) std::this_thread::sleep_for(milliseconds(100));
  }
  EXPECT_TRUE(served);
}

}  // namespace
}  // namespace khronika::testing
