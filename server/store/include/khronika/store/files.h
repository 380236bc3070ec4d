// Small file helpers with the limits and modes the node needs.
#pragma once

#include <filesystem>
#include <string>

#include "khronika/schemas/status.h"

namespace khronika {

// Reads a whole file, refusing one larger than max_bytes.
Result<std::string> ReadSmallFile(const std::filesystem::path& path, size_t max_bytes);
// Creates `path` with `mode` (never replacing an existing file), writes, fsyncs it and its
// directory. Used for keys, so the mode is set at creation, not after.
Status WriteNewFile(const std::filesystem::path& path, std::string_view contents, unsigned mode);

}  // namespace khronika
