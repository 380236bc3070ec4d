// Asking a time-stamping authority (RFC 3161 over HTTP, RFC 3161 section 3.4): one POST of a
// TimeStampReq as application/timestamp-query, one TimeStampResp back, within one deadline.
// Used by the Timestamper (timestamper.h) on its own threads, never on a request's path.
#pragma once

#include <chrono>
#include <mutex>
#include <set>
#include <string>

#include "khronika/schemas/bytes.h"

namespace khronika {

// A TSA's address: http:// or https:// (verified against the system's CA store and the host
// name), host, optional port, optional path. The token checks itself, so http is safe against
// forgery; https keeps a network observer from seeing which checkpoints are stamped when.
struct TsaUrl {
  bool https = false;
  std::string host;
  std::string port;
  std::string target;  // "/" when the URL has no path
};
Result<TsaUrl> ParseTsaUrl(std::string_view url);

// Stops, from any thread, the calls that were given it; they fail with "cancelled".
class TsaCancel {
 public:
  void Cancel();
  bool cancelled() const;
  // For PostTimestampQuery: the io_context of a call in progress.
  bool Watch(void* io_context);
  void Unwatch(void* io_context);

 private:
  mutable std::mutex mu_;
  bool cancelled_ = false;
  std::set<void*> running_;
};

// POSTs `query` (DER) and returns the answer's body (at most kMaxTimestampBytes; status 200
// required). Everything, name lookup included, must end within `deadline`.
Result<Bytes> PostTimestampQuery(const TsaUrl& url, ByteView query,
                                 std::chrono::milliseconds deadline, TsaCancel* cancel = nullptr);

}  // namespace khronika
