#include "khronika/http/server.h"

#include "khronika/http/custody_flusher.h"

#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <array>
#include <atomic>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <iostream>
#include <limits>
#include <map>
#include <mutex>
#include <thread>
#include <utility>

#include "khronika/http/group_commit.h"
#include "khronika/http/logging.h"
#include "khronika/schemas/crypto.h"
#include "khronika/http/metrics.h"
#include "khronika/http/sync_scheduler.h"
#include "khronika/http/witness_pusher.h"
#include "khronika/http/tls.h"
#include "khronika/log/worker_pool.h"

namespace khronika {
namespace {

// Asio's thread pool makes its threads itself: each names itself on its first task.
void NameWorkerOnce() {
  thread_local bool named = false;
  if (!named) {
    NameThisThread("kh-worker");
    named = true;
  }
}

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
namespace ssl = net::ssl;
using tcp = net::ip::tcp;
using SteadyClock = std::chrono::steady_clock;

// Connections still in their TLS handshake. Until a connection has finished its handshake
// nothing is known of it, and a socket that never sends a byte costs its owner nothing; so
// such connections may hold only part of the connection cap, only a few per source address,
// and only until the handshake deadline. A connection beyond either limit is closed at once,
// which keeps one address's idle sockets from locking everyone else out.
class HandshakeSlots {
 public:
  using Key = std::array<uint8_t, 16>;
  class Slot;

  HandshakeSlots(size_t total, size_t per_address) : total_(total), per_address_(per_address) {}

  // A slot for a connection from `from`, or an empty one (and why, in *refused) if none is free.
  Slot Take(const net::ip::address& from, Metrics::Refusal* refused);

 private:
  // IPv4 addresses count one by one; IPv6 addresses by /64, the smallest block a site is
  // normally given, so that one site cannot pose as millions of clients.
  static Key KeyOf(const net::ip::address& a) {
    Key key{};
    if (a.is_v4() || (a.is_v6() && a.to_v6().is_v4_mapped())) {
      auto b = a.is_v4() ? a.to_v4().to_bytes() : a.to_v6().to_v4().to_bytes();
      std::copy(b.begin(), b.end(), key.begin());
      key[8] = 4;  // never the /64 of an IPv6 key, whose bytes 8..15 are zero
    } else {
      auto b = a.to_v6().to_bytes();
      std::copy(b.begin(), b.begin() + 8, key.begin());
    }
    return key;
  }
  void Give(const Key& key) {
    std::lock_guard lock(mu_);
    auto it = by_address_.find(key);
    if (it != by_address_.end() && --it->second == 0) by_address_.erase(it);
    --taken_;
  }

  std::mutex mu_;
  const size_t total_, per_address_;
  size_t taken_ = 0;
  std::map<Key, size_t> by_address_;
};

// A slot held; given back when released or destroyed.
class HandshakeSlots::Slot {
 public:
  Slot() = default;
  Slot(HandshakeSlots* owner, const Key& key) : owner_(owner), key_(key) {}
  Slot(Slot&& other) noexcept : owner_(std::exchange(other.owner_, nullptr)), key_(other.key_) {}
  Slot& operator=(Slot&& other) noexcept {
    if (this != &other) {
      Release();
      owner_ = std::exchange(other.owner_, nullptr);
      key_ = other.key_;
    }
    return *this;
  }
  Slot(const Slot&) = delete;
  Slot& operator=(const Slot&) = delete;
  ~Slot() { Release(); }

  explicit operator bool() const { return owner_ != nullptr; }
  void Release() {
    if (owner_) std::exchange(owner_, nullptr)->Give(key_);
  }

