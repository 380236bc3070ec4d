#include "khronika/http/api.h"

#include "sealing_uploads.h"

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <functional>
#include <future>
#include <limits>
#include <map>

#include <nlohmann/json.hpp>
#include <openssl/crypto.h>

#include "khronika/bundle/bundle.h"
#include "khronika/http/logging.h"
#include "khronika/http/node_status.h"
#include "khronika/log/custody.h"
#include "khronika/log/proofs.h"
#include "khronika/log/tiles.h"
#include "khronika/replication/protocol.h"
#include "khronika/replication/roster.h"
#include "khronika/replication/scrub.h"
#include "khronika/replication/sync.h"
#include "khronika/replication/witness.h"
#include "khronika/log/store_keys.h"
#include "khronika/schemas/json_view.h"
#include "khronika/schemas/merkle.h"
#include "khronika/timestamp/timestamp_store.h"
#include "khronika/schemas/tlog_witness.h"

namespace khronika {
namespace {

using nlohmann::json;

constexpr size_t kMaxChunkBody = kChunkSize;
// What is read of a body no route takes, to answer it with its error rather than 413.
constexpr size_t kUnroutedBody = 64 << 10;

ApiResponse Json(int status, const json& body) {
  ApiResponse r;
  r.status = status;
  r.body = body.dump();
  return r;
}

// A full map or disk needs the operator: say so in the log, at most once a minute however many
// requests are refused.
void LogStoreFull(const Status& st) {
  static std::atomic<int64_t> last_s{-1000};
  int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                    std::chrono::steady_clock::now().time_since_epoch()).count();
  int64_t last = last_s.load();
  if (now - last < 60 || !last_s.compare_exchange_strong(last, now)) return;
  LogLine(LogLevel::kError, "store",
          "store full, refusing writes with 507 (reads go on): " + st.message() +
              " (docs/operator.md, \"When the disk or the map is full\")");
}

// Maps a Status to an HTTP error. `semantic` marks well-formed requests that were refused on
// their content (422) rather than their form (400).
ApiResponse FromStatus(const Status& st, bool semantic = false) {
  switch (st.code()) {
    case Code::kOk: return ErrorResponse(500, "internal", "no error to report");
    case Code::kInvalidArgument:
      return ErrorResponse(semantic ? 422 : 400, semantic ? "invalid" : "bad_request", st.message());
    case Code::kNotFound: return ErrorResponse(semantic ? 422 : 404, "not_found", st.message());
    case Code::kAlreadyExists: return ErrorResponse(409, "conflict", st.message());
    case Code::kPermissionDenied:
      return ErrorResponse(semantic ? 422 : 403, semantic ? "refused" : "forbidden", st.message());
    case Code::kStoreFull:
      LogStoreFull(st);
      return ErrorResponse(507, "store_full", st.message());
    case Code::kCorruption: return ErrorResponse(500, "corruption", st.message());
    case Code::kIOError: return ErrorResponse(500, "internal", st.message());
  }
  return ErrorResponse(500, "internal", st.message());
}

json HashArray(const std::vector<Hash>& hashes) {
  json a = json::array();
  for (const Hash& h : hashes) a.push_back(ToHex(h));
  return a;
}

std::vector<std::string_view> SplitPath(std::string_view path) {
  std::vector<std::string_view> parts;
  size_t start = 1;
  while (start <= path.size()) {
    size_t slash = path.find('/', start);
    if (slash == std::string_view::npos) slash = path.size();
    parts.push_back(path.substr(start, slash - start));
    start = slash + 1;
  }
  return parts;
}

// Calls `fn(key, value)` for each `key=value` pair of a query string, in order (empty pairs
// skipped; a pair without `=` has an empty value), until `fn` fails.
Status ForEachQueryPair(std::string_view query,
                        const std::function<Status(std::string_view, std::string_view)>& fn) {
  while (!query.empty()) {
    size_t amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (pair.empty()) continue;
    size_t eq = pair.find('=');
    KH_RETURN_IF_ERROR(
        fn(pair.substr(0, eq), eq == std::string_view::npos ? "" : pair.substr(eq + 1)));
  }
  return Status::Ok();
}

// Query parameters are ids, numbers and case ids: anything needing percent-decoding is refused.
Result<std::map<std::string, std::string>> ParseQuery(std::string_view query) {
  std::map<std::string, std::string> out;
  KH_RETURN_IF_ERROR(
      ForEachQueryPair(query, [&](std::string_view key, std::string_view value) -> Status {
        for (std::string_view part : {key, value}) {
          for (char c : part) {
            bool ok =
                std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-';
            if (!ok) return Status::InvalidArgument("unsupported character in query string");
          }
        }
        if (!out.emplace(std::string(key), std::string(value)).second) {
          return Status::InvalidArgument("query parameter " + std::string(key) + " given twice");
        }
        return Status::Ok();
      }));
  return out;
}

Result<std::map<std::string, std::string>> QueryOf(const ApiRequest& r) {
  size_t q = r.target.find('?');
  return ParseQuery(q == std::string::npos ? std::string_view() : std::string_view(r.target).substr(q + 1));
}

Result<uint64_t> QueryNumber(const std::map<std::string, std::string>& q, const std::string& key,
                             std::optional<uint64_t> fallback) {
  auto it = q.find(key);
  if (it == q.end()) {
    if (fallback) return *fallback;
    return Status::InvalidArgument("query parameter " + key + " is required");
  }
  uint64_t v = 0;
  const std::string& s = it->second;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || ptr != s.data() + s.size()) {
    return Status::InvalidArgument("query parameter " + key + " must be a non-negative integer");
  }
  return v;
}

// A number that may be left out: nullopt then, an error if present but malformed.
Result<std::optional<uint64_t>> OptionalQueryNumber(const std::map<std::string, std::string>& q,
                                                    const std::string& key) {
  if (!q.count(key)) return std::optional<uint64_t>();
  KH_ASSIGN_OR_RETURN(uint64_t v, QueryNumber(q, key, std::nullopt));
  return std::optional<uint64_t>(v);
}

// Untrusted JSON is bounded in depth before it is parsed, so that "[[[[..." cannot exhaust the
// stack of any recursive step (parsing, destruction, conversion).
Result<json> ParseJsonBody(const std::string& body, size_t max_depth) {
  size_t depth = 0;
  bool in_string = false, escaped = false;
  for (char c : body) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > max_depth) return Status::InvalidArgument("JSON nested too deeply");
    } else if (c == ']' || c == '}') {
      if (depth > 0) --depth;
    }
  }
  json j = json::parse(body, nullptr, false);
  if (j.is_discarded()) return Status::InvalidArgument("body is not valid JSON");
  return j;
}

Result<Hash> PathId(std::string_view text, const char* what) {
  auto h = ParseHashHex(text);
  if (!h.ok()) return Status::InvalidArgument(std::string(what) + ": " + h.status().message());
  return *h;
}

json ReceiptJson(const Receipt& r, const PublicKey& node_key) {
  return {{"entry_id", ToHex(r.entry_id)},
          {"origin", ToHex(r.origin)},
          {"index", r.index},
          {"leaf_hash", ToHex(r.leaf_hash)},
          {"record_hex", ToHex(r.record)},
          {"tree_size", r.tree_size},
          {"checkpoint", r.checkpoint},
          {"inclusion_proof", HashArray(r.inclusion_proof)},
          {"node_public_key", ToHex(node_key)}};
}

// Parses "bytes=a-b", "bytes=a-" or "bytes=-n" for a file of `size` bytes into [begin, end).
// Multiple ranges are not served (the whole file is, as RFC 9110 allows).
enum class RangeResult { kWhole, kPartial, kUnsatisfiable };
RangeResult ParseRange(std::string_view header, uint64_t size, uint64_t* begin, uint64_t* end) {
  if (header.empty() || header.substr(0, 6) != "bytes=" ||
      header.find(',') != std::string_view::npos) {
    return RangeResult::kWhole;
  }
  std::string_view spec = header.substr(6);
  size_t dash = spec.find('-');
  if (dash == std::string_view::npos) return RangeResult::kUnsatisfiable;
  auto number = [](std::string_view s, uint64_t* out) {
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
    return !s.empty() && ec == std::errc() && p == s.data() + s.size();
  };
  uint64_t a = 0, b = 0;
  std::string_view first = spec.substr(0, dash), last = spec.substr(dash + 1);
  if (first.empty()) {
    if (!number(last, &b) || b == 0 || size == 0) return RangeResult::kUnsatisfiable;
    *begin = b >= size ? 0 : size - b;
    *end = size;
    return RangeResult::kPartial;
  }
  if (!number(first, &a) || a >= size) return RangeResult::kUnsatisfiable;
  if (last.empty()) {
    b = size - 1;
  } else if (!number(last, &b) || b < a) {
    return RangeResult::kUnsatisfiable;
  }
  *begin = a;
  *end = b >= size ? size : b + 1;  // b + 1 would wrap for b = 2^64 - 1
  return RangeResult::kPartial;
}

// RFC 6266: an ASCII fallback with quotes and backslashes replaced, and the exact UTF-8 name
// percent-encoded (RFC 8187), so no file name can break the header.
std::string ContentDisposition(const std::string& name) {
  std::string fallback, encoded;
  static constexpr char kHex[] = "0123456789ABCDEF";
  for (unsigned char c : name) {
    fallback.push_back(c < 0x20 || c > 0x7e || c == '"' || c == '\\' ? '_' : static_cast<char>(c));
    if (std::isalnum(c) || c == '.' || c == '-' || c == '_' || c == '~') {
      encoded.push_back(static_cast<char>(c));
    } else {
      encoded += {'%', kHex[c >> 4], kHex[c & 15]};
    }
  }
  return "attachment; filename=\"" + fallback + "\"; filename*=UTF-8''" + encoded;
}

}  // namespace

ApiResponse ErrorResponse(int status, std::string_view code, std::string_view message) {
  ApiResponse r;
  r.status = status;
  // Messages may quote what the client sent (a path, a query key), which need not be UTF-8:
  // replace such bytes rather than let dump() throw and take down the worker thread.
  r.body = json{{"error", code}, {"message", message}}.dump(-1, ' ', false,
                                                            json::error_handler_t::replace);
  return r;
}

Api::Api(Node& node, GroupCommitter& committer, Metrics& metrics, ApiOptions options,
         Clock& clock)
    : node_(node),
      committer_(committer),
      sealings_(std::make_unique<SealingUploads>(
          node.log(), SealingUploads::Limits{options.sealings_per_token, options.sealings_total,
                                             options.sealing_idle})),
      metrics_(metrics),
      options_(options),
      clock_(clock) {}

Api::~Api() = default;

Result<TokenInfo> Api::Authenticate(const ApiRequest& request) const {
  std::string_view auth = request.authorization;
  if (auth.substr(0, 7) != "Bearer ") {
    return Status::NotFound("an Authorization: Bearer token is required");
  }
  Result<TokenInfo> out = Status::PermissionDenied("unknown or revoked token");
  KH_RETURN_IF_ERROR(node_.store().View([&](ReadTxn& txn) -> Status {
    out = khronika::Authenticate(txn, auth.substr(7));
    return Status::Ok();
  }));
  return out;
}

