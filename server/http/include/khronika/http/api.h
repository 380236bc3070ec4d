// The node's HTTP API v1 as a plain function from request to response (docs/api.md), so that it
// is tested without sockets. The session layer (server.h) owns sockets, TLS, limits and
// streaming; this layer owns routing, authentication, authorisation and the store.
#pragma once

#include <functional>
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "khronika/auth/auth.h"
#include "khronika/http/group_commit.h"
#include "khronika/http/metrics.h"
#include "khronika/http/timestamper.h"
#include "khronika/log/node.h"

namespace khronika {
class SealingUploads;

struct ApiOptions {
  // POST bodies. A file's upload chunk ids are ~67 bytes of JSON per MiB of content, so a
  // submission names at most about 120 GiB; larger files are added locally (`khronika add`).
  uint64_t max_json_body = 8 << 20;
  size_t max_json_depth = 32;
  size_t max_missing_query = 65536;  // ids in one POST /v1/chunks/missing
  size_t max_page = 1000;
  // C2SP tlog-tiles under /tlog/ (docs/api.md "Tiles"): false, an admin or auditor token is
  // needed; true (`tiles_public = true` in khronika.conf), anyone may read them.
  bool tiles_public = false;
  // POST /add-checkpoint (C2SP tlog-witness): requests a second, in bursts of twice as many.
  double add_checkpoint_per_second = 10;
  // Sealing uploads (POST /v1/sealings): open at once per token and in all, and how long one
  // may sit idle before it is discarded with what it wrote.
  size_t sealings_per_token = 4;
  size_t sealings_total = 16;
  std::chrono::steady_clock::duration sealing_idle = std::chrono::minutes(10);
};

struct ApiRequest {
  std::string method;  // "GET", "PUT", ...
  std::string target;  // path and query, as sent
  std::string authorization;
  std::string range;  // the Range header, if any
  std::string if_none_match;  // the If-None-Match header, if any (console files)
  std::string body;
  std::string peer_cert_sha256;  // the TLS client certificate's SHA-256, if one was presented
};

// A body made piece by piece as it is sent (a file's plaintext opened from its sealed chunks, a
// court bundle's .tar), with its size known first. Next() runs on the session's strand and opens
// a read transaction of its own for each piece: none is held between pieces.
class BodySource {
 public:
  virtual ~BodySource() = default;
  virtual uint64_t size() const = 0;
  virtual Result<Bytes> Next() = 0;  // empty once the body is complete
};

struct ApiResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  std::shared_ptr<BodySource> source;
  std::string route;  // route pattern for metrics, e.g. "GET /v1/entries/{id}"
};

// A JSON error body: {"error": code, "message": text}.
ApiResponse ErrorResponse(int status, std::string_view code, std::string_view message);

// Headers on every answer of the node, API and console alike (docs/api.md section 6): a strict
// Content-Security-Policy (no inline script or style, nothing from another origin, no framing),
// X-Content-Type-Options: nosniff and Referrer-Policy: no-referrer.
const std::vector<std::pair<std::string, std::string>>& SecurityHeaders();

// A file of the web console: "/" is index.html, "/console/NAME" the others; 404 for any other
// name, 405 for another method than GET, 304 when If-None-Match is the file's ETag. No token:
// the console holds no data, it asks the API with the token its user types in.
ApiResponse ConsoleFile(const ApiRequest& request, std::string_view path);

class Api {
 public:
  Api(Node& node, GroupCommitter& committer, Metrics& metrics, ApiOptions options = {},
      Clock& clock = SystemClock());
  ~Api();  // discards the sealing uploads still open

  // The largest body the route for this request head accepts (0: none), so that a session can
  // refuse an oversized body with 413 before reading it.
  uint64_t BodyLimit(std::string_view method, std::string_view target) const;

  // Answers `request` through `done`: at once on the caller's thread, or, for a route that waits
  // for a group commit (PUT /v1/chunks/{id}, POST /v1/entries), from the thread that completes
  // the commit (the committer's Post), with no thread waiting meanwhile. `done` runs exactly once.
  using Respond = std::function<void(ApiResponse)>;
  void HandleAsync(std::shared_ptr<const ApiRequest> request, Respond done);
  // The same, waited for (tests and fuzzing).
  ApiResponse Handle(const ApiRequest& request);

