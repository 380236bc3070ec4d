#include "khronika/http/client.h"

#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <charconv>
#include <condition_variable>
#include <cstdio>
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
namespace ssl = net::ssl;
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

// Every operation runs asynchronously on the client's own io_context, which this thread runs
// until the operation completes: Beast's deadlines (tcp_stream::expires_at) hold only for
// asynchronous operations, and a synchronous read on a blocking socket would wait for ever.
struct HttpsClient::Impl {
  ClientOptions options;
  Url url;
  net::io_context ioc;
  ssl::context ctx{ssl::context::tls_client};
  std::unique_ptr<beast::ssl_stream<beast::tcp_stream>> stream;
  beast::flat_buffer buffer;
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
  }

  void WatchCancel() {
    if (!options.cancel) return;
    watch = options.cancel->Watch([this] {
      // On the cancelling thread: hand the work to the loop that owns the stream. Closing the
      // socket ends the operation waiting on it.
      net::post(ioc, [this] {
        if (stream) beast::get_lowest_layer(*stream).close();
      });
    });
  }

  bool Cancelled() const { return options.cancel && options.cancel->cancelled(); }

  // Runs the operation that `start` begins until it completes, on this thread. Its deadline is
  // the stream's expiry, which the caller has set.
  template <typename Start>
  beast::error_code Run(Start&& start) {
    auto result = std::make_shared<std::optional<beast::error_code>>();
    start([result](beast::error_code ec, auto&&...) { *result = ec; });
    ioc.restart();
    ioc.run();
    return result->value_or(net::error::operation_aborted);
  }

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
      beast::get_lowest_layer(*stream).expires_at(request_end);
    } else {
      late = Late::kIdle;
      beast::get_lowest_layer(*stream).expires_at(idle_end);
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
    stream = std::make_unique<beast::ssl_stream<beast::tcp_stream>>(ioc, ctx);
    SSL_set_tlsext_host_name(stream->native_handle(), url.host.c_str());
    beast::get_lowest_layer(*stream).expires_at(deadline);
    beast::error_code ec = Run([&](auto handler) {
      beast::get_lowest_layer(*stream).async_connect(endpoints, std::move(handler));
    });
    if (ec) return Failed(connecting, ec);
    beast::get_lowest_layer(*stream).socket().set_option(tcp::no_delay(true), ec);
    if (options.pin_sha256.empty()) {
      stream->set_verify_mode(ssl::verify_peer);
      stream->set_verify_callback(ssl::host_name_verification(url.host));
    } else {
      // A pinned self-signed certificate: the chain cannot verify, so accept it here and
      // compare the fingerprint below, before any request is sent.
      stream->set_verify_mode(ssl::verify_peer);
      stream->set_verify_callback([](bool, ssl::verify_context&) { return true; });
    }
    beast::get_lowest_layer(*stream).expires_at(deadline);
    ec = Run([&](auto handler) {
      stream->async_handshake(ssl::stream_base::client, std::move(handler));
    });
    if (ec) return Failed("TLS handshake with " + options.url, ec);
    if (!options.pin_sha256.empty()) {
      std::string seen = PeerCertificateSha256(stream->native_handle());
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
        ec = Run(
            [&](auto handler) { http::async_write_some(*stream, serializer, std::move(handler)); });
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
    beast::error_code ec = Run(
        [&](auto handler) { http::async_read_some(*stream, buffer, parser, std::move(handler)); });
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
HttpsClient::~HttpsClient() {
  if (impl_->stream) {
    beast::error_code ignored;
    beast::get_lowest_layer(*impl_->stream).socket().shutdown(tcp::socket::shutdown_both, ignored);
  }
}

Result<std::unique_ptr<HttpsClient>> HttpsClient::Connect(const ClientOptions& options) {
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  KH_ASSIGN_OR_RETURN(impl->url, ParseUrl(options.url));
  KH_RETURN_IF_ERROR(RestrictToTls13Aead(impl->ctx.native_handle()));  // as the server
  if (!options.client_cert.empty()) {
    beast::error_code ec;
    impl->ctx.use_certificate_chain_file(options.client_cert, ec);
    if (!ec) impl->ctx.use_private_key_file(options.client_key, ssl::context::pem, ec);
    if (ec) return Status::InvalidArgument("client certificate: " + ec.message());
  }
  if (options.pin_sha256.empty() && options.ca_file.empty() && options.system_cas) {
    beast::error_code ec;
    impl->ctx.set_default_verify_paths(ec);
    if (ec) return Status::InvalidArgument("the system's CAs: " + ec.message());
  } else if (options.pin_sha256.empty()) {
    if (options.ca_file.empty()) {
      return Status::InvalidArgument(
          "say how to trust the node: --pin sha256:FINGERPRINT (printed by `khronika serve`) "
          "or --cacert FILE");
    }
    beast::error_code ec;
    impl->ctx.load_verify_file(options.ca_file, ec);
    if (ec) return Status::InvalidArgument("CA file " + options.ca_file + ": " + ec.message());
  }
  impl->WatchCancel();
  KH_RETURN_IF_ERROR(impl->Open());
  return std::unique_ptr<HttpsClient>(new HttpsClient(std::move(impl)));
}

Result<HttpResult> HttpsClient::Request(const std::string& method, const std::string& target,
                                        const std::string& body, const std::string& content_type,
                                        const std::map<std::string, std::string>& headers) {
  return RequestBytes(method, target, AsBytes(body), content_type, headers);
}

Result<HttpResult> HttpsClient::RequestBytes(const std::string& method, const std::string& target,
                                             ByteView body, const std::string& content_type,
                                             const std::map<std::string, std::string>& headers) {
  // A buffer_body points at the caller's bytes: a 1 MiB chunk goes from the file's read buffer
  // to TLS without a copy into the request.
  http::request<http::buffer_body> req(http::string_to_verb(method), target, 11);
  impl_->Prepare(req, headers);
  req.body().data = body.empty() ? nullptr : const_cast<uint8_t*>(body.data());  // only read
  req.body().size = body.size();
  req.body().more = false;
  if (!body.empty() || method == "POST" || method == "PUT") {
    req.set(http::field::content_type, content_type);
    req.content_length(body.size());
  }
  const std::string what = method + " " + target;
  const auto end = impl_->RequestEnd();
  KH_RETURN_IF_ERROR(impl_->Send(req, end, what));
  http::response_parser<http::string_body> parser;
  parser.body_limit(kMaxBufferedResponse);
  while (!parser.is_done()) KH_RETURN_IF_ERROR(impl_->ReadSome(parser, end, what));
  HttpResult out;
  out.status = static_cast<int>(parser.get().result_int());
  Impl::CopyHeaders(parser.get().base(), out);
  out.body = std::move(parser.get().body());
  if (!parser.get().keep_alive()) impl_->stream.reset();
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