// Who may reach a route: anyone, a bearer token, or a configured peer by its pinned TLS
// certificate (the sync protocol).
enum class Gate { kOpen, kToken, kPeer };
// The body a route reads: none, one chunk (1 MiB), JSON (ApiOptions::max_json_body) or a C2SP
// add-checkpoint request (kMaxAddCheckpointBody).
enum class BodyKind { kNone, kChunk, kJson, kWitness };

struct Api::RouteContext {
  const ApiRequest& request;
  const TokenInfo* token = nullptr;  // for Gate::kToken
  std::string_view path;
  std::vector<std::string_view> params;  // the {…} segments of the path, in order
  // For a handler that answers after a group commit: it keeps the request alive with `hold`,
  // returns Deferred(), and answers later through `respond`.
  std::shared_ptr<const ApiRequest> hold;
  Respond respond;
};

namespace {

// What a handler returns when its answer comes later, through RouteContext::respond.
constexpr int kDeferred = 0;
ApiResponse Deferred() {
  ApiResponse r;
  r.status = kDeferred;
  return r;
}

}  // namespace

struct Api::RouteSpec {
  std::string_view method;
  std::string_view pattern;  // "/v1/entries/{id}": a segment in braces matches any one segment
  Gate gate;
  std::optional<Permission> permission;  // for Gate::kToken; none: every role
  BodyKind body;
  ApiResponse (*handler)(Api& api, const RouteContext& call);
};

// The API, one line a route: it drives routing, authentication, permissions, body limits (known
// from the request head, before any body byte is read) and the route labels of /metrics.
const std::vector<Api::RouteSpec>& Api::Routes() {
  using P = Permission;
  static const std::vector<RouteSpec> routes = {
      {"GET", "/", Gate::kOpen, {}, BodyKind::kNone,
       [](Api&, const RouteContext& c) { return ConsoleFile(c.request, c.path); }},
      {"GET", "/console/{file}", Gate::kOpen, {}, BodyKind::kNone,
       [](Api&, const RouteContext& c) { return ConsoleFile(c.request, c.path); }},
      {"GET", "/healthz", Gate::kOpen, {}, BodyKind::kNone,
       [](Api&, const RouteContext&) { return Json(200, {{"status", "ok"}}); }},
      {"GET", "/metrics", Gate::kToken, P::kReadMetrics, BodyKind::kNone,
       [](Api& a, const RouteContext&) { return a.MetricsText(); }},
      {"POST", "/v1/chunks/missing", Gate::kToken, P::kUpload, BodyKind::kJson,
       [](Api& a, const RouteContext& c) { return a.ChunksMissing(c.request, *c.token); }},
      {"PUT", "/v1/chunks/{id}", Gate::kToken, P::kUpload, BodyKind::kChunk,
       [](Api& a, const RouteContext& c) { return a.PutChunk(c, c.params[0]); }},
      {"POST", "/v1/entries", Gate::kToken, P::kUpload, BodyKind::kJson,
       [](Api& a, const RouteContext& c) { return a.PostEntry(c); }},
      {"POST", "/v1/sealings", Gate::kToken, P::kUpload, BodyKind::kJson,
       [](Api& a, const RouteContext& c) { return a.BeginSealing(c); }},
      {"PUT", "/v1/sealings/{id}/files/{index}", Gate::kToken, P::kUpload, BodyKind::kChunk,
       [](Api& a, const RouteContext& c) { return a.PutSealingPiece(c, c.params[0], c.params[1]); }},
      {"DELETE", "/v1/sealings/{id}", Gate::kToken, P::kUpload, BodyKind::kNone,
       [](Api& a, const RouteContext& c) { return a.DeleteSealing(c, c.params[0]); }},
      {"GET", "/v1/entries/{id}", Gate::kToken, P::kReadEntries, BodyKind::kNone,
       [](Api& a, const RouteContext& c) { return a.GetEntry(*c.token, c.params[0]); }},
      {"GET", "/v1/entries/{id}/files/{index}/content", Gate::kToken, P::kReadContent,
       BodyKind::kNone,
       [](Api& a, const RouteContext& c) {
         return a.FileContent(c.request, *c.token, c.params[0], c.params[1]);
       }},
      {"GET", "/v1/cases", Gate::kToken, P::kReadEntries, BodyKind::kNone,
       [](Api& a, const RouteContext& c) { return a.Cases(*c.token); }},
      {"GET", "/v1/cases/{case}/entries", Gate::kToken, P::kReadEntries, BodyKind::kNone,
       [](Api& a, const RouteContext& c) { return a.CaseEntries(c.request, *c.token, c.params[0]); }},
      {"GET", "/v1/cases/{case}/bundle", Gate::kToken, P::kReadContent, BodyKind::kNone,
       [](Api& a, const RouteContext& c) {
         return a.CaseBundle(c.request, *c.token, c.params[0]);
       }},
      {"GET", "/v1/session", Gate::kToken, {}, BodyKind::kNone,
       [](Api& a, const RouteContext& c) { return a.Session(*c.token); }},
      {"GET", "/v1/logs", Gate::kToken, P::kReadLog, BodyKind::kNone,
       [](Api& a, const RouteContext&) { return a.Logs(); }},
      {"GET", "/v1/logs/{origin}/records", Gate::kToken, P::kReadLog, BodyKind::kNone,
       [](Api& a, const RouteContext& c) { return a.LogRecords(c.request, c.params[0]); }},
      {"GET", "/v1/conflicts", Gate::kToken, P::kReadLog, BodyKind::kNone,
       [](Api& a, const RouteContext&) { return a.Conflicts(); }},
      {"GET", "/v1/node/status", Gate::kToken, P::kAdminister, BodyKind::kNone,
       [](Api& a, const RouteContext&) { return a.NodeStatus(); }},
      {"GET", "/v1/access-log", Gate::kToken, P::kAdminister, BodyKind::kNone,
       [](Api& a, const RouteContext& c) { return a.AccessLog(c.request); }},
      // Checkpoints and proofs are hashes and signatures only: every role may check its receipts.
      {"GET", "/v1/checkpoint", Gate::kToken, {}, BodyKind::kNone,
       [](Api& a, const RouteContext&) { return a.GetCheckpoint(); }},
      {"GET", "/v1/checkpoint/witnessed", Gate::kToken, {}, BodyKind::kNone,
       [](Api& a, const RouteContext&) { return a.WitnessedCheckpoint(); }},
      // RFC 3161 timestamps over checkpoints (#16): asking is for those who submit.
      {"POST", "/v1/checkpoint/timestamp", Gate::kToken, P::kUpload, BodyKind::kJson,
       [](Api& a, const RouteContext& c) { return a.AskTimestamps(c); }},
      {"GET", "/v1/checkpoint/timestamps", Gate::kToken, P::kReadLog, BodyKind::kNone,
       [](Api& a, const RouteContext& c) { return a.ListTimestamps(c.request); }},
      // Times and TSA names only, like /v1/checkpoint/witnessed: for every role (the console).
      {"GET", "/v1/checkpoint/timestamped", Gate::kToken, {}, BodyKind::kNone,
       [](Api& a, const RouteContext&) { return a.TimestampedCheckpoint(); }},
      {"GET", "/v1/proof/inclusion", Gate::kToken, {}, BodyKind::kNone,
       [](Api& a, const RouteContext& c) { return a.InclusionProof(c.request); }},
      {"GET", "/v1/proof/consistency", Gate::kToken, {}, BodyKind::kNone,
       [](Api& a, const RouteContext& c) { return a.ConsistencyProof(c.request); }},
      {"GET", "/v1/sync/heads", Gate::kPeer, {}, BodyKind::kNone,
       [](Api& a, const RouteContext&) { return a.SyncHeads(); }},
      {"GET", "/v1/sync/consistency", Gate::kPeer, {}, BodyKind::kNone,
       [](Api& a, const RouteContext& c) { return a.SyncConsistency(c.request); }},
      {"GET", "/v1/sync/pack", Gate::kPeer, {}, BodyKind::kNone,
       [](Api& a, const RouteContext& c) { return a.SyncPack(c.request); }},
      {"POST", "/v1/sync/chunks", Gate::kPeer, {}, BodyKind::kJson,
       [](Api& a, const RouteContext& c) { return a.SyncChunks(c.request); }},
      {"GET", "/v1/sync/timestamps", Gate::kPeer, {}, BodyKind::kNone,
       [](Api& a, const RouteContext& c) { return a.SyncTimestamps(c.request); }},
      {"POST", "/v1/sync/notify", Gate::kPeer, {}, BodyKind::kJson,
       [](Api& a, const RouteContext&) { return a.SyncNotify(); }},
      // ---- C2SP tlog-witness (docs/api.md "Witness: POST /add-checkpoint") ----
      // Open to anyone, as the spec has it: only a checkpoint signed by a roster member is
      // cosigned, and a partner cosigns only what it holds whole.
      {"POST", "/add-checkpoint", Gate::kOpen, {}, BodyKind::kWitness,
       [](Api& a, const RouteContext& c) { return a.AddCheckpoint(c.request); }},
  };
  return routes;
}

namespace {

// Whether `parts` (a split path) fits `pattern`; the segments in braces go to *params.
bool PatternMatches(std::string_view pattern, const std::vector<std::string_view>& parts,
                    std::vector<std::string_view>* params) {
  std::vector<std::string_view> want = SplitPath(pattern);
  if (want.size() != parts.size()) return false;
  params->clear();
  for (size_t i = 0; i < want.size(); ++i) {
    if (!want[i].empty() && want[i].front() == '{') {
      params->push_back(parts[i]);
    } else if (want[i] != parts[i]) {
      return false;
    }
  }
  return true;
}

// "GET /v1/entries/{id}": how /metrics and the debug log name a route.
std::string RouteLabel(const Api::RouteSpec& spec) {
  return std::string(spec.method) + " " + std::string(spec.pattern);
}

}  // namespace

// The routes whose pattern fits `path`, the most specific only ("/v1/chunks/missing" is not
// "/v1/chunks/{id}"), with the path's {…} segments in *params.
std::vector<const Api::RouteSpec*> Api::MatchRoutes(std::string_view path,
                                                    std::vector<std::string_view>* params) {
  std::vector<const RouteSpec*> matched;
  // Found by tests/fuzz/http_fuzz (corpus/http_fuzz/crash-target-without-slash): a target such as
  // "\xaf" split like "/" and reached the console with a path it could not take apart.
  if (path.empty() || path.front() != '/') return matched;
  const auto parts = SplitPath(path);
  size_t best = 0;
  std::vector<std::string_view> scratch;
  for (const RouteSpec& spec : Routes()) {
    if (!PatternMatches(spec.pattern, parts, &scratch)) continue;
    const size_t literals = parts.size() - scratch.size();
    if (matched.empty() || literals > best) {
      matched.clear();
      best = literals;
      *params = scratch;
    }
    if (literals == best) matched.push_back(&spec);
  }
  return matched;
}

uint64_t Api::BodyLimit(std::string_view method, std::string_view target) const {
  std::string_view path = target.substr(0, target.find('?'));
  std::vector<std::string_view> params;
  auto matched = MatchRoutes(path, &params);
  for (const RouteSpec* spec : matched) {
    if (spec->method != method) continue;
    switch (spec->body) {
      case BodyKind::kNone: return 0;
      case BodyKind::kChunk: return kMaxChunkBody;
      case BodyKind::kJson: return options_.max_json_body;
      case BodyKind::kWitness: return kMaxAddCheckpointBody;
    }
  }
  // A request no route takes is answered (401, 404, 405) without its body: read a little of it
  // so that the answer is that error, not 413.
  return !matched.empty() || path.substr(0, 4) == "/v1/" ? kUnroutedBody : 0;
}

