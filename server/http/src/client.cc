#include "khronika/http/client.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cerrno>
#include <charconv>
#include <condition_variable>
#include <cstdio>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>
#include <system_error>
#include <thread>
#include <vector>

#include "khronika/http/tls.h"
#include "khronika/schemas/crypto.h"

namespace khronika {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;
using SteadyClock = std::chrono::steady_clock;

constexpr uint64_t kMaxBufferedResponse = 256 << 20;

struct Url {
  std::string host;
  std::string port;
};

Result<Url> ParseUrl(const std::string& url) {
  const std::string scheme = "https://";
  if (url.compare(0, scheme.size(), scheme) != 0) {
    return Status::InvalidArgument("node URL must start with https://, got '" + url + "'");
  }
  std::string rest = url.substr(scheme.size());
  if (size_t slash = rest.find('/'); slash != std::string::npos) {
    if (rest.find_first_not_of('/', slash) != std::string::npos) {
      return Status::InvalidArgument("node URL must not have a path: '" + url + "'");
    }
    rest = rest.substr(0, slash);
  }
  Url out;
  if (!rest.empty() && rest[0] == '[') {
    size_t close = rest.find(']');
    if (close == std::string::npos) return Status::InvalidArgument("bad IPv6 address in URL");
    out.host = rest.substr(1, close - 1);
    rest = rest.substr(close + 1);
    out.port = rest.empty() ? "443" : rest.substr(1);
  } else {
    size_t colon = rest.rfind(':');
    out.host = rest.substr(0, colon);
    out.port = colon == std::string::npos ? "443" : rest.substr(colon + 1);
  }
  if (out.host.empty() || out.port.empty())
    return Status::InvalidArgument("bad node URL '" + url + "'");
  return out;
}

// "1.5 s"
std::string Duration(std::chrono::milliseconds d) {
  char text[32];
  std::snprintf(text, sizeof text, "%g s", static_cast<double>(d.count()) / 1000);
  return text;
}

// The addresses of `url`, by `deadline`. An address needs no lookup. A name does, and neither
// getaddrinfo nor Asio's resolver can be given a deadline (the resolver joins its own thread
// when destroyed), so the lookup runs on a thread of its own, left to finish alone if it
// outlives the deadline or a cancel.
Result<std::vector<tcp::endpoint>> Resolve(const Url& url, SteadyClock::time_point deadline,
                                           const ClientCancel* cancel, const std::string& late) {
  uint16_t port = 0;
  auto [ptr, perr] = std::from_chars(url.port.data(), url.port.data() + url.port.size(), port);
  if (perr != std::errc() || ptr != url.port.data() + url.port.size()) {
    return Status::InvalidArgument("bad port '" + url.port + "' in the node URL");
  }
  beast::error_code ec;
  auto address = net::ip::make_address(url.host, ec);
  if (!ec) return std::vector<tcp::endpoint>{tcp::endpoint(address, port)};
  struct Lookup {
    std::mutex mu;
    std::condition_variable cv;
    bool done = false;
    beast::error_code ec;
    std::vector<tcp::endpoint> endpoints;
  };
  auto lookup = std::make_shared<Lookup>();
  try {
    std::thread([lookup, host = url.host, service = url.port] {
      net::io_context ioc;
      tcp::resolver resolver(ioc);
      beast::error_code ec;
      auto results = resolver.resolve(host, service, ec);
      std::lock_guard lock(lookup->mu);
      lookup->ec = ec;
      for (const auto& r : results) lookup->endpoints.push_back(r.endpoint());
      lookup->done = true;
      lookup->cv.notify_all();
    }).detach();
  } catch (const std::system_error& e) {
    return Status::IOError("resolve " + url.host + ": " + e.what());
  }
  std::unique_lock lock(lookup->mu);
  while (!lookup->done) {
    // A cancel is noticed within 50 ms.
    if (cancel && cancel->cancelled())
      return Status::IOError("resolve " + url.host + ": cancelled");
    auto now = SteadyClock::now();
    if (now >= deadline) return Status::IOError("resolve " + url.host + ": " + late);
    lookup->cv.wait_until(lock, std::min(deadline, now + std::chrono::milliseconds(50)));
  }
  if (lookup->ec) return Status::IOError("resolve " + url.host + ": " + lookup->ec.message());
  if (lookup->endpoints.empty()) return Status::IOError("resolve " + url.host + ": no address");
  return std::move(lookup->endpoints);
}

// One TLS connection on a non-blocking socket, driven through OpenSSL directly (a socket BIO) and
// poll(): Asio's SSL stream handed each 16 KiB record through a memory BIO, re-armed a timer and
// ran the event loop for it, which cost a download several times the CPU of the decryption.
// Every wait is a poll() that ends at the deadline the caller armed, or as soon as the cancel
// descriptor (an eventfd that ClientCancel writes to) becomes readable. A Beast
// SyncReadStream and SyncWriteStream, so Beast's synchronous HTTP reads and writes run on it.
class TlsSocket {
 public:
  TlsSocket(int fd, SSL* ssl, int cancel_fd, const ClientCancel* cancel)
      : fd_(fd), ssl_(ssl), cancel_fd_(cancel_fd), cancel_(cancel) {}
  TlsSocket(const TlsSocket&) = delete;
  TlsSocket& operator=(const TlsSocket&) = delete;
  ~TlsSocket() {
    // No close_notify: the connection is dropped, as a peer that vanished would be.
    ::shutdown(fd_, SHUT_RDWR);
    SSL_free(ssl_);
    ::close(fd_);
  }