 private:
  HandshakeSlots* owner_ = nullptr;
  Key key_{};
};

HandshakeSlots::Slot HandshakeSlots::Take(const net::ip::address& from, Metrics::Refusal* refused) {
  const Key key = KeyOf(from);
  std::lock_guard lock(mu_);
  if (taken_ >= total_) {
    *refused = Metrics::Refusal::kHandshakes;
    return {};
  }
  auto it = by_address_.find(key);
  if (it != by_address_.end() && it->second >= per_address_) {
    *refused = Metrics::Refusal::kHandshakesPerAddress;
    return {};
  }
  ++by_address_[key];
  ++taken_;
  return Slot(this, key);
}

size_t MaxHandshakes(const ServerOptions& o) {
  return o.max_handshakes ? o.max_handshakes : std::max<size_t>(1, o.max_connections / 2);
}

}  // namespace

struct Server::Impl {
  Impl(Node& n, ServerOptions o)
      : node(n),
        options(std::move(o)),
        handshakes(MaxHandshakes(options), options.max_handshakes_per_address),
        ioc(static_cast<int>(IoThreads())),
        ssl_ctx(ssl::context::tls_server),
        acceptor(net::make_strand(ioc)),
        workers(WorkerThreads()),
        committer(node.log(), 256, 32,
                  [this](std::function<void()> fn) {
                    net::post(workers, [fn = std::move(fn)] {
                      NameWorkerOnce();
                      fn();
                    });
                  }),
        api(node, committer, metrics, options.api),
        signals(ioc, SIGINT, SIGTERM),
        scheduler(node, metrics, options.sync_interval,
                  PeerClientOptions{options.tls_cert.string(), options.tls_key.string(),
                                    options.peer_deadlines, nullptr}),
        timestamper(node, metrics, options.timestamps),
        witness_pusher(node, options.witnesses,
                       PeerClientOptions{options.tls_cert.string(), options.tls_key.string(),
                                         options.peer_deadlines, nullptr}),
        custody(node, options.custody_interval,
                [this] {
                  scheduler.NotifyPeers();
                  timestamper.NewCheckpoint();
                  witness_pusher.Poke();
                }),
        drain_timer(ioc) {}

  size_t IoThreads() const {
    if (options.io_threads) return options.io_threads;
    return std::max(1u, std::thread::hardware_concurrency());
  }
  size_t WorkerThreads() const {
    if (options.worker_threads) return options.worker_threads;
    return std::max(1u, std::thread::hardware_concurrency());
  }

  Node& node;
  ServerOptions options;
  HandshakeSlots handshakes;  // before ioc: sessions destroyed with it give their slots back
  // Before ioc too: a session still queued when ioc is destroyed counts its connection closed.
  Metrics metrics;
  net::io_context ioc;
  ssl::context ssl_ctx;
  tcp::acceptor acceptor;
  net::thread_pool workers;
  GroupCommitter committer;
  Api api;
  net::signal_set signals;
  SyncScheduler scheduler;
  Timestamper timestamper;
  WitnessPusher witness_pusher;  // C2SP add-checkpoint to partners and external witnesses
  CustodyFlusher custody;  // after scheduler, which it notifies
  net::steady_timer drain_timer;
  std::atomic<bool> draining{false};
  std::atomic<int64_t> in_flight{0};
  SteadyClock::time_point drain_deadline;
  uint16_t bound_port = 0;

  void DoAccept();
  void BeginShutdown();
  void WaitForDrain();
};

namespace {

// One connection: TLS handshake, then request after request on its own strand.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket&& socket, Server::Impl& server, HandshakeSlots::Slot handshake_slot)
      : server_(server), stream_(std::move(socket), server.ssl_ctx),
        handshake_slot_(std::move(handshake_slot)) {
    server_.metrics.ConnectionOpened();
  }
  ~Session() {
    EndRequest();
    server_.metrics.ConnectionClosed();
  }