void Api::HandleAsync(std::shared_ptr<const ApiRequest> request, Respond done) {
  ApiResponse r = Route(std::move(request), done);
  if (r.status == kDeferred) return;
  if (r.route.empty()) r.route = "unmatched";
  done(std::move(r));
}

ApiResponse Api::Handle(const ApiRequest& request) {
  auto answer = std::make_shared<std::promise<ApiResponse>>();
  std::future<ApiResponse> f = answer->get_future();
  HandleAsync(std::make_shared<ApiRequest>(request),
              [answer](ApiResponse r) { answer->set_value(std::move(r)); });
  return f.get();
}

ApiResponse Api::Route(std::shared_ptr<const ApiRequest> request, const Respond& done) {
  const ApiRequest& req = *request;
  std::string_view target = req.target;
  std::string_view path = target.substr(0, target.find('?'));
  std::vector<std::string_view> params;
  // C2SP tlog-tiles has paths of varying depth and a gate the operator sets: routed on its own.
  if (path.substr(0, 6) == "/tlog/") return Tlog(req, path);
  const std::vector<const RouteSpec*> matched = MatchRoutes(path, &params);
  // The gate comes first, so that nothing (not even which methods a path takes) is told to
  // whoever may not pass it. Every route of one path has the same gate.
  const Gate gate = matched.empty() ? (path.substr(0, 4) == "/v1/" ? Gate::kToken : Gate::kOpen)
                                    : matched.front()->gate;
  std::optional<TokenInfo> token;
  if (gate == Gate::kToken) {
    auto who = Authenticate(req);
    if (!who.ok()) {
      ApiResponse r = who.status().code() == Code::kNotFound || who.status().code() == Code::kPermissionDenied
                          ? ErrorResponse(401, "unauthorized", who.status().message())
                          : FromStatus(who.status());
      r.headers.emplace_back("WWW-Authenticate", "Bearer");
      r.route = "unauthenticated";
      return r;
    }
    token = std::move(who).value();
  } else if (gate == Gate::kPeer) {
    std::optional<Peer> peer;
    Status st = node_.store().View([&](ReadTxn& txn) -> Status {
      KH_ASSIGN_OR_RETURN(peer, PeerByCertificate(txn, req.peer_cert_sha256));
      return Status::Ok();
    });
    if (!st.ok()) return FromStatus(st);
    if (!peer) {
      ApiResponse r = ErrorResponse(403, "forbidden",
                                    "sync is only for configured peers presenting their pinned certificate");
      r.route = "unauthenticated";
      return r;
    }
  }
  if (matched.empty()) return ErrorResponse(404, "not_found", "no such endpoint: " + std::string(path));
  const RouteSpec* spec = nullptr;
  std::string allow;
  for (const RouteSpec* m : matched) {
    if (m->method == req.method) spec = m;
    allow += (allow.empty() ? "" : ", ") + std::string(m->method);
  }
  if (!spec) {
    ApiResponse r = ErrorResponse(405, "method_not_allowed", "use " + allow);
    r.headers.emplace_back("Allow", allow);
    r.route = RouteLabel(*matched.front());
    return r;
  }
  if (spec->permission && !RoleAllows(token->role, *spec->permission)) {
    ApiResponse r = ErrorResponse(403, "forbidden", std::string("tokens of role ") + RoleName(token->role) +
                                                        " may not use this endpoint");
    r.route = RouteLabel(*spec);
    return r;
  }
  std::string label = RouteLabel(*spec);
  Respond respond = [done, label](ApiResponse later) {
    if (later.route.empty()) later.route = label;
    done(std::move(later));
  };
  ApiResponse r = spec->handler(
      *this, RouteContext{req, token ? &*token : nullptr, path, params, request, respond});
  if (r.route.empty()) r.route = std::move(label);
  return r;
}

ApiResponse Api::ChunksMissing(const ApiRequest& r, const TokenInfo& who) {
  auto body = ParseJsonBody(r.body, options_.max_json_depth);
  if (!body.ok()) return FromStatus(body.status());
  if (!body->is_object() || !body->contains("ids") || !(*body)["ids"].is_array() ||
      body->size() != 1) {
    return ErrorResponse(400, "bad_request", "body must be {\"ids\": [upload chunk ids]}");
  }
  const json& ids = (*body)["ids"];
  if (ids.size() > options_.max_missing_query) {
    return ErrorResponse(413, "payload_too_large",
                         "at most " + std::to_string(options_.max_missing_query) +
                             " ids per request");
  }
  std::vector<Hash> hashes;
  for (const json& v : ids) {
    if (!v.is_string()) return ErrorResponse(400, "bad_request", "ids must be strings");
    auto h = ParseHashHex(v.get<std::string>());
    if (!h.ok()) return ErrorResponse(400, "bad_request", h.status().message());
    hashes.push_back(*h);
  }
  // Upload chunks are kept per token (keys::UploadChunk): only what this token itself sent
  // counts as held, so the answer says nothing of other submitters' files or of logged content
  // (which is sealed, and whose plaintext is gone).
  json missing = json::array();
  Status st = node_.store().View([&](ReadTxn& txn) -> Status {
    for (const Hash& h : hashes) {
      KH_ASSIGN_OR_RETURN(bool held, HasUploadChunk(txn, who.id, h));
      if (!held) missing.push_back(ToHex(h));
    }
    return Status::Ok();
  });
  if (!st.ok()) return FromStatus(st);
  return Json(200, {{"missing", missing}});
}

ApiResponse Api::PutChunk(const RouteContext& call, std::string_view id_text) {
  const ApiRequest& r = call.request;
  const TokenInfo& who = *call.token;
  auto id = PathId(id_text, "chunk id");
  if (!id.ok()) return FromStatus(id.status());
  if (r.body.size() > kMaxChunkBody) {
    return ErrorResponse(413, "payload_too_large", "a chunk is at most 1 MiB");
  }
  if (ChunkId(AsBytes(r.body)) != *id) {
    return ErrorResponse(422, "hash_mismatch", "the body's SHA-256 is not the chunk id");
  }
  // A plaintext upload chunk of this token, kept (blinded, encrypted at rest) until the entry
  // that names it is sealed. It is written in the group committer's next transaction, with
  // whatever else is waiting, and acknowledged once that commits. The answer is the same
  // whether it was held or not.
  committer_.PutChunk(who.id, *id, AsBytes(r.body),
                      [this, hold = call.hold, respond = call.respond, id = *id](
                          Result<bool> created) {
                        if (!created.ok()) return respond(FromStatus(created.status()));
                        if (*created) metrics_.AddBytesStored(hold->body.size());
                        respond(Json(201, {{"id", ToHex(id)}, {"stored", true}}));
                      });
  return Deferred();
}

namespace {

constexpr std::string_view kSubmissionForm =
    "body must be {\"entry\": {...}, \"files\": [{\"descriptor\": {...}, \"salt\": \"64 hex\", "
    "\"chunks\": [upload chunk ids]} or {..., \"content\": \"base64\"}, ...]}, or "
    "{\"entry\", \"files\": [{\"descriptor\", \"salt\"}, ...], \"sealing\": \"id\"}";

// The longest base64 text of inline content: kMaxInlineContent bytes, padded.
constexpr size_t kMaxInlineBase64 = (kMaxInlineContent + 2) / 3 * 4;

// Why `who` may not submit to `case_id` now, if it may not: a case the token does not cover
// (403), or a node being restored (503). Entries and sealing uploads ask the same.
std::optional<ApiResponse> RefuseSubmission(Store& store, const TokenInfo& who,
                                            const std::string& case_id) {
  if (!who.AllowsCase(case_id)) {
    return ErrorResponse(403, "forbidden", "this token may not submit to case " + case_id);
  }
  auto restoring = RestorePending(store);
  if (!restoring.ok()) return FromStatus(restoring.status());
  if (*restoring) {
    return ErrorResponse(503, "restoring",
                         "this node is being restored and takes no entries until `khronika sync` "
                         "has brought its own log back from every peer");
  }
  return std::nullopt;
}

// A file's opening in a submission, `which` naming it in errors: its descriptor and commitment
// salt (the caller has checked that "salt" is a string).
Result<FileOpening> OpeningFromJson(const json& f, const std::string& which) {
  FileOpening opening;
  auto descriptor = DescriptorFromJson(f["descriptor"]);
  if (!descriptor.ok()) return descriptor.status().Annotate(which);
  opening.descriptor = std::move(*descriptor);
  auto salt = ParseHashHex(f["salt"].get<std::string>());
  if (!salt.ok()) return Status::InvalidArgument(which + ".salt: " + salt.status().message());
  std::copy(salt->begin(), salt->end(), opening.salt.begin());
  return opening;
}

// The body of POST /v1/entries: the signed entry and, in the order of its commitments, each
// file's opening and upload chunk ids. Form only; Log::Check judges the content.
Result<Submission> SubmissionFromJson(const json& body, std::optional<std::string>* sealing) {
  const bool sealed = body.is_object() && body.contains("sealing");
  if (!body.is_object() || body.size() != (sealed ? 3u : 2u) || !body.contains("entry") ||
      !body.contains("files") || !body["files"].is_array() ||
      (sealed && !body["sealing"].is_string())) {
    return Status::InvalidArgument(std::string(kSubmissionForm));
  }
  if (sealed) *sealing = body["sealing"].get<std::string>();
  Submission s;
  KH_ASSIGN_OR_RETURN(s.entry, SignedEntryFromJson(body["entry"]));
  const json& files = body["files"];
  if (files.size() != s.entry.files.size()) {
    return Status::InvalidArgument("the entry commits to " + std::to_string(s.entry.files.size()) +
                                   " files but " + std::to_string(files.size()) + " were given");
  }
  for (size_t i = 0; i < files.size(); ++i) {
    const json& f = files[i];
    const std::string which = "files[" + std::to_string(i) + "]";
    if (sealed) {  // the content is the sealing's: an opening only
      if (!f.is_object() || f.size() != 2 || !f.contains("descriptor") || !f.contains("salt") ||
          !f["salt"].is_string()) {
        return Status::InvalidArgument(which +
                                       " of an entry with a sealing must be {\"descriptor\", \"salt\"}");
      }
      SubmittedFile file;
      KH_ASSIGN_OR_RETURN(file.opening, OpeningFromJson(f, which));
      s.files.push_back(std::move(file));
      continue;
    }
    // Exactly one of "chunks" (upload chunk ids) and "content" (a small file, inline).
    const bool inline_content = f.is_object() && f.contains("content");
    if (!f.is_object() || f.size() != 3 || !f.contains("descriptor") || !f.contains("salt") ||
        !f["salt"].is_string() ||
        (inline_content ? !f["content"].is_string()
                        : !f.contains("chunks") || !f["chunks"].is_array())) {
      return Status::InvalidArgument(
          which + " must be {\"descriptor\", \"salt\", \"chunks\": [...]} or "
                  "{\"descriptor\", \"salt\", \"content\": \"base64\"}");
    }
    SubmittedFile file;
    KH_ASSIGN_OR_RETURN(file.opening, OpeningFromJson(f, which));
    if (inline_content) {
      const uint64_t size = file.opening.descriptor.size;
      const std::string& text = f["content"].get_ref<const std::string&>();
      if (size > kMaxInlineContent || text.size() > kMaxInlineBase64) {
        return Status::InvalidArgument(which + ": a file of " + std::to_string(size) +
                                       " bytes is uploaded in chunks; inline content is at most " +
                                       std::to_string(kMaxInlineContent) + " bytes");
      }
      auto content = Base64Decode(text);
      if (!content.ok()) {
        return Status::InvalidArgument(which + ".content: " + content.status().message());
      }
      if (content->size() != size) {
        return Status::InvalidArgument(which + ".content has " + std::to_string(content->size()) +
                                       " bytes but the descriptor says " + std::to_string(size));
      }
      file.content = std::move(*content);
      s.files.push_back(std::move(file));
      continue;
    }
    // A descriptor's size bounds its chunk list; the body limit bounds the whole.
    if (f["chunks"].size() != ChunkCount(file.opening.descriptor.size)) {
      return Status::InvalidArgument(
          which + " names " + std::to_string(f["chunks"].size()) + " upload chunks but a file of " +
          std::to_string(file.opening.descriptor.size) + " bytes has " +
          std::to_string(ChunkCount(file.opening.descriptor.size)));
    }
    for (const json& c : f["chunks"]) {
      if (!c.is_string()) return Status::InvalidArgument(which + ".chunks must be strings");
      auto id = ParseHashHex(c.get<std::string>());
      if (!id.ok()) return Status::InvalidArgument(which + ".chunks: " + id.status().message());
      file.upload_chunks.push_back(*id);
    }
    s.files.push_back(std::move(file));
  }
  return s;
}

}  // namespace