  SSL* native_handle() const { return ssl_; }
  void expires_at(SteadyClock::time_point deadline) { deadline_ = deadline; }

  // The TLS handshake, by the armed deadline.
  beast::error_code Handshake() {
    for (;;) {
      const int r = SSL_connect(ssl_);
      if (r == 1) return {};
      if (beast::error_code ec = Wait(r); ec) return ec;
    }
  }

  template <typename MutableBufferSequence>
  size_t read_some(const MutableBufferSequence& buffers, beast::error_code& ec) {
    ec = {};
    // A transfer that never has to wait still stops at a cancel, within one read.
    if (Cancelled()) {
      ec = net::error::operation_aborted;
      return 0;
    }
    auto it = net::buffer_sequence_begin(buffers);
    const auto stop = net::buffer_sequence_end(buffers);
    while (it != stop && net::buffer_size(net::mutable_buffer(*it)) == 0) ++it;
    if (it == stop) return 0;
    const net::mutable_buffer b(*it);
    auto* out = static_cast<uint8_t*>(b.data());
    size_t got = 0;
    // Block for the first bytes; then take whatever OpenSSL already holds (records it read
    // ahead) without waiting for more.
    while (got < b.size()) {
      size_t n = 0;
      const int r = SSL_read_ex(ssl_, out + got, b.size() - got, &n);
      if (r == 1) {
        got += n;
        if (!SSL_has_pending(ssl_)) break;
        continue;
      }
      if (got > 0 && SSL_get_error(ssl_, r) == SSL_ERROR_WANT_READ) {
        ERR_clear_error();
        break;
      }
      if (beast::error_code wait = Wait(r); wait) {
        if (got == 0) ec = wait;
        break;
      }
    }
    return got;
  }
  template <typename MutableBufferSequence>
  size_t read_some(const MutableBufferSequence& buffers) {
    beast::error_code ec;
    size_t n = read_some(buffers, ec);
    if (ec) throw boost::system::system_error(ec);
    return n;
  }

  // Writes every byte of `buffers` (a write_some that always completes, or fails). A head and a
  // small body go out as one TLS record.
  template <typename ConstBufferSequence>
  size_t write_some(const ConstBufferSequence& buffers, beast::error_code& ec) {
    ec = {};
    if (Cancelled()) {
      ec = net::error::operation_aborted;
      return 0;
    }
    const size_t total = net::buffer_size(buffers);
    if (total <= sizeof small_) {
      net::buffer_copy(net::buffer(small_), buffers);
      ec = WriteAll(small_, total);
      return ec ? 0 : total;
    }
    for (auto it = net::buffer_sequence_begin(buffers); it != net::buffer_sequence_end(buffers);
         ++it) {
      const net::const_buffer b(*it);
      if (b.size() == 0) continue;
      ec = WriteAll(static_cast<const uint8_t*>(b.data()), b.size());
      if (ec) return 0;
    }
    return total;
  }
  template <typename ConstBufferSequence>
  size_t write_some(const ConstBufferSequence& buffers) {
    beast::error_code ec;
    size_t n = write_some(buffers, ec);
    if (ec) throw boost::system::system_error(ec);
    return n;
  }

