#include "khronika/http/api.h"

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <limits>
#include <map>

#include <nlohmann/json.hpp>

#include "khronika/bundle/bundle.h"
#include "khronika/http/logging.h"
#include "khronika/http/node_status.h"
#include "khronika/log/proofs.h"
#include "khronika/replication/protocol.h"
#include "khronika/replication/roster.h"
#include "khronika/replication/scrub.h"
#include "khronika/replication/sync.h"
#include "khronika/replication/witness.h"
#include "khronika/log/store_keys.h"
#include "khronika/schemas/json_view.h"
#include "khronika/schemas/merkle.h"

namespace khronika {
namespace {

using nlohmann::json;

constexpr size_t kMaxChunkBody = kChunkSize;

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

// Query parameters are ids, numbers and case ids: anything needing percent-decoding is refused.
Result<std::map<std::string, std::string>> ParseQuery(std::string_view query) {
  std::map<std::string, std::string> out;
  while (!query.empty()) {
    size_t amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (pair.empty()) continue;
    size_t eq = pair.find('=');
    std::string key(pair.substr(0, eq));
    std::string value(eq == std::string_view::npos ? "" : pair.substr(eq + 1));
    for (char c : key + value) {
      bool ok = std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-';
      if (!ok) return Status::InvalidArgument("unsupported character in query string");
    }
    if (!out.emplace(key, value).second) {
      return Status::InvalidArgument("query parameter " + key + " given twice");
    }
  }
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
    : node_(node), committer_(committer), metrics_(metrics), options_(options), clock_(clock) {}

uint64_t Api::BodyLimit(std::string_view method, std::string_view target) const {
  std::string_view path = target.substr(0, target.find('?'));
  if (method == "PUT" && path.substr(0, 11) == "/v1/chunks/") return kMaxChunkBody;
  if (method == "POST") return options_.max_json_body;
  return 0;
}

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

ApiResponse Api::Handle(const ApiRequest& request) {
  ApiResponse r = Route(request);
  if (r.route.empty()) r.route = "unmatched";
  return r;
}

ApiResponse Api::Route(const ApiRequest& req) {
  std::string_view target = req.target;
  std::string_view path = target.substr(0, target.find('?'));
  auto parts = SplitPath(path);
  const std::string& m = req.method;
  auto with_route = [](ApiResponse r, const char* route) {
    r.route = route;
    return r;
  };

  if (path == "/" || path.substr(0, 9) == "/console/") return ConsoleFile(req, path);
  if (path == "/healthz") {
    if (m != "GET") {
      ApiResponse r = ErrorResponse(405, "method_not_allowed", "use GET");
      r.headers.emplace_back("Allow", "GET");
      return with_route(std::move(r), "GET /healthz");
    }
    return with_route(Json(200, {{"status", "ok"}}), "GET /healthz");
  }
  if (parts.empty() || (parts[0] != "v1" && path != "/metrics")) {
    return ErrorResponse(404, "not_found", "no such endpoint: " + std::string(path));
  }

  // Peers authenticate by their pinned TLS certificate, not by token.
  if (parts.size() == 3 && parts[1] == "sync") {
    return with_route(Sync(req, parts[2]), "sync");
  }

  // Everything below needs a token.
  auto who = Authenticate(req);
  if (!who.ok()) {
    ApiResponse r = who.status().code() == Code::kNotFound || who.status().code() == Code::kPermissionDenied
                        ? ErrorResponse(401, "unauthorized", who.status().message())
                        : FromStatus(who.status());
    r.headers.emplace_back("WWW-Authenticate", "Bearer");
    r.route = "unauthenticated";
    return r;
  }
  const TokenInfo& t = *who;
  auto need = [&](Permission p) { return RoleAllows(t.role, p); };
  auto forbidden = [&](const char* route) {
    return with_route(ErrorResponse(403, "forbidden",
                                    std::string("tokens of role ") + RoleName(t.role) +
                                        " may not use this endpoint"),
                      route);
  };
  auto method_is = [&](const char* expected, const char* route) -> std::optional<ApiResponse> {
    if (m == expected) return std::nullopt;
    ApiResponse r = ErrorResponse(405, "method_not_allowed", std::string("use ") + expected);
    r.headers.emplace_back("Allow", expected);
    r.route = route;
    return r;
  };
  // A route that takes one method and needs one permission: checked in that order, then run.
  auto guarded = [&](const char* method, const char* route, Permission p,
                     const auto& run) -> ApiResponse {
    if (auto r = method_is(method, route)) return *r;
    if (!need(p)) return forbidden(route);
    return with_route(run(), route);
  };

  if (path == "/metrics") {
    if (auto r = method_is("GET", "GET /metrics")) return *r;
    if (t.role != Role::kAdmin && t.role != Role::kAuditor) return forbidden("GET /metrics");
    return with_route(MetricsText(), "GET /metrics");
  }
  size_t n = parts.size();
  if (n == 3 && parts[1] == "chunks" && parts[2] == "missing") {
    return guarded("POST", "POST /v1/chunks/missing", Permission::kUpload,
                   [&] { return ChunksMissing(req, t); });
  }
  if (n == 3 && parts[1] == "chunks") {
    return guarded("PUT", "PUT /v1/chunks/{id}", Permission::kUpload,
                   [&] { return PutChunk(req, t, parts[2]); });
  }
  if (n == 2 && parts[1] == "entries") {
    return guarded("POST", "POST /v1/entries", Permission::kUpload,
                   [&] { return PostEntry(req, t); });
  }
  if (n == 3 && parts[1] == "entries") {
    return guarded("GET", "GET /v1/entries/{id}", Permission::kReadEntries,
                   [&] { return GetEntry(t, parts[2]); });
  }
  if (n == 4 && parts[1] == "cases" && parts[3] == "entries") {
    return guarded("GET", "GET /v1/cases/{case}/entries", Permission::kReadEntries,
                   [&] { return CaseEntries(req, t, parts[2]); });
  }
  if (n == 4 && parts[1] == "cases" && parts[3] == "bundle") {
    return guarded("GET", "GET /v1/cases/{case}/bundle", Permission::kReadContent,
                   [&] { return CaseBundle(t, parts[2]); });
  }
  if (n == 4 && parts[1] == "files" && parts[3] == "content") {
    return guarded("GET", "GET /v1/files/{id}/content", Permission::kReadContent,
                   [&] { return FileContent(req, t, parts[2]); });
  }
  if (n == 2 && parts[1] == "session") {
    if (auto r = method_is("GET", "GET /v1/session")) return *r;
    return with_route(Session(t), "GET /v1/session");
  }
  if (n == 2 && parts[1] == "cases") {
    return guarded("GET", "GET /v1/cases", Permission::kReadEntries, [&] { return Cases(t); });
  }
  if (n == 2 && parts[1] == "logs") {
    return guarded("GET", "GET /v1/logs", Permission::kReadLog, [&] { return Logs(); });
  }
  if (n == 2 && parts[1] == "conflicts") {
    return guarded("GET", "GET /v1/conflicts", Permission::kReadLog, [&] { return Conflicts(); });
  }
  if (n == 3 && parts[1] == "node" && parts[2] == "status") {
    return guarded("GET", "GET /v1/node/status", Permission::kAdminister,
                   [&] { return NodeStatus(); });
  }
  if (n == 2 && parts[1] == "access-log") {
    return guarded("GET", "GET /v1/access-log", Permission::kAdminister,
                   [&] { return AccessLog(req); });
  }
  // Checkpoints and proofs are hashes and signatures only: every role may check its receipts.
  if (n == 2 && parts[1] == "checkpoint") {
    if (auto r = method_is("GET", "GET /v1/checkpoint")) return *r;
    return with_route(GetCheckpoint(), "GET /v1/checkpoint");
  }
  if (n == 3 && parts[1] == "checkpoint" && parts[2] == "witnessed") {
    if (auto r = method_is("GET", "GET /v1/checkpoint/witnessed")) return *r;
    return with_route(WitnessedCheckpoint(), "GET /v1/checkpoint/witnessed");
  }
  if (n == 3 && parts[1] == "proof" && parts[2] == "inclusion") {
    if (auto r = method_is("GET", "GET /v1/proof/inclusion")) return *r;
    return with_route(InclusionProof(req), "GET /v1/proof/inclusion");
  }
  if (n == 3 && parts[1] == "proof" && parts[2] == "consistency") {
    if (auto r = method_is("GET", "GET /v1/proof/consistency")) return *r;
    return with_route(ConsistencyProof(req), "GET /v1/proof/consistency");
  }
  if (n == 4 && parts[1] == "logs" && parts[3] == "records") {
    return guarded("GET", "GET /v1/logs/{origin}/records", Permission::kReadLog,
                   [&] { return LogRecords(req, parts[2]); });
  }
  return ErrorResponse(404, "not_found", "no such endpoint: " + std::string(path));
}

ApiResponse Api::ChunksMissing(const ApiRequest& r, const TokenInfo&) {
  auto body = ParseJsonBody(r.body, options_.max_json_depth);
  if (!body.ok()) return FromStatus(body.status());
  if (!body->is_object() || !body->contains("ids") || !(*body)["ids"].is_array() ||
      body->size() != 1) {
    return ErrorResponse(400, "bad_request", "body must be {\"ids\": [chunk ids]}");
  }
  const json& ids = (*body)["ids"];
  if (ids.size() > options_.max_missing_query) {
    return ErrorResponse(413, "payload_too_large", "at most 65536 ids per request");
  }
  std::vector<Hash> hashes;
  for (const json& v : ids) {
    if (!v.is_string()) return ErrorResponse(400, "bad_request", "ids must be strings");
    auto h = ParseHashHex(v.get<std::string>());
    if (!h.ok()) return ErrorResponse(400, "bad_request", h.status().message());
    hashes.push_back(*h);
  }
  json missing = json::array();
  Status st = node_.store().View([&](ReadTxn& txn) -> Status {
    for (const Hash& h : hashes) {
      KH_ASSIGN_OR_RETURN(bool present, txn.Contains(Table::kChunks, h));
      if (!present) missing.push_back(ToHex(h));
    }
    return Status::Ok();
  });
  if (!st.ok()) return FromStatus(st);
  return Json(200, {{"missing", missing}});
}

ApiResponse Api::PutChunk(const ApiRequest& r, const TokenInfo&, std::string_view id_text) {
  auto id = PathId(id_text, "chunk id");
  if (!id.ok()) return FromStatus(id.status());
  if (r.body.size() > kMaxChunkBody) {
    return ErrorResponse(413, "payload_too_large", "a chunk is at most 1 MiB");
  }
  if (ChunkId(AsBytes(r.body)) != *id) {
    return ErrorResponse(422, "hash_mismatch", "the body's SHA-256 is not the chunk id");
  }
  bool created = false;
  Status st = node_.store().Update([&](WriteTxn& txn) -> Status {
    KH_ASSIGN_OR_RETURN(bool present, txn.Contains(Table::kChunks, *id));
    if (present) return Status::Ok();
    created = true;
    return txn.Put(Table::kChunks, *id, AsBytes(r.body));
  });
  if (!st.ok()) return FromStatus(st);
  if (created) metrics_.AddBytesStored(r.body.size());
  return Json(created ? 201 : 200, {{"id", ToHex(*id)}, {"stored", created}});
}

ApiResponse Api::PostEntry(const ApiRequest& r, const TokenInfo& who) {
  auto body = ParseJsonBody(r.body, options_.max_json_depth);
  if (!body.ok()) return FromStatus(body.status());
  if (!body->is_object() || !body->contains("entry") || !body->contains("manifests") ||
      !(*body)["manifests"].is_array() || body->size() != 2) {
    return ErrorResponse(400, "bad_request", "body must be {\"entry\": {...}, \"manifests\": [...]}");
  }
  Submission s;
  auto entry = EntryFromJson((*body)["entry"]);
  if (!entry.ok()) return FromStatus(entry.status());
  s.entry = std::move(entry).value();
  if ((*body)["manifests"].size() > kMaxManifestsPerEntry) {
    return ErrorResponse(400, "bad_request", "too many manifests");
  }
  for (const json& mj : (*body)["manifests"]) {
    auto m = ManifestFromJson(mj);
    if (!m.ok()) return FromStatus(m.status());
    s.manifests.push_back(std::move(m).value());
  }
  if (!who.AllowsCase(s.entry.case_id)) {
    return ErrorResponse(403, "forbidden", "this token may not submit to case " + s.entry.case_id);
  }
  Hash entry_id = ObjectId(Encode(s.entry));
  auto restoring = RestorePending(node_.store());
  if (!restoring.ok()) return FromStatus(restoring.status());
  if (*restoring) {
    return ErrorResponse(503, "restoring",
                         "this node is being restored and takes no entries until `khronika sync` "
                         "has brought its own log back from every peer");
  }
  // Signature and content checks run here, on a worker thread, outside the writer lock.
  auto checked = node_.log().Check(std::move(s));
  if (!checked.ok()) {
    const Status& st = checked.status();
    if (st.code() == Code::kPermissionDenied) {
      return ErrorResponse(422, "invalid_signature", st.message());
    }
    if (st.code() == Code::kNotFound) return ErrorResponse(422, "missing_chunks", st.message());
    return FromStatus(st, true);
  }
  Result<Receipt> receipt = committer_.Submit(std::move(checked).value()).get();
  if (!receipt.ok() && receipt.status().code() == Code::kAlreadyExists) {
    // The client lost our first answer and tried again: give it the receipt it missed.
    auto again = node_.log().ReceiptFor(entry_id);
    if (again.ok()) return Json(200, ReceiptJson(*again, node_.key().public_key()));
  }
  if (!receipt.ok()) {
    const Status& st = receipt.status();
    if (st.code() == Code::kPermissionDenied) return ErrorResponse(422, "unknown_author", st.message());
    return FromStatus(st, true);
  }
  metrics_.AddEntriesAppended(1);
  if (on_appended_) on_appended_();
  return Json(201, ReceiptJson(*receipt, node_.key().public_key()));
}

ApiResponse Api::GetEntry(const TokenInfo& who, std::string_view id_text) {
  auto id = PathId(id_text, "entry id");
  if (!id.ok()) return FromStatus(id.status());
  json out;
  Status st = node_.store().View([&](ReadTxn& txn) -> Status {
    KH_ASSIGN_OR_RETURN(auto location, txn.Get(Table::kEntryIndex, *id));
    KH_ASSIGN_OR_RETURN(auto eb, txn.Get(Table::kObjects, *id));
    if (!location || !eb) return Status::NotFound("no entry " + ToHex(*id));
    if (ObjectId(*eb) != *id) return Status::Corruption("entry " + ToHex(*id) + " is damaged");
    KH_ASSIGN_OR_RETURN(Entry e, DecodeEntry(*eb));
    if (!who.AllowsCase(e.case_id)) {
      return Status::PermissionDenied("this token may not read case " + e.case_id);
    }
    json manifests = json::array();
    for (const Hash& mid : e.manifests) {
      KH_ASSIGN_OR_RETURN(auto mb, txn.Get(Table::kObjects, mid));
      if (!mb) return Status::Corruption("manifest " + ToHex(mid) + " is missing");
      KH_ASSIGN_OR_RETURN(FileManifest m, DecodeManifest(*mb));
      manifests.push_back({{"id", ToHex(mid)}, {"manifest", ToJson(m)}, {"manifest_hex", ToHex(*mb)}});
    }
    Hash origin;
    std::copy(location->begin(), location->begin() + 32, origin.begin());
    uint64_t index = ReadBigEndian64(location->data() + 32);
    KH_ASSIGN_OR_RETURN(auto rec, txn.Get(Table::kRecords, keys::Record(origin, index)));
    if (!rec) return Status::Corruption("record " + std::to_string(index) + " is missing");
    out = {{"entry_id", ToHex(*id)},
           {"entry", ToJson(e)},
           {"entry_hex", ToHex(*eb)},
           {"manifests", manifests},
           {"record",
            {{"origin", ToHex(origin)},
             {"index", index},
             {"record_hex", ToHex(*rec)},
             {"leaf_hash", ToHex(LeafHash(*rec))}}}};
    return Status::Ok();
  });
  if (!st.ok()) return FromStatus(st);
  return Json(200, out);
}

ApiResponse Api::CaseEntries(const ApiRequest& r, const TokenInfo& who, std::string_view case_id) {
  Status valid = ValidateCaseId(case_id);
  if (!valid.ok()) return FromStatus(valid);
  if (!who.AllowsCase(case_id)) {
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
  Hash origin = node_.id();
  json entries = json::array();
  std::optional<uint64_t> next;
  Status st = node_.store().View([&](ReadTxn& txn) -> Status {
    Bytes prefix = keys::CasePrefix(txn, case_id, origin);
    if (after && *after == std::numeric_limits<uint64_t>::max()) return Status::Ok();
    Bytes start = after ? keys::CaseRecord(txn, case_id, origin, *after + 1) : prefix;
    return txn.Scan(Table::kCaseIndex, prefix, [&](ByteView key, ByteView) -> Result<bool> {
      uint64_t index = ReadBigEndian64(key.data() + key.size() - 8);
      if (entries.size() == page) {
        next = entries.back()["index"].get<uint64_t>();
        return false;
      }
      KH_ASSIGN_OR_RETURN(LoggedEntry logged, ReadLoggedEntry(txn, origin, index));
      const Record& rec = logged.record;
      const Entry& e = logged.entry;
      json files = json::array();
      for (const Hash& mid : e.manifests) {
        KH_ASSIGN_OR_RETURN(auto mb, txn.Get(Table::kObjects, mid));
        if (!mb) return Status::Corruption("manifest " + ToHex(mid) + " is missing");
        KH_ASSIGN_OR_RETURN(FileManifest m, DecodeManifest(*mb));
        files.push_back({{"manifest_id", ToHex(mid)}, {"name", m.name}, {"size", m.size},
                         {"media_type", m.media_type}, {"sha256", ToHex(m.content_sha256)}});
      }
      entries.push_back({{"index", index},
                         {"origin", ToHex(origin)},
                         {"entry_id", ToHex(rec.entry_id)},
                         {"kind", e.kind},
                         {"author", ToHex(e.author)},
                         {"created_at_ms", e.created_at_ms},
                         {"received_at_ms", rec.received_at_ms},
                         {"metadata", e.metadata},
                         {"files", files}});
      return true;
    }, start);
  });
  if (!st.ok()) return FromStatus(st);
  json out = {{"case", case_id}, {"entries", entries}};
  out["next_after"] = next ? json(*next) : json(nullptr);
  return Json(200, out);
}

ApiResponse Api::FileContent(const ApiRequest& r, const TokenInfo& who, std::string_view id_text) {
  auto id = PathId(id_text, "file id");
  if (!id.ok()) return FromStatus(id.status());
  FileManifest manifest;
  std::string allowed_case;
  bool exists = false;
  Status st = node_.store().View([&](ReadTxn& txn) -> Status {
    KH_ASSIGN_OR_RETURN(auto mb, txn.Get(Table::kObjects, *id));
    if (!mb) return Status::Ok();
    if (ObjectId(*mb) != *id) return Status::Corruption("manifest " + ToHex(*id) + " is damaged");
    KH_ASSIGN_OR_RETURN(manifest, DecodeManifest(*mb));
    // A file may belong to entries of several cases; the token needs one of them.
    return txn.Scan(Table::kManifestEntries, *id, [&](ByteView key, ByteView) -> Result<bool> {
      Hash entry_id;
      std::copy(key.begin() + 32, key.end(), entry_id.begin());
      KH_ASSIGN_OR_RETURN(auto eb, txn.Get(Table::kObjects, entry_id));
      if (!eb) return true;
      KH_ASSIGN_OR_RETURN(Entry e, DecodeEntry(*eb));
      exists = true;
      if (who.AllowsCase(e.case_id)) {
        allowed_case = e.case_id;
        return false;
      }
      return true;
    });
  });
  if (!st.ok()) return FromStatus(st);
  if (!exists) return ErrorResponse(404, "not_found", "no file " + ToHex(*id));
  if (allowed_case.empty()) {
    return ErrorResponse(403, "forbidden", "this token may not read the cases holding this file");
  }
  uint64_t begin = 0, end = manifest.size;
  RangeResult range = ParseRange(r.range, manifest.size, &begin, &end);
  if (range == RangeResult::kUnsatisfiable) {
    ApiResponse resp = ErrorResponse(416, "range_not_satisfiable", "the range is outside the file");
    resp.headers.emplace_back("Content-Range", "bytes */" + std::to_string(manifest.size));
    return resp;
  }
  // The read is on record before the first byte leaves.
  Status logged = node_.store().Update([&](WriteTxn& txn) {
    return RecordAccess(txn, {clock_.NowMs(), who.id, who.role, "read-content", ToHex(*id),
                              allowed_case});
  });
  if (!logged.ok()) return FromStatus(logged);
  ApiResponse resp;
  resp.status = range == RangeResult::kPartial ? 206 : 200;
  resp.content_type = "application/octet-stream";
  resp.headers.emplace_back("Content-Disposition", ContentDisposition(manifest.name));
  resp.headers.emplace_back("X-Khronika-Media-Type", manifest.media_type);
  resp.headers.emplace_back("X-Khronika-Sha256", ToHex(manifest.content_sha256));
  resp.headers.emplace_back("ETag", "\"" + ToHex(manifest.content_sha256) + "\"");
  resp.headers.emplace_back("Accept-Ranges", "bytes");
  if (range == RangeResult::kPartial) {
    resp.headers.emplace_back("Content-Range", "bytes " + std::to_string(begin) + "-" +
                                                   std::to_string(end - 1) + "/" +
                                                   std::to_string(manifest.size));
  }
  resp.stream = ContentStream{std::move(manifest), begin, end};
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

}  // namespace

ApiResponse Api::CaseBundle(const TokenInfo& who, std::string_view case_id) {
  Status valid = ValidateCaseId(case_id);
  if (!valid.ok()) return FromStatus(valid);
  if (!who.AllowsCase(case_id)) {
    return ErrorResponse(403, "forbidden", "this token may not read case " + std::string(case_id));
  }
  const int64_t now = clock_.NowMs();
  BundleRequest request{std::string(case_id), now,
                        "token " + who.id + " (" + RoleName(who.role) + ")",
                        node_.cosigner_verifier_key()};
  Result<BundlePlan> plan = Status::NotFound("unset");
  Status st = node_.store().View([&](ReadTxn& txn) -> Status {
    plan = PlanBundle(txn, request);
    return Status::Ok();
  });
  if (!st.ok()) return FromStatus(st);
  if (!plan.ok()) return FromStatus(plan.status());
  // The export is on record before the first byte leaves.
  Status logged = node_.store().Update([&](WriteTxn& txn) {
    return RecordAccess(txn, {now, who.id, who.role, "export", "case bundle", std::string(case_id)});
  });
  if (!logged.ok()) return FromStatus(logged);
  ApiResponse resp;
  resp.content_type = "application/x-tar";
  resp.headers.emplace_back("Content-Disposition", "attachment; filename=\"khronika-bundle.tar\"");
  resp.headers.emplace_back("X-Khronika-Entries", std::to_string(plan->entries));
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

// The cases the token may read, with how many records of each this node holds: in its own log
// (what GET /v1/cases/{case}/entries lists) and in the members' logs it keeps (what a court
// bundle adds). A token limited to cases sees exactly those, held here or not.
ApiResponse Api::Cases(const TokenInfo& who) {
  struct Count {
    uint64_t own = 0, others = 0;
  };
  std::map<std::string, Count> counts;
  const Hash own = node_.id();
  // Case index keys are Blind(case id) || 0x00 || origin (32) || index (8): in an encrypted
  // store the case id is a keyed hash, so a case's name is read from one of its entries.
  auto tally = [&](ByteView key, Count& c) {
    (std::equal(own.begin(), own.end(), key.end() - 40) ? c.own : c.others) += 1;
  };
  Status st = node_.store().View([&](ReadTxn& txn) -> Status {
    if (!who.cases.empty()) {
      for (const std::string& case_id : who.cases) {
        Count& c = counts[case_id];
        KH_RETURN_IF_ERROR(txn.Scan(Table::kCaseIndex, keys::CaseIdPrefix(txn, case_id),
                                    [&](ByteView key, ByteView) -> Result<bool> {
                                      if (key.size() < 41) return Status::Corruption("a case index key is too short");
                                      tally(key, c);
                                      return true;
                                    }));
      }
      return Status::Ok();
    }
    Bytes blind;
    Count* current = nullptr;
    return txn.Scan(Table::kCaseIndex, {}, [&](ByteView key, ByteView) -> Result<bool> {
      if (key.size() < 42 || key[key.size() - 41] != 0) {
        return Status::Corruption("a case index key has the wrong form");
      }
      ByteView prefix = key.subspan(0, key.size() - 41);
      if (!current || !std::equal(prefix.begin(), prefix.end(), blind.begin(), blind.end())) {
        blind.assign(prefix.begin(), prefix.end());
        Hash origin;
        std::copy(key.end() - 40, key.end() - 8, origin.begin());
        uint64_t index = ReadBigEndian64(key.data() + key.size() - 8);
        KH_ASSIGN_OR_RETURN(LoggedEntry logged, ReadLoggedEntry(txn, origin, index));
        current = &counts[logged.entry.case_id];
      }
      tally(key, *current);
      return true;
    });
  });
  if (!st.ok()) return FromStatus(st);
  json list = json::array();
  for (const auto& [case_id, n] : counts) {
    list.push_back({{"case", case_id}, {"entries", n.own}, {"replicated_entries", n.others}});
  }
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
  auto events = ListRecentAccess(node_.store(), std::clamp<uint64_t>(*limit, 1, options_.max_page));
  if (!events.ok()) return FromStatus(events.status());
  json list = json::array();
  for (const AccessEvent& e : *events) {
    list.push_back(AccessEventJson(e));
  }
  return Json(200, {{"events", list}});
}

Result<Bytes> Api::ReadChunk(const Hash& id) const { return khronika::ReadChunk(node_.store(), id); }

ApiResponse Api::GetCheckpoint() {
  auto cp = node_.log().LatestCheckpoint();
  if (!cp.ok()) return FromStatus(cp.status());
  ApiResponse r;
  r.content_type = "text/plain; charset=utf-8";
  r.body = *cp;
  return r;
}

// The most recent checkpoint of this node's log that other members have cosigned, with the
// cosignatures that verify under their witness keys.
ApiResponse Api::WitnessedCheckpoint() {
  json out = nullptr;
  Status st = node_.store().View([&](ReadTxn& txn) -> Status {
    std::vector<uint64_t> sizes;
    KH_RETURN_IF_ERROR(txn.Scan(Table::kCosignatures, node_.id(), [&](ByteView key, ByteView) -> Result<bool> {
      if (key.size() >= 40) sizes.push_back(ReadBigEndian64(key.data() + 32));
      return true;
    }));
    std::sort(sizes.begin(), sizes.end());
    sizes.erase(std::unique(sizes.begin(), sizes.end()), sizes.end());
    for (auto it = sizes.rbegin(); it != sizes.rend(); ++it) {
      KH_ASSIGN_OR_RETURN(auto cosigs, VerifiedCosignatures(txn, node_.id(), *it));
      if (cosigs.empty()) continue;
      KH_ASSIGN_OR_RETURN(std::string note, CheckpointWithCosignatures(txn, node_.id(), *it));
      json list = json::array();
      for (const auto& c : cosigs) {
        list.push_back({{"name", c.name}, {"vkey", c.vkey}, {"timestamp", c.timestamp},
                        {"member", ToHex(c.member)}});
      }
      out = {{"size", *it}, {"checkpoint", note}, {"cosignatures", list}};
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

ApiResponse Api::Sync(const ApiRequest& r, std::string_view what) {
  std::optional<Peer> peer;
  Status st = node_.store().View([&](ReadTxn& txn) -> Status {
    KH_ASSIGN_OR_RETURN(peer, PeerByCertificate(txn, r.peer_cert_sha256));
    return Status::Ok();
  });
  if (!st.ok()) return FromStatus(st);
  if (!peer) {
    return ErrorResponse(403, "forbidden",
                         "sync is only for configured peers presenting their pinned certificate");
  }
  auto query = QueryOf(r);
  if (!query.ok()) return FromStatus(query.status());
  auto origin_of = [&]() -> Result<Hash> {
    auto it = query->find("origin");
    if (it == query->end()) return Status::InvalidArgument("query parameter origin is required");
    return ParseHashHex(it->second);
  };
  auto binary = [](Bytes body) {
    ApiResponse resp;
    resp.content_type = "application/octet-stream";
    resp.body.assign(reinterpret_cast<const char*>(body.data()), body.size());
    return resp;
  };
  if (what == "notify" && r.method == "POST") {
    if (on_notified_) on_notified_();
    return Json(202, {{"status", "pulling"}});
  }
  if (what == "heads" && r.method == "GET") {
    std::vector<Head> heads;
    st = node_.store().View([&](ReadTxn& txn) -> Status {
      KH_ASSIGN_OR_RETURN(heads, LocalHeads(txn));
      return Status::Ok();
    });
    if (!st.ok()) return FromStatus(st);
    ApiResponse resp;
    resp.body = HeadsToJson(node_.id(), heads);
    return resp;
  }
  if (what == "consistency" && r.method == "GET") {
    auto origin = origin_of();
    if (!origin.ok()) return FromStatus(origin.status());
    auto from = QueryNumber(*query, "from", std::nullopt);
    auto to = QueryNumber(*query, "to", std::nullopt);
    if (!from.ok()) return FromStatus(from.status());
    if (!to.ok()) return FromStatus(to.status());
    auto proof = ServeConsistencyProof(node_.store(), *origin, *from, *to);
    if (!proof.ok()) return FromStatus(proof.status());
    return Json(200, {{"origin", ToHex(*origin)}, {"from", *from}, {"to", *to}, {"proof", HashArray(*proof)}});
  }
  if (what == "pack" && r.method == "GET") {
    auto origin = origin_of();
    if (!origin.ok()) return FromStatus(origin.status());
    auto from = QueryNumber(*query, "from", std::nullopt);
    auto to = QueryNumber(*query, "to", std::nullopt);
    if (!from.ok()) return FromStatus(from.status());
    if (!to.ok()) return FromStatus(to.status());
    if (*from >= *to) return ErrorResponse(400, "bad_request", "from must be below to");
    Bytes body;
    st = node_.store().View([&](ReadTxn& txn) -> Status {
      KH_ASSIGN_OR_RETURN(body, BuildPack(txn, *origin, *from, *to));
      return Status::Ok();
    });
    if (!st.ok()) return FromStatus(st);
    return binary(std::move(body));
  }
  if (what == "chunks" && r.method == "POST") {
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
    st = node_.store().View([&](ReadTxn& txn) -> Status {
      KH_ASSIGN_OR_RETURN(out, BuildChunkBody(txn, ids));
      return Status::Ok();
    });
    if (!st.ok()) return FromStatus(st);
    return binary(std::move(out));
  }
  return ErrorResponse(404, "not_found", "no such sync endpoint");
}

ApiResponse Api::MetricsText() {
  Store::Usage usage = node_.store().GetUsage();
  ApiResponse r;
  r.content_type = "text/plain; version=0.0.4";
  Metrics::StoreGauges gauges{usage.used_bytes, usage.map_size, 0};
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
  r.body = metrics_.Render(gauges);
  return r;
}

}  // namespace khronika
