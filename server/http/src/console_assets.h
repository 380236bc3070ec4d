// The web console's static files (server/http/console/), compiled into the binary by
// server/http/console/embed.cmake. Private to khronika_http.
#pragma once

#include <string_view>

namespace khronika {

struct ConsoleAsset {
  std::string_view name;          // "index.html", "console.js", ...
  std::string_view content_type;  // "text/html; charset=utf-8", ...
  std::string_view body;
  std::string_view etag;  // quoted: the first 128 bits of the file's SHA-256, in hex
};

// The file of that name, or null. Names are plain (no '/').
const ConsoleAsset* FindConsoleAsset(std::string_view name);

}  // namespace khronika