ApiResponse Api::PostEntry(const RouteContext& call) {
  const ApiRequest& r = call.request;
  const TokenInfo& who = *call.token;
  auto body = ParseJsonBody(r.body, options_.max_json_depth);
  if (!body.ok()) return FromStatus(body.status());
  std::optional<std::string> sealing_id;
  auto parsed = SubmissionFromJson(*body, &sealing_id);
  if (!parsed.ok()) return FromStatus(parsed.status());
  Submission s = std::move(parsed).value();
  if (auto refused = RefuseSubmission(node_.store(), who, s.entry.case_id)) return *refused;
  s.uploader = who.id;
  // A client that lost our first answer and sends the entry again gets the receipt it missed.
  auto receipt_again = [this, entry = s.entry]() -> std::optional<ApiResponse> {
    auto logged = node_.log().LoggedAs(entry);
    if (!logged.ok()) return FromStatus(logged.status());
    if (!*logged) return std::nullopt;
    auto again = node_.log().ReceiptFor(**logged);
    if (!again.ok()) return FromStatus(again.status());
    return Json(200, ReceiptJson(*again, node_.key().public_key()));
  };
  // A correction names an entry of the same case: the case key of the entry's own case must
  // open it, so a submitter cannot tie its case to another (nor probe another case's ids).
  if (s.entry.corrects) {
    const Hash target = *s.entry.corrects;
    SymmetricKey case_key = DeriveCaseKey(node_.archive_key(), s.entry.case_id);
    Status st = node_.store().View([&](ReadTxn& txn) -> Status {
      return OpenEntry(txn, node_.id(), EntryKey::Case(s.entry.case_id, case_key), target)
          .status();
    });
    OPENSSL_cleanse(case_key.data(), case_key.size());
    if (st.code() == Code::kNotFound) {
      return ErrorResponse(422, "not_found",
                           "the entry to correct, " + ToHex(target) + ", is not an entry of case " +
                               s.entry.case_id + " in this log");
    }
    if (!st.ok()) return FromStatus(st);
  }
  // Signature, commitments and content are checked, and the files sealed (or, with a sealing,
  // compared with what was sealed as it arrived), here on a worker thread, outside the writer
  // lock.
  Result<CheckedSubmission> checked = Status::IOError("unchecked");
  if (sealing_id) {
    auto sealing = sealings_->Take(who.id, *sealing_id);
    if (!sealing.ok()) return FromStatus(sealing.status());
    checked = node_.log().CheckLocal(std::move(s), std::move(sealing).value());
  } else {
    checked = node_.log().Check(std::move(s));
  }
  if (!checked.ok()) {
    const Status& st = checked.status();
    if (st.code() == Code::kAlreadyExists) {
      if (auto again = receipt_again()) return *again;
    }
    if (st.code() == Code::kPermissionDenied) {
      return ErrorResponse(422, "invalid_signature", st.message());
    }
    if (st.code() == Code::kNotFound) return ErrorResponse(422, "missing_chunks", st.message());
    return FromStatus(st, true);
  }
  // Answered once the group committer's transaction commits; no thread waits for it.
  committer_.Submit(
      std::move(checked).value(),
      [this, receipt_again, respond = call.respond](Result<Receipt> receipt) {
        if (!receipt.ok()) {
          const Status& st = receipt.status();
          if (st.code() == Code::kAlreadyExists) {  // the same entry, sent twice at once
            if (auto again = receipt_again()) return respond(std::move(*again));
          }
          if (st.code() == Code::kPermissionDenied) {
            return respond(ErrorResponse(422, "unknown_author", st.message()));
          }
          return respond(FromStatus(st, true));
        }
        metrics_.AddEntriesAppended(1);
        if (on_appended_) on_appended_();
        respond(Json(201, ReceiptJson(*receipt, node_.key().public_key())));
      });
  return Deferred();
}

namespace {

Result<uint32_t> FileIndex(std::string_view text) {
  uint32_t i = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), i);
  if (text.empty() || ec != std::errc() || p != text.data() + text.size() ||
      (text.size() > 1 && text[0] == '0') || i >= kMaxFilesPerEntry) {
    return Status::InvalidArgument("file index: a number from 0 to " +
                                   std::to_string(kMaxFilesPerEntry - 1) + " is expected");
  }
  return i;
}

}  // namespace

ApiResponse Api::BeginSealing(const RouteContext& call) {
  const TokenInfo& who = *call.token;
  auto body = ParseJsonBody(call.request.body, options_.max_json_depth);
  if (!body.ok()) return FromStatus(body.status());
  if (!body->is_object() || body->size() != 1 || !body->contains("case_id") ||
      !(*body)["case_id"].is_string()) {
    return ErrorResponse(400, "bad_request", "body must be {\"case_id\": \"...\"}");
  }
  const std::string case_id = (*body)["case_id"].get<std::string>();
  Status valid = ValidateCaseId(case_id);
  if (!valid.ok()) return FromStatus(valid);
  if (auto refused = RefuseSubmission(node_.store(), who, case_id)) return *refused;
  auto id = sealings_->Begin(who.id, case_id);
  if (!id) {
    ApiResponse r = ErrorResponse(
        429, "too_many_sealings",
        "too many sealing uploads are open (at most " + std::to_string(options_.sealings_per_token) +
            " a token, " + std::to_string(options_.sealings_total) +
            " in all); finish or delete one, or wait for an idle one to expire");
    r.headers.emplace_back("Retry-After", "5");
    return r;
  }
  return Json(201, {{"sealing", *id}, {"piece_limit", kMaxChunkBody}});
}

ApiResponse Api::PutSealingPiece(const RouteContext& call, std::string_view id,
                                 std::string_view file_text) {
  const ApiRequest& r = call.request;
  auto file = FileIndex(file_text);
  if (!file.ok()) return FromStatus(file.status());
  auto query = QueryOf(r);
  if (!query.ok()) return FromStatus(query.status());
  auto size = QueryNumber(*query, "size", std::nullopt);
  if (!size.ok()) return FromStatus(size.status());
  auto offset = QueryNumber(*query, "offset", std::nullopt);
  if (!offset.ok()) return FromStatus(offset.status());
  if (r.body.size() > kMaxChunkBody) {
    return ErrorResponse(413, "payload_too_large", "a piece is at most 1 MiB");
  }
  // A piece that does not complete its file is answered as soon as it is known to be the next
  // one, and sealed after: the client's next piece travels meanwhile (a failure from here on is
  // what the next request about the sealing gets). The request (`call.hold`) lives until this
  // handler returns. The piece that completes a file is answered after, with the file's SHA-256.
  bool answered = false;
  auto accepted = [&](const SealingUploads::Progress& will) {
    answered = true;
    call.respond(Json(200, {{"file", will.file}, {"received", will.received}}));
  };
  auto p = sealings_->Put(call.token->id, id, static_cast<uint32_t>(*file), *size, *offset,
                          AsBytes(r.body), accepted);
  if (answered) return Deferred();
  if (!p.ok()) return FromStatus(p.status());
  json answer = {{"file", p->file}, {"received", p->received}};
  if (p->conflict) {
    answer["error"] = "out_of_order";
    answer["message"] = "the node expects file " + std::to_string(p->file) + " from byte " +
                        std::to_string(p->received) + "; nothing of this piece was taken";
    return Json(409, answer);
  }
  if (p->finished_sha256) answer["finished_sha256"] = ToHex(*p->finished_sha256);
  return Json(200, answer);
}

ApiResponse Api::DeleteSealing(const RouteContext& call, std::string_view id) {
  Status st = sealings_->Discard(call.token->id, id);
  if (!st.ok()) return FromStatus(st);
  return Json(200, {{"deleted", true}});
}

namespace {

// A case key, wiped when it goes.
struct CaseKey {
  std::string case_id;
  SymmetricKey key{};
  CaseKey(std::string id, const SymmetricKey& archive_key)
      : case_id(std::move(id)), key(DeriveCaseKey(archive_key, case_id)) {}
  CaseKey(const CaseKey&) = delete;
  CaseKey& operator=(const CaseKey&) = delete;
  ~CaseKey() { OPENSSL_cleanse(key.data(), key.size()); }
  EntryKey entry_key() const { return EntryKey::Case(case_id, key); }
};

// The keys a token reads with. A token limited to cases holds the case key of each of its cases
// and nothing else, so what it can open is bounded by keys (OpenEntry), not only by the
// AllowsCase checks: were one of those to fail open, another case's entries still would not
// open. A token for every case (an admin's) reads with the archive key.
class ReadKeys {
 public:
  ReadKeys(const SymmetricKey& archive_key, const TokenInfo& who)
      : archive_key_(archive_key), all_cases_(who.cases.empty()) {
    for (const std::string& c : who.cases) {
      cases_.push_back(std::make_unique<CaseKey>(c, archive_key));
    }
  }

  // The entry `id` of this node's own log, or of a log it adopted after a recovery
  // (OpenableOrigins), if one of the token's keys opens it. Any other case, another origin's
  // log (a partner's copy) and no such entry all get OpenEntry's one NotFound, so a token
  // learns nothing of entries it may not read.
  Result<OpenedEntry> Open(const ReadTxn& txn, const Hash& id) const {
    if (all_cases_) return OpenReadableEntry(txn, EntryKey::Archive(archive_key_), id);
    for (const auto& k : cases_) {
      auto opened = OpenReadableEntry(txn, k->entry_key(), id);
      if (opened.ok() || opened.status().code() != Code::kNotFound) return opened;
    }
    return Status::NotFound("entry " + ToHex(id) + " not found");  // OpenEntry's very words
  }

