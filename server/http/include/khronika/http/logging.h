// What `khronika serve` tells its operator while it runs: one line per event on stderr, as text
// for a terminal or as one JSON object per line for a log collector (`log_format`), filtered by
// `log_level` (docs/operator.md). Thread-safe; each line is written with one call.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "khronika/schemas/status.h"

namespace khronika {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };
enum class LogFormat { kText, kJson };

Result<LogLevel> ParseLogLevel(std::string_view name);  // debug, info, warn, error
Result<LogFormat> ParseLogFormat(std::string_view name);  // text, json

void SetLogging(LogLevel min_level, LogFormat format);
bool LogEnabled(LogLevel level);
// `component`: "http", "sync", "serve", ...
void LogLine(LogLevel level, std::string_view component, std::string_view message);

// True once SetLogging chose JSON: then everything `serve` writes, on stdout as on stderr, is one
// JSON object per line.
bool LogFormatIsJson();
// The JSON object LogLine writes (without the newline), with `fields` added: for the lines that
// `serve` writes on stdout whatever the level, which programs read (where it listens).
std::string JsonLogObject(LogLevel level, std::string_view component, std::string_view message,
                          const std::vector<std::pair<std::string, std::string>>& fields = {});

}  // namespace khronika