  // Connects a new non-blocking TCP socket to the first of `endpoints` that accepts, by
  // `deadline`; -1 and `ec` if none does.
  static int ConnectTcp(const std::vector<tcp::endpoint>& endpoints,
                        SteadyClock::time_point deadline, int cancel_fd, beast::error_code& ec) {
    ec = net::error::host_not_found;
    for (const tcp::endpoint& e : endpoints) {
      const int fd = ::socket(e.protocol().family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      if (fd < 0) {
        ec = SystemError(errno);
        continue;
      }
      if (::connect(fd, e.data(), static_cast<socklen_t>(e.size())) == 0) {
        ec = {};
        return fd;
      }
      if (errno != EINPROGRESS) {
        ec = SystemError(errno);
        ::close(fd);
        continue;
      }
      ec = WaitFor(fd, POLLOUT, deadline, cancel_fd);
      if (!ec) {
        int err = 0;
        socklen_t len = sizeof err;
        if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
        if (err == 0) return fd;
        ec = SystemError(err);
      }
      ::close(fd);
      // A deadline or a cancel ends the attempt; a refusal tries the next address.
      if (ec == beast::error::timeout || ec == net::error::operation_aborted) return -1;
    }
    return -1;
  }

 private:
  static beast::error_code SystemError(int err) {
    return beast::error_code(err, boost::system::system_category());
  }

  // Until `fd` is ready for `events`, `deadline` passes (timeout) or `cancel_fd` becomes
  // readable (operation_aborted).
  static beast::error_code WaitFor(int fd, short events, SteadyClock::time_point deadline,
                                   int cancel_fd) {
    for (;;) {
      int timeout_ms = -1;
      if (deadline != SteadyClock::time_point::max()) {
        const auto left = deadline - SteadyClock::now();
        if (left <= SteadyClock::duration::zero()) return beast::error::timeout;
        // Rounded up, so that a wait never ends a little before its deadline and spins.
        timeout_ms = static_cast<int>(std::min<int64_t>(
            std::chrono::ceil<std::chrono::milliseconds>(left).count(), 1 << 30));
      }
      pollfd fds[2] = {{fd, events, 0}, {cancel_fd, POLLIN, 0}};
      const int n = ::poll(fds, cancel_fd >= 0 ? 2 : 1, timeout_ms);
      if (n < 0) {
        if (errno == EINTR) continue;
        return SystemError(errno);
      }
      if (cancel_fd >= 0 && (fds[1].revents & POLLIN)) return net::error::operation_aborted;
      // An error or hang-up is ready too: the next call on the socket says what happened.
      if (fds[0].revents != 0) return {};
    }
  }

  // After an SSL call that returned `r` (not success): waits for what it needs and returns no
  // error, so that the caller tries again, or returns why it cannot go on.
  beast::error_code Wait(int r) {
    const int err = SSL_get_error(ssl_, r);
    switch (err) {
      case SSL_ERROR_WANT_READ:
        ERR_clear_error();
        return WaitFor(fd_, POLLIN, deadline_, cancel_fd_);
      case SSL_ERROR_WANT_WRITE:
        ERR_clear_error();
        return WaitFor(fd_, POLLOUT, deadline_, cancel_fd_);
      case SSL_ERROR_ZERO_RETURN:
        ERR_clear_error();
        return net::error::eof;
      case SSL_ERROR_SYSCALL: {
        const int saved = errno;
        ERR_clear_error();
        return saved != 0 ? SystemError(saved) : beast::error_code(net::error::eof);
      }
      default: {
        // As Asio's SSL stream reports it: the first error OpenSSL queued.
        const unsigned long first = ERR_get_error();
        ERR_clear_error();
        if (first == 0) return net::error::connection_reset;
        return beast::error_code(static_cast<int>(first), net::error::get_ssl_category());
      }
    }
  }

  bool Cancelled() const { return cancel_ && cancel_->cancelled(); }

  beast::error_code WriteAll(const uint8_t* data, size_t size) {
    size_t done = 0;
    while (done < size) {
      if (Cancelled()) return net::error::operation_aborted;
      size_t n = 0;
      const int r = SSL_write_ex(ssl_, data + done, size - done, &n);
      if (r == 1) {
        done += n;
        continue;
      }
      if (beast::error_code ec = Wait(r); ec) return ec;
    }
    return {};
  }

  int fd_;
  SSL* ssl_;
  int cancel_fd_;
  const ClientCancel* cancel_;  // may be null; not owned
  SteadyClock::time_point deadline_ = SteadyClock::time_point::max();
  uint8_t small_[16 * 1024];
};

// OpenSSL's socket BIO writes with write(), which raises SIGPIPE on a connection the other end
// has closed and kills a process that did not ignore it (`serve`, for a peer that went away
// during a pull). This one sends with MSG_NOSIGNAL, as Asio does: the failure is an EPIPE that
// the caller reports. Its descriptor is its data; the TlsSocket owns and closes it.
int SocketOf(BIO* bio) { return static_cast<int>(reinterpret_cast<intptr_t>(BIO_get_data(bio))); }

bool WouldBlock(int err) { return err == EAGAIN || err == EWOULDBLOCK || err == EINTR; }

int NoSignalWrite(BIO* bio, const char* data, int size) {
  BIO_clear_retry_flags(bio);
  const ssize_t n = ::send(SocketOf(bio), data, static_cast<size_t>(size), MSG_NOSIGNAL);
  if (n < 0 && WouldBlock(errno)) BIO_set_retry_write(bio);
  return static_cast<int>(n);
}

int NoSignalRead(BIO* bio, char* data, int size) {
  BIO_clear_retry_flags(bio);
  const ssize_t n = ::recv(SocketOf(bio), data, static_cast<size_t>(size), 0);
  if (n < 0 && WouldBlock(errno)) BIO_set_retry_read(bio);
  return static_cast<int>(n);
}

long NoSignalCtrl(BIO*, int cmd, long, void*) { return cmd == BIO_CTRL_FLUSH ? 1 : 0; }

const BIO_METHOD* NoSignalSocketMethod() {
  static const BIO_METHOD* method = [] {
    BIO_METHOD* m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "khronika socket");
    if (!m || BIO_meth_set_write(m, NoSignalWrite) != 1 ||
        BIO_meth_set_read(m, NoSignalRead) != 1 || BIO_meth_set_ctrl(m, NoSignalCtrl) != 1) {
      std::abort();  // allocation failure at start-up
    }
    return m;
  }();
  return method;
}

// A BIO over `fd` that never raises SIGPIPE; nullptr if out of memory.
BIO* NoSignalSocketBio(int fd) {
  BIO* bio = BIO_new(NoSignalSocketMethod());
  if (!bio) return nullptr;
  BIO_set_data(bio, reinterpret_cast<void*>(static_cast<intptr_t>(fd)));
  BIO_set_init(bio, 1);
  return bio;
}

struct SslCtxFree {
  void operator()(SSL_CTX* ctx) const { SSL_CTX_free(ctx); }
};

// OpenSSL's reason for the last failure, as Asio's SSL errors read ("no such file (system
// library)"), and the queue emptied.
std::string OpenSslError() {
  const unsigned long first = ERR_get_error();
  ERR_clear_error();
  if (first == 0) return "unknown error";
  return beast::error_code(static_cast<int>(first), net::error::get_ssl_category()).message();
}

}  // namespace

