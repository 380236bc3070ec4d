// libFuzzer target: the HTTP request path, from raw bytes to an API response. The bytes go through
// Beast's request_parser exactly as a session reads them (server.cc: a 16 KiB head limit, the
// route's body limit from Api::BodyLimit, 413 before the body when it is too large, pipelined
// requests on a keep-alive connection), and every complete request goes to Api::Handle on a real
// node (created once, in a temporary folder on tmpfs, so that fsync costs little).
//
// Every response must have a status in 100..599, a JSON error body for 4xx, header names and
// values without CR, LF or NUL, and its streamed body (file content, a court bundle) must be
// readable to its announced end. Any exception escaping Handle aborts (in the server it would
// escape a worker thread and end the process).
//
// Placeholders, so that seeds can reach past authentication although secrets are random:
//   "Authorization: Bearer admin|submitter|reader|auditor" becomes that role's real token
//   (submitter and reader are limited to case-1); "node-origin" in the target becomes the node
//   id and "node-entry" the id of its one entry; a request with an "X-Fuzz-Peer" header arrives
//   with the pinned certificate of a configured peer (as the TLS layer would set it), so the
//   /v1/sync routes are reachable.
// The node holds one entry of case-1 with one file, "what I saw\n", signed by a fixed author key.
// Sealing draws a fresh nonce, so the entry's id (file 0 of it: "/v1/entries/node-entry/files/0/
// content") differs in every run, hence the placeholder (the id is printed at start). With
// HTTP_FUZZ_TRACE=1 set, each request's route and status are printed.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <limits>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/beast/core/error.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>

#include "fuzz_check.h"
#include "khronika/auth/auth.h"
#include "khronika/http/api.h"
#include "khronika/log/node.h"
#include "khronika/replication/roster.h"
#include "khronika/schemas/json_view.h"

