// The web console's static files, served from the binary at "/" and "/console/NAME".
#include <string>

#include "console_assets.h"
#include "khronika/http/api.h"

namespace khronika {

const std::vector<std::pair<std::string, std::string>>& SecurityHeaders() {
  static const std::vector<std::pair<std::string, std::string>> kHeaders = {
      {"Content-Security-Policy",
       "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"},
      {"X-Content-Type-Options", "nosniff"},
      {"Referrer-Policy", "no-referrer"},
  };
  return kHeaders;
}

namespace {

ApiResponse ConsoleFileResponse(const ApiRequest& request, std::string_view path) {
  if (request.method != "GET") {
    ApiResponse r = ErrorResponse(405, "method_not_allowed", "use GET");
    r.headers.emplace_back("Allow", "GET");
    return r;
  }
  std::string_view name = path == "/" ? std::string_view("index.html") : path.substr(9);
  const ConsoleAsset* asset = path == "/" || path.substr(0, 9) == "/console/" ? FindConsoleAsset(name)
                                                                              : nullptr;
  if (!asset) return ErrorResponse(404, "not_found", "no such console file: " + std::string(path));
  ApiResponse r;
  r.content_type = std::string(asset->content_type);
  // Revalidated on every load (cheap: the ETag is compiled in), so an upgraded node never
  // serves a stale mix of old and new modules.
  r.headers.emplace_back("Cache-Control", "no-cache");
  r.headers.emplace_back("ETag", std::string(asset->etag));
  if (request.if_none_match == asset->etag) {
    r.status = 304;
    return r;
  }
  r.body = std::string(asset->body);
  return r;
}

}  // namespace

ApiResponse ConsoleFile(const ApiRequest& request, std::string_view path) {
  ApiResponse r = ConsoleFileResponse(request, path);
  r.route = "GET /console/{file}";
  return r;
}

}  // namespace khronika