  void Start() {
    net::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->DoHandshake(); });
  }

 private:
  const ServerOptions& options() const { return server_.options; }

  void DoHandshake() {
    beast::get_lowest_layer(stream_).expires_after(options().handshake_timeout);
    stream_.async_handshake(ssl::stream_base::server,
                            [self = shared_from_this()](beast::error_code ec) {
                              self->handshake_slot_.Release();
                              if (ec == beast::error::timeout) {
                                self->server_.metrics.HandshakeTimedOut();
                              }
                              if (ec) return;
                              self->peer_cert_sha256_ = PeerCertificateSha256(self->stream_.native_handle());
                              self->DoReadHead();
                            });
  }

  void DoReadHead() {
    if (server_.draining) return DoClose();
    head_parser_.emplace();
    head_parser_->header_limit(options().header_limit);
    // The body limit belongs to the route and is set once the head is known (OnReadHead);
    // Beast's default of 1 MiB would otherwise fail larger Content-Lengths at the head.
    head_parser_->body_limit(std::numeric_limits<std::uint64_t>::max());
    beast::get_lowest_layer(stream_).expires_after(options().head_timeout);
    http::async_read_header(stream_, buffer_, *head_parser_,
                            [self = shared_from_this()](beast::error_code ec, size_t) {
                              self->OnReadHead(ec);
                            });
  }

  void BeginRequest() {
    if (!in_request_) {
      in_request_ = true;
      ++server_.in_flight;
    }
    started_ = SteadyClock::now();
  }
  void EndRequest() {
    if (in_request_) {
      in_request_ = false;
      --server_.in_flight;
    }
  }

  void OnReadHead(beast::error_code ec) {
    if (ec == http::error::header_limit) {
      BeginRequest();
      return SendError(431, "header_too_large", "the request head exceeds 16 KiB", true);
    }
    if (ec) return DoClose();  // end of stream, timeout, or a malformed head
    BeginRequest();
    auto& head = head_parser_->get();
    version_ = head.version();
    keep_alive_ = head.keep_alive();
    uint64_t limit = server_.api.BodyLimit(head.method_string(), head.target());
    auto length = head_parser_->content_length();
    bool chunked = head_parser_->chunked();
    if ((length && *length > limit) || (limit == 0 && chunked)) {
      // Answered before the body is read; the connection closes so the body is never consumed.
      return SendError(413, "payload_too_large",
                       limit == 0 ? "this endpoint takes no body"
                                  : "the body exceeds " + std::to_string(limit) + " bytes",
                       true);
    }
    body_parser_.emplace(std::move(*head_parser_));
    head_parser_.reset();
    body_parser_->body_limit(limit);
    if (body_parser_->get()[http::field::expect] == "100-continue") {
      auto cont = std::make_shared<http::response<http::empty_body>>(http::status::continue_,
                                                                     version_);
      beast::get_lowest_layer(stream_).expires_after(options().body_timeout);
      return http::async_write(stream_, *cont,
                               [self = shared_from_this(), cont](beast::error_code ec, size_t) {
                                 if (ec) return self->DoClose();
                                 self->DoReadBody();
                               });
    }
    DoReadBody();
  }

  void DoReadBody() {
    beast::get_lowest_layer(stream_).expires_after(options().body_timeout);
    http::async_read(stream_, buffer_, *body_parser_,
                     [self = shared_from_this()](beast::error_code ec, size_t) {
                       self->OnReadBody(ec);
                     });
  }

  void OnReadBody(beast::error_code ec) {
    if (ec == http::error::body_limit) {
      return SendError(413, "payload_too_large", "the body exceeds the limit", true);
    }
    if (ec) return DoClose();
    auto& req = body_parser_->get();
    auto request = std::make_shared<ApiRequest>();
    request->method = std::string(req.method_string());
    request->target = std::string(req.target());
    request->authorization = std::string(req[http::field::authorization]);
    request->range = std::string(req[http::field::range]);
    request->if_none_match = std::string(req[http::field::if_none_match]);
    request->body = std::move(req.body());
    request->peer_cert_sha256 = peer_cert_sha256_;
    body_parser_.reset();
    // Handlers touch the store and verify signatures: keep them off the I/O threads. One that
    // waits for a group commit answers later, from the worker that completes it; meanwhile
    // neither thread nor strand is held.
    net::post(server_.workers, [self = shared_from_this(), request] {
      NameWorkerOnce();
      self->server_.api.HandleAsync(request, [self](ApiResponse r) {
        auto response = std::make_shared<ApiResponse>(std::move(r));
        net::post(self->stream_.get_executor(),
                  [self, response] { self->SendResponse(std::move(*response), false); });
      });
    });
  }

  // A refusal before the request was read to its end (431, 413): the client may still be
  // sending, so after the answer the rest is read and dropped for a moment before closing.
  // Closing at once would make the kernel answer the unread bytes with a reset, which can
  // destroy the answer before the client reads it (RFC 9112 section 9.6).
  void SendError(int status, std::string_view code, std::string_view message, bool close) {
    ApiResponse r = ErrorResponse(status, code, message);
    r.route = "rejected";
    linger_on_close_ = close;
    SendResponse(std::move(r), close);
  }

  template <typename Response>
  void SetCommonHeaders(Response& res, const ApiResponse& r, bool close) {
    res.set(http::field::content_type, r.content_type);
    res.set(http::field::cache_control, "no-store");
    for (const auto& [name, value] : SecurityHeaders()) res.set(name, value);
    for (const auto& [name, value] : r.headers) res.set(name, value);
    res.keep_alive(keep_alive_ && !close && !server_.draining);
  }

  void SendResponse(ApiResponse r, bool close) {
    const double seconds = std::chrono::duration<double>(SteadyClock::now() - started_).count();
    server_.metrics.ObserveRequest(r.route, r.status, seconds);
    if (LogEnabled(LogLevel::kDebug)) {
      char ms[32];
      std::snprintf(ms, sizeof ms, "%.1f ms", seconds * 1000);
      LogLine(LogLevel::kDebug, "http", (r.route.empty() ? std::string("unmatched") : r.route) + " " +
                                            std::to_string(r.status) + " " + ms);
    }
    if (r.source) return StartSource(std::move(r), close);
    auto res = std::make_shared<http::response<http::string_body>>(
        static_cast<http::status>(r.status), version_);
    SetCommonHeaders(*res, r, close);
    res->body() = std::move(r.body);
    res->prepare_payload();
    beast::get_lowest_layer(stream_).expires_after(options().body_timeout);
    http::async_write(stream_, *res, [self = shared_from_this(), res](beast::error_code ec, size_t) {
      self->OnWrite(ec, !res->keep_alive());
    });
  }

  void OnWrite(beast::error_code ec, bool close) {
    EndRequest();
    if (!ec && close && linger_on_close_) return DrainThenClose();
    if (ec || close) return DoClose();
    DoReadHead();
  }

  void DrainThenClose() {
    drain_until_ = SteadyClock::now() + std::chrono::seconds(2);
    DrainSome();
  }

  void DrainSome() {
    auto left = drain_until_ - SteadyClock::now();
    if (left <= SteadyClock::duration::zero()) return DoClose();
    beast::get_lowest_layer(stream_).expires_after(left);
    stream_.async_read_some(net::buffer(drain_buffer_),
                            [self = shared_from_this()](beast::error_code ec, size_t) {
                              if (ec) return self->DoClose();
                              self->DrainSome();
                            });
  }

  // ---- a body made as it is sent (a stored file, a court bundle), one piece in memory at a time ----

  void StartSource(ApiResponse r, bool close) {
    source_ = std::move(r.source);
    stream_res_.emplace(static_cast<http::status>(r.status), version_);
    SetCommonHeaders(*stream_res_, r, close);
    stream_res_->content_length(source_->size());
    stream_res_->body().data = nullptr;
    stream_res_->body().more = true;
    stream_sr_.emplace(*stream_res_);
    beast::get_lowest_layer(stream_).expires_after(options().body_timeout);
    http::async_write_header(stream_, *stream_sr_,
                             [self = shared_from_this()](beast::error_code ec, size_t) {
                               if (ec) return self->DoClose();
                               self->SourceNext();
                             });
  }

  void SourceNext() {
    auto piece = source_->Next();
    if (!piece.ok()) {
      // Headers are gone already: cut the connection so the client sees a short body, and say
      // why on the operator's console.
      LogLine(LogLevel::kError, "http", "download cut short: " + piece.status().ToString());
      source_.reset();
      return DoClose();
    }
    current_chunk_ = std::move(piece).value();
    stream_res_->body().data = current_chunk_.empty() ? nullptr : current_chunk_.data();
    stream_res_->body().size = current_chunk_.size();
    stream_res_->body().more = !current_chunk_.empty();
    beast::get_lowest_layer(stream_).expires_after(options().body_timeout);
    http::async_write(stream_, *stream_sr_, [self = shared_from_this()](beast::error_code ec, size_t) {
      if (ec == http::error::need_buffer) ec = {};
      if (ec) return self->DoClose();
      if (self->stream_sr_->is_done()) {
        bool close = !self->stream_res_->keep_alive();
        self->stream_sr_.reset();
        self->stream_res_.reset();
        self->current_chunk_.clear();
        self->source_.reset();
        return self->OnWrite({}, close);
      }
      self->SourceNext();
    });
  }

  void DoClose() {
    EndRequest();
    beast::get_lowest_layer(stream_).expires_after(std::chrono::seconds(5));
    stream_.async_shutdown([self = shared_from_this()](beast::error_code) {
      beast::error_code ignored;
      beast::get_lowest_layer(self->stream_).socket().shutdown(tcp::socket::shutdown_both, ignored);
    });
  }

  Server::Impl& server_;
  beast::ssl_stream<beast::tcp_stream> stream_;
  HandshakeSlots::Slot handshake_slot_;  // held until the TLS handshake ends
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::empty_body>> head_parser_;
  std::optional<http::request_parser<http::string_body>> body_parser_;
  std::string peer_cert_sha256_;
  bool linger_on_close_ = false;
  SteadyClock::time_point drain_until_;
  std::array<char, 16384> drain_buffer_;
  unsigned version_ = 11;
  bool keep_alive_ = true;
  bool in_request_ = false;
  SteadyClock::time_point started_;
  Bytes current_chunk_;
  std::shared_ptr<BodySource> source_;
  std::optional<http::response<http::buffer_body>> stream_res_;
  std::optional<http::response_serializer<http::buffer_body>> stream_sr_;
};

}  // namespace