  // The key of case `case_id` if the token holds it (one of its cases, or any case for a token
  // of every case), else null.
  std::unique_ptr<CaseKey> ForCase(std::string_view case_id) const {
    if (all_cases_) return std::make_unique<CaseKey>(std::string(case_id), archive_key_);
    for (const auto& k : cases_) {
      if (k->case_id == case_id) return std::make_unique<CaseKey>(k->case_id, archive_key_);
    }
    return nullptr;
  }

 private:
  const SymmetricKey& archive_key_;
  bool all_cases_;
  std::vector<std::unique_ptr<CaseKey>> cases_;
};

json FilesJson(const OpenedEntry& e) {
  json files = json::array();
  for (size_t i = 0; i < e.files.size(); ++i) {
    const FileOpening& f = e.files[i];
    files.push_back({{"index", i},
                     {"descriptor", ToJson(f.descriptor)},
                     {"descriptor_hex", ToHex(Encode(f.descriptor))},
                     {"salt", ToHex(f.salt)},
                     {"commitment", ToHex(e.entry.files[i])}});
  }
  return files;
}

}  // namespace

ApiResponse Api::GetEntry(const TokenInfo& who, std::string_view id_text) {
  auto id = PathId(id_text, "entry id");
  if (!id.ok()) return FromStatus(id.status());
  const ReadKeys keys(node_.archive_key(), who);
  json out;
  Status st = node_.store().View([&](ReadTxn& txn) -> Status {
    KH_ASSIGN_OR_RETURN(OpenedEntry e, keys.Open(txn, *id));
    out = {{"entry_id", ToHex(*id)},
           {"entry", ToJson(e.entry)},
           {"entry_hex", ToHex(e.signed_entry_bytes)},
           {"files", FilesJson(e)},
           {"record",
            {{"origin", ToHex(e.record.origin)},
             {"index", e.record.index},
             {"record_hex", ToHex(e.record_bytes)},
             {"leaf_hash", ToHex(LeafHash(e.record_bytes))}}}};
    return Status::Ok();
  });
  if (!st.ok()) return FromStatus(st);
  return Json(200, out);
}

ApiResponse Api::CaseEntries(const ApiRequest& r, const TokenInfo& who, std::string_view case_id) {
  Status valid = ValidateCaseId(case_id);
  if (!valid.ok()) return FromStatus(valid);
  const ReadKeys keys(node_.archive_key(), who);
  // The key comes from the token's own cases, never from the path alone.
  std::unique_ptr<CaseKey> key = who.AllowsCase(case_id) ? keys.ForCase(case_id) : nullptr;
  if (!key) {
    return ErrorResponse(403, "forbidden", "this token may not read case " + std::string(case_id));
  }
  auto query = QueryOf(r);
  if (!query.ok()) return FromStatus(query.status());
  auto limit = QueryNumber(*query, "limit", 100);
  if (!limit.ok()) return FromStatus(limit.status());
  auto after_param = OptionalQueryNumber(*query, "after");
  if (!after_param.ok()) return FromStatus(after_param.status());
  std::optional<uint64_t> after = *after_param;
  uint64_t page = std::clamp<uint64_t>(*limit, 1, options_.max_page);
  json entries = json::array();
  std::optional<uint64_t> next;
  Status st = node_.store().View([&](ReadTxn& txn) -> Status {
    // The case's log: this node's own, or a log it adopted after a recovery (LogOfCase).
    KH_ASSIGN_OR_RETURN(std::optional<Hash> case_log, LogOfCase(txn, case_id));
    if (!case_log) return Status::Ok();
    const Hash origin = *case_log;
    // The origin's case index: Blind(case id) || 0x00 || origin || index -> record hash. Each
    // position gives a record, the record its sealed entry, and the case key opens that.
    Bytes prefix = keys::CasePrefix(txn, case_id, origin);
    if (after && *after == std::numeric_limits<uint64_t>::max()) return Status::Ok();
    Bytes start = after ? keys::CaseRecord(prefix, *after + 1) : prefix;
    return txn.Scan(Table::kCaseIndex, prefix, [&](ByteView k, ByteView) -> Result<bool> {
      KH_ASSIGN_OR_RETURN(keys::Position at, keys::DecodeCaseRecord(k));
      if (entries.size() == page) {
        next = entries.back()["index"].get<uint64_t>();
        return false;
      }
      KH_ASSIGN_OR_RETURN(LoggedObject logged, ReadLoggedObject(txn, origin, at.index));
      auto opened = OpenEntry(txn, origin, key->entry_key(), logged.record.object_id);
      if (!opened.ok() && opened.status().code() == Code::kNotFound) {
        // The index names it under this case, yet this case's key does not open it.
        return Status::Corruption("record " + std::to_string(at.index) +
                                  " is in the index of case " + std::string(case_id) +
                                  " but its entry is not: run khronika verify");
      }
      if (!opened.ok()) return opened.status();
      const OpenedEntry& e = *opened;
      json files = json::array();
      for (size_t i = 0; i < e.files.size(); ++i) {
        const FileDescriptor& d = e.files[i].descriptor;
        files.push_back({{"index", i}, {"name", d.name}, {"size", d.size},
                         {"media_type", d.media_type}, {"sha256", ToHex(d.content_sha256)}});
      }
      json item = {{"index", at.index},
                   {"origin", ToHex(origin)},
                   {"entry_id", ToHex(e.entry_id)},
                   {"kind", e.entry.kind},
                   {"author", ToHex(e.entry.author)},
                   {"created_at_ms", e.entry.created_at_ms},
                   {"received_at_ms", e.record.received_at_ms},
                   {"metadata", e.entry.metadata},
                   {"files", files}};
      if (e.entry.corrects) item["corrects"] = ToHex(*e.entry.corrects);
      entries.push_back(std::move(item));
      return true;
    }, start);
  });
  if (!st.ok()) return FromStatus(st);
  json out = {{"case", case_id}, {"entries", entries}};
  out["next_after"] = next ? json(*next) : json(nullptr);
  return Json(200, out);
}

namespace {

// The plaintext [begin, end) of one sealed file, opened piece by piece as it is sent: each
// sealed chunk is read in a transaction of its own and checked against its id, and each 16 KiB
// C2SP chunk authenticated, before a byte of it leaves (SealedFileReader).
class SealedFileBody : public BodySource {
 public:
  SealedFileBody(SealedFileReader reader, uint64_t begin, uint64_t end)
      : reader_(std::move(reader)), next_(begin), end_(end), size_(end - begin) {}
  uint64_t size() const override { return size_; }
  Result<Bytes> Next() override {
    if (next_ >= end_) return Bytes();
    const size_t want = static_cast<size_t>(std::min<uint64_t>(end_ - next_, kPiece));
    KH_ASSIGN_OR_RETURN(Bytes piece, reader_.Read(next_, want));
    if (piece.empty()) return Status::Corruption("a sealed file ends before its declared size");
    next_ += piece.size();
    return piece;
  }

 private:
  static constexpr uint64_t kPiece = 1 << 20;
  SealedFileReader reader_;
  uint64_t next_, end_, size_;
};

// A file index in a path: a decimal number below kMaxFilesPerEntry, no sign, no leading zero.

}  // namespace

ApiResponse Api::FileContent(const ApiRequest& r, const TokenInfo& who, std::string_view entry_text,
                             std::string_view index_text) {
  auto entry_id = PathId(entry_text, "entry id");
  if (!entry_id.ok()) return FromStatus(entry_id.status());
  auto index = FileIndex(index_text);
  if (!index.ok()) return FromStatus(index.status());
  // A file is read only through an entry of this log that one of the token's keys opens: the
  // case on record is that entry's.
  const ReadKeys keys(node_.archive_key(), who);
  std::optional<FileDescriptor> descriptor;
  std::optional<SealedFileReader> reader;
  std::string case_id;
  Status st = node_.store().View([&](ReadTxn& txn) -> Status {
    KH_ASSIGN_OR_RETURN(OpenedEntry e, keys.Open(txn, *entry_id));
    if (*index >= e.files.size()) {
      return Status::NotFound("entry " + ToHex(*entry_id) + " has no file " +
                              std::to_string(*index));
    }
    descriptor = e.files[*index].descriptor;
    case_id = e.case_id;
    SymmetricKey file_key = DeriveFileKey(e.case_key, e.sealed.nonce, *index);
    auto opened = SealedFileReader::Open(ChunksOf(node_.store()), e.sealed, *descriptor, file_key,
                                         *index);
    OPENSSL_cleanse(file_key.data(), file_key.size());
    if (!opened.ok()) {
      return Status::Corruption("file " + std::to_string(*index) + " of entry " +
                                ToHex(*entry_id) + ": " + opened.status().message());
    }
    reader.emplace(std::move(*opened));
    return Status::Ok();
  });
  if (!st.ok()) return FromStatus(st);
  const uint64_t size = descriptor->size;
  uint64_t begin = 0, end = size;
  RangeResult range = ParseRange(r.range, size, &begin, &end);
  if (range == RangeResult::kUnsatisfiable) {
    ApiResponse resp = ErrorResponse(416, "range_not_satisfiable", "the range is outside the file");
    resp.headers.emplace_back("Content-Range", "bytes */" + std::to_string(size));
    return resp;
  }
  // The read is on record before the first byte leaves.
  Status logged = node_.store().Update([&](WriteTxn& txn) {
    return RecordAccess(txn, {clock_.NowMs(), who.id, who.role, "read-content",
                              ToHex(*entry_id) + "/" + std::to_string(*index), case_id});
  });
  if (!logged.ok()) return FromStatus(logged);
  ApiResponse resp;
  resp.status = range == RangeResult::kPartial ? 206 : 200;
  resp.content_type = "application/octet-stream";
  resp.headers.emplace_back("Content-Disposition", ContentDisposition(descriptor->name));
  resp.headers.emplace_back("X-Khronika-Media-Type", descriptor->media_type);
  resp.headers.emplace_back("X-Khronika-Sha256", ToHex(descriptor->content_sha256));
  resp.headers.emplace_back("ETag", "\"" + ToHex(descriptor->content_sha256) + "\"");
  resp.headers.emplace_back("Accept-Ranges", "bytes");
  if (range == RangeResult::kPartial) {
    resp.headers.emplace_back("Content-Range", "bytes " + std::to_string(begin) + "-" +
                                                   std::to_string(end - 1) + "/" +
                                                   std::to_string(size));
  }
  resp.source = std::make_shared<SealedFileBody>(std::move(*reader), begin, end);
  return resp;
}

namespace {

class TarBody : public BodySource {
 public:
  TarBody(const Store& store, BundlePlan plan) : tar_(store, std::move(plan)) {}
  uint64_t size() const override { return tar_.size(); }
  Result<Bytes> Next() override { return tar_.Next(); }

 private:
  BundleTar tar_;
};

// "%41" -> "A"; "+" is a space, as browsers' URLSearchParams writes it (a literal "+" comes as
// "%2B" from every encoder).
Result<std::string> PercentDecode(std::string_view s) {
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') {
      out.push_back(' ');
    } else if (s[i] != '%') {
      out.push_back(s[i]);
    } else if (i + 2 < s.size() && hex(s[i + 1]) >= 0 && hex(s[i + 2]) >= 0) {
      out.push_back(static_cast<char>(hex(s[i + 1]) * 16 + hex(s[i + 2])));
      i += 2;
    } else {
      return Status::InvalidArgument("a malformed percent escape in the query string");
    }
  }
  return out;
}

