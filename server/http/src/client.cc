#include "khronika/http/client.h"

#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <limits>

#include <boost/asio/connect.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <nlohmann/json.hpp>

#include "khronika/http/tls.h"
#include "khronika/schemas/crypto.h"

namespace khronika {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
namespace ssl = net::ssl;
using tcp = net::ip::tcp;

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
  if (out.host.empty() || out.port.empty()) return Status::InvalidArgument("bad node URL '" + url + "'");
  return out;
}

}  // namespace

struct HttpsClient::Impl {
  ClientOptions options;
  Url url;
  net::io_context ioc;
  ssl::context ctx{ssl::context::tls_client};
  std::unique_ptr<beast::ssl_stream<beast::tcp_stream>> stream;
  beast::flat_buffer buffer;

  Status Open() {
    stream = std::make_unique<beast::ssl_stream<beast::tcp_stream>>(ioc, ctx);
    buffer.clear();
    SSL_set_tlsext_host_name(stream->native_handle(), url.host.c_str());
    beast::error_code ec;
    tcp::resolver resolver(ioc);
    auto results = resolver.resolve(url.host, url.port, ec);
    if (ec) return Status::IOError("resolve " + url.host + ": " + ec.message());
    // Asynchronous so that the deadline holds: a blocking connect to an unreachable address
    // would wait for the kernel's SYN retries (minutes).
    beast::get_lowest_layer(*stream).expires_after(std::chrono::seconds(30));
    ec = net::error::would_block;
    beast::get_lowest_layer(*stream).async_connect(
        results, [&ec](beast::error_code e, const tcp::endpoint&) { ec = e; });
    ioc.restart();
    ioc.run();
    if (ec) return Status::IOError("connect to " + options.url + ": " + ec.message());
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
    stream->handshake(ssl::stream_base::client, ec);
    if (ec) return Status::IOError("TLS handshake with " + options.url + ": " + ec.message());
    if (!options.pin_sha256.empty()) {
      std::string seen = PeerCertificateSha256(stream->native_handle());
      if (seen.empty()) return Status::PermissionDenied("the node presented no certificate");
      if (!ConstantTimeEqual(AsBytes(seen), AsBytes(options.pin_sha256))) {
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

  // Sends `req`, reopening the connection once if the server had closed it while idle.
  template <typename Request>
  Status Send(Request& req) {
    for (int attempt = 0; attempt < 2; ++attempt) {
      if (!stream) KH_RETURN_IF_ERROR(Open());
      beast::error_code ec;
      beast::get_lowest_layer(*stream).expires_after(std::chrono::minutes(10));
      http::write(*stream, req, ec);
      if (!ec) return Status::Ok();
      stream.reset();
      if (attempt == 1) return Status::IOError("send to " + options.url + ": " + ec.message());
    }
    return Status::IOError("unreachable");
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
  if (options.pin_sha256.empty()) {
    if (options.ca_file.empty()) {
      return Status::InvalidArgument(
          "say how to trust the node: --pin sha256:FINGERPRINT (printed by `khronika serve`) "
          "or --cacert FILE");
    }
    beast::error_code ec;
    impl->ctx.load_verify_file(options.ca_file, ec);
    if (ec) return Status::InvalidArgument("CA file " + options.ca_file + ": " + ec.message());
  }
  KH_RETURN_IF_ERROR(impl->Open());
  return std::unique_ptr<HttpsClient>(new HttpsClient(std::move(impl)));
}

Result<HttpResult> HttpsClient::Request(const std::string& method, const std::string& target,
                                        const std::string& body, const std::string& content_type,
                                        const std::map<std::string, std::string>& headers) {
  http::request<http::string_body> req(http::string_to_verb(method), target, 11);
  impl_->Prepare(req, headers);
  if (!body.empty() || method == "POST" || method == "PUT") {
    req.set(http::field::content_type, content_type);
    req.body() = body;
  }
  req.prepare_payload();
  KH_RETURN_IF_ERROR(impl_->Send(req));
  http::response_parser<http::string_body> parser;
  parser.body_limit(kMaxBufferedResponse);
  beast::error_code ec;
  http::read(*impl_->stream, impl_->buffer, parser, ec);
  if (ec) {
    impl_->stream.reset();
    return Status::IOError(method + " " + target + ": " + ec.message());
  }
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
  http::request<http::empty_body> req(http::verb::get, target, 11);
  impl_->Prepare(req, headers);
  KH_RETURN_IF_ERROR(impl_->Send(req));
  http::response_parser<http::buffer_body> parser;
  // Not boost::none: Beast 1.74 compares the length against an empty optional as "exceeded".
  parser.body_limit(std::numeric_limits<std::uint64_t>::max());
  beast::error_code ec;
  auto& stream = *impl_->stream;
  http::read_header(stream, impl_->buffer, parser, ec);
  if (ec) {
    impl_->stream.reset();
    return Status::IOError("GET " + target + ": " + ec.message());
  }
  HttpResult out;
  out.status = static_cast<int>(parser.get().result_int());
  Impl::CopyHeaders(parser.get().base(), out);
  bool ok_status = out.status == 200 || out.status == 206;
  std::vector<uint8_t> buf(256 * 1024);
  while (!parser.is_done()) {
    parser.get().body().data = buf.data();
    parser.get().body().size = buf.size();
    http::read(stream, impl_->buffer, parser, ec);
    if (ec == http::error::need_buffer) ec = {};
    if (ec) {
      impl_->stream.reset();
      return Status::IOError("GET " + target + ": " + ec.message());
    }
    size_t n = buf.size() - parser.get().body().size;
    if (ok_status) {
      Status st = sink(ByteView(buf.data(), n));
      if (!st.ok()) {
        impl_->stream.reset();
        return st;
      }
    } else if (out.body.size() < 64 * 1024) {
      out.body.append(reinterpret_cast<const char*>(buf.data()), n);
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