void ClientCancel::Cancel() {
  std::lock_guard lock(mu_);
  cancelled_ = true;
  for (const auto& [id, wake] : watchers_) wake();
}

bool ClientCancel::cancelled() const {
  std::lock_guard lock(mu_);
  return cancelled_;
}

uint64_t ClientCancel::Watch(std::function<void()> wake) {
  std::lock_guard lock(mu_);
  watchers_.emplace(next_id_, std::move(wake));
  return next_id_++;
}

void ClientCancel::Unwatch(uint64_t id) {
  std::lock_guard lock(mu_);
  watchers_.erase(id);
}

// Every read and write runs on this thread, synchronously, on a TlsSocket whose waits end at
// the deadline armed for them or at a cancel.
struct HttpsClient::Impl {
  ClientOptions options;
  Url url;
  std::unique_ptr<SSL_CTX, SslCtxFree> ctx{SSL_CTX_new(TLS_client_method())};
  std::unique_ptr<TlsSocket> stream;
  beast::flat_buffer buffer;
  // Readable once a cancel has come: every wait watches it (and, never drained, it stays so).
  int cancel_fd = -1;
  std::optional<uint64_t> watch;
  // Which deadline the operation armed last runs against, for the text of its timeout. Arm()
  // runs for every read of a download, so the text is made only when a deadline passes.
  enum class Late { kConnect, kRequest, kIdle } late = Late::kConnect;