void Server::Impl::DoAccept() {
  acceptor.async_accept(net::make_strand(ioc), [this](beast::error_code ec, tcp::socket socket) {
    if (ec) {
      if (ec == net::error::operation_aborted || !acceptor.is_open()) return;
    } else {
      // Over a limit: refuse at once rather than queue.
      Metrics::Refusal refused = Metrics::Refusal::kConnections;
      HandshakeSlots::Slot slot;
      beast::error_code peer_ec;
      tcp::endpoint from = socket.remote_endpoint(peer_ec);
      if (!peer_ec && metrics.open_connections() < static_cast<int64_t>(options.max_connections)) {
        slot = handshakes.Take(from.address(), &refused);
      }
      beast::error_code ignored;
      if (!slot) {
        if (!peer_ec) metrics.ConnectionRefused(refused);
        socket.close(ignored);
      } else {
        // Small answers (receipts, 201s to chunk uploads) must not wait for Nagle's algorithm.
        socket.set_option(tcp::no_delay(true), ignored);
        std::make_shared<Session>(std::move(socket), *this, std::move(slot))->Start();
      }
    }
    if (!draining) DoAccept();
  });
}

void Server::Impl::BeginShutdown() {
  if (draining.exchange(true)) return;
  LogLine(LogLevel::kInfo, "serve", "stopping: no new connections; finishing requests in flight");
  // A pull waiting on a peer ends now, not at its deadline.
  scheduler.RequestStop();
  // An ask of a TSA in progress ends now; a POST /v1/checkpoint/timestamp waiting on it is
  // answered with an error.
  timestamper.Stop();
  net::post(acceptor.get_executor(), [this] {
    beast::error_code ignored;
    acceptor.close(ignored);
  });
  drain_deadline = SteadyClock::now() + options.shutdown_grace;
  WaitForDrain();
}