  // One route of the API (api.cc's table: method, path pattern, gate, permission, body).
  struct RouteSpec;
  struct RouteContext;

  // Called after an entry was committed here, and when a peer says it has news.
  void OnAppended(std::function<void()> fn) { on_appended_ = std::move(fn); }
  void OnPeerNotified(std::function<void()> fn) { on_notified_ = std::move(fn); }
  // POST /v1/checkpoint/timestamp (#16): asks the TSAs now (Timestamper::AskNow); unset, the
  // route answers that no TSA is configured.
  using TimestampAsk =
      std::function<void(uint64_t min_size, std::function<void(Result<Timestamper::Round>)>)>;
  void OnTimestampAsk(TimestampAsk fn) { on_timestamp_ask_ = std::move(fn); }

 private:
  static const std::vector<RouteSpec>& Routes();
  static std::vector<const RouteSpec*> MatchRoutes(std::string_view path,
                                                   std::vector<std::string_view>* params);
  ApiResponse Route(std::shared_ptr<const ApiRequest> request, const Respond& done);
  Result<TokenInfo> Authenticate(const ApiRequest& request) const;

  ApiResponse ChunksMissing(const ApiRequest& r, const TokenInfo& who);
  ApiResponse PutChunk(const RouteContext& call, std::string_view id);
  ApiResponse PostEntry(const RouteContext& call);
  ApiResponse BeginSealing(const RouteContext& call);
  ApiResponse PutSealingPiece(const RouteContext& call, std::string_view id,
                              std::string_view file);
  ApiResponse DeleteSealing(const RouteContext& call, std::string_view id);
  ApiResponse GetEntry(const TokenInfo& who, std::string_view id);
  ApiResponse CaseEntries(const ApiRequest& r, const TokenInfo& who, std::string_view case_id);
  ApiResponse FileContent(const ApiRequest& r, const TokenInfo& who, std::string_view entry_id,
                          std::string_view file_index);
  ApiResponse CaseBundle(const ApiRequest& r, const TokenInfo& who, std::string_view case_id);
  ApiResponse Session(const TokenInfo& who);
  ApiResponse Cases(const TokenInfo& who);
  ApiResponse Logs();
  ApiResponse Conflicts();
  ApiResponse NodeStatus();
  ApiResponse AccessLog(const ApiRequest& r);
  ApiResponse GetCheckpoint();
  ApiResponse WitnessedCheckpoint();
  ApiResponse InclusionProof(const ApiRequest& r);
  ApiResponse ConsistencyProof(const ApiRequest& r);
  ApiResponse LogRecords(const ApiRequest& r, std::string_view origin);
  ApiResponse MetricsText();
  ApiResponse SyncNotify();
  ApiResponse SyncHeads();
  ApiResponse SyncConsistency(const ApiRequest& r);
  ApiResponse SyncPack(const ApiRequest& r);
  ApiResponse SyncChunks(const ApiRequest& r);
  ApiResponse SyncTimestamps(const ApiRequest& r);
  // C2SP tlog-tiles: /tlog/<origin hex>/checkpoint, /tlog/<origin hex>/tile/... (own gate).
  ApiResponse Tlog(const ApiRequest& r, std::string_view path);
  // RFC 3161 timestamps (#16)
  ApiResponse AskTimestamps(const RouteContext& call);
  ApiResponse ListTimestamps(const ApiRequest& r);
  ApiResponse TimestampedCheckpoint();
  ApiResponse AddCheckpoint(const ApiRequest& r);
  bool TakeWitnessToken();

  Node& node_;
  GroupCommitter& committer_;
  std::unique_ptr<SealingUploads> sealings_;
  Metrics& metrics_;
  ApiOptions options_;
  Clock& clock_;
  std::function<void()> on_appended_;
  std::function<void()> on_notified_;
  TimestampAsk on_timestamp_ask_;
  // The token bucket of POST /add-checkpoint.
  std::mutex witness_mu_;
  double witness_tokens_ = 0;
  std::chrono::steady_clock::time_point witness_last_{};
};

}  // namespace khronika