  std::string LateText() const {
    switch (late) {
      case Late::kConnect: return "no answer within " + Duration(options.deadlines.connect);
      case Late::kRequest:
        return "the whole request took longer than " + Duration(options.deadlines.request);
      case Late::kIdle: break;
    }
    return "nothing received or sent for " + Duration(options.deadlines.idle);
  }

  ~Impl() {
    // First, so that no Cancel() reaches into what is being destroyed.
    if (watch) options.cancel->Unwatch(*watch);
    stream.reset();
    if (cancel_fd >= 0) ::close(cancel_fd);
  }

  Status WatchCancel() {
    if (!options.cancel) return Status::Ok();
    cancel_fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (cancel_fd < 0) return Status::IOError(std::string("eventfd: ") + std::strerror(errno));
    const int fd = cancel_fd;
    watch = options.cancel->Watch([fd] {
      // On the cancelling thread: the wait on this client's thread wakes and gives up.
      const uint64_t one = 1;
      [[maybe_unused]] ssize_t n = ::write(fd, &one, sizeof one);
    });
    return Status::Ok();
  }

  bool Cancelled() const { return options.cancel && options.cancel->cancelled(); }

  // Why a step failed; the connection is dropped (a later request opens a new one).
  Status Failed(const std::string& what, beast::error_code ec) {
    stream.reset();
    buffer.clear();
    if (Cancelled()) return Status::IOError(what + ": cancelled");
    if (ec == beast::error::timeout) return Status::IOError(what + ": " + LateText());
    return Status::IOError(what + ": " + ec.message());
  }

  // The deadline of the next read or write: `idle` from now, or the end of the whole request if
  // that comes first.
  void Arm(SteadyClock::time_point request_end) {
    const auto idle_end = SteadyClock::now() + options.deadlines.idle;
    if (request_end < idle_end) {
      late = Late::kRequest;
      stream->expires_at(request_end);
    } else {
      late = Late::kIdle;
      stream->expires_at(idle_end);
    }
  }

  SteadyClock::time_point RequestEnd() const {
    if (options.deadlines.request.count() <= 0) return SteadyClock::time_point::max();
    return SteadyClock::now() + options.deadlines.request;
  }

