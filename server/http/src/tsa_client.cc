#include "khronika/http/tsa_client.h"

#include <openssl/ssl.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <optional>

#include "khronika/timestamp/rfc3161.h"

namespace khronika {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
namespace ssl = net::ssl;
using tcp = net::ip::tcp;

bool HostChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '-' || c == ':';
}

}  // namespace

Result<TsaUrl> ParseTsaUrl(std::string_view url) {
  TsaUrl out;
  auto bad = [&](const std::string& why) {
    return Status::InvalidArgument("TSA URL '" + std::string(url.substr(0, 200)) + "': " + why);
  };
  if (url.size() > 2048) return bad("longer than 2048 bytes");
  std::string_view rest;
  if (url.substr(0, 8) == "https://") {
    out.https = true;
    rest = url.substr(8);
  } else if (url.substr(0, 7) == "http://") {
    rest = url.substr(7);
  } else {
    return bad("must start with https:// or http://");
  }
  size_t slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  out.target = slash == std::string_view::npos ? "/" : std::string(rest.substr(slash));
  for (char c : out.target) {
    unsigned char u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7f || c == '#') {
      return bad("the path has a space, a control byte, '#' or a byte beyond ASCII");
    }
  }
  if (authority.find('@') != std::string_view::npos) return bad("no user information allowed");
  if (!authority.empty() && authority.front() == '[') {
    size_t close = authority.find(']');
    if (close == std::string_view::npos) return bad("unclosed IPv6 address");
    out.host = std::string(authority.substr(1, close - 1));
    std::string_view after = authority.substr(close + 1);
    if (!after.empty() && after.front() != ':') return bad("junk after the IPv6 address");
    out.port = after.empty() ? "" : std::string(after.substr(1));
  } else {
    size_t colon = authority.rfind(':');
    out.host = std::string(authority.substr(0, colon));
    out.port = colon == std::string_view::npos ? "" : std::string(authority.substr(colon + 1));
    if (out.host.find(':') != std::string::npos) return bad("an IPv6 address needs brackets");
  }
  if (out.port.empty()) out.port = out.https ? "443" : "80";
  if (out.host.empty()) return bad("no host");
  for (char c : out.host) {
    if (!HostChar(c)) return bad("the host has a character other than letters, digits, '.', '-'");
  }
  if (out.port.size() > 5 || out.port.find_first_not_of("0123456789") != std::string::npos ||
      std::stoul(out.port) == 0 || std::stoul(out.port) > 65535) {
    return bad("the port must be 1 to 65535");
  }
  return out;
}

void TsaCancel::Cancel() {
  std::lock_guard lock(mu_);
  cancelled_ = true;
  for (void* ioc : running_) static_cast<net::io_context*>(ioc)->stop();
}

bool TsaCancel::cancelled() const {
  std::lock_guard lock(mu_);
  return cancelled_;
}

bool TsaCancel::Watch(void* io_context) {
  std::lock_guard lock(mu_);
  if (cancelled_) return false;
  running_.insert(io_context);
  return true;
}

void TsaCancel::Unwatch(void* io_context) {
  std::lock_guard lock(mu_);
  running_.erase(io_context);
}

Result<Bytes> PostTimestampQuery(const TsaUrl& url, ByteView query,
                                 std::chrono::milliseconds deadline, TsaCancel* cancel) {
  const std::string where = std::string(url.https ? "https://" : "http://") + url.host + ":" +
                            url.port + url.target;
  // Every step is asynchronous on an io_context of this call, run for at most `deadline`: a TSA
  // that accepts and then says nothing is left when the time is up, and Cancel stops the
  // context from another thread. The streams die before the context (declared after it).
  net::io_context ioc;
  std::optional<ssl::context> tls;
  if (url.https) {
    tls.emplace(ssl::context::tls_client);
    tls->set_default_verify_paths();
    tls->set_verify_mode(ssl::verify_peer);
  }
  tcp::resolver resolver(ioc);
  beast::tcp_stream plain(ioc);
  std::optional<beast::ssl_stream<beast::tcp_stream>> secure;
  if (url.https) {
    secure.emplace(ioc, *tls);
    if (SSL_set_tlsext_host_name(secure->native_handle(), url.host.c_str()) != 1 ||
        SSL_set1_host(secure->native_handle(), url.host.c_str()) != 1) {
      return Status::IOError(where + ": setting the TLS host name failed");
    }
  }
  beast::tcp_stream& tcp_layer = url.https ? beast::get_lowest_layer(*secure) : plain;

  http::request<http::vector_body<uint8_t>> req{http::verb::post, url.target, 11};
  req.set(http::field::host, url.host);
  req.set(http::field::content_type, "application/timestamp-query");
  req.set(http::field::accept, "application/timestamp-reply");
  req.set(http::field::user_agent, "khronika");
  req.set(http::field::connection, "close");
  req.body().assign(query.begin(), query.end());
  req.prepare_payload();
  beast::flat_buffer buffer;
  http::response_parser<http::vector_body<uint8_t>> parser;
  parser.header_limit(16 * 1024);
  parser.body_limit(kMaxTimestampBytes);

  Status status = Status::IOError(where + ": no answer within " +
                                  std::to_string(deadline.count()) + " ms");
  bool finished = false;
  auto fail = [&](const char* step, beast::error_code ec) {
    status = Status::IOError(where + ": " + step + ": " + ec.message());
    finished = true;
  };
  auto on_read = [&](beast::error_code ec, size_t) {
    if (ec) return fail("reading the answer", ec);
    finished = true;
    auto& res = parser.get();
    if (res.result_int() != 200) {
      status = Status::IOError(where + ": HTTP " + std::to_string(res.result_int()));
      return;
    }
    status = Status::Ok();
  };
  auto on_write = [&](beast::error_code ec, size_t) {
    if (ec) return fail("sending the query", ec);
    if (url.https) {
      http::async_read(*secure, buffer, parser, on_read);
    } else {
      http::async_read(plain, buffer, parser, on_read);
    }
  };
  auto send = [&]() {
    if (url.https) {
      http::async_write(*secure, req, on_write);
    } else {
      http::async_write(plain, req, on_write);
    }
  };
  auto on_connect = [&](beast::error_code ec, const tcp::endpoint&) {
    if (ec) return fail("connecting", ec);
    if (!url.https) return send();
    secure->async_handshake(ssl::stream_base::client, [&](beast::error_code ec2) {
      if (ec2) return fail("TLS handshake", ec2);
      send();
    });
  };
  resolver.async_resolve(url.host, url.port, [&](beast::error_code ec,
                                                 tcp::resolver::results_type results) {
    if (ec) return fail("resolving the host", ec);
    tcp_layer.async_connect(results, on_connect);
  });
  if (cancel != nullptr && !cancel->Watch(&ioc)) return Status::IOError(where + ": cancelled");
  ioc.run_for(deadline);
  if (cancel != nullptr) cancel->Unwatch(&ioc);
  if (!finished) {
    if (cancel != nullptr && cancel->cancelled()) return Status::IOError(where + ": cancelled");
    return status;
  }
  KH_RETURN_IF_ERROR(status);
  return std::move(parser.get().body());
}

}  // namespace khronika