// The selection of a court bundle: `entry=ID` and `file=NAME`, each repeatable, nothing else.
Status ParseBundleQuery(std::string_view query, BundleRequest* request) {
  constexpr size_t kMaxSelected = 1000;
  return ForEachQueryPair(query, [&](std::string_view key, std::string_view value) -> Status {
    if (request->entries.size() + request->file_names.size() >= kMaxSelected) {
      return Status::InvalidArgument("at most 1000 entries and files may be chosen");
    }
    if (key == "entry") {
      KH_ASSIGN_OR_RETURN(Hash id, PathId(value, "entry"));
      request->entries.push_back(id);
    } else if (key == "file") {
      KH_ASSIGN_OR_RETURN(std::string name, PercentDecode(value));
      KH_RETURN_IF_ERROR(ValidateFileName(name).Annotate("file"));
      request->file_names.push_back(std::move(name));
    } else {
      return Status::InvalidArgument("unknown query parameter: a bundle takes entry= and file=");
    }
    return Status::Ok();
  });
}

}  // namespace

ApiResponse Api::CaseBundle(const ApiRequest& r, const TokenInfo& who, std::string_view case_id) {
  Status valid = ValidateCaseId(case_id);
  if (!valid.ok()) return FromStatus(valid);
  const ReadKeys keys(node_.archive_key(), who);
  // A bundle is made with the case key, never the archive key: a plan opens only that case.
  std::unique_ptr<CaseKey> key = who.AllowsCase(case_id) ? keys.ForCase(case_id) : nullptr;
  if (!key) {
    return ErrorResponse(403, "forbidden", "this token may not read case " + std::string(case_id));
  }
  const int64_t now = clock_.NowMs();
  BundleRequest request;
  request.case_id = std::string(case_id);
  request.now_ms = now;
  request.exported_by = "token " + who.id + " (" + RoleName(who.role) + ")";
  request.local_cosigner_vkey = node_.cosigner_verifier_key();
  // The case's reads and exports (custody events): the plan writes only this case's event keys.
  request.custody_key = DeriveCustodyKey(node_.archive_key());
  const size_t q = r.target.find('?');
  Status query = ParseBundleQuery(
      q == std::string::npos ? std::string_view() : std::string_view(r.target).substr(q + 1),
      &request);
  if (!query.ok()) return FromStatus(query);
  Result<BundlePlan> plan = Status::NotFound("unset");
  Status st = node_.store().View([&](ReadTxn& txn) -> Status {
    plan = PlanBundle(txn, key->entry_key(), request);
    return Status::Ok();
  });
  if (!st.ok()) return FromStatus(st);
  if (!plan.ok()) return FromStatus(plan.status());
  // The export is on record before the first byte leaves; what it disclosed, too.
  std::string what = "case bundle";
  if (!request.entries.empty() || !request.file_names.empty()) {
    what += " (chosen: entries " + std::to_string(plan->entries) + ", files " +
            std::to_string(plan->evidence_files) + ")";
  }
  Status logged = node_.store().Update([&](WriteTxn& txn) {
    return RecordAccess(txn, {now, who.id, who.role, "export", what, std::string(case_id)});
  });
  if (!logged.ok()) return FromStatus(logged);
  ApiResponse resp;
  resp.content_type = "application/x-tar";
  resp.headers.emplace_back("Content-Disposition", "attachment; filename=\"khronika-bundle.tar\"");
  resp.headers.emplace_back("X-Khronika-Records", std::to_string(plan->records));
  resp.headers.emplace_back("X-Khronika-Entries", std::to_string(plan->entries));
  resp.headers.emplace_back("X-Khronika-Files", std::to_string(plan->evidence_files));
  resp.source = std::make_shared<TarBody>(node_.store(), std::move(*plan));
  return resp;
}

ApiResponse Api::Session(const TokenInfo& who) {
  json cases = json::array();
  for (const std::string& c : who.cases) cases.push_back(c);
  json out = {{"token_id", who.id},
              {"role", RoleName(who.role)},
              {"all_cases", who.cases.empty()},
              {"cases", cases},
              {"may",
               {{"read_entries", RoleAllows(who.role, Permission::kReadEntries)},
                {"read_content", RoleAllows(who.role, Permission::kReadContent)},
                {"read_log", RoleAllows(who.role, Permission::kReadLog)},
                {"upload", RoleAllows(who.role, Permission::kUpload)},
                {"administer", RoleAllows(who.role, Permission::kAdminister)}}},
              {"node",
               {{"id", ToHex(node_.id())},
                {"name", node_.name()},
                {"public_key", ToHex(node_.key().public_key())},
                {"vkey", node_.verifier_key()}}}};
  return Json(200, out);
}

// The cases of this node's own log (and of a log it adopted after a recovery) that the token may
// read, with how many records each has. A case belongs to the log that created it (only the
// origin indexes its entries by case). A token limited to cases sees exactly those, held here
// or not.
ApiResponse Api::Cases(const TokenInfo& who) {
  std::map<std::string, uint64_t> counts;
  Status st = node_.store().View([&](ReadTxn& txn) -> Status {
    if (!who.cases.empty()) {
      for (const std::string& case_id : who.cases) {
        uint64_t& n = counts[case_id];
        KH_ASSIGN_OR_RETURN(std::optional<Hash> case_log, LogOfCase(txn, case_id));
        if (!case_log) continue;
        KH_RETURN_IF_ERROR(txn.ScanKeys(Table::kCaseIndex,
                                        keys::CasePrefix(txn, case_id, *case_log),
                                        [&](ByteView) -> Result<bool> {
                                          ++n;
                                          return true;
                                        }));
      }
      return Status::Ok();
    }
    // Index keys are Blind(case id) || 0x00 || origin || index: in an encrypted store the case id
    // is a keyed hash, so a case's name is read from one of its entries, opened with the archive
    // key (only a token of every case gets here).
    // A case held in two of these logs is counted in the one that created it, as listed.
    KH_ASSIGN_OR_RETURN(std::vector<Hash> openable, OpenableOrigins(txn));
    Bytes blind;
    Hash current_origin{};
    bool started = false;
    uint64_t* current = nullptr;  // null while in a log that did not create the case
    return txn.ScanKeys(Table::kCaseIndex, {}, [&](ByteView key) -> Result<bool> {
      KH_ASSIGN_OR_RETURN(keys::Position at, keys::DecodeCaseRecord(key));
      if (std::find(openable.begin(), openable.end(), at.origin) == openable.end()) return true;
      ByteView prefix = key.subspan(0, key.size() - 41);
      if (!started || at.origin != current_origin ||
          !std::equal(prefix.begin(), prefix.end(), blind.begin(), blind.end())) {
        started = true;
        blind.assign(prefix.begin(), prefix.end());
        current_origin = at.origin;
        KH_ASSIGN_OR_RETURN(LoggedObject logged, ReadLoggedObject(txn, at.origin, at.index));
        KH_ASSIGN_OR_RETURN(OpenedEntry e,
                            OpenEntry(txn, at.origin, EntryKey::Archive(node_.archive_key()),
                                      logged.record.object_id));
        KH_ASSIGN_OR_RETURN(std::optional<Hash> case_log, LogOfCase(txn, e.case_id));
        current = case_log == at.origin ? &counts[e.case_id] : nullptr;
      }
      if (current) ++*current;
      return true;
    });
  });
  if (!st.ok()) return FromStatus(st);
  json list = json::array();
  for (const auto& [case_id, n] : counts) list.push_back({{"case", case_id}, {"entries", n}});
  return Json(200, {{"cases", list}});
}

ApiResponse Api::Logs() {
  auto logs = LogsJson(node_);
  if (!logs.ok()) return FromStatus(logs.status());
  return Json(200, {{"logs", *logs}});
}

ApiResponse Api::Conflicts() {
  auto conflicts = ConflictsJson(node_);
  if (!conflicts.ok()) return FromStatus(conflicts.status());
  return Json(200, {{"conflicts", *conflicts}});
}

ApiResponse Api::NodeStatus() {
  auto status = NodeStatusJson(node_);
  if (!status.ok()) return FromStatus(status.status());
  return Json(200, *status);
}

ApiResponse Api::AccessLog(const ApiRequest& r) {
  auto query = QueryOf(r);
  if (!query.ok()) return FromStatus(query.status());
  auto limit = QueryNumber(*query, "limit", 100);
  if (!limit.ok()) return FromStatus(limit.status());
  // The custody events sealed in the log, opened with the archive key, then those still
  // pending (docs/format.md section 7.3); the newest first.
  std::vector<ListedCustodyEvent> events;
  Status read = node_.store().View([&](ReadTxn& txn) -> Status {
    KH_ASSIGN_OR_RETURN(events, ListCustody(txn, node_.id(), node_.archive_key()));
    return Status::Ok();
  });
  if (!read.ok()) return FromStatus(read);
  const size_t most = std::clamp<uint64_t>(*limit, 1, options_.max_page);
  json list = json::array();
  for (auto it = events.rbegin(); it != events.rend() && list.size() < most; ++it) {
    json j = CustodyEventJson(it->event);
    if (it->record_index) {
      j["logged"] = {{"record", *it->record_index}, {"slot", it->slot}};
    } else {
      j["logged"] = nullptr;
    }
    list.push_back(std::move(j));
  }
  return Json(200, {{"events", list}});
}

ApiResponse Api::GetCheckpoint() {
  auto cp = node_.log().LatestCheckpoint();
  if (!cp.ok()) return FromStatus(cp.status());
  ApiResponse r;
  r.content_type = "text/plain; charset=utf-8";
  r.body = *cp;
  return r;
}

// The most recent checkpoint of this node's log that other members or external witnesses have
// cosigned, with the cosignatures that verify: the partners' under their witness keys, the
// external witnesses' (khronika.conf `witness =`) apart, under the keys stored with them.
ApiResponse Api::WitnessedCheckpoint() {
  json out = nullptr;
  Status st = node_.store().View([&](ReadTxn& txn) -> Status {
    KH_ASSIGN_OR_RETURN(std::vector<uint64_t> sizes, CosignedSizes(txn, node_.id()));
    KH_ASSIGN_OR_RETURN(std::vector<uint64_t> external, ExternallyCosignedSizes(txn, node_.id()));
    sizes.insert(sizes.end(), external.begin(), external.end());
    std::sort(sizes.begin(), sizes.end());
    sizes.erase(std::unique(sizes.begin(), sizes.end()), sizes.end());
    for (auto it = sizes.rbegin(); it != sizes.rend(); ++it) {
      KH_ASSIGN_OR_RETURN(auto cosigs, VerifiedCosignatures(txn, node_.id(), *it));
      KH_ASSIGN_OR_RETURN(auto externals, VerifiedExternalCosignatures(txn, node_.id(), *it));
      if (cosigs.empty() && externals.empty()) continue;
      KH_ASSIGN_OR_RETURN(std::string note, CheckpointWithCosignatures(txn, node_.id(), *it));
      json list = json::array();
      for (const auto& c : cosigs) {
        list.push_back({{"name", c.name}, {"vkey", c.vkey}, {"timestamp", c.timestamp},
                        {"member", ToHex(c.member)}});
      }
      json external_list = json::array();
      size_t lines = ParseSignedNote(note).value().signatures.size();
      for (const auto& c : externals) {
        external_list.push_back({{"name", c.name}, {"vkey", c.vkey}, {"timestamp", c.timestamp}});
        if (lines++ < kMaxNoteSignatures) note += FormatSignatureLine(c.line);
      }
      out = {{"size", *it}, {"checkpoint", note}, {"cosignatures", list},
             {"external_cosignatures", external_list}};
      break;
    }
    return Status::Ok();
  });
  if (!st.ok()) return FromStatus(st);
  if (out.is_null()) return ErrorResponse(404, "not_found", "no checkpoint of this log is cosigned yet");
  return Json(200, out);
}