  Status Open() {
    stream.reset();
    buffer.clear();
    const std::string connecting = "connect to " + options.url;
    if (Cancelled()) return Status::IOError(connecting + ": cancelled");
    // One deadline for the name, the TCP connection and the TLS handshake.
    const auto deadline = SteadyClock::now() + options.deadlines.connect;
    late = Late::kConnect;
    KH_ASSIGN_OR_RETURN(std::vector<tcp::endpoint> endpoints,
                        Resolve(url, deadline, options.cancel, LateText()));
    beast::error_code ec;
    const int fd = TlsSocket::ConnectTcp(endpoints, deadline, cancel_fd, ec);
    if (fd < 0) return Failed(connecting, ec);
    const int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    SSL* ssl = SSL_new(ctx.get());
    if (!ssl) {
      ::close(fd);
      return Status::IOError("TLS with " + options.url + ": " + OpenSslError());
    }
    stream = std::make_unique<TlsSocket>(fd, ssl, cancel_fd, options.cancel);
    BIO* bio = NoSignalSocketBio(fd);
    if (!bio) {
      stream.reset();
      return Status::IOError("TLS with " + options.url + ": " + OpenSslError());
    }
    SSL_set_bio(ssl, bio, bio);  // the SSL owns it now
    if (SSL_set_tlsext_host_name(ssl, url.host.c_str()) != 1) {
      stream.reset();
      return Status::IOError("TLS with " + options.url + ": " + OpenSslError());
    }
    if (options.pin_sha256.empty()) {
      // The chain against the CAs, and the name (or address) in the URL against the
      // certificate's.
      SSL_set_verify(ssl, SSL_VERIFY_PEER, nullptr);
      boost::system::error_code not_ip;
      net::ip::make_address(url.host, not_ip);
      const int named = not_ip ? SSL_set1_host(ssl, url.host.c_str())
                               : X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl),
                                                               url.host.c_str());
      if (named != 1) {
        stream.reset();
        return Status::IOError("TLS with " + options.url + ": " + OpenSslError());
      }
    } else {
      // A pinned self-signed certificate: the chain cannot verify, so accept it here and
      // compare the fingerprint below, before any request is sent.
      SSL_set_verify(ssl, SSL_VERIFY_PEER, [](int, X509_STORE_CTX*) { return 1; });
    }
    // Records read ahead in one socket read, and taken by read_some without another.
    SSL_set_read_ahead(ssl, 1);
    stream->expires_at(deadline);
    ec = stream->Handshake();
    if (ec) return Failed("TLS handshake with " + options.url, ec);
    if (!options.pin_sha256.empty()) {
      std::string seen = PeerCertificateSha256(ssl);
      if (seen.empty()) {
        stream.reset();
        return Status::PermissionDenied("the node presented no certificate");
      }
      if (!ConstantTimeEqual(AsBytes(seen), AsBytes(options.pin_sha256))) {
        stream.reset();
        return Status::PermissionDenied("the node's certificate sha256:" + seen +
                                        " does not match the pinned sha256:" + options.pin_sha256);
      }
    }
    return Status::Ok();
  }

  template <typename Request>
  void Prepare(Request& req, const std::map<std::string, std::string>& headers) {
    req.set(http::field::host, url.host);
    req.set(http::field::user_agent, "khronika");
    if (!options.token.empty()) req.set(http::field::authorization, "Bearer " + options.token);
    for (const auto& [k, v] : headers) req.set(k, v);
  }

  // Sends `req` piece by piece, each write with its deadline, reopening the connection once if
  // the server had closed it while idle.
  template <typename Body>
  Status Send(http::request<Body>& req, SteadyClock::time_point request_end,
              const std::string& what) {
    for (int attempt = 0; attempt < 2; ++attempt) {
      const bool reused = stream != nullptr;
      if (!stream) KH_RETURN_IF_ERROR(Open());
      http::request_serializer<Body> serializer(req);
      beast::error_code ec;
      while (!ec && !serializer.is_done()) {
        Arm(request_end);
        http::write_some(*stream, serializer, ec);
      }
      if (!ec) return Status::Ok();
      // A connection that sat idle may have been closed by the server: that is worth one more
      // try on a new one; a deadline or a cancel is not.
      if (!reused || ec == beast::error::timeout || Cancelled()) {
        return Failed("send " + what + " to " + options.url, ec);
      }
      stream.reset();
    }
    return Status::IOError("unreachable");
  }

  // Reads what arrives next into `parser`, with the deadline of one read.
  template <typename Parser>
  Status ReadSome(Parser& parser, SteadyClock::time_point request_end, const std::string& what) {
    Arm(request_end);
    beast::error_code ec;
    http::read_some(*stream, buffer, parser, ec);
    if (ec == http::error::need_buffer) ec = {};  // a buffer_body's buffer is full
    if (ec) return Failed(what + " from " + options.url, ec);
    return Status::Ok();
  }

  static void CopyHeaders(const http::fields& fields, HttpResult& out) {
    for (const auto& f : fields) {
      std::string name(f.name_string());
      for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      out.headers[name] = std::string(f.value());
    }
  }
};