void Server::Impl::WaitForDrain() {
  if (in_flight <= 0 || SteadyClock::now() >= drain_deadline) {
    ioc.stop();
    return;
  }
  drain_timer.expires_after(std::chrono::milliseconds(20));
  drain_timer.async_wait([this](beast::error_code) { WaitForDrain(); });
}

Server::Server(Node& node, ServerOptions options)
    : impl_(std::make_unique<Impl>(node, std::move(options))) {}

Server::~Server() {
  if (impl_) {
    impl_->ioc.stop();
    // The committer's last completions run on the workers, so it stops first.
    impl_->committer.Stop();
    impl_->workers.join();
  }
}

Status Server::Start() {
  Impl& s = *impl_;
  KH_RETURN_IF_ERROR(s.timestamper.Start());
  SSL_CTX* ctx = s.ssl_ctx.native_handle();
  // TLS 1.3 only: no renegotiation exists in it, and every suite is an AEAD.
  KH_RETURN_IF_ERROR(RestrictToTls13Aead(ctx));
  // Ask every client for a certificate without requiring one: peers present theirs (mutual TLS,
  // pinned by fingerprint in the API), ordinary clients use tokens.
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, [](int, X509_STORE_CTX*) { return 1; });
  // With SSL_VERIFY_PEER set, OpenSSL refuses to resume a session unless a session id context
  // is set ("session id context uninitialized"): a browser's second connection, which offers
  // the ticket of its first, failed its handshake. The resumed session keeps the peer's
  // certificate, so a pinned peer is still recognised (PeerCertificateSha256).
  static constexpr unsigned char kSessionContext[] = "khronika";
  if (SSL_CTX_set_session_id_context(ctx, kSessionContext, sizeof kSessionContext - 1) != 1) {
    return Status::IOError("OpenSSL: cannot set the TLS session id context");
  }
  beast::error_code ec;
  s.ssl_ctx.use_certificate_chain_file(s.options.tls_cert.string(), ec);
  if (ec) return Status::InvalidArgument("TLS certificate " + s.options.tls_cert.string() + ": " + ec.message());
  s.ssl_ctx.use_private_key_file(s.options.tls_key.string(), ssl::context::pem, ec);
  if (ec) return Status::InvalidArgument("TLS key " + s.options.tls_key.string() + ": " + ec.message());
  if (SSL_CTX_check_private_key(ctx) != 1) {
    return Status::InvalidArgument("the TLS key does not match the certificate");
  }
  if (MaxHandshakes(s.options) > s.options.max_connections) {
    return Status::InvalidArgument("max_handshakes (" + std::to_string(s.options.max_handshakes) +
                                   ") must not exceed max_connections (" +
                                   std::to_string(s.options.max_connections) + ")");
  }
  if (s.options.max_handshakes_per_address == 0 || s.options.handshake_timeout.count() <= 0) {
    return Status::InvalidArgument(
        "max_handshakes_per_address and handshake_timeout_ms must be at least 1");
  }
  auto address = net::ip::make_address(s.options.host, ec);
  if (ec) return Status::InvalidArgument("listen address '" + s.options.host + "': " + ec.message());
  tcp::endpoint endpoint(address, s.options.port);
  s.acceptor.open(endpoint.protocol(), ec);
  if (!ec) s.acceptor.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) s.acceptor.bind(endpoint, ec);
  if (!ec) s.acceptor.listen(net::socket_base::max_listen_connections, ec);
  if (ec) {
    return Status::IOError("listen on " + s.options.host + ":" + std::to_string(s.options.port) +
                           ": " + ec.message());
  }
  s.bound_port = s.acceptor.local_endpoint().port();
  return Status::Ok();
}