ApiResponse Api::InclusionProof(const ApiRequest& r) {
  auto query = QueryOf(r);
  if (!query.ok()) return FromStatus(query.status());
  json out;
  Status st = node_.store().View([&](ReadTxn& txn) -> Status {
    KH_ASSIGN_OR_RETURN(uint64_t index, QueryNumber(*query, "index", std::nullopt));
    KH_ASSIGN_OR_RETURN(std::optional<uint64_t> size, OptionalQueryNumber(*query, "size"));
    // Any log held here (a member's replica too), so an auditor can check every log's records
    // against that log's own checkpoint; this node's own log by default.
    Hash origin = node_.id();
    if (auto it = query->find("origin"); it != query->end()) {
      KH_ASSIGN_OR_RETURN(origin, PathId(it->second, "origin"));
      KH_ASSIGN_OR_RETURN(bool known, txn.Contains(Table::kOrigins, origin));
      if (!known) return Status::NotFound("no log from origin " + ToHex(origin));
    }
    KH_ASSIGN_OR_RETURN(InclusionProofResult p, ProveInclusion(txn, origin, index, size));
    out = ToJson(p);
    return Status::Ok();
  });
  if (!st.ok()) return FromStatus(st);
  return Json(200, out);
}

ApiResponse Api::ConsistencyProof(const ApiRequest& r) {
  auto query = QueryOf(r);
  if (!query.ok()) return FromStatus(query.status());
  json out;
  Status st = node_.store().View([&](ReadTxn& txn) -> Status {
    KH_ASSIGN_OR_RETURN(uint64_t from, QueryNumber(*query, "from", std::nullopt));
    KH_ASSIGN_OR_RETURN(std::optional<uint64_t> to, OptionalQueryNumber(*query, "to"));
    KH_ASSIGN_OR_RETURN(ConsistencyProofResult p, ProveConsistency(txn, node_.id(), from, to));
    out = ToJson(p);
    return Status::Ok();
  });
  if (!st.ok()) return FromStatus(st);
  return Json(200, out);
}

ApiResponse Api::LogRecords(const ApiRequest& r, std::string_view origin_text) {
  auto origin = PathId(origin_text, "origin");
  if (!origin.ok()) return FromStatus(origin.status());
  auto query = QueryOf(r);
  if (!query.ok()) return FromStatus(query.status());
  json records = json::array();
  std::optional<uint64_t> next;
  Status st = node_.store().View([&](ReadTxn& txn) -> Status {
    KH_ASSIGN_OR_RETURN(uint64_t size, LogSize(txn, *origin));
    KH_ASSIGN_OR_RETURN(bool known, txn.Contains(Table::kOrigins, *origin));
    if (!known) return Status::NotFound("no log from origin " + ToHex(*origin));
    KH_ASSIGN_OR_RETURN(uint64_t from, QueryNumber(*query, "from", 0));
    KH_ASSIGN_OR_RETURN(uint64_t limit, QueryNumber(*query, "limit", 100));
    limit = std::clamp<uint64_t>(limit, 1, options_.max_page);
    uint64_t end = from >= size ? from : std::min(size, from + limit);  // from + limit may wrap
    for (uint64_t i = from; i < end; ++i) {
      KH_ASSIGN_OR_RETURN(auto rec, txn.Get(Table::kRecords, keys::Record(*origin, i)));
      if (!rec) return Status::Corruption("record " + std::to_string(i) + " is missing");
      records.push_back({{"index", i}, {"record_hex", ToHex(*rec)}, {"leaf_hash", ToHex(LeafHash(*rec))}});
    }
    if (end < size) next = end;
    return Status::Ok();
  });
  if (!st.ok()) return FromStatus(st);
  json out = {{"origin", ToHex(*origin)}, {"records", records}};
  out["next_from"] = next ? json(*next) : json(nullptr);
  return Json(200, out);
}

namespace {

Result<Hash> OriginParam(const std::map<std::string, std::string>& query) {
  auto it = query.find("origin");
  if (it == query.end()) return Status::InvalidArgument("query parameter origin is required");
  return ParseHashHex(it->second);
}

ApiResponse Binary(Bytes body) {
  ApiResponse resp;
  resp.content_type = "application/octet-stream";
  resp.body.assign(reinterpret_cast<const char*>(body.data()), body.size());
  return resp;
}

// origin, from and to of a sync request's query.
struct LogRange {
  Hash origin{};
  uint64_t from = 0, to = 0;
};
Result<LogRange> LogRangeOf(const ApiRequest& r) {
  KH_ASSIGN_OR_RETURN(auto query, QueryOf(r));
  LogRange range;
  KH_ASSIGN_OR_RETURN(range.origin, OriginParam(query));
  KH_ASSIGN_OR_RETURN(range.from, QueryNumber(query, "from", std::nullopt));
  KH_ASSIGN_OR_RETURN(range.to, QueryNumber(query, "to", std::nullopt));
  return range;
}

}  // namespace

// ---- RFC 3161 timestamps (#16) ----

namespace {

json TimestampJson(const TimestampToken& t) {
  return {{"gen_time", t.gen_time}, {"gen_time_s", t.gen_time_s}, {"tsa_name", t.tsa_name},
          {"tsa_cert_sha256", ToHex(t.tsa_cert_sha256)}};
}

}  // namespace

ApiResponse Api::AskTimestamps(const RouteContext& call) {
  uint64_t min_size = 0;
  if (!call.request.body.empty()) {
    auto body = ParseJsonBody(call.request.body, options_.max_json_depth);
    if (!body.ok()) return FromStatus(body.status());
    bool ok = body->is_object() && body->size() <= 1 &&
              (body->empty() || (body->contains("min_size") &&
                                 (*body)["min_size"].is_number_unsigned()));
    if (!ok) return ErrorResponse(400, "bad_request", "body must be {} or {\"min_size\": N}");
    if (!body->empty()) min_size = (*body)["min_size"].get<uint64_t>();
  }
  if (!on_timestamp_ask_) {
    return ErrorResponse(409, "conflict",
                         "no time-stamping authority is configured (tsa = URL CA_FILE)");
  }
  on_timestamp_ask_(min_size, [respond = call.respond](Result<Timestamper::Round> round) {
    if (!round.ok()) {
      const Status& st = round.status();
      respond(st.code() == Code::kNotFound ? ErrorResponse(409, "conflict", st.message())
                                           : ErrorResponse(503, "unavailable", st.message()));
      return;
    }
    json results = json::array();
    for (const Timestamper::Outcome& o : round->outcomes) {
      json item = {{"tsa", o.url}, {"stored", o.token.has_value()}};
      if (o.token) {
        item.update(TimestampJson(*o.token));
      } else {
        item["error"] = o.error;
      }
      results.push_back(std::move(item));
    }
    respond(Json(200, {{"size", round->size}, {"results", results}}));
  });
  return Deferred();
}

ApiResponse Api::TimestampedCheckpoint() {
  json out = nullptr;
  Status st = node_.store().View([&](ReadTxn& txn) -> Status {
    KH_ASSIGN_OR_RETURN(std::optional<uint64_t> size, LatestTimestampedSize(txn, node_.id()));
    if (!size) return Status::Ok();
    KH_ASSIGN_OR_RETURN(std::vector<StoredTimestamp> tokens, TimestampsAt(txn, node_.id(), *size));
    json list = json::array();
    for (const StoredTimestamp& t : tokens) list.push_back(TimestampJson(t.token));
    out = {{"size", *size}, {"timestamps", list}};
    return Status::Ok();
  });
  if (!st.ok()) return FromStatus(st);
  if (out.is_null()) {
    return ErrorResponse(404, "not_found", "no checkpoint of this log is timestamped yet");
  }
  return Json(200, out);
}

ApiResponse Api::ListTimestamps(const ApiRequest& r) {
  auto query = QueryOf(r);
  if (!query.ok()) return FromStatus(query.status());
  // ?origin=: another log held here, whose tokens came from partners (docs/replication.md).
  Hash origin = node_.id();
  if (query->count("origin")) {
    auto parsed = OriginParam(*query);
    if (!parsed.ok()) return ErrorResponse(400, "bad_request", "origin: " + parsed.status().message());
    origin = *parsed;
  }
  json out;
  Status st = node_.store().View([&](ReadTxn& txn) -> Status {
    KH_ASSIGN_OR_RETURN(std::optional<uint64_t> size, OptionalQueryNumber(*query, "size"));
    if (!size) {
      KH_ASSIGN_OR_RETURN(size, LatestTimestampedSize(txn, origin));
    }
    json list = json::array();
    std::optional<std::string> note;
    if (size) {
      KH_ASSIGN_OR_RETURN(std::vector<StoredTimestamp> tokens, TimestampsAt(txn, origin, *size));
      for (const StoredTimestamp& t : tokens) {
        json item = TimestampJson(t.token);
        item["tsa"] = t.tsa_url;
        item["token"] = Base64Encode(t.token.token);
        item["chain"] = t.token.chain_pem;
        list.push_back(std::move(item));
      }
      KH_ASSIGN_OR_RETURN(std::optional<Bytes> held,
                          txn.Get(Table::kCheckpoints, keys::Checkpoint(origin, *size)));
      if (held) note = std::string(held->begin(), held->end());
    }
    out = {{"origin", ToHex(origin)},
           {"size", size ? json(*size) : json(nullptr)},
           {"checkpoint", note ? json(*note) : json(nullptr)},
           {"timestamps", list}};
    return Status::Ok();
  });
  if (!st.ok()) return FromStatus(st);
  return Json(200, out);
}

// ---- C2SP tlog-witness: this node as a witness of its roster members' logs ----

bool Api::TakeWitnessToken() {
  std::lock_guard lock(witness_mu_);
  auto now = std::chrono::steady_clock::now();
  const double rate = options_.add_checkpoint_per_second;
  const double burst = std::max(1.0, 2 * rate);
  if (witness_last_ == std::chrono::steady_clock::time_point{}) witness_tokens_ = burst;
  witness_tokens_ = std::min(
      burst, witness_tokens_ + rate * std::chrono::duration<double>(now - witness_last_).count());
  witness_last_ = now;
  if (witness_tokens_ < 1) return false;
  witness_tokens_ -= 1;
  return true;
}