HttpsClient::HttpsClient(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
HttpsClient::~HttpsClient() = default;

Result<std::unique_ptr<HttpsClient>> HttpsClient::Connect(const ClientOptions& options) {
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  KH_ASSIGN_OR_RETURN(impl->url, ParseUrl(options.url));
  SSL_CTX* ctx = impl->ctx.get();
  if (!ctx) return Status::IOError("TLS: " + OpenSslError());
  KH_RETURN_IF_ERROR(RestrictToTls13Aead(ctx));  // as the server
  // A peer that closes without close_notify ends the stream (EOF); Beast then tells a cut
  // answer from a whole one by its length.
  SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
  SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                            SSL_MODE_RELEASE_BUFFERS);
  // Room for several records in one read ahead.
  SSL_CTX_set_default_read_buffer_len(ctx, 64 * 1024);
  if (!options.client_cert.empty()) {
    if (SSL_CTX_use_certificate_chain_file(ctx, options.client_cert.c_str()) != 1 ||
        SSL_CTX_use_PrivateKey_file(ctx, options.client_key.c_str(), SSL_FILETYPE_PEM) != 1) {
      return Status::InvalidArgument("client certificate: " + OpenSslError());
    }
  }
  if (options.pin_sha256.empty() && options.ca_file.empty() && options.system_cas) {
    if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
      return Status::InvalidArgument("the system's CAs: " + OpenSslError());
    }
  } else if (options.pin_sha256.empty()) {
    if (options.ca_file.empty()) {
      return Status::InvalidArgument(
          "say how to trust the node: --pin sha256:FINGERPRINT (printed by `khronika serve`) "
          "or --cacert FILE");
    }
    if (SSL_CTX_load_verify_locations(ctx, options.ca_file.c_str(), nullptr) != 1) {
      return Status::InvalidArgument("CA file " + options.ca_file + ": " + OpenSslError());
    }
  }
  KH_RETURN_IF_ERROR(impl->WatchCancel());
  KH_RETURN_IF_ERROR(impl->Open());
  return std::unique_ptr<HttpsClient>(new HttpsClient(std::move(impl)));
}

Result<HttpResult> HttpsClient::Request(const std::string& method, const std::string& target,
                                        const std::string& body, const std::string& content_type,
                                        const std::map<std::string, std::string>& headers) {
  return RequestBytes(method, target, AsBytes(body), content_type, headers);
}

namespace {

// Sends one request whose body is the caller's bytes and reads the whole answer into a
// `ResponseBody` (a string, or bytes), with the request's deadline.
template <typename ResponseBody>
Result<http::response<ResponseBody>> Exchange(HttpsClient::Impl& impl, const std::string& method,
                                              const std::string& target, ByteView body,
                                              const std::string& content_type,
                                              const std::map<std::string, std::string>& headers) {
  // A buffer_body points at the caller's bytes: a 1 MiB chunk goes from the file's read buffer
  // to TLS without a copy into the request.
  http::request<http::buffer_body> req(http::string_to_verb(method), target, 11);
  impl.Prepare(req, headers);
  req.body().data = body.empty() ? nullptr : const_cast<uint8_t*>(body.data());  // only read
  req.body().size = body.size();
  req.body().more = false;
  if (!body.empty() || method == "POST" || method == "PUT") {
    req.set(http::field::content_type, content_type);
    req.content_length(body.size());
  }
  const std::string what = method + " " + target;
  const auto end = impl.RequestEnd();
  KH_RETURN_IF_ERROR(impl.Send(req, end, what));
  http::response_parser<ResponseBody> parser;
  parser.body_limit(kMaxBufferedResponse);
  while (!parser.is_done()) KH_RETURN_IF_ERROR(impl.ReadSome(parser, end, what));
  if (!parser.get().keep_alive()) impl.stream.reset();
  return parser.release();
}

}  // namespace