uint16_t Server::port() const { return impl_->bound_port; }

void Server::Run() {
  Impl& s = *impl_;
  s.signals.async_wait([&s](beast::error_code ec, int) {
    if (!ec) s.BeginShutdown();
  });
  s.DoAccept();
  s.api.OnAppended([&s] {
    s.scheduler.NotifyPeers();
    s.timestamper.NewCheckpoint();
    s.witness_pusher.Poke();
  });
  if (s.timestamper.configured()) {
    s.api.OnTimestampAsk([&s](uint64_t min_size,
                              std::function<void(Result<Timestamper::Round>)> done) {
      s.timestamper.AskNow(min_size, std::move(done));
    });
  }
  s.api.OnPeerNotified([&s] { s.scheduler.Poke(); });
  s.scheduler.Start();
  s.witness_pusher.Start();
  s.custody.Start();
  std::vector<std::thread> threads;
  for (size_t i = 1; i < s.IoThreads(); ++i) {
    threads.emplace_back([&s] {
      NameThisThread("kh-io");
      s.ioc.run();
    });
  }
  s.ioc.run();
  for (std::thread& t : threads) t.join();
  // Requests in flight have had their answers; what is queued still commits before the store
  // closes, and the custody events of the last requests are sealed into the log.
  s.custody.Stop();
  s.scheduler.Stop();
  s.timestamper.Stop();
  s.witness_pusher.Stop();
  s.committer.Stop();
  s.workers.join();
}

void Server::Stop() {
  net::post(impl_->ioc, [this] { impl_->BeginShutdown(); });
}

}  // namespace khronika