ApiResponse Api::AddCheckpoint(const ApiRequest& r) {
  // The spec's clients are logs that send a few checkpoints a minute; anything faster is not
  // one of them, and each request may read a prefix of a log.
  if (!TakeWitnessToken()) {
    ApiResponse busy = ErrorResponse(429, "too_many_requests", "too many add-checkpoint requests");
    busy.headers.emplace_back("Retry-After", "1");
    return busy;
  }
  auto request = ParseAddCheckpointRequest(r.body);
  if (!request.ok()) return ErrorResponse(400, "bad_request", request.status().message());
  Witness witness{node_.cosigner_name(), &node_.cosigner_key()};
  auto answer = WitnessAddCheckpoint(node_.store(), node_.id(), witness, *request,
                                     static_cast<uint64_t>(clock_.NowMs() / 1000));
  if (!answer.ok()) return FromStatus(answer.status());
  ApiResponse out;
  out.status = answer->status;
  switch (answer->status) {
    case 200:
      out.content_type = "text/plain; charset=utf-8";
      out.body = std::move(answer->body);
      return out;
    case 409:
      out.content_type = std::string(kTlogSizeContentType);
      out.body = std::move(answer->body);
      return out;
    case 503: {
      // Not held yet: pull now, so that the log's retry finds it held.
      if (on_notified_) on_notified_();
      ApiResponse later = ErrorResponse(503, "not_held_yet", answer->body);
      later.headers.emplace_back("Retry-After", "1");
      return later;
    }
    case 400: return ErrorResponse(400, "bad_request", answer->body);
    case 403: return ErrorResponse(403, "forbidden", answer->body);
    case 404: return ErrorResponse(404, "unknown_log", answer->body);
    default: return ErrorResponse(answer->status, "unprocessable", answer->body);
  }
}

ApiResponse Api::SyncNotify() {
  if (on_notified_) on_notified_();
  return Json(202, {{"status", "pulling"}});
}

ApiResponse Api::SyncHeads() {
  std::vector<Head> heads;
  Status st = node_.store().View([&](ReadTxn& txn) -> Status {
    KH_ASSIGN_OR_RETURN(heads, LocalHeads(txn));
    return Status::Ok();
  });
  if (!st.ok()) return FromStatus(st);
  ApiResponse resp;
  resp.body = HeadsToJson(node_.id(), heads);
  return resp;
}

ApiResponse Api::SyncConsistency(const ApiRequest& r) {
  auto range = LogRangeOf(r);
  if (!range.ok()) return FromStatus(range.status());
  auto proof = ServeConsistencyProof(node_.store(), range->origin, range->from, range->to);
  if (!proof.ok()) return FromStatus(proof.status());
  return Json(200, {{"origin", ToHex(range->origin)}, {"from", range->from}, {"to", range->to},
                    {"proof", HashArray(*proof)}});
}

ApiResponse Api::SyncPack(const ApiRequest& r) {
  auto range = LogRangeOf(r);
  if (!range.ok()) return FromStatus(range.status());
  if (range->from >= range->to) return ErrorResponse(400, "bad_request", "from must be below to");
  Bytes body;
  Status st = node_.store().View([&](ReadTxn& txn) -> Status {
    KH_ASSIGN_OR_RETURN(body, BuildPack(txn, range->origin, range->from, range->to));
    return Status::Ok();
  });
  if (!st.ok()) return FromStatus(st);
  return Binary(std::move(body));
}

ApiResponse Api::SyncTimestamps(const ApiRequest& r) {
  auto query = QueryOf(r);
  if (!query.ok()) return FromStatus(query.status());
  auto origin = OriginParam(*query);
  if (!origin.ok()) return FromStatus(origin.status());
  auto size = QueryNumber(*query, "size", std::nullopt);
  if (!size.ok()) return FromStatus(size.status());
  std::string body;
  Status st = node_.store().View([&](ReadTxn& txn) -> Status {
    KH_ASSIGN_OR_RETURN(body, BuildTimestampsAnswer(txn, *origin, *size));
    return Status::Ok();
  });
  if (!st.ok()) return FromStatus(st);
  ApiResponse resp;
  resp.body = std::move(body);
  return resp;
}

ApiResponse Api::SyncChunks(const ApiRequest& r) {
  auto body = ParseJsonBody(r.body, options_.max_json_depth);
  if (!body.ok()) return FromStatus(body.status());
  if (!body->is_object() || !(*body)["ids"].is_array() || (*body)["ids"].size() > kMaxChunksPerRequest) {
    return ErrorResponse(400, "bad_request", "body must be {\"ids\": [at most " + std::to_string(kMaxChunksPerRequest) + " chunk ids]}");
  }
  std::vector<Hash> ids;
  for (const json& v : (*body)["ids"]) {
    if (!v.is_string()) return ErrorResponse(400, "bad_request", "ids must be strings");
    auto h = ParseHashHex(v.get<std::string>());
    if (!h.ok()) return FromStatus(h.status());
    ids.push_back(*h);
  }
  Bytes out;
  Status st = node_.store().View([&](ReadTxn& txn) -> Status {
    KH_ASSIGN_OR_RETURN(out, BuildChunkBody(txn, ids));
    return Status::Ok();
  });
  if (!st.ok()) return FromStatus(st);
  return Binary(std::move(out));
}

ApiResponse Api::MetricsText() {
  Store::Usage usage = node_.store().GetUsage();
  ApiResponse r;
  r.content_type = "text/plain; version=0.0.4";
  Metrics::StoreGauges gauges;
  gauges.used_bytes = usage.used_bytes;
  gauges.map_bytes = usage.map_size;
  Status st = node_.store().View([&](ReadTxn& txn) -> Status {
    KH_ASSIGN_OR_RETURN(gauges.conflicts, txn.Count(Table::kConflicts));
    return Status::Ok();
  });
  if (!st.ok()) return FromStatus(st);
  auto scrub = LastScrub(node_.store());
  if (!scrub.ok()) return FromStatus(scrub.status());
  if (*scrub) {
    gauges.scrub_finished_ms = (*scrub)->finished_ms;
    gauges.scrub_damaged = (*scrub)->damaged;
    gauges.scrub_repaired = (*scrub)->repaired;
    gauges.scrub_unrepaired = (*scrub)->unrepaired;
  }
  auto peers = ListPeers(node_.store());
  if (!peers.ok()) return FromStatus(peers.status());
  for (const Peer& p : *peers) {
    if (p.serve_only) continue;  // never pulled from: no lag
    auto status = GetPeerStatus(node_.store(), p.node_id);
    if (!status.ok()) return FromStatus(status.status());
    if (*status) gauges.peer_lag.emplace_back(ToHex(p.node_id).substr(0, 16), (*status)->lag_records);
  }
  gauges.commit_transactions = committer_.transactions();
  gauges.commit_entries = committer_.entries();
  gauges.commit_chunks = committer_.chunks();
  r.body = metrics_.Render(gauges);
  return r;
}

// ---- C2SP tlog-tiles (docs/api.md "Tiles") ------------------------------------------------

namespace {

constexpr std::string_view kTlogPrefix = "/tlog/";
// Full tiles and bundles never change; partial ones do not either, but a log MAY drop them once
// the full one exists, so they are kept briefly; the checkpoint moves with every append.
constexpr std::string_view kCacheFull = "max-age=31536000, immutable";
constexpr std::string_view kCachePartial = "max-age=60";
constexpr std::string_view kCacheCheckpoint = "max-age=5";

}  // namespace

ApiResponse Api::Tlog(const ApiRequest& r, std::string_view path) {
  const bool open = options_.tiles_public;
  auto labelled = [](ApiResponse resp, std::string_view route) {
    resp.route = std::string(route);
    return resp;
  };
  if (!open) {  // the gate first: nothing, not even which logs are here, before it
    auto who = Authenticate(r);
    if (!who.ok()) {
      ApiResponse resp = who.status().code() == Code::kNotFound ||
                                 who.status().code() == Code::kPermissionDenied
                             ? ErrorResponse(401, "unauthorized", who.status().message())
                             : FromStatus(who.status());
      resp.headers.emplace_back("WWW-Authenticate", "Bearer");
      return labelled(std::move(resp), "unauthenticated");
    }
    if (!RoleAllows(who->role, Permission::kReadLog)) {
      return labelled(ErrorResponse(403, "forbidden",
                                    std::string("tokens of role ") + RoleName(who->role) +
                                        " may not read tiles (admin and auditor tokens may)"),
                      "GET /tlog/");
    }
  }
  std::string_view rest = path.substr(kTlogPrefix.size());
  const size_t slash = rest.find('/');
  std::string_view origin_text = rest.substr(0, slash);
  rest = slash == std::string_view::npos ? std::string_view() : rest.substr(slash + 1);
  const bool checkpoint = rest == "checkpoint";
  const bool entries = rest.substr(0, 13) == "tile/entries/";
  const std::string_view route = checkpoint ? "GET /tlog/{origin}/checkpoint"
                                 : entries  ? "GET /tlog/{origin}/tile/entries/{N}"
                                            : "GET /tlog/{origin}/tile/{L}/{N}";
  if (r.method != "GET") {
    ApiResponse resp = ErrorResponse(405, "method_not_allowed", "use GET");
    resp.headers.emplace_back("Allow", "GET");
    return labelled(std::move(resp), route);
  }
  if (r.target.size() != path.size()) {
    return labelled(ErrorResponse(400, "bad_request", "tile paths take no query string"), route);
  }
  auto origin = ParseHashHex(origin_text);
  if (!origin.ok() || ToHex(*origin) != origin_text) {
    return labelled(ErrorResponse(404, "not_found",
                                  "tile paths are /tlog/<origin: 64 lowercase hex>/checkpoint "
                                  "or /tlog/<origin>/tile/..."),
                    route);
  }
  std::optional<TilePath> tile;
  if (!checkpoint) {
    auto parsed = ParseTilePath(rest);
    if (!parsed.ok()) {
      return labelled(ErrorResponse(404, "not_found", parsed.status().message()), route);
    }
    tile = *parsed;
  }
  ApiResponse resp;
  Status st = node_.store().View([&](ReadTxn& txn) -> Status {
    // What is served is the latest checkpoint held and the tree at its size, nothing beyond.
    KH_ASSIGN_OR_RETURN(auto held, LatestHeldCheckpoint(txn, *origin));
    if (!held) return Status::NotFound("no log from origin " + ToHex(*origin) + " here");
    if (checkpoint) {
      KH_ASSIGN_OR_RETURN(resp.body, CheckpointWithCosignatures(txn, *origin, held->size));
      resp.content_type = "text/plain; charset=utf-8";
      return Status::Ok();
    }
    KH_ASSIGN_OR_RETURN(Bytes bytes, tile->entries
                                         ? ReadEntryBundle(txn, *origin, *tile, held->size)
                                         : ReadTile(txn, *origin, *tile, held->size));
    resp.content_type = "application/octet-stream";
    resp.body.assign(reinterpret_cast<const char*>(bytes.data()), bytes.size());
    return Status::Ok();
  });
  if (!st.ok()) return labelled(FromStatus(st), route);
  std::string_view cache = checkpoint        ? kCacheCheckpoint
                           : tile->partial() ? kCachePartial
                                             : kCacheFull;
  // With a token the answer is that token's: only the client may keep it.
  resp.headers.emplace_back("Cache-Control",
                            std::string(open ? "public, " : "private, ") + std::string(cache));
  return labelled(std::move(resp), route);
}

}  // namespace khronika