Result<HttpResult> HttpsClient::RequestBytes(const std::string& method, const std::string& target,
                                             ByteView body, const std::string& content_type,
                                             const std::map<std::string, std::string>& headers) {
  KH_ASSIGN_OR_RETURN(auto res, Exchange<http::string_body>(*impl_, method, target, body,
                                                            content_type, headers));
  HttpResult out;
  out.status = static_cast<int>(res.result_int());
  Impl::CopyHeaders(res.base(), out);
  out.body = std::move(res.body());
  return out;
}

Result<HttpResult> HttpsClient::RequestForBytes(const std::string& method,
                                                const std::string& target, ByteView body,
                                                Bytes& answer, const std::string& content_type,
                                                const std::map<std::string, std::string>& headers) {
  KH_ASSIGN_OR_RETURN(auto res, Exchange<http::vector_body<uint8_t>>(*impl_, method, target, body,
                                                                     content_type, headers));
  HttpResult out;
  out.status = static_cast<int>(res.result_int());
  Impl::CopyHeaders(res.base(), out);
  answer = std::move(res.body());
  // An error's text, for ErrorMessage.
  if (out.status >= 400) out.body.assign(AsChars(answer).substr(0, 64 * 1024));
  return out;
}

Result<HttpResult> HttpsClient::Download(const std::string& target,
                                         const std::function<Status(ByteView)>& sink,
                                         const std::map<std::string, std::string>& headers) {
  return DownloadPieces(
      target, 256 * 1024, [&](Bytes& piece) { return sink(piece); }, headers);
}

Result<HttpResult> HttpsClient::DownloadPieces(const std::string& target, size_t piece_size,
                                               const std::function<Status(Bytes&)>& sink,
                                               const std::map<std::string, std::string>& headers) {
  http::request<http::empty_body> req(http::verb::get, target, 11);
  impl_->Prepare(req, headers);
  const std::string what = "GET " + target;
  // No limit on the whole transfer, only on each read (ClientDeadlines::idle).
  const auto end = SteadyClock::time_point::max();
  KH_RETURN_IF_ERROR(impl_->Send(req, end, what));
  http::response_parser<http::buffer_body> parser;
  // Not boost::none: Beast 1.74 compares the length against an empty optional as "exceeded".
  parser.body_limit(std::numeric_limits<std::uint64_t>::max());
  piece_size = std::max<size_t>(piece_size, 1);
  Bytes buf;
  // Until the head is parsed, any body bytes that came with it wait in the read buffer.
  parser.get().body().data = nullptr;
  parser.get().body().size = 0;
  while (!parser.is_header_done()) KH_RETURN_IF_ERROR(impl_->ReadSome(parser, end, what));
  HttpResult out;
  out.status = static_cast<int>(parser.get().result_int());
  Impl::CopyHeaders(parser.get().base(), out);
  bool ok_status = out.status == 200 || out.status == 206;
  while (!parser.is_done()) {
    // The sink may have kept the last buffer and handed back another (or none).
    buf.resize(piece_size);
    parser.get().body().data = buf.data();
    parser.get().body().size = buf.size();
    // Fill the buffer (or reach the end), each read with its own deadline.
    while (!parser.is_done() && parser.get().body().size > 0) {
      KH_RETURN_IF_ERROR(impl_->ReadSome(parser, end, what));
    }
    buf.resize(buf.size() - parser.get().body().size);
    if (buf.empty()) continue;
    if (ok_status) {
      Status st = sink(buf);
      if (!st.ok()) {
        impl_->stream.reset();
        return st;
      }
    } else if (out.body.size() < 64 * 1024) {
      out.body.append(reinterpret_cast<const char*>(buf.data()), buf.size());
    }
  }
  if (!parser.get().keep_alive()) impl_->stream.reset();
  return out;
}

std::string ErrorMessage(const HttpResult& result) {
  auto j = nlohmann::json::parse(result.body, nullptr, false);
  if (j.is_object() && j.contains("message") && j["message"].is_string()) {
    return "HTTP " + std::to_string(result.status) + ": " + j["message"].get<std::string>();
  }
  return "HTTP " + std::to_string(result.status) + ": " + result.body.substr(0, 200);
}

}  // namespace khronika