namespace {

using khronika::fuzz::Check;

namespace fs = std::filesystem;
namespace http = boost::beast::http;
using nlohmann::json;

constexpr uint32_t kHeaderLimit = 16 * 1024;  // ServerOptions::header_limit
constexpr int kMaxRequestsPerInput = 8;
const std::string kPeerCert(64, 'e');

// Where scratch folders go: $KHRONIKA_FUZZ_SCRATCH (ops/fuzz.sh sets it and removes it after
// the run, crash or not), else tmpfs if there is one.
fs::path ScratchBase() {
  if (const char* dir = std::getenv("KHRONIKA_FUZZ_SCRATCH")) return dir;
  return fs::is_directory("/dev/shm") ? fs::path("/dev/shm") : fs::temp_directory_path();
}

class Harness {
 public:
  Harness() {
    std::string tmpl = (ScratchBase() / "khronika-http-fuzz-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) std::abort();
    dir_ = tmpl;
    khronika::StoreOptions options;
    options.map_size = uint64_t{1} << 30;
    node_ = Must(khronika::Node::Init(dir_ / "node", "fuzz-node", options), "create the node");
    committer_ = std::make_unique<khronika::GroupCommitter>(node_->log());
    api_ = std::make_unique<khronika::Api>(*node_, *committer_, metrics_);
    origin_ = khronika::ToHex(node_->id());
    for (auto [name, role] : {std::pair{"admin", khronika::Role::kAdmin},
                              {"submitter", khronika::Role::kSubmitter},
                              {"reader", khronika::Role::kReader},
                              {"auditor", khronika::Role::kAuditor}}) {
      std::vector<std::string> cases;
      if (role == khronika::Role::kSubmitter || role == khronika::Role::kReader) cases = {"case-1"};
      tokens_[std::string("Bearer ") + name] =
          "Bearer " +
          Must(khronika::CreateToken(node_->store(), role, cases, 1), "make a token").secret;
    }
    khronika::Peer peer;
    peer.node_id.fill(0x77);
    peer.url = "https://peer.invalid:8443";
    peer.cert_sha256 = kPeerCert;
    Check(khronika::AddPeer(node_->store(), peer).ok());
    AddEntry();
  }

  ~Harness() {
    api_.reset();
    committer_.reset();
    node_.reset();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  const khronika::Api& api() const { return *api_; }

  khronika::ApiResponse Handle(khronika::ApiRequest request) {
    if (auto it = tokens_.find(request.authorization); it != tokens_.end()) {
      request.authorization = it->second;
    }
    for (size_t at; (at = request.target.find("node-origin")) != std::string::npos;) {
      request.target.replace(at, 11, origin_);
    }
    for (size_t at; (at = request.target.find("node-entry")) != std::string::npos;) {
      request.target.replace(at, 10, entry_id_);
    }
    return api_->Handle(request);
  }

 private:
  template <typename T>
  static T Must(khronika::Result<T> r, const char* what) {
    if (!r.ok()) {
      std::fprintf(stderr, "http_fuzz: cannot %s: %s\n", what, r.status().ToString().c_str());
      std::abort();
    }
    return std::move(r).value();
  }

  // One entry of case-1 with one file, uploaded through the API as a client would.
  void AddEntry() {
    const std::string content = "what I saw\n";
    uint8_t seed[32];
    std::fill(std::begin(seed), std::end(seed), 0x42);
    khronika::SigningKey author = Must(khronika::SigningKey::FromSeed(seed), "make the author key");
    Check(khronika::RegisterAuthor(node_->store(), author.public_key(), "Alice").ok());
    khronika::FileDescriptor d;
    d.name = "statement.txt";
    d.media_type = "text/plain";
    d.size = content.size();
    d.content_sha256 = khronika::Sha256(content);
    const khronika::Hash chunk = khronika::ChunkId(khronika::AsBytes(content));
    khronika::CommitmentSalt salt;
    std::fill(salt.begin(), salt.end(), 0x24);  // fixed: the corpus stays reproducible
    khronika::SignedEntry e;
    e.case_id = "case-1";
    e.kind = "evidence";
    e.created_at_ms = 1767225600000;
    e.metadata = {{"place", "Kharkiv"}};
    e.files = {khronika::FileCommitment(salt, khronika::Encode(d))};
    khronika::SignEntry(e, author);
    khronika::ApiRequest put;
    put.method = "PUT";
    put.target = "/v1/chunks/" + khronika::ToHex(chunk);
    put.authorization = "Bearer submitter";
    put.body = content;
    Check(Handle(put).status == 201);
    json file = {{"descriptor", khronika::ToJson(d)},
                 {"salt", khronika::ToHex(salt)},
                 {"chunks", json::array({khronika::ToHex(chunk)})}};
    json body = {{"entry", khronika::ToJson(e)}, {"files", json::array({file})}};
    khronika::ApiRequest post;
    post.method = "POST";
    post.target = "/v1/entries";
    post.authorization = "Bearer submitter";
    post.body = body.dump();
    khronika::ApiResponse r = Handle(post);
    if (r.status != 201) {
      std::fprintf(stderr, "http_fuzz: cannot add the entry: %d %s\n", r.status, r.body.c_str());
      std::abort();
    }
    entry_id_ = json::parse(r.body)["entry_id"].get<std::string>();
    std::fprintf(stderr, "http_fuzz: node %s in %s; entry %s (node-entry)\n", origin_.c_str(),
                 dir_.c_str(), entry_id_.c_str());
  }

  fs::path dir_;
  std::unique_ptr<khronika::Node> node_;
  khronika::Metrics metrics_;
  std::unique_ptr<khronika::GroupCommitter> committer_;
  std::unique_ptr<khronika::Api> api_;
  std::string origin_;
  std::string entry_id_;
  std::map<std::string, std::string> tokens_;
};

Harness& TheHarness() {
  static Harness* harness = [] {
    auto* h = new Harness();
    std::atexit([] { delete &TheHarness(); });
    return h;
  }();
  return *harness;
}

// HTTP_FUZZ_TRACE=1 prints each request's route and status (to see what seeds reach).
bool Trace() {
  static const bool trace = std::getenv("HTTP_FUZZ_TRACE") != nullptr;
  return trace;
}

bool CleanHeaderText(std::string_view s) {
  return s.find_first_of(std::string_view("\r\n\0", 3)) == std::string_view::npos;
}

void CheckResponse(const khronika::ApiResponse& r) {
  Check(r.status >= 100 && r.status <= 599);
  if (r.status >= 400 && r.status <= 499) {
    json body = json::parse(r.body, nullptr, false);
    Check(body.is_object() && body.contains("error") && body["error"].is_string());
  }
  Check(CleanHeaderText(r.content_type));
  for (const auto& [name, value] : r.headers) {
    Check(!name.empty() && CleanHeaderText(name) && CleanHeaderText(value));
  }
  // The response as the session would build it.
  http::response<http::string_body> res(static_cast<http::status>(r.status), 11);
  res.set(http::field::content_type, r.content_type);
  for (const auto& [name, value] : r.headers) res.set(name, value);
  res.body() = r.body;
  res.prepare_payload();

  if (r.source) {
    uint64_t sent = 0;
    while (true) {
      auto piece = r.source->Next();
      Check(piece.ok());
      if (piece->empty()) break;
      sent += piece->size();
      Check(sent <= r.source->size());
    }
    Check(sent == r.source->size());
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  TheHarness();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Harness& h = TheHarness();
  boost::beast::error_code ec;
  size_t pos = 0;
  auto rest = [&] { return boost::asio::const_buffer(data + pos, size - pos); };

  for (int n = 0; n < kMaxRequestsPerInput && pos < size; ++n) {
    // The head, as Session::DoReadHead reads it.
    http::request_parser<http::empty_body> head;
    head.header_limit(kHeaderLimit);
    head.body_limit(std::numeric_limits<std::uint64_t>::max());
    while (!head.is_header_done()) {
      size_t used = head.put(rest(), ec);
      pos += used;
      if (ec || used == 0) return 0;  // incomplete, malformed or too large: the session closes
    }
    const uint64_t limit = h.api().BodyLimit(head.get().method_string(), head.get().target());
    const auto length = head.content_length();
    if ((length && *length > limit) || (limit == 0 && head.chunked())) return 0;  // 413, close

    // The body, as Session::DoReadBody reads it.
    http::request_parser<http::string_body> body(std::move(head));
    body.body_limit(limit);
    while (!body.is_done()) {
      size_t used = body.put(rest(), ec);
      pos += used;
      if (ec == http::error::need_more && pos == size) {
        body.put_eof(ec);  // the peer closed the connection
        if (ec || !body.is_done()) return 0;
        break;
      }
      if (ec || used == 0) return 0;
    }
    auto& req = body.get();
    khronika::ApiRequest request;
    request.method = std::string(req.method_string());
    request.target = std::string(req.target());
    request.authorization = std::string(req[http::field::authorization]);
    request.range = std::string(req[http::field::range]);
    request.if_none_match = std::string(req[http::field::if_none_match]);
    request.body = std::move(req.body());
    if (req.find("X-Fuzz-Peer") != req.end()) request.peer_cert_sha256 = kPeerCert;
    const bool keep_alive = req.keep_alive();

    khronika::ApiResponse response = h.Handle(request);
    if (Trace()) {
      std::fprintf(stderr, "http_fuzz: %s %s -> %d (%s) %.200s\n", request.method.c_str(),
                   request.target.c_str(), response.status, response.route.c_str(),
                   response.body.c_str());
    }
    CheckResponse(response);
    if (!keep_alive) break;
  }
  return 0;
}
